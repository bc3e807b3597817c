"""Runs against a stub of a llama.cpp server (see llama_stub.py) through ChatOpenAI."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from llama_stub import LlamaStub

import mipro_core as mc

langchain_openai = pytest.importorskip("langchain_openai", reason="needs langchain-openai")

POSITIVE = ("great", "love", "perfect", "excellent")


def _label(text: str) -> str:
    return "positive" if any(w in text.lower() for w in POSITIVE) else "negative"


def small_model(messages: list[dict[str, str]]) -> str:
    last = str(messages[-1]["content"])
    if any(m["role"] == "assistant" for m in messages):
        return _label(last)
    if "instruction" in str(messages[0]["content"]).lower() and len(messages) <= 2:
        return "Sure! Here is the instruction:\nAnswer with one word: positive or negative."
    return f"The review is {_label(last)}, and the product arrived on time " * 4


def _data(n: int, offset: int = 0, pad: int = 0) -> list[mc.Example]:
    words = ["great", "broken", "love", "awful", "perfect", "terrible", "excellent", "bad"]
    rows = []
    for i in range(n):
        word = words[(i + offset) % len(words)]
        review = f"Item {i + offset}: it is {word}. " + "It came in a box. " * pad
        rows.append(mc.Example({"review": review}, {"label": _label(review)}, id=f"e{i + offset}"))
    return rows


def _metric(example: mc.Example, prediction: Any) -> float:
    return float(str(prediction).strip().lower() == example.outputs["label"])


def _chain(base_url: str) -> Any:
    llm = langchain_openai.ChatOpenAI(
        base_url=base_url, api_key="local", model="smollm2", temperature=0,
        max_tokens=16, extra_body={"max_tokens": 16}, timeout=30, max_retries=0,
    )  # fmt: skip
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Classify the sentiment of the review."), ("human", "Review: {review}")]
    )
    return prompt | llm | StrOutputParser()


def test_prompts_over_the_context_window_fail_their_configuration_not_the_run() -> None:
    # reviews of ~120 tokens: the prompt alone fits, four demos with it do not
    with LlamaStub(small_model, n_ctx=400) as stub:
        chain = _chain(stub.base_url)
        result = mc.optimize(
            chain, _data(16, pad=25), _metric, valset=_data(12, 100, pad=25), num_candidates=4,
            max_trials=6, minibatch_size=6, max_errors=2, progress=False, seed=1,
        )  # fmt: skip
        assert stub.overflows > 0  # demo sets did overflow ...
        assert result.errors == 0  # ... counted as failed runs of their configuration, not errors
        assert 0 < result.malformed <= stub.overflows  # the rest were proposer prompts
        assert result.best_score > result.baseline_score
        # a 400 is never retried: no overflowing request is sent twice
        assert len(set(stub.overflowing)) == len(stub.overflowing) == stub.overflows


def test_the_token_cap_reaches_the_server_as_max_tokens() -> None:
    with LlamaStub(small_model) as stub:
        _chain(stub.base_url).invoke({"review": "great"})
        assert stub.requests[-1].get("max_tokens") == 16


def test_a_model_that_answers_nothing_with_demos_fails_those_configurations_not_the_run() -> None:
    # at temperature 0 the same prompt gets the same empty reply: empty on every retry while
    # the model answers other prompts, that run is a failed run of its configuration (scored
    # 0), never an error toward max_errors; after three such runs an empty reply is retried once
    with LlamaStub(small_model, empty_with_demos=True) as stub:
        search = mc.SearchConfig(
            minibatch_size=6, max_errors=2, retry_base_delay=0.0, retry_max_delay=0.0
        )
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=6, num_candidates=3), search=search, seed=1,
            progress=False,
        )  # fmt: skip
        result = optimizer.optimize(
            _chain(stub.base_url), _data(16), _metric, valset=_data(12, 100)
        )
        assert stub.empties > 0
    assert result.errors == 0
    sizes = result.demo_set_sizes["steps[0]"]
    with_demos = [t for t in result.trials if sizes[t.params.get("steps[0].demos", 0)] > 0]
    assert with_demos and all(t.score == 0.0 for t in with_demos)
    assert all(t.malformed == len(t.example_ids) for t in with_demos)


def test_junk_proposals_are_rejected_and_capped_replies_are_scored_answers() -> None:
    with LlamaStub(small_model, junk_proposals=True) as stub:
        result = mc.optimize(
            _chain(stub.base_url), _data(16), _metric, valset=_data(12, 100), num_candidates=8,
            max_trials=6, minibatch_size=6, max_errors=2, progress=False, seed=1,
        )  # fmt: skip
    # a code block and the prompt echoed back are rejected, and the result says how many
    rejected = stub.junk["code"] + stub.junk["echo"]
    assert stub.junk["code"] > 0 and stub.junk["echo"] > 0
    assert result.rejected_proposals == {"steps[0]": rejected}
    # of several numbered options, the first is the instruction
    assert stub.junk["options"] > 0
    assert "Reply with positive or negative only." in result.instruction_candidates["steps[0]"]
    # replies cut at the token cap (finish_reason "length") are ordinary answers: scored (0
    # here, they are chatty sentences), neither errors nor malformed
    assert stub.finish["length"] > 0
    baseline = result.trials[0]
    assert result.errors == 0 and baseline.score == 0.0
    assert baseline.errors == 0 and baseline.malformed == 0


def test_default_settings_wait_for_a_slow_local_call() -> None:
    # every answer takes 1.5 s: mipro's defaults (no per-run timeout) and the client's own
    # (ChatOpenAI with only the server's address) wait for it rather than abandon the call
    with LlamaStub(small_model, delay=1.5) as stub:
        llm = langchain_openai.ChatOpenAI(base_url=stub.base_url, api_key="local", model="smollm2")
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Classify the sentiment of the review."), ("human", "Review: {review}")]
        )
        result = mc.optimize(
            prompt | llm | StrOutputParser(), _data(8), _metric, valset=_data(4, 100),
            max_trials=1, num_candidates=1, progress=False, seed=1,
        )  # fmt: skip
        assert len(stub.requests) > 0
    assert result.errors == 0 and result.lm_calls == len(stub.requests)
