"""Ctrl-C during the periodic full evaluation while the repair round's proposer call is in
flight beside it: nothing of the round may run on after optimize() returned (billed but not
counted, or journaled after the result was built), and the journal resumes as the whole run."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

import mipro_core as mc
from tests.toy import RecordingLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(60, offset=100)
OPTIONS: dict[str, Any] = dict(
    valset=VAL, minibatch_size=15, num_candidates=4, max_trials=12, seed=3, num_threads=4
)


def _log(result: mc.OptimizationResult) -> tuple[Any, ...]:
    trials = [(t.kind, dict(t.params), t.score, t.example_ids, t.lm_calls) for t in result.trials]
    return (
        trials,
        result.instruction_candidates,
        result.lm_calls,
        result.best_params,
        result.repair_candidates,
    )


class BlockingRepairLM(RecordingLM):
    """Holds its first repair call (on the ``mipro-repair`` thread) until :attr:`go` is set;
    :attr:`started` says that call is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.go = threading.Event(), threading.Event()
        self.repair_calls = 0

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "failing_examples:" in messages[-1]["content"]:
            with self._lock:
                self.repair_calls += 1
                first = self.repair_calls == 1
            if first:
                self.started.set()
                self.go.wait(60)  # a safety net against a hang only: the test sets it
        return super().__call__(messages, n=n, temperature=temperature)


def _interrupt_beside_the_repair(monkeypatch: pytest.MonkeyPatch, lm: BlockingRepairLM) -> None:
    """A Ctrl-C during the periodic full evaluation, once the repair call is in flight."""
    from mipro_core._engine import loop

    real = loop.SearchLoop._full_eval_alone

    def interrupted(self: Any) -> None:
        if any(t.name.startswith("mipro-repair") for t in threading.enumerate()):
            lm.started.wait(60)
            raise KeyboardInterrupt
        real(self)

    monkeypatch.setattr(loop.SearchLoop, "_full_eval_alone", interrupted)


def _repair_threads() -> list[threading.Thread]:
    """The repair round's threads (and its modules' proposer calls', should it have any)."""
    return [t for t in threading.enumerate() if t.name.startswith(("mipro-repair", "mipro-round"))]


def _resumes_as_the_whole_run(journal: Any, monkeypatch: pytest.MonkeyPatch) -> RecordingLM:
    """Resume ``journal`` (without the test's patches): the same as the uninterrupted run;
    returns the resumed run's LM."""
    monkeypatch.undo()
    whole = mc.optimize(toy_program(RecordingLM()), TRAIN, toy_metric, **OPTIONS)
    lm = RecordingLM()
    resumed = mc.resume(journal, toy_program(lm), toy_metric)
    assert _log(resumed) == _log(whole)
    assert resumed.state == whole.state
    return lm


