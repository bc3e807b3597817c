"""A real ChatOpenAI at high concurrency (32-64 threads) behind the fault proxy: runs past their
per-run ``timeout`` start nothing more, caps hold, and what the provider received is counted."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.testing import (
    FaultProxy,
    OpenAICompatibleServer,
    SimulatedLM,
    load_task,
    serve_openai_compatible,
)

langchain_openai = pytest.importorskip("langchain_openai", reason="needs langchain-openai")
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402

TASK = load_task("rule_qa")
TRAIN, VAL = list(TASK.trainset)[:24], list(TASK.valset)[:32]


def chain(base_url: str, *, timeout: Any, max_retries: int = 0, **client: Any) -> Any:
    model = langchain_openai.ChatOpenAI(
        base_url=base_url, api_key="test", model="simulated", max_retries=max_retries,
        timeout=timeout, **client,
    )  # fmt: skip
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "{question}")]
    )
    return prompt | model | StrOutputParser()


def wait_for_worker_threads() -> None:
    """Join the optimizer's worker threads a run left behind (generous: only detects a hang)."""
    for thread in threading.enumerate():
        if thread.name.startswith("mipro_"):
            thread.join(timeout=60)
            assert not thread.is_alive(), f"{thread.name} still running"


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(SimulatedLM(seed=0, latency=0.02)) as running:
        yield running


def test_runs_past_their_timeout_retry_nothing_and_their_calls_are_counted(
    server: OpenAICompatibleServer,
) -> None:
    # a quarter of the requests hang for 2 s; the client gives up after 0.6 s (a transient
    # APITimeoutError); mipro gives up on the run after 0.3 s, so every hung run is abandoned
    # before its client fails: it must not then start a retry nobody waits for
    hangs = FaultProxy(server.base_url, rate=0.25, kinds=("hang",), seed=3, hang_seconds=2.0)
    with hangs as proxy:
        config = mc.SearchConfig(
            minibatch_size=16, timeout=0.3, max_errors=1000, retry_base_delay=0.01
        )
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=3, num_candidates=2, max_lm_calls=120),
            search=config,
            seed=1,
            num_threads=32,
        )
        program = chain(proxy.base_url, timeout=0.6)
        result = optimizer.optimize(
            program, TRAIN, TASK.metric, valset=VAL, proposer_lm=SimulatedLM(seed=0)
        )
        at_return = proxy.requests
        wait_for_worker_threads()  # the abandoned runs' clients time out
        received = proxy.requests
        assert proxy.faults["hang"] > 0
    assert result.errors > 0  # the hung runs were recorded as errors of their examples
    assert received == at_return  # nothing was sent after optimize() returned
    assert result.task_lm_calls == received  # a hung request is a request the provider billed
    assert received <= 120


@pytest.mark.parametrize(("retries", "shown"), [(None, "None: the SDK's default"), (2, "2")])
def test_a_model_whose_client_retries_by_itself_is_named_in_a_warning(
    retries: int | None, shown: str, caplog: pytest.LogCaptureFixture
) -> None:
    # ChatOpenAI's SDK retries 429s and 5xx twice by default: measured behind a proxy limiting
    # half the requests, 64 threads and max_lm_calls=150 sent 213 requests, lm_calls said 121
    from mipro_langchain import LangChainLM, LangChainProgram

    model = langchain_openai.ChatOpenAI(
        base_url="http://127.0.0.1:9/v1", api_key="test", model="simulated", max_retries=retries
    )
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    with caplog.at_level("WARNING", logger="mipro_langchain"):
        program = LangChainProgram(prompt | model | StrOutputParser())
        program.clone()
        LangChainLM(model)  # the same model as the proposer: still one warning
    warned = [r.getMessage() for r in caplog.records if "retries failed requests" in r.message]
    assert len(warned) == 1
    assert f"ChatOpenAI retries failed requests itself (max_retries={shown})" in warned[0]
    assert "max_lm_calls" in warned[0] and "max_retries=0" in warned[0]


def test_a_model_without_client_retries_gets_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    from mipro_langchain import LangChainProgram

    model = langchain_openai.ChatOpenAI(
        base_url="http://127.0.0.1:9/v1", api_key="test", model="simulated", max_retries=0
    )
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    with caplog.at_level("WARNING", logger="mipro_langchain"):
        LangChainProgram(prompt | model | StrOutputParser())
    assert not [r for r in caplog.records if "retries failed requests" in r.message]


def test_requests_that_never_left_a_small_connection_pool_are_not_counted() -> None:
    # 64 threads share one connection to a 100 ms model, and a call waits at most 10 ms for it:
    # calls made at once fail with httpx's PoolTimeout (openai's APITimeoutError), unsent
    httpx = pytest.importorskip("httpx", reason="needs httpx")
    attempts: list[Any] = []  # every request the client tried, sent or not
    pool = httpx.Client(
        limits=httpx.Limits(max_connections=1), event_hooks={"request": [attempts.append]}
    )
    with (
        serve_openai_compatible(SimulatedLM(seed=0, latency=0.1)) as slow,
        FaultProxy(slow.base_url, rate=0.0) as proxy,
        pool,
    ):
        config = mc.SearchConfig(
            minibatch_size=8, max_errors=1000, max_retries=1, retry_base_delay=0.01
        )
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=1, num_candidates=2, max_lm_calls=200),
            search=config,
            seed=1,
            num_threads=64,
        )
        timeout = httpx.Timeout(5.0, pool=0.01)
        program = chain(proxy.base_url, timeout=timeout, http_client=pool)
        result = optimizer.optimize(
            program, TRAIN[:12], TASK.metric, valset=VAL[:16], proposer_lm=SimulatedLM(seed=0)
        )
        received = proxy.requests
    assert len(attempts) > received  # pool timeouts happened (retried as transient) ...
    assert result.task_lm_calls == received  # ... but only the requests sent are counted


class FirstAttemptLimited(FaultProxy):
    """A rate-limit storm: every request's first attempt is answered 429, its retry gets through."""

    def choose(self, body: bytes) -> str | None:
        key = hashlib.sha256(body).hexdigest()
        with self._lock:
            self.requests += 1
            attempt = self._attempts[key]
            self._attempts[key] += 1
            if attempt == 0:
                self.faults["429"] += 1
        return "429" if attempt == 0 else None


def test_a_rate_limit_storm_does_not_inflate_what_each_run_reserves(
    server: OpenAICompatibleServer,
) -> None:
    # the first run of the baseline is run alone to learn what a run costs; it was retried once,
    # and its two calls made every later run reserve two calls besides its retry's own: the 32
    # runs of the baseline, all rate-limited at once, asked for more than the 100-call cap and
    # the run stopped with BudgetExhaustedError with much of the cap unspent
    with FirstAttemptLimited(server.base_url, rate=1.0, kinds=("429",)) as proxy:
        config = mc.SearchConfig(minibatch_size=16, retry_base_delay=0.01)
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=1, num_candidates=2, max_lm_calls=100),
            search=config,
            seed=1,
            num_threads=64,
        )
        program = chain(proxy.base_url, timeout=5.0)
        result = optimizer.optimize(
            program, TRAIN[:12], TASK.metric, valset=VAL, proposer_lm=SimulatedLM(seed=0)
        )
        received = proxy.requests
    baseline = result.trials[0]
    assert baseline.complete and baseline.errors == 0 and baseline.lm_calls == 2 * len(VAL)
    assert result.task_lm_calls == received <= 100
