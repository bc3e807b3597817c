"""MLflowTracker against a real local MLflow file store: params, metrics, artifacts, status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

import mipro_core as mc  # noqa: E402
from mipro_core.integrations.mlflow import MLflowTracker  # noqa: E402
from mipro_core.plugins import (  # noqa: E402
    DISABLE_AUTOLOAD_ENV,
    hookimpl,
    registered,
    reset_plugin_manager,
)
from mipro_core.testing import SimulatedLM, load_task  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::mipro_core.plugins.PluginWarning")

TASK = load_task("rule_qa")
OPTIONS: dict[str, Any] = {
    "valset": TASK.valset[:16],
    "max_trials": 4,
    "num_candidates": 3,
    "minibatch_size": 4,
    "full_eval_every": 2,
    "num_threads": 2,
    "parallel_trials": 1,
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it behind a flag
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # anything MLflow writes by default stays in the test's dir
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return "file://" + str(tmp_path / "mlruns")


def optimize(lm: Any = None, **options: Any) -> mc.OptimizationResult:
    lm = lm or SimulatedLM(seed=0)
    program = TASK.make_program(lm)
    return mc.optimize(
        program, TASK.trainset[:16], TASK.metric, proposer_lm=lm, **{**OPTIONS, **options}
    )


def history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


class InterruptAt:
    def __init__(self, number: int) -> None:
        self.number = number

    @hookimpl
    def mipro_trial_completed(self, trial: mc.Trial) -> None:
        if trial.number == self.number:
            raise KeyboardInterrupt


class BrokenLM:
    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        raise RuntimeError("model unavailable")


def test_a_run_is_logged_with_params_metrics_and_artifacts(uri: str, tmp_path: Path) -> None:
    tracker = MLflowTracker(tracking_uri=uri, experiment_name="qa", tags={"team": "search"})
    with registered(tracker):
        result = optimize()
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert tracker.last_run_id is not None
    run = client.get_run(tracker.last_run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "qa"

    params = run.data.params
    assert params["strategy"] == "mipro" and params["seed"] == "0"
    assert params["budget.max_trials"] == "4" and params["search.minibatch_size"] == "4"
    assert params["modules"] == ",".join(TASK.make_program(SimulatedLM(0)).modules)
    assert params["val_size"] == "16" and params["resumed"] == "False"
    tags = run.data.tags
    assert tags["team"] == "search" and tags["mipro.strategy"] == "mipro"
    assert tags["mipro.stopped_reason"] == result.stopped_reason

    steps = list(range(len(result.trials)))
    assert history(client, run.info.run_id, "lm_calls") == [
        (t.number, float(t.total_lm_calls)) for t in result.trials
    ]
    assert [s for s, _ in history(client, run.info.run_id, "best_score")] == steps
    full = [t for t in result.trials if t.kind == "full"]
    assert history(client, run.info.run_id, "full_score") == [(t.number, t.score) for t in full]
    minibatch = [t.number for t in result.trials if t.kind == "minibatch"]
    assert [s for s, _ in history(client, run.info.run_id, "minibatch_score")] == minibatch
    metrics = run.data.metrics
    assert metrics["baseline_score"] == pytest.approx(result.baseline_score)
    assert metrics["final_best_score"] == pytest.approx(result.best_score)
    assert metrics["total_lm_calls"] == result.lm_calls
    assert metrics["num_trials"] == len(result.trials)

    listed = {f.path for f in client.list_artifacts(run.info.run_id, "mipro")}
    assert listed == {"mipro/artifact.json", "mipro/summary.txt"}
    local = client.download_artifacts(run.info.run_id, "mipro", str(tmp_path / "down"))
    artifact = mc.read_artifact(Path(local) / "artifact.json")
    assert artifact.state == result.state
    assert "validation score: baseline" in (Path(local) / "summary.txt").read_text()


def test_a_failing_run_ends_failed_with_the_error(uri: str) -> None:
    tracker = MLflowTracker(tracking_uri=uri)
    with registered(tracker), pytest.raises(mc.ErrorBudgetExceededError):
        optimize(BrokenLM(), max_errors=2)
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert tracker.last_run_id is not None
    run = client.get_run(tracker.last_run_id)
    assert run.info.status == "FAILED"
    assert run.info.experiment_id == "0"  # MLflow's Default experiment
    assert run.data.tags["mipro.error"].startswith("ErrorBudgetExceededError:")


def test_resume_continues_the_same_mlflow_run(uri: str, tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    tracker = MLflowTracker(tracking_uri=uri, experiment_name="qa", log_journal=True)
    with registered(tracker), registered(InterruptAt(3)):
        optimize(journal=journal)
    first = tracker.last_run_id
    with registered(tracker):
        lm = SimulatedLM(seed=0)
        resumed = mc.resume(journal, TASK.make_program(lm), TASK.metric, proposer_lm=lm)
    assert tracker.last_run_id == first and first is not None
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(first)
    assert run.info.status == "FINISHED" and run.data.tags["mipro.resumed"] == "true"
    steps = [s for s, _ in history(client, first, "lm_calls")]
    assert steps == list(range(len(resumed.trials)))  # one point per trial, none twice
    listed = {f.path for f in client.list_artifacts(first, "mipro")}
    assert "mipro/run.sqlite" in listed and "mipro/artifact.json" in listed


def test_resume_into_a_new_mlflow_run_logs_every_trial(uri: str, tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    tracker = MLflowTracker(tracking_uri=uri, continue_resumed_runs=False)
    with registered(tracker), registered(InterruptAt(3)):
        optimize(journal=journal)
    first = tracker.last_run_id
    with registered(tracker):
        lm = SimulatedLM(seed=0)
        resumed = mc.resume(journal, TASK.make_program(lm), TASK.metric, proposer_lm=lm)
    second = tracker.last_run_id
    assert second is not None and second != first
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(second)
    assert run.data.params["resumed"] == "True" and run.data.params["replayed_trials"] == "4"
    assert run.data.tags["mipro.run_id"] == client.get_run(first).data.tags["mipro.run_id"]
    steps = sorted(s for s, _ in history(client, second, "lm_calls"))
    assert steps == list(range(len(resumed.trials)))  # replayed trials logged at the end


def test_inside_an_active_mlflow_run_each_optimization_is_a_child(
    uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracker = MLflowTracker()
    children = []
    with registered(tracker), mlflow.start_run() as parent:
        for seed in (0, 1):
            optimize(seed=seed, max_trials=2)
            children.append(tracker.last_run_id)
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert len(set(children)) == 2
    for child in children:
        assert child is not None
        run = client.get_run(child)
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.status == "FINISHED"
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
