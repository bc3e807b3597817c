"""RetryPolicy (on tenacity) keeps the semantics of mipro's own retry loop."""

from __future__ import annotations

import random

import pytest

import mipro_core as mc
from mipro_core._retry import Backoff, RetryPolicy, RetryStopped
from tests.test_provider_faults import FakeClock as Clock


def test_out_of_retries_the_last_failure_itself_is_raised_and_every_failure_counted() -> None:
    clock = Clock()
    raised = [mc.TransientLMError(f"429 #{i}", retry_after=1.0) for i in range(3)]
    pending = list(raised)
    counted: list[BaseException] = []
    admitted: list[BaseException] = []

    def attempt() -> str:
        raise pending.pop(0)

    policy = RetryPolicy(max_retries=2, backoff=Backoff(), clock=clock, sleep=clock.sleep)

    def admit(exc: BaseException) -> None:
        admitted.append(exc)

    with pytest.raises(mc.TransientLMError) as caught:
        policy.call(attempt, admit=admit, on_failure=counted.append)
    assert caught.value is raised[-1]
    assert counted == raised and admitted == raised[:2] and clock.sleeps == [1.0, 1.0]


def test_zero_retries_never_waits() -> None:
    clock = Clock()
    policy = RetryPolicy(max_retries=0, backoff=Backoff(), clock=clock, sleep=clock.sleep)

    def attempt() -> str:
        raise TimeoutError("slow")

    with pytest.raises(TimeoutError):
        policy.call(attempt)
    assert clock.sleeps == []


def test_an_interrupt_is_neither_retried_nor_counted_as_a_failure() -> None:
    calls: list[int] = []
    counted: list[BaseException] = []

    def attempt() -> str:
        calls.append(1)
        raise KeyboardInterrupt

    policy = RetryPolicy(max_retries=5, backoff=Backoff(0.0, 0.0))
    with pytest.raises(KeyboardInterrupt):
        policy.call(attempt, on_failure=counted.append)
    assert calls == [1] and counted == []


def test_a_wait_reaching_exactly_the_deadline_is_not_taken() -> None:
    clock = Clock()
    policy = RetryPolicy(
        max_retries=3, backoff=Backoff(), deadline=2.0, clock=clock, sleep=clock.sleep
    )
    pending = [mc.TransientLMError("429", retry_after=2.0)]

    def attempt() -> str:
        if pending:
            raise pending.pop()
        return "ok"

    with pytest.raises(RetryStopped) as stopped:
        policy.call(attempt)
    assert stopped.value.reason == "max_seconds" and clock.sleeps == []
    assert stopped.value.__cause__ is stopped.value.failure


def test_jitter_leaves_the_global_random_streams_alone() -> None:
    random.seed(3)
    before = random.getstate()
    backoff = Backoff(0.5, 20.0)
    delays = [backoff.delay(attempt, TimeoutError()) for attempt in range(5)]
    assert random.getstate() == before
    assert all(0.25 * 2**i <= d <= 0.5 * 2**i for i, d in enumerate(delays))


def test_a_parse_error_is_permanent_whatever_it_was_raised_from() -> None:
    # a JSON parser's JSONDecodeError under it is the model's answer, not a truncated body
    import json

    from mipro_core._transient import is_transient

    try:
        try:
            json.loads("The review is positive.")
        except json.JSONDecodeError as exc:
            raise mc.ParseError("the chain's output parser rejected the answer") from exc
    except mc.ParseError as error:
        assert not is_transient(error)
