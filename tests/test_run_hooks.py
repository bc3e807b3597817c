"""The observer hooks: run started / trial completed / run completed or failed, and resume."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mipro_core as mc
from mipro_core.plugins import (
    DISABLE_AUTOLOAD_ENV,
    PluginWarning,
    RunInfo,
    hookimpl,
    list_plugins,
    register_plugin,
    registered,
    reset_plugin_manager,
    unregister_plugin,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(20), toy_data(20, offset=100)
OPTIONS: dict[str, Any] = {
    "valset": VAL,
    "max_trials": 6,
    "num_candidates": 3,
    "minibatch_size": 5,
    "full_eval_every": 3,
    "num_threads": 2,
    "parallel_trials": 1,
}


@pytest.fixture(autouse=True)
def in_process_plugins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


class Recorder:
    """Records every observer event in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    @hookimpl
    def mipro_run_started(self, run: RunInfo) -> None:
        self.events.append(("started", run))

    @hookimpl
    def mipro_trial_completed(self, trial: mc.Trial, run: RunInfo) -> None:
        self.events.append(("trial", (trial, run)))

    @hookimpl
    def mipro_run_completed(self, run: RunInfo, result: mc.OptimizationResult) -> None:
        self.events.append(("completed", (run, result)))

    @hookimpl
    def mipro_run_failed(self, run: RunInfo, error: BaseException) -> None:
        self.events.append(("failed", (run, error)))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def trials(self) -> list[mc.Trial]:
        return [payload[0] for kind, payload in self.events if kind == "trial"]

    def run(self) -> RunInfo:
        (run,) = [payload for kind, payload in self.events if kind == "started"]
        assert isinstance(run, RunInfo)
        return run


class TrialsOnly:
    """An observer written against the old one-argument hook still works."""

    def __init__(self) -> None:
        self.numbers: list[int] = []

    @hookimpl
    def mipro_trial_completed(self, trial: mc.Trial) -> None:
        self.numbers.append(trial.number)


class Crasher:
    @hookimpl
    def mipro_run_started(self, run: RunInfo) -> None:
        raise RuntimeError("tracker server down")

    @hookimpl
    def mipro_trial_completed(self, trial: mc.Trial) -> None:
        raise RuntimeError(f"cannot log trial {trial.number}")

    @hookimpl
    def mipro_run_completed(self, result: mc.OptimizationResult) -> None:
        raise RuntimeError("cannot upload")


class InterruptAt:
    """Ctrl-C while trial ``number`` is reported (the engine stops the search cleanly)."""

    def __init__(self, number: int) -> None:
        self.number = number

    @hookimpl
    def mipro_trial_completed(self, trial: mc.Trial) -> None:
        if trial.number == self.number:
            raise KeyboardInterrupt


def optimize(lm: ToyLM | None = None, **options: Any) -> mc.OptimizationResult:
    return mc.optimize(toy_program(lm or ToyLM()), TRAIN, toy_metric, **{**OPTIONS, **options})


# --- a successful run ---------------------------------------------------------------------


def test_observer_sees_start_every_trial_in_order_and_the_result() -> None:
    recorder, old_style = Recorder(), TrialsOnly()
    register_plugin(recorder, name="recorder")
    register_plugin(old_style, name="old-style")
    result = optimize()

    kinds = recorder.kinds()
    assert kinds[0] == "started" and kinds[-1] == "completed"
    assert kinds[1:-1] == ["trial"] * len(result.trials)
    assert recorder.trials() == list(result.trials)
    assert old_style.numbers == list(range(len(result.trials)))
    run, final = recorder.events[-1][1]
    assert final is result
    assert run is recorder.run()
    assert all(payload[1] is run for kind, payload in recorder.events if kind == "trial")


