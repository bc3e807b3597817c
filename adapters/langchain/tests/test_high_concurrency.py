"""A real ChatOpenAI at high concurrency (32-64 threads) behind the fault proxy: runs past their
per-run ``timeout`` start nothing more, caps hold, and what the provider received is counted."""

from __future__ import annotations

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


def chain(base_url: str, *, timeout: float, max_retries: int = 0) -> Any:
    model = langchain_openai.ChatOpenAI(
        base_url=base_url, api_key="test", model="simulated", max_retries=max_retries,
        timeout=timeout,
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