@pytest.mark.parametrize("when", ["during the evaluation", "waiting for the round after it"])
def test_a_first_ctrl_c_beside_the_repair_round_lets_its_call_in_flight_settle(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    from mipro_core._propose import ProposerClient

    lm, journal = BlockingRepairLM(), tmp_path / "run.sqlite"
    if when == "during the evaluation":
        _interrupt_beside_the_repair(monkeypatch, lm)
    else:
        from mipro_core._engine import beside

        real_wait = beside.wait_settled

        def ctrl_c_while_waiting(futures: Any, seconds: float | None) -> bool:
            if seconds is None:  # the evaluation is over, the round's call still in flight
                lm.started.wait(60)
                raise KeyboardInterrupt
            return real_wait(futures, seconds)

        monkeypatch.setattr(beside, "wait_settled", ctrl_c_while_waiting)
    real_halt = getattr(ProposerClient, "halt", lambda self: None)

    def halt(self: ProposerClient) -> None:
        real_halt(self)
        lm.go.set()  # the call in flight answers only once no new call may start

    monkeypatch.setattr(ProposerClient, "halt", halt, raising=False)
    try:
        stopped = mc.optimize(toy_program(lm), TRAIN, toy_metric, journal=journal, **OPTIONS)
        assert not _repair_threads()  # the round ended before optimize() returned
    finally:
        lm.go.set()
        for thread in _repair_threads():
            thread.join()
    assert stopped.stopped_reason == "interrupted"
    assert lm.repair_calls == 1
    assert stopped.lm_calls == lm.calls  # the call in flight is counted
    resumed_lm = _resumes_as_the_whole_run(journal, monkeypatch)
    # the call in flight was journaled: the resumed run replays it without asking the model
    assert not [p for p in resumed_lm.proposer_prompts if "failing_examples:" in p]


@pytest.mark.parametrize("how", ["second Ctrl-C", "settle time over"])
def test_a_repair_call_abandoned_after_ctrl_c_is_neither_counted_nor_journaled(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from mipro_core._engine import beside, settle

    lm, journal = BlockingRepairLM(), tmp_path / "run.sqlite"
    _interrupt_beside_the_repair(monkeypatch, lm)
    if how == "second Ctrl-C":

        def second_ctrl_c(futures: Any, seconds: float | None) -> bool:
            raise KeyboardInterrupt

        monkeypatch.setattr(settle, "wait_settled", second_ctrl_c)
    else:
        monkeypatch.setattr(beside, "SETTLE_SECONDS", 0.0)
    try:
        stopped = mc.optimize(toy_program(lm), TRAIN, toy_metric, journal=journal, **OPTIONS)
        calls = lm.calls
    finally:
        lm.go.set()  # the abandoned call answers after optimize() returned
        for thread in _repair_threads():
            thread.join()
    assert stopped.stopped_reason == "interrupted"
    # the held call answered after optimize() returned (the provider may bill it): not counted
    assert lm.calls == calls + 1 and stopped.lm_calls == calls
    resumed_lm = _resumes_as_the_whole_run(journal, monkeypatch)
    # nothing of the round was journaled: the resumed run asks the model for the repair again
    assert len([p for p in resumed_lm.proposer_prompts if "failing_examples:" in p]) == 1


def test_an_abandoned_proposer_client_counts_and_writes_nothing_a_late_call_returns() -> None:
    from mipro_core._call_budget import CallBudget
    from mipro_core._engine.beside import _Committed
    from mipro_core._memo import InMemoryMemo
    from mipro_core._propose import ProposerClient
    from mipro_core._types import Signature

    started, go = threading.Event(), threading.Event()

    def slow(messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0) -> list[str]:
        started.set()
        go.wait(60)
        return ["proposed_instruction: Be brief."]

    memo, budget = InMemoryMemo(), CallBudget()
    client = ProposerClient(slow, memo, budget)
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            client.ask(
                "propose_instruction",
                Signature.parse("task -> proposed_instruction"),
                {"task": "t"},
                temperature=0.0,
            )
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    started.wait(60)
    client.abandon()
    go.set()
    thread.join()
    assert isinstance(outcome[0], KeyboardInterrupt)
    assert len(memo) == 0 and budget.used == 0
    gated = _Committed(memo, client)
    with pytest.raises(KeyboardInterrupt):
        gated.put("repair-error", "s0", "late")  # the round's own records are refused too
    assert len(memo) == 0
    with pytest.raises(KeyboardInterrupt):  # and a halted client starts no new call
        client.ask("propose_instruction", Signature.parse("a -> b"), {"a": "x"}, temperature=0)


class HeldRepairsLM(RecordingLM):
    """Each repair call notes that it started, then waits for ``release`` before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.repairs_started = 0
        self.repairs_answered = 0
        self._held = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "failing_examples:" not in messages[-1]["content"]:
            return super().__call__(messages, n=n, temperature=temperature)
        with self._held:
            self.repairs_started += 1
        self.started.release()
        self.release.wait(10)
        reply = super().__call__(messages, n=n, temperature=temperature)
        with self._held:
            self.repairs_answered += 1
        return reply


def _ctrl_c_once_both_repairs_run(lm: HeldRepairsLM, release: bool) -> Any:
    """A stand-in for ``rounds.wait_settled``: Ctrl-C once both modules' repair calls are in
    flight (letting them answer first when ``release``)."""

    def wait_all(futures: Any, seconds: float | None) -> bool:
        lm.started.acquire(timeout=10)
        lm.started.acquire(timeout=10)
        if release:
            lm.release.set()
        raise KeyboardInterrupt

    return wait_all


# a call cap that never binds keeps the repair round on the main thread (not beside)
CAPPED = {**OPTIONS, "max_lm_calls": 100_000, "proposer_lm": None}


def test_ctrl_c_during_a_rounds_module_calls_lets_them_settle_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mipro_core._engine import rounds

    lm = HeldRepairsLM()
    monkeypatch.setattr(rounds, "wait_settled", _ctrl_c_once_both_repairs_run(lm, release=True))
    result = mc.optimize(toy_program(lm, stages=2), TRAIN, toy_metric, **CAPPED)
    assert result.stopped_reason == "interrupted"
    assert lm.repairs_answered == 2
    assert result.lm_calls == lm.calls  # both settled calls are counted
    assert not [t for t in threading.enumerate() if t.name.startswith("mipro-round")]


def test_calls_still_running_when_the_settling_time_is_up_are_abandoned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from mipro_core._engine import rounds

    lm = HeldRepairsLM()
    monkeypatch.setattr(rounds, "wait_settled", _ctrl_c_once_both_repairs_run(lm, release=False))
    monkeypatch.setattr(rounds, "SETTLE_SECONDS", 0.0)
    journal = tmp_path / "run.sqlite"
    result = mc.optimize(toy_program(lm, stages=2), TRAIN, toy_metric, journal=journal, **CAPPED)
    assert result.stopped_reason == "interrupted"
    calls = result.lm_calls
    lm.release.set()  # the abandoned calls answer after optimize() returned
    for thread in [t for t in threading.enumerate() if t.name.startswith("mipro-round")]:
        thread.join(10)
    assert lm.repairs_answered == 2
    assert result.lm_calls == calls == lm.calls - 2  # neither counted
    # nor journaled: a resume asks for both repairs again and ends as an uninterrupted run
    monkeypatch.undo()
    whole = mc.optimize(toy_program(RecordingLM(), stages=2), TRAIN, toy_metric, **CAPPED)
    resumed = mc.resume(journal, toy_program(RecordingLM(), stages=2), toy_metric)
    assert _log(resumed)[:2] == _log(whole)[:2]
    assert resumed.state == whole.state


def test_a_halted_proposer_client_makes_no_retry() -> None:
    from mipro_core import TransientLMError
    from mipro_core._call_budget import CallBudget
    from mipro_core._memo import InMemoryMemo
    from mipro_core._propose import ProposerClient
    from mipro_core._types import Signature

    attempts: list[int] = []

    def failing(messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0) -> list[str]:
        attempts.append(1)
        client.halt()  # a Ctrl-C while this attempt runs
        raise TransientLMError("HTTP 503")

    budget = CallBudget(None)
    client = ProposerClient(failing, InMemoryMemo(), budget, max_retries=5)
    with pytest.raises(KeyboardInterrupt):
        client.ask(
            "propose_instruction",
            Signature.parse("task -> proposed_instruction"),
            {"task": "t"},
            temperature=0.0,
        )
    assert len(attempts) == 1  # no retry started after the Ctrl-C
    assert budget.used == 1  # the failed attempt is paid and counted