def test_run_info_carries_the_run_configuration() -> None:
    recorder = Recorder()
    with registered(recorder):
        result = optimize(seed=3, freeze=())
    run = recorder.run()
    assert (run.strategy, run.seed) == ("mipro", 3)
    assert run.modules == ("s0",) and run.frozen == ()
    assert (run.train_size, run.val_size) == (len(TRAIN), len(VAL))
    assert run.budget.max_trials == 6 and run.budget.num_candidates == 3
    assert run.search.minibatch_size == 5 and run.search.full_eval_every == 3
    assert run.sampler == "TPESampler" and run.proposer == mc.ProposerConfig()
    assert run.num_threads == 2 and run.parallel_trials == 1
    assert run.estimate is not None and run.estimate == result.estimate
    assert run.library_version == mc.__version__
    assert run.journal is None and not run.resumed and run.replayed_trials == 0
    assert len(run.run_id) == 32
    params = run.params()
    assert params["budget.max_trials"] == 6 and params["search.minibatch_size"] == 5
    assert params["sampler.type"] == "TPESampler" and params["modules"] == "s0"
    assert params["estimate.total_lm_calls"] == run.estimate.total_lm_calls
    json.dumps(run.to_dict())  # JSON-ready


def test_trials_carry_progress_for_trackers() -> None:
    result = optimize()
    trials = result.trials
    assert trials[0].kind == "full" and trials[0].params == {}
    assert trials[0].best_score == result.baseline_score
    assert trials[-1].best_score == result.best_score
    calls = [t.total_lm_calls for t in trials]
    assert calls == sorted(calls) and 0 < calls[-1] <= result.lm_calls
    elapsed = [t.elapsed for t in trials]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= result.seconds
    best: float | None = None
    for trial in trials:  # best_score is the running best of the complete full evaluations
        if trial.kind == "full" and trial.complete and trial.score is not None:
            best = trial.score if best is None else max(best, trial.score)
        assert trial.best_score == best
    record = trials[-1].to_dict()
    assert record["best_score"] == result.best_score
    assert record["total_lm_calls"] == calls[-1]


def test_each_run_gets_its_own_id() -> None:
    recorder = Recorder()
    with registered(recorder):
        optimize()
        optimize()
    runs = [payload for kind, payload in recorder.events if kind == "started"]
    assert len(runs) == 2 and runs[0].run_id != runs[1].run_id


def test_dry_run_calls_no_hook() -> None:
    recorder = Recorder()
    with registered(recorder):
        optimize(dry_run=True)
    assert recorder.events == []


# --- failures -------------------------------------------------------------------------------


def test_failed_run_calls_run_failed_with_the_error() -> None:
    recorder = Recorder()
    register_plugin(recorder)
    with pytest.raises(mc.ErrorBudgetExceededError) as raised:
        optimize(ToyLM(fail=RuntimeError), max_errors=3)
    kinds = recorder.kinds()
    assert kinds[0] == "started" and kinds[-1] == "failed"
    assert "completed" not in kinds
    run, error = recorder.events[-1][1]
    assert run is recorder.run() and error is raised.value


def test_ctrl_c_before_the_search_is_a_failed_run() -> None:
    recorder = Recorder()
    register_plugin(InterruptAt(0))  # while the baseline is reported
    register_plugin(recorder)  # the last registered is called first
    with pytest.raises(KeyboardInterrupt):
        optimize()
    assert recorder.kinds() == ["started", "trial", "failed"]
    assert isinstance(recorder.events[-1][1][1], KeyboardInterrupt)


def test_raising_observer_only_warns_once_per_hook() -> None:
    reference = optimize()
    recorder = Recorder()
    register_plugin(Crasher(), name="crasher")
    register_plugin(recorder, name="recorder")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = optimize()
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 3, messages
    assert "'crasher' failed in mipro_run_started: RuntimeError: tracker server down" in messages[0]
    assert (
        "'crasher' failed in mipro_trial_completed: RuntimeError: cannot log trial 0"
        in (messages[1])
    )
    assert "'crasher' failed in mipro_run_completed: RuntimeError: cannot upload" in messages[2]
    assert [t.log_entry() for t in result.trials] == [t.log_entry() for t in reference.trials]
    assert result.state == reference.state
    assert recorder.kinds().count("trial") == len(result.trials)  # the others still see all


# --- resume ---------------------------------------------------------------------------------


