"""A failing run's prediction is shown to the proposer as text that is the same in every run
(a memory address or a message's run id in it made the repair prompt, and so the run, differ
from run to run and miss the journal on resume)."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

import mipro_core as mc
from mipro_core._prediction_text import prediction_text
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data


class Answer:
    """An app's answer object without a ``__repr__`` (its repr shows its memory address)."""

    def __init__(self, text: str) -> None:
        self.text = text


def test_an_object_is_shown_without_its_memory_address() -> None:
    first, second = prediction_text(Answer("x")), prediction_text(Answer("x"))
    assert first == second
    assert "0x" not in first and "Answer object" in first


def test_a_chat_message_is_its_role_and_text_even_inside_a_graph_state() -> None:
    state = {
        "messages": [
            HumanMessage("what is 2+2?", id="run-1"),
            AIMessage("5", id="run-2", response_metadata={"token_usage": {"total_tokens": 7}}),
        ]
    }
    assert prediction_text(AIMessage("5", id="run-9")) == "ai: 5"
    assert prediction_text(state) == "{'messages': [human: what is 2+2?, ai: 5]}"


plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(plain)
def test_plain_data_keeps_its_repr(value: Any) -> None:
    expected = value if isinstance(value, str) else repr(value)
    assert prediction_text(value, limit=10**6) == expected


def test_two_runs_of_an_app_answering_with_objects_write_the_same_repair_instruction() -> None:
    logging.disable(logging.WARNING)
    try:

        def build() -> NativeProgram:
            stage = Stage("s0", "question -> answer", "Answer the question.", lm=ToyLM())
            return NativeProgram(
                [stage], lambda st, inputs: Answer(st["s0"](question=inputs["question"])["answer"])
            )

        def metric(example: mc.Example, prediction: Answer, trace: Any = None) -> bool:
            return bool(prediction.text == example.outputs["answer"])

        options: dict[str, Any] = dict(
            valset=toy_data(12, offset=100), seed=3, num_threads=1, max_trials=4,
            minibatch_size=4, full_eval_every=3, progress=False,
        )  # fmt: skip
        runs = [
            mc.optimize(build(), toy_data(16), metric, proposer_lm=ToyLM(), **options)
            for _ in range(3)
        ]
    finally:
        logging.disable(logging.NOTSET)
    assert all(r.repair_candidates for r in runs)
    candidates = [r.instruction_candidates["s0"] for r in runs]
    assert candidates[0] == candidates[1] == candidates[2]
    assert [t.score for t in runs[0].trials] == [t.score for t in runs[1].trials]


def test_a_set_is_shown_in_the_same_order_whatever_the_hash_seed() -> None:
    import subprocess
    import sys

    code = (
        "from mipro_core._prediction_text import prediction_text;"
        "print(prediction_text({'answer': {'paris', 'london', 'rome', 'berlin'}}))"
    )
    texts = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2, 3)
    }
    assert texts == {"{'answer': {'berlin', 'london', 'paris', 'rome'}}\n"}


def test_a_tool_calling_message_keeps_its_calls_without_their_ids() -> None:
    message = AIMessage(
        "", tool_calls=[{"name": "search", "args": {"q": "paris"}, "id": "call_8f2"}]
    )
    text = prediction_text(message)
    assert text == 'ai:  [tool calls: [{"args": {"q": "paris"}, "name": "search"}]]'


def test_an_object_that_only_looks_like_a_message_keeps_its_fields() -> None:
    class Verdict:
        def __init__(self) -> None:
            self.content, self.type, self.confidence = "yes", "label", 0.9

        def __repr__(self) -> str:
            return f"Verdict({self.content!r}, {self.type!r}, {self.confidence})"

    assert prediction_text(Verdict()) == "Verdict('yes', 'label', 0.9)"
