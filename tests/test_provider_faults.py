"""Provider faults: classification through wrappers, Retry-After, and the shared retry loop."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

import mipro_core as mc
from mipro_core._errors import EmptyCompletionError
from mipro_core._retry import Backoff, RetryPolicy, RetryStopped, is_transient, retry_after


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        self.headers = headers or {}


class APIStatusError(Exception):  # shaped like openai's / anthropic's
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Error code: {status}")
        self.response = FakeResponse(status, headers)
        self.status_code = status


class HTTPStatusError(Exception):  # shaped like httpx's / requests' (status on the response)
    def __init__(self, status: int) -> None:
        super().__init__(f"status {status}")
        self.response = FakeResponse(status)


class RemoteProtocolError(Exception):  # httpx: the peer closed the body half-way
    pass


class ConnectError(Exception):  # httpx
    pass


def wrapped(inner: BaseException, times: int = 2) -> BaseException:
    """``inner`` behind ``times`` layers of the wrapping adapters and frameworks do."""
    exc = inner
    for i in range(times):
        try:
            raise (mc.LMError if i % 2 == 0 else RuntimeError)(f"layer {i}") from exc
        except Exception as outer:
            exc = outer
    return exc


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_a_transient_status_stays_transient_behind_wrappers(status: int) -> None:
    assert is_transient(wrapped(APIStatusError(status)))
    assert is_transient(wrapped(HTTPStatusError(status), times=3))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_a_bad_request_is_permanent_even_with_a_transient_sounding_wrapper(status: int) -> None:
    class ConnectionWrapperError(Exception):
        pass

    try:
        raise mc.LMError("context length exceeded") from APIStatusError(status)
    except mc.LMError as exc:
        assert not is_transient(exc)
    assert not is_transient(wrapped(APIStatusError(status)))


@pytest.mark.parametrize(
    "inner",
    [
        TimeoutError("read timed out"),
        ConnectionResetError("reset by peer"),
        RemoteProtocolError("peer closed connection without sending complete message body"),
        ConnectError("connection refused"),
        json.JSONDecodeError("Unterminated string", '{"choices": [{"mess', 19),
        EmptyCompletionError("empty"),
    ],
)
def test_timeouts_resets_and_truncated_bodies_are_transient_through_the_chain(
    inner: BaseException,
) -> None:
    assert is_transient(wrapped(inner))


def test_implicit_context_is_walked_and_a_plain_lm_error_alone_is_permanent() -> None:
    try:
        try:
            raise APIStatusError(429)
        except APIStatusError:
            raise RuntimeError("while handling") from None
    except RuntimeError as exc:
        assert not is_transient(exc)  # context suppressed: nothing says transient
    try:
        try:
            raise APIStatusError(429)
        except APIStatusError:
            raise RuntimeError("while handling")  # noqa: B904
    except RuntimeError as exc:
        assert is_transient(exc)
    assert not is_transient(mc.LMError("the model refused"))
    assert not is_transient(mc.ParseError("answer lacks field"))


def test_a_tenacity_retry_error_is_classified_by_its_last_attempt() -> None:
    tenacity = pytest.importorskip("tenacity")
    attempt = tenacity.Future(1)
    attempt.set_exception(APIStatusError(503))
    assert is_transient(tenacity.RetryError(attempt))


def test_retry_after_in_seconds_http_date_and_milliseconds_through_the_chain() -> None:
    assert retry_after(wrapped(APIStatusError(429, {"retry-after": "7"}))) == 7.0
    later = datetime.now(timezone.utc) + timedelta(seconds=120)
    hint = retry_after(wrapped(APIStatusError(429, {"retry-after": format_datetime(later)})))
    assert hint is not None and 100 < hint <= 120
    past = format_datetime(datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc))
    assert retry_after(APIStatusError(429, {"retry-after": past})) == 0.0
    assert retry_after(APIStatusError(429, {"retry-after-ms": "250"})) == 0.25
    assert retry_after(APIStatusError(429, {"retry-after": "soon"})) is None
    assert retry_after(mc.TransientLMError("x", retry_after=3.0)) == 3.0


def test_from_provider_keeps_the_nature_and_the_hint() -> None:
    error = mc.LMError.from_provider(APIStatusError(429, {"retry-after": "2"}), "rate limited")
    assert isinstance(error, mc.TransientLMError) and error.retry_after == 2.0
    permanent = mc.LMError.from_provider(APIStatusError(400), "context length exceeded")
    assert type(permanent) is mc.LMError and not permanent.transient


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures: list[BaseException]) -> Any:
    calls: list[float] = []

    def attempt() -> str:
        calls.append(0.0)
        if failures:
            raise failures.pop(0)
        return "ok"

    return attempt, calls


def test_retries_wait_what_the_provider_asked_then_succeed() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_retries=3, backoff=Backoff(0.5, 20.0), clock=clock, sleep=clock.sleep)
    attempt, calls = flaky([mc.TransientLMError("429", retry_after=1.5), TimeoutError()])
    assert policy.call(attempt) == "ok"
    assert len(calls) == 3
    assert clock.sleeps[0] == 1.5 and 0.5 <= clock.sleeps[1] <= 1.0  # base * 2, jittered


def test_no_retry_starts_after_the_deadline_and_no_wait_runs_past_it() -> None:
    clock = FakeClock()
    clock.now = 95.0
    policy = RetryPolicy(
        max_retries=5,
        backoff=Backoff(0.5, 60.0),
        deadline=100.0,
        clock=clock,
        sleep=clock.sleep,
    )
    attempt, calls = flaky([mc.TransientLMError("429", retry_after=30.0)])
    with pytest.raises(RetryStopped) as stopped:
        policy.call(attempt)
    assert stopped.value.reason == "max_seconds"
    assert len(calls) == 1  # the retry would have started after the deadline: never made
    assert clock.now <= 100.0  # and no wait ran past it
    # a wait that ends before the deadline is taken, then the retry runs
    attempt, calls = flaky([mc.TransientLMError("429", retry_after=2.0)])
    assert policy.call(attempt) == "ok" and len(calls) == 2 and clock.now == 97.0


def test_a_refused_retry_reservation_stops_and_permanent_failures_are_not_retried() -> None:
    policy = RetryPolicy(max_retries=5, backoff=Backoff(0.0, 0.0))
    attempt, calls = flaky([TimeoutError(), TimeoutError()])
    with pytest.raises(RetryStopped) as stopped:
        policy.call(attempt, admit=lambda exc: "max_lm_calls")
    assert stopped.value.reason == "max_lm_calls" and len(calls) == 1
    failures: list[BaseException] = []
    attempt, calls = flaky([APIStatusError(400)])
    with pytest.raises(APIStatusError):
        policy.call(attempt, on_failure=failures.append)
    assert len(calls) == 1 and len(failures) == 1


def test_an_exception_marked_not_transient_is_not_retried_whatever_its_cause() -> None:
    class WorkflowOwnTimeout(RuntimeError):
        transient = False

    try:
        raise WorkflowOwnTimeout("the workflow's own limit") from TimeoutError()
    except WorkflowOwnTimeout as exc:
        assert not is_transient(exc)


class QuotaError(APIStatusError):  # shaped like openai's RateLimitError for insufficient_quota
    code = "insufficient_quota"


def test_refusals_every_call_would_get_are_told_apart_from_one_runs_failure() -> None:
    from mipro_core._refusal import refusal

    assert "HTTP 401" in (refusal(wrapped(APIStatusError(401))) or "")
    assert "HTTP 403" in (refusal(wrapped(APIStatusError(403))) or "")
    missing = APIStatusError(404)
    missing.args = ("Error code: 404 - The model `gpt-9` does not exist",)
    assert refusal(wrapped(missing)) is None  # a message naming a model is not enough
    missing.code = "model_not_found"  # type: ignore[attr-defined]  # as OpenAI sends it
    assert "HTTP 404" in (refusal(wrapped(missing)) or "")
    assert refusal(wrapped(APIStatusError(404))) is None  # a tool's 404: that run's failure
    assert refusal(wrapped(APIStatusError(400))) is None
    quota = QuotaError(429)
    assert "insufficient_quota" in (refusal(wrapped(quota)) or "")
    assert not is_transient(wrapped(quota))  # no wait brings the credit back
    assert is_transient(wrapped(APIStatusError(429)))


def test_wake_ends_a_backoff_wait_and_no_retry_follows() -> None:
    import threading

    policy = RetryPolicy(max_retries=3, backoff=Backoff(1000.0, 1000.0))
    attempt, calls = flaky([mc.TransientLMError("429", retry_after=1000.0)] * 3)
    stopped: list[RetryStopped] = []

    def run() -> None:
        try:
            policy.call(attempt, admit=lambda exc: "stopping" if policy_woken else None)
        except RetryStopped as exc:
            stopped.append(exc)

    policy_woken = False
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while not calls:
        worker.join(0.01)
    policy_woken = True
    policy.wake()
    worker.join(60)  # the wait was 1000 s
    assert not worker.is_alive()
    assert len(calls) == 1 and stopped and stopped[0].reason == "stopping"


class PoolTimeout(Exception):  # httpx: no free connection in the client's pool
    pass


class ReadTimeout(Exception):  # httpx: sent, no answer in time
    pass


def test_a_call_that_never_left_the_client_is_not_counted() -> None:
    from mipro_core._eval_records import calls_made

    def failed_run(inner: BaseException, calls: int | None) -> BaseException:
        try:
            raise mc.LMError("ChatOpenAI failed: APITimeoutError") from inner
        except mc.LMError as exc:
            if calls is not None:
                exc.mipro_lm_calls = calls  # type: ignore[attr-defined]
            return exc

    assert calls_made(failed_run(PoolTimeout("pool"), 2)) == 1  # the second call never left
    assert calls_made(failed_run(ConnectError("refused"), None)) == 0
    assert calls_made(failed_run(ReadTimeout("read"), 2)) == 2  # sent: the provider bills it
    assert calls_made(failed_run(ReadTimeout("read"), None)) == 1
