"""Program runs on a local Ray instance give the same run as local threads (issue 20).

The first test lets the backend start and stop its own local instance; the others share one
instance (2 CPUs, this machine only) started by a module fixture and stopped at its end. Without
Ray installed the tests skip.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.integrations.ray import RayBackend
from tests.ray_app import KILL_DIR, build
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install 'mipro-core[ray]')")

ROOT = Path(__file__).resolve().parents[1]
KILLS = Path(tempfile.mkdtemp(prefix="mipro-ray-kill-"))
ENV = {"env_vars": {"PYTHONPATH": str(ROOT), KILL_DIR: str(KILLS)}}
TRAIN, VAL = toy_data(16), toy_data(12, offset=100)
OPTIONS: dict[str, Any] = {
    "seed": 3,
    "num_threads": 4,
    "max_trials": 6,
    "minibatch_size": 4,
    "full_eval_every": 3,
    "progress": False,
}


@pytest.fixture(scope="module", autouse=True)
def _unauthenticated() -> Iterator[None]:
    # Ray 2.60 turns on token authentication and keeps a token under ~/.ray; these tests start
    # throwaway local instances instead of depending on what another run left behind
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield


def backend() -> RayBackend:
    return RayBackend(factory="tests.ray_app:build", num_cpus=2, runtime_env=ENV)


def optimize(**options: Any) -> tuple[mc.OptimizationResult, Any]:
    program = build()
    result = mc.optimize(
        program, TRAIN, toy_metric, valset=VAL, proposer_lm=ToyLM(), **{**OPTIONS, **options}
    )
    return result, program


def outcome(result: mc.OptimizationResult) -> tuple[Any, ...]:
    trials = [(t.kind, dict(t.params), t.score, t.example_ids) for t in result.trials]
    return result.state.to_dict(), trials, result.task_lm_calls, result.proposer_lm_calls


@pytest.fixture(scope="module")
def local() -> mc.OptimizationResult:
    return optimize()[0]


def test_ray_runs_give_the_same_run_as_local_threads(local: mc.OptimizationResult) -> None:
    assert not ray.is_initialized()
    result, program = optimize(backend=backend())
    assert not ray.is_initialized()  # the backend stopped the instance it started
    assert outcome(result) == outcome(local)
    assert result.best_score > result.baseline_score  # the toy task has something to find
    current = {n: m.state.to_dict() for n, m in program.modules.items()}
    assert current == result.state.to_dict()  # written into the user's own program, as locally


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=ENV)
    yield
    ray.shutdown()


def test_a_worker_killed_mid_run_is_retried_without_losing_or_double_counting(
    local: mc.OptimizationResult, cluster: None
) -> None:
    (KILLS / "armed").touch()
    try:
        result, _ = optimize(backend=backend())
    finally:
        (KILLS / "armed").unlink()
    assert (KILLS / "killed").exists()  # a worker did die mid-run
    assert result.errors == 0
    assert outcome(result) == outcome(local)  # the same calls, counted once: the same run


def test_budgets_hold_on_ray(local: mc.OptimizationResult, cluster: None) -> None:
    cap = local.lm_calls // 2
    result, _ = optimize(backend=backend(), max_lm_calls=cap)
    capped, _ = optimize(max_lm_calls=cap)
    assert result.lm_calls <= cap
    assert outcome(result) == outcome(capped)


class _StopAfter:
    """A progress reporter that presses Ctrl-C once ``count`` trials are done."""

    def __init__(self, count: int) -> None:
        self.count = count

    def stage(self, text: str) -> None:
        pass

    def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
        if done >= self.count:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


@pytest.mark.parametrize("first", ["ray", "local"])
def test_a_run_resumes_on_the_other_backend(
    first: str, local: mc.OptimizationResult, cluster: None, tmp_path: Path
) -> None:
    journal = tmp_path / "run.sqlite"
    try:
        partial, _ = optimize(
            backend=backend() if first == "ray" else None, journal=journal, progress=_StopAfter(2)
        )
        assert partial.stopped_reason == "interrupted"
    except KeyboardInterrupt:
        pass
    with mc.Journal.open(journal) as store:
        assert store.get("trial", "000002") is not None  # stopped mid-search
        assert store.get("trial", "000008") is None
    resumed = mc.resume(
        journal,
        build(),
        toy_metric,
        proposer_lm=ToyLM(),
        progress=False,
        backend=None if first == "ray" else backend(),
    )
    assert outcome(resumed)[:2] == outcome(local)[:2]


def test_a_factory_that_builds_another_program_is_refused(cluster: None) -> None:
    with pytest.raises(mc.InvalidInputError, match="must build the same app"):
        mc.optimize(
            toy_program(ToyLM(), stages=2),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=ToyLM(),
            backend=backend(),
            **OPTIONS,
        )


def test_bad_backend_settings_are_refused() -> None:
    with pytest.raises(mc.InvalidInputError, match="module:attribute"):
        RayBackend(factory="no_colon")
    with pytest.raises(mc.InvalidInputError, match="max_retries"):
        RayBackend(factory="a:b", max_retries=-1)


def test_the_metric_runs_on_the_workers_when_importable() -> None:
    from mipro_core.integrations._ray import _reference

    assert _reference(toy_metric) == "tests.toy:toy_metric"
    assert _reference(lambda e, p: 1.0) is None  # scored on the driver instead


def test_the_cli_flag_asks_for_a_ray_backend() -> None:
    import argparse

    from mipro_core._cli_optimize import configure_optimize
    from mipro_core._cli_ray import ray_backend as _ray_backend

    parser = argparse.ArgumentParser()
    configure_optimize(parser)
    common = ["app:build", "--train", "train.jsonl", "--metric", "app:score"]
    assert _ray_backend(parser.parse_args(common)) is None
    local = _ray_backend(parser.parse_args([*common, "--ray"]))
    assert (local.factory, local.metric, local.address) == ("app:build", "app:score", None)
    assert str(Path.cwd()) in local.runtime_env["env_vars"]["PYTHONPATH"]  # workers import APP
    remote = _ray_backend(parser.parse_args([*common, "--ray", "ray://head:10001"]))
    assert remote.address == "ray://head:10001" and remote.runtime_env is None


def test_mipro_resume_ray_continues_a_local_run_on_ray_workers(
    local: mc.OptimizationResult, cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mipro_core.cli import main

    journal = tmp_path / "run.sqlite"
    try:
        partial, _ = optimize(journal=journal, progress=_StopAfter(2))
        assert partial.stopped_reason == "interrupted"
    except KeyboardInterrupt:
        pass
    monkeypatch.chdir(ROOT)  # resume imports the app from the current directory
    artifact = tmp_path / "best.json"
    flags = ["--app", "tests.ray_app:build", "--metric", "tests.toy:toy_metric"]
    flags += ["--proposer", "tests.toy:ToyLM", "--out", str(artifact), "--ray"]
    assert main(["resume", str(journal), *flags]) == 0
    assert mc.read_artifact(artifact).state.to_dict() == local.state.to_dict()


def test_mipro_resume_ray_of_a_demo_journal_names_what_it_needs(tmp_path: Path) -> None:
    import argparse

    from mipro_core._cli_resume import _backend

    args = argparse.Namespace(ray="local")
    with pytest.raises(mc.InvalidInputError, match="--ray needs --app"):
        _backend(args, [], tmp_path / "demo.sqlite")
    assert _backend(argparse.Namespace(ray=None), [], tmp_path / "demo.sqlite") is None
