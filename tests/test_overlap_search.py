"""Work that can overlap in the search does, with the same result as one step after the other
(issue 20): the repair round runs beside the periodic full evaluation."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

import mipro_core as mc
from tests.toy import RecordingLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(60, offset=100)
OPTIONS: dict[str, Any] = dict(
    valset=VAL, minibatch_size=15, num_candidates=4, max_trials=12, seed=3
)


class ThreadsLM(RecordingLM):
    """Notes which thread made the repair call and whether full-evaluation runs were in flight;
    ``jitter`` sleeps vary the timing from run to run."""

    def __init__(self, jitter: float = 0.0) -> None:
        super().__init__()
        self.repair_threads: list[str] = []
        self.jitter = jitter
        self._n = 0
        self._lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        with self._lock:
            self._n += 1
            delay = self.jitter * ((self._n * 7919) % 13) / 13
        time.sleep(delay)
        if "failing_examples:" in messages[-1]["content"]:
            self.repair_threads.append(threading.current_thread().name)
        return super().__call__(messages, n=n, temperature=temperature)


def _log(result: mc.OptimizationResult) -> tuple[Any, ...]:
    trials = [(t.kind, dict(t.params), t.score, t.example_ids, t.lm_calls) for t in result.trials]
    return (
        trials,
        result.instruction_candidates,
        result.lm_calls,
        result.best_params,
        result.repair_candidates,
    )


@pytest.mark.parametrize("threads", [1, 4, 16])
def test_the_repair_round_beside_the_full_evaluation_gives_the_sequential_result(
    threads: int,
) -> None:
    beside_lm, alone_lm = ThreadsLM(jitter=0.002), ThreadsLM()
    beside = mc.optimize(toy_program(beside_lm), TRAIN, toy_metric, num_threads=threads, **OPTIONS)
    # a call cap that never binds keeps the two steps one after the other
    alone = mc.optimize(
        toy_program(alone_lm),
        TRAIN,
        toy_metric,
        num_threads=threads,
        max_lm_calls=100_000,
        **OPTIONS,
    )
    assert beside_lm.repair_threads and beside_lm.repair_threads[0].startswith("mipro-repair")
    assert not alone_lm.repair_threads[0].startswith("mipro-repair")
    assert _log(beside) == _log(alone)
    assert beside.repair_candidates


@pytest.mark.parametrize(
    ("cap", "expected"), [(None, 3), (100, 3), (75, 3), (60, 2), (50, 1), (20, 1)]
)
def test_a_batch_of_parallel_trials_shrinks_to_what_the_call_cap_affords(
    cap: int | None, expected: int
) -> None:
    # minibatches of 15 and a final full evaluation needing 30 more runs, one call per run:
    # 60 calls afford two trials and the final evaluation; one trial is never refused here
    # (whether to stop is before_trials' call)
    from mipro_core._call_budget import CallBudget
    from mipro_core._engine.loop import SearchLoop
    from mipro_core._engine.stop import StopPolicy

    loop = object.__new__(SearchLoop)
    loop.use_minibatch, loop.minibatch, loop.full_eval_runs = True, 15, 30
    loop.stop = StopPolicy(CallBudget(cap), None, 1)
    assert loop._affordable_batch(3) == expected


def test_with_parallel_trials_the_repair_round_comes_with_the_batch_holding_its_trial() -> None:
    # one trial at a time tries the repair instruction as trial 6 (after full_eval_every=5);
    # batches of 2 (trials 1-2, 3-4, 5-6) must not push it back to the batch after
    result = mc.optimize(
        toy_program(RecordingLM()), TRAIN, toy_metric, num_threads=4, parallel_trials=2, **OPTIONS
    )
    minibatch = [t for t in result.trials if t.kind == "minibatch"]
    new = OPTIONS["num_candidates"]
    first = next(i for i, t in enumerate(minibatch) if t.params["s0.instruction"] == new)
    assert first == 4  # the first of the third batch


def test_ctrl_c_during_the_full_evaluation_beside_the_repair_keeps_a_resumable_journal(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mipro_core._engine import loop

    whole = mc.optimize(toy_program(ThreadsLM()), TRAIN, toy_metric, num_threads=4, **OPTIONS)
    journal = tmp_path / "run.sqlite"
    real = loop.SearchLoop._full_eval_alone

    def interrupted(self: Any) -> None:
        if any(t.name.startswith("mipro-repair") for t in threading.enumerate()):
            raise KeyboardInterrupt  # a Ctrl-C while the repair round runs beside
        real(self)

    monkeypatch.setattr(loop.SearchLoop, "_full_eval_alone", interrupted)
    stopped = mc.optimize(
        toy_program(ThreadsLM()), TRAIN, toy_metric, num_threads=4, journal=journal, **OPTIONS
    )
    assert stopped.stopped_reason == "interrupted"
    monkeypatch.setattr(loop.SearchLoop, "_full_eval_alone", real)
    resumed = mc.resume(journal, toy_program(ThreadsLM()), toy_metric)
    assert _log(resumed)[:2] == _log(whole)[:2]
    assert resumed.state == whole.state


class BarrierLM(RecordingLM):
    """Every module's repair call waits for the others': a round that wrote one module's
    repair after the other would break the barrier (and so lose its instructions)."""

    def __init__(self, modules: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(modules, timeout=10)
        self.repairs = 0

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "failing_examples:" in messages[-1]["content"]:
            self.repairs += 1
            self.barrier.wait()
        return super().__call__(messages, n=n, temperature=temperature)


def test_the_modules_repair_calls_of_a_round_run_at_once_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mipro_core._engine import rounds

    concurrent_lm = BarrierLM(3)
    at_once = mc.optimize(toy_program(concurrent_lm, stages=3), TRAIN, toy_metric, **OPTIONS)
    assert concurrent_lm.repairs == 3
    assert not concurrent_lm.barrier.broken
    assert set(at_once.repair_candidates) == {"s0", "s1", "s2"}

    # one module after the other (as before): the same trials and the same result
    monkeypatch.setattr(
        rounds, "each_module", lambda propose, jobs, client: [propose(j) for j in jobs]
    )
    one_by_one = mc.optimize(toy_program(RecordingLM(), stages=3), TRAIN, toy_metric, **OPTIONS)
    assert _log(at_once) == _log(one_by_one)
    assert at_once.state == one_by_one.state
    assert at_once.repair_candidates == one_by_one.repair_candidates


def test_a_mipro_plus_plus_round_proposes_for_every_module_at_once_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mipro_core._engine import rounds

    calls: list[int] = []
    real = rounds.each_module

    def counted(propose: Any, jobs: Any, client: Any) -> list[str]:
        calls.append(len(jobs))
        return real(propose, jobs, client)

    monkeypatch.setattr(rounds, "each_module", counted)
    options = {**OPTIONS, "proposer": mc.ProposerConfig(meta_optimize=True, meta_round_every=3)}
    at_once = mc.optimize(toy_program(RecordingLM(), stages=3), TRAIN, toy_metric, **options)
    assert calls and all(n == 3 for n in calls)
    monkeypatch.setattr(
        rounds, "each_module", lambda propose, jobs, client: [propose(j) for j in jobs]
    )
    one_by_one = mc.optimize(toy_program(RecordingLM(), stages=3), TRAIN, toy_metric, **options)
    assert _log(at_once) == _log(one_by_one)
    assert at_once.state == one_by_one.state
