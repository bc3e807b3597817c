"""Program runs on a local Ray instance give the same run as local threads (issue 20).

Each test starts its own local Ray instance (2 CPUs, bound to this machine) through the backend
and stops it at the end of the run; without Ray installed the tests skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.integrations.ray import RayBackend
from tests.ray_app import KILL_ONCE, build
from tests.toy import ToyLM, toy_data, toy_metric

ray = pytest.importorskip("ray", reason="the Ray backend needs ray (pip install 'mipro-core[ray]')")

ROOT = Path(__file__).resolve().parents[1]
TRAIN, VAL = toy_data(16), toy_data(12, offset=100)
OPTIONS: dict[str, Any] = {
    "seed": 3,
    "num_threads": 4,
    "max_trials": 6,
    "minibatch_size": 4,
    "full_eval_every": 3,
    "progress": False,
}


def backend(**env: str) -> RayBackend:
    variables = {"PYTHONPATH": str(ROOT), **env}
    return RayBackend(
        factory="tests.ray_app:build", num_cpus=2, runtime_env={"env_vars": variables}
    )


def optimize(**options: Any) -> tuple[mc.OptimizationResult, Any]:
    program = build()
    result = mc.optimize(
        program, TRAIN, toy_metric, valset=VAL, proposer_lm=ToyLM(), **{**OPTIONS, **options}
    )
    return result, program


@pytest.fixture(scope="module", autouse=True)
def _own_unauthenticated_instance() -> Any:
    # Ray 2.60 turns on token authentication and keeps a token under ~/.ray; each test starts
    # its own throwaway local instance instead of depending on one another run left behind
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield


@pytest.fixture(scope="module")
def local() -> mc.OptimizationResult:
    return optimize()[0]


def outcome(result: mc.OptimizationResult) -> tuple[Any, ...]:
    trials = [(t.kind, dict(t.params), t.score, t.example_ids) for t in result.trials]
    return result.state.to_dict(), trials, result.task_lm_calls, result.proposer_lm_calls


@pytest.fixture(autouse=True)
def _no_ray_left_running() -> Any:
    yield
    assert not ray.is_initialized()  # the backend stops the instance it started


def test_ray_runs_give_the_same_run_as_local_threads(local: mc.OptimizationResult) -> None:
    result, program = optimize(backend=backend())
    assert outcome(result) == outcome(local)
    assert result.best_score > result.baseline_score  # the toy task has something to find
    # the winner is written into the user's own program, as locally
    assert mc.ProgramState(
        {n: m.state for n, m in program.modules.items()}
    ).to_dict() == result.state.to_dict()


def test_a_worker_killed_mid_run_is_retried_without_losing_or_double_counting(
    local: mc.OptimizationResult, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    result, _ = optimize(backend=backend(**{KILL_ONCE: str(marker)}))
    assert marker.exists()  # a worker did die
    assert result.errors == 0
    assert outcome(result) == outcome(local)  # the same calls counted once, the same run


def test_budgets_hold_on_ray(local: mc.OptimizationResult) -> None:
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
    first: str, local: mc.OptimizationResult, tmp_path: Path
) -> None:
    journal = tmp_path / "run.sqlite"
    first_backend = backend() if first == "ray" else None
    try:
        partial, _ = optimize(backend=first_backend, journal=journal, progress=_StopAfter(2))
        assert partial.stopped_reason == "interrupted"
    except KeyboardInterrupt:
        pass
    if ray.is_initialized():
        ray.shutdown()
    resumed = mc.resume(
        journal,
        build(),
        toy_metric,
        proposer_lm=ToyLM(),
        progress=False,
        backend=None if first == "ray" else backend(),
    )
    assert outcome(resumed) == outcome(local)


def test_a_factory_that_builds_another_program_is_refused() -> None:
    from tests.toy import toy_program

    with pytest.raises(mc.InvalidInputError, match="must build the same app"):
        mc.optimize(
            toy_program(ToyLM(), stages=2),
            TRAIN,
            toy_metric,
            valset=VAL,
            proposer_lm=ToyLM(),
            backend=backend(),
            **{k: v for k, v in OPTIONS.items()},
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
    assert os.environ.get(KILL_ONCE) is None
