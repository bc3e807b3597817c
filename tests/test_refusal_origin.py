"""Only a model call's failure is a provider refusal; a tool's HTTP error is one run's failure.

A user's tool or retriever that calls ``raise_for_status()`` on a 401/403/404 page must not stop
the whole optimization as "the model provider refused a program run"; a tool's own connection
error must not lower the count of the (billed) model calls its run made.
"""

from __future__ import annotations

from typing import Any

import pytest

import mipro_core as mc
from mipro_core._errors import JournalError
from mipro_core._eval_records import RunRecord, cached_record, calls_made
from mipro_core._refusal import refusal
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric

requests = pytest.importorskip("requests", reason="requests is needed to build its HTTPError")
httpx = pytest.importorskip("httpx", reason="httpx is needed to build its errors")


def requests_error(status: int, url: str) -> BaseException:
    response = requests.Response()
    response.status_code, response.url, response.reason = status, url, "Refused"
    response._content = b"blocked"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError("raise_for_status did not raise")


def httpx_error(status: int, url: str) -> BaseException:
    response = httpx.Response(status, request=httpx.Request("GET", url), text="nope")
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError("raise_for_status did not raise")


class SDKError(Exception):
    """Shaped like an openai ``APIStatusError`` (``status_code``, ``code``, ``body``)."""

    def __init__(self, message: str, status: int, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code, self.code = status, code
        self.body = {"message": message, "code": code}


SDKError.__module__ = "openai._exceptions"  # what marks it as the model provider's


class ModelConnectionError(Exception):
    """Shaped like openai's ``APIConnectionError`` (raised from httpx's ConnectError)."""


ModelConnectionError.__module__ = "openai._exceptions"


def raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        raise outer from inner
    except BaseException as exc:
        return exc


TOOL_ERRORS = {
    "requests 401": lambda: requests_error(401, "https://search.internal/api"),
    "requests 402": lambda: requests_error(402, "https://paywalled.example/x"),
    "requests 403": lambda: requests_error(403, "https://news.example.com/article-7"),
    "httpx 403": lambda: httpx_error(403, "https://qdrant.local/collections/docs/points"),
    "httpx 404 models url": lambda: httpx_error(404, "https://api.example.com/v1/models/car-42"),
    "requests 404 model url": lambda: requests_error(404, "https://catalog/item?model=X100"),
}


@pytest.mark.parametrize("name", sorted(TOOL_ERRORS))
def test_a_tools_http_error_is_no_refusal(name: str) -> None:
    error = TOOL_ERRORS[name]()
    assert refusal(error) is None
    assert refusal(raised_from(RuntimeError("tool failed"), error)) is None


def test_a_model_calls_refusal_is_one_however_wrapped() -> None:
    assert "HTTP 401" in (refusal(SDKError("Incorrect API key", 401, "invalid_api_key")) or "")
    assert "HTTP 403" in (refusal(raised_from(RuntimeError("chain"), SDKError("no", 403))) or "")
    # an adapter's LM wraps what its model call raised, whatever the HTTP client
    wrapped = raised_from(mc.LMError("ChatFoo failed"), requests_error(403, "https://llm/v1"))
    assert "HTTP 403" in (refusal(wrapped) or "")
    # the proposer's call is a model call however bare its error
    assert "HTTP 401" in (refusal(requests_error(401, "https://llm/v1"), lm_call=True) or "")


def test_a_404_is_a_refusal_only_when_the_provider_says_the_model_is_missing() -> None:
    assert refusal(SDKError("Error code: 404 - the model `x` was not found", 404)) is None
    missing = SDKError("The model `gpt-9` does not exist", 404, "model_not_found")
    assert "HTTP 404" in (refusal(missing) or "")
    anthropic = SDKError("model: claude-9", 404)
    anthropic.body = {"type": "error", "error": {"type": "not_found_error", "message": "model"}}
    assert "HTTP 404" in (refusal(anthropic) or "")
    route = SDKError("no route POST /v2/chat", 404)
    route.body = {"type": "error", "error": {"type": "not_found_error"}}
    assert refusal(route) is None


def test_a_tools_http_errors_are_per_run_failures_and_the_run_completes() -> None:
    lm = ToyLM()

    def forward(stages: Any, inputs: dict[str, Any]) -> Any:
        answer = stages["s0"](question=inputs["question"])  # the model call is made (and billed)
        if inputs["question"] == "word3":
            raise requests_error(403, "https://news.example.com/article-3")
        if inputs["question"] == "word7":
            raise httpx_error(404, "https://api.example.com/v1/models/car-42")
        return answer

    program = NativeProgram([Stage("s0", "question -> answer", "Answer.", lm=lm)], forward)
    result = mc.optimize(
        program,
        toy_data(30),
        toy_metric,
        proposer_lm=lm,
        budget="light",
        max_trials=4,
        num_threads=2,
        max_errors=20,
        progress=False,
    )
    assert result.errors > 0  # those runs failed, each on its own
    assert result.best_score is not None


def test_a_tools_connect_error_does_not_uncount_the_model_calls_its_run_made() -> None:
    def run_failure(error: BaseException, calls: int) -> BaseException:
        error.mipro_lm_calls = calls  # type: ignore[attr-defined]
        return error

    tool = httpx.ConnectError("search.internal: connection refused")
    assert calls_made(run_failure(tool, 2)) == 2
    wrapped_tool = raised_from(RuntimeError("retriever failed"), httpx.ConnectError("refused"))
    assert calls_made(run_failure(wrapped_tool, 1)) == 1
    model = raised_from(ModelConnectionError("Connection error."), httpx.ConnectError("refused"))
    assert calls_made(run_failure(model, 2)) == 1  # the model call that failed never left
    behind_lm = raised_from(mc.LMError("ChatFoo failed"), httpx.ConnectError("refused"))
    assert calls_made(run_failure(behind_lm, 1)) == 0


def record(**extra: Any) -> dict[str, Any]:
    return {"example_id": "e1", "score": 1.0, "lm_calls": 3, **extra}


@pytest.mark.parametrize("retried", [-1, 10**9, 4, 1.7, True, "2", None])
def test_a_journaled_retried_calls_that_is_no_count_within_lm_calls_is_rejected(
    retried: Any,
) -> None:
    with pytest.raises(ValueError, match="retried_calls"):
        RunRecord.from_dict(record(retried_calls=retried))
    with pytest.raises(JournalError):
        cached_record(record(retried_calls=retried), "key")


def test_a_journaled_retried_calls_within_lm_calls_is_read_back() -> None:
    assert RunRecord.from_dict(record(retried_calls=3)).retried_calls == 3
    assert RunRecord.from_dict(record()).retried_calls == 0
