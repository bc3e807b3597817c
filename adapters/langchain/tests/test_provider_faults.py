"""A real ChatOpenAI behind a fault-injecting proxy: provider faults keep their transient nature
through LangChainLM and the chain, retries are paid calls, and the result matches a clean run."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import Example, Message
from mipro_core.testing import FaultProxy, OpenAICompatibleServer, serve_openai_compatible

langchain_openai = pytest.importorskip("langchain_openai", reason="needs langchain-openai")
from langchain_core.output_parsers import StrOutputParser  # noqa: E402
from langchain_core.prompts import ChatPromptTemplate  # noqa: E402


def unit(text: str) -> float:
    import hashlib

    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def toy_lm(messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0) -> list[str]:
    """Uppercases the question word when told so; proposes such an instruction when asked."""
    system, last = messages[0]["content"], messages[-1]["content"]
    if "proposed_instruction" in system:
        return [f"proposed_instruction: Answer in UPPERCASE ({unit(last):.3f})."] * n
    for field in ("observations", "summary"):
        if field in system:
            return [f"{field}: answers are uppercase words"] * n
    if "_description" in system:
        return [system.rsplit("\n", 1)[-1].split(":")[0] + ": turns a word into its answer"] * n
    word = last.rsplit(":", 1)[-1].strip()
    upper = "UPPERCASE" in "".join(m["content"] for m in messages)
    return [word.upper() if upper and unit(system + word) < 0.9 else word] * n


TRAIN = [Example({"question": f"word{i}"}, {"answer": f"WORD{i}"}) for i in range(8)]
VAL = [Example({"question": f"word{i}"}, {"answer": f"WORD{i}"}) for i in range(100, 110)]


def metric(example: Example, prediction: Any, trace: Any = None) -> bool:
    return bool(str(prediction).strip() == example.outputs["answer"])


def chain(base_url: str, timeout: float = 0.3) -> Any:
    model = langchain_openai.ChatOpenAI(
        base_url=base_url, api_key="test", model="toy", max_retries=0, timeout=timeout
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "question: {question}")]
    )
    return prompt | model | StrOutputParser()


def optimize(
    base_url: str, proposer_lm: Any = None, *, timeout: float = 0.3, **search: Any
) -> mc.OptimizationResult:
    config = mc.SearchConfig(
        minibatch_size=5, retry_base_delay=0.01, retry_max_delay=0.05, **search
    )
    optimizer = mc.MIPRO(
        budget=mc.Budget(max_trials=3, num_candidates=2), search=config, seed=2, num_threads=2
    )
    program = chain(base_url, timeout)
    return optimizer.optimize(program, TRAIN, metric, valset=VAL, proposer_lm=proposer_lm)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(toy_lm) as running:
        yield running


@pytest.fixture(scope="module")
def clean(server: OpenAICompatibleServer) -> mc.OptimizationResult:
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        result = optimize(proxy.base_url)
        assert result.lm_calls == proxy.requests
    return result


def test_twenty_percent_http_faults_give_the_clean_prompts_and_count_every_request(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    kinds = ("429", "500", "hang", "truncated")
    with FaultProxy(server.base_url, rate=0.2, kinds=kinds, seed=1, hang_seconds=1.0) as proxy:
        faulty = optimize(proxy.base_url)
        received = proxy.requests
        assert sum(proxy.faults.values()) > 0
    assert faulty.state == clean.state
    assert faulty.errors == 0
    assert faulty.lm_calls == received


def test_the_proposer_model_keeps_rate_limits_transient() -> None:
    from mipro_langchain import LangChainLM

    with (
        serve_openai_compatible(toy_lm) as server,
        FaultProxy(server.base_url, rate=1.0, kinds=("429",), retry_after="3") as proxy,
    ):
        model = langchain_openai.ChatOpenAI(
            base_url=proxy.base_url, api_key="test", model="toy", max_retries=0, timeout=1.0
        )
        with pytest.raises(mc.TransientLMError) as raised:
            LangChainLM(model)([{"role": "user", "content": "question: word1"}])
    assert raised.value.retry_after == 3.0


def test_under_a_call_cap_lm_calls_is_what_the_provider_received(
    server: OpenAICompatibleServer,
) -> None:
    with FaultProxy(server.base_url, rate=0.3, kinds=("500", "429"), seed=4) as proxy:
        config = mc.SearchConfig(minibatch_size=5, retry_base_delay=0.01, retry_max_delay=0.05)
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=6, num_candidates=2, max_lm_calls=50),
            search=config,
            seed=2,
            num_threads=2,
        )
        result = optimizer.optimize(chain(proxy.base_url), TRAIN, metric, valset=VAL)
        received = proxy.requests
    assert result.lm_calls == received
    assert received <= 50 + 2  # at most the calls in flight (num_threads=2) past the cap


def test_empty_completions_through_the_chain_are_retried_then_errors_with_one_warning(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    with (
        FaultProxy(server.base_url, rate=0.2, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        retried = optimize(proxy.base_url)
        assert proxy.faults["empty"] > 0
        assert retried.lm_calls == proxy.requests
    assert retried.state == clean.state  # retried: an empty reply never became a 0 score
    assert not [w for w in caught if "empty completion" in str(w.message)]
    with (
        FaultProxy(server.base_url, rate=0.3, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        # no retries: the proposer (the same model) would fail too, so it calls toy_lm directly
        # and a client timeout far above a loaded machine's latency: every error is an empty
        # completion (0.3 s under CI load could add a timed-out run)
        failed = optimize(proxy.base_url, toy_lm, timeout=10.0, max_retries=0, max_errors=100)
        assert failed.task_lm_calls == proxy.requests
    empty = [w for w in caught if "empty completion" in str(w.message)]
    assert failed.errors > 0  # scored as errors, never as 0 scores
    assert len(empty) == 1 and f"{failed.errors} program run(s)" in str(empty[0].message)
