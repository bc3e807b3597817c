"""LlamaIndex's real OpenAILike client behind a fault-injecting proxy: LlamaIndexLM keeps whether
a provider failure is worth retrying, so the proposer retries rate limits and 5xx replies."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import mipro_core as mc
from mipro_core import Message
from mipro_core.testing import FaultProxy, serve_openai_compatible

openai_like = pytest.importorskip(
    "llama_index.llms.openai_like", reason="needs llama-index-llms-openai-like"
)
from mipro_llamaindex._lm import LlamaIndexLM  # noqa: E402


def echo(messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0) -> list[str]:
    return [f"answer: {messages[-1]['content']}"] * n


def model(base_url: str) -> LlamaIndexLM:
    llm = openai_like.OpenAILike(
        api_base=base_url,
        api_key="test",
        model="toy",
        is_chat_model=True,
        max_retries=0,
        timeout=0.3,
    )
    return LlamaIndexLM(llm)


@pytest.mark.parametrize(
    ("kind", "hint"), [("429", 2.0), ("500", None), ("hang", None), ("truncated", None)]
)
def test_provider_faults_are_transient_lm_errors(kind: str, hint: float | None) -> None:
    with (
        serve_openai_compatible(echo) as server,
        FaultProxy(
            server.base_url, rate=1.0, kinds=(kind,), retry_after="2", hang_seconds=1.0
        ) as proxy,
    ):
        with pytest.raises(mc.TransientLMError) as raised:
            model(proxy.base_url)([{"role": "user", "content": "hi"}])
        assert proxy.requests == 1  # the client's own retries are off: one attempt
    assert raised.value.retry_after == hint


def test_a_bad_request_stays_permanent() -> None:
    with serve_openai_compatible(echo) as server:
        lm = model(server.base_url)
        with pytest.raises(mc.LMError) as raised:
            lm([{"role": "user", "content": "hi"}], temperature=5.0)  # the server answers 400
    assert not isinstance(raised.value, mc.TransientLMError)


def test_an_exhausted_quota_is_never_retried() -> None:
    with (
        serve_openai_compatible(echo) as server,
        FaultProxy(server.base_url, rate=1.0, kinds=("quota",)) as proxy,
        pytest.raises(mc.LMError) as raised,
    ):
        model(proxy.base_url)([{"role": "user", "content": "hi"}])
    # OpenAI's insufficient_quota 429 is no rate limit: waiting does not bring credit back
    assert not isinstance(raised.value, mc.TransientLMError)
    assert "insufficient_quota" in str(raised.value)


@pytest.mark.parametrize("retries", [3, 0])
def test_an_llm_whose_client_retries_by_itself_is_named_in_one_warning(
    retries: int, caplog: pytest.LogCaptureFixture
) -> None:
    # OpenAILike retries failed requests 3 times by default, out of mipro's sight: those
    # requests are neither counted in lm_calls nor held to max_lm_calls
    from llama_index.core import Document, SummaryIndex
    from mipro_llamaindex import LlamaIndexProgram

    llm = openai_like.OpenAILike(
        api_base="http://127.0.0.1:9/v1", api_key="test", model="toy", max_retries=retries
    )
    engine = SummaryIndex.from_documents([Document(text="a fact")]).as_query_engine(llm=llm)
    with caplog.at_level("WARNING", logger="mipro_llamaindex"):
        program = LlamaIndexProgram(engine)
        program.clone()
        LlamaIndexLM(llm)
    warned = [r.getMessage() for r in caplog.records if "retries failed requests" in r.message]
    if retries:
        assert len(warned) == 1
        assert "OpenAILike retries failed requests itself (max_retries=3)" in warned[0]
        assert "max_lm_calls" in warned[0] and "max_retries=0" in warned[0]
    else:
        assert warned == []