def test_resume_reports_resumed_and_does_not_renotify_replayed_trials(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    first = Recorder()
    with registered(first), registered(InterruptAt(4)):
        interrupted = optimize(journal=journal)
    assert interrupted.stopped_reason == "interrupted" and len(interrupted.trials) == 5
    reference = optimize()

    second = Recorder()
    with registered(second):
        resumed = mc.resume(journal, toy_program(ToyLM()), toy_metric)
    assert [t.log_entry() for t in resumed.trials] == [t.log_entry() for t in reference.trials]
    run = second.run()
    assert run.resumed and run.replayed_trials == 5
    assert run.run_id == first.run().run_id  # kept in the journal
    assert run.journal == str(journal.resolve()) == first.run().journal
    assert [t.number for t in second.trials()] == list(range(5, len(resumed.trials)))
    assert second.kinds()[-1] == "completed"


def test_resume_of_a_finished_run_replays_silently(tmp_path: Path) -> None:
    journal = tmp_path / "run.sqlite"
    done = optimize(journal=journal)
    recorder = Recorder()
    with registered(recorder):
        again = mc.resume(journal, toy_program(ToyLM()), toy_metric)
    assert again.state == done.state
    assert recorder.kinds() == ["started", "completed"]
    assert recorder.run().replayed_trials == len(done.trials)


# --- registering and unregistering ------------------------------------------------------------


def test_registered_unregisters_after_the_block_even_on_error() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError), registered(recorder) as name:
        assert name.startswith("Recorder@")
        assert name in [p.name for p in list_plugins()]
        raise ValueError
    assert name not in [p.name for p in list_plugins()]
    optimize()
    assert recorder.events == []


def test_unregister_by_object_or_name_and_clear_errors() -> None:
    recorder = Recorder()
    assert register_plugin(recorder, name="rec") == "rec"
    assert unregister_plugin(recorder) == "rec"
    register_plugin(recorder, name="rec")
    assert unregister_plugin("rec") == "rec"
    with pytest.raises(mc.InvalidInputError, match="not a registered plugin"):
        unregister_plugin("rec")
    with pytest.raises(mc.InvalidInputError, match="not a registered plugin"):
        unregister_plugin(recorder)
    with pytest.raises(mc.InvalidInputError, match="native"):
        unregister_plugin("native")


def test_unregistered_crasher_can_warn_again_after_reregistering() -> None:
    crasher = Crasher()
    for _ in range(2):
        with registered(crasher, name="crasher"), pytest.warns(PluginWarning, match="crasher"):
            optimize(max_trials=1)


# --- values ---------------------------------------------------------------------------------


@given(
    budget=st.builds(
        mc.Budget,
        num_candidates=st.integers(1, 30),
        max_trials=st.none() | st.integers(1, 500),
        max_lm_calls=st.none() | st.integers(1, 10**6),
        max_seconds=st.none() | st.floats(0, 1e5, exclude_min=True),
    ),
    search=st.builds(mc.SearchConfig, minibatch_size=st.integers(1, 100)),
    modules=st.lists(st.text("abc_.", min_size=1, max_size=5), min_size=1, max_size=4),
    sampler_params=st.dictionaries(st.text("xyz", min_size=1, max_size=3), st.integers()),
)
def test_run_info_params_are_flat_plain_and_faithful(
    budget: mc.Budget,
    search: mc.SearchConfig,
    modules: list[str],
    sampler_params: dict[str, int],
) -> None:
    run = RunInfo(
        run_id="r",
        strategy="mipro",
        seed=0,
        modules=tuple(modules),
        frozen=(),
        train_size=1,
        val_size=2,
        budget=budget,
        search=search,
        proposer=mc.ProposerConfig(),
        sampler="TPESampler",
        sampler_params=sampler_params,
        num_threads=1,
        parallel_trials=1,
        library_version="x",
    )
    params = run.params()
    for value in params.values():
        assert value is None or isinstance(value, (bool, int, float, str))
    for name, value in attrs.asdict(budget).items():
        assert params[f"budget.{name}"] == value
    for name, value in attrs.asdict(search).items():
        joined = isinstance(value, (list, tuple))  # demo ids, as modules: comma-joined
        assert params[f"search.{name}"] == (",".join(map(str, value)) if joined else value)
    for name, value in sampler_params.items():
        assert params[f"sampler.{name}"] == value
    assert params["modules"] == ",".join(modules)
    assert json.loads(json.dumps(run.to_dict())) == run.to_dict()


def test_tracker_without_mlflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from mipro_core.integrations.mlflow import MLflowTracker

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'mipro-core\[mlflow\]'"):
        MLflowTracker()


def test_importing_the_core_or_the_integration_does_not_import_mlflow() -> None:
    code = (
        "import sys, mipro_core, mipro_core.plugins, mipro_core.integrations.mlflow; "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
