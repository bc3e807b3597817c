"""What a small local model (SmolLM2-135M on llama.cpp) did to runs, reproduced offline.

``SmallModel`` answers the way the real model did (recorded in benchmarks/real_lm): zero-shot it
talks ("The review is positive, and ..."), so an exact-label metric scores 0; with labeled demos
in the prompt it answers one word. As a proposer it writes junk.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from lc_test_support import TextChatModel

import mipro_core as mc
from mipro_core import InvalidInputError

POSITIVE = ("great", "love", "perfect", "excellent")


def _label(text: str) -> str:
    return "positive" if any(w in text.lower() for w in POSITIVE) else "negative"


class SmallModel(TextChatModel):
    """One word with demos in the prompt, a chatty sentence without; junk as a proposer."""

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        last = str(messages[-1].content)
        if str(messages[0].content).startswith("Summarize"):
            return last  # a summary that keeps the review's words
        if "instruction" in str(messages[0].content).lower() and len(messages) <= 2:
            return "* create_and_process(message) ### PLAIN: def f(x): return x"
        if any(isinstance(m, AIMessage) for m in messages):
            return _label(last)
        return f"The review is {_label(last)}, and the product arrived on time."


def _data(n: int, offset: int = 0) -> list[mc.Example]:
    words = ["great", "broken", "love", "awful", "perfect", "terrible", "excellent", "bad"]
    rows = []
    for i in range(n):
        word = words[(i + offset) % len(words)]
        review = f"Item {i + offset}: it is {word}."
        rows.append(mc.Example({"review": review}, {"label": _label(review)}, id=f"e{i + offset}"))
    return rows


def _metric(example: mc.Example, prediction: Any) -> float:
    return float(str(prediction).strip().lower() == example.outputs["label"])


def _chain() -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Classify the sentiment of the review."), ("human", "Review: {review}")]
    )
    return prompt | SmallModel() | StrOutputParser()


def test_one_output_chain_takes_the_one_gold_field_for_labeled_demos(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = _chain()
    with caplog.at_level(logging.WARNING):
        result = mc.optimize(
            chain, _data(16), _metric, valset=_data(12, 100), num_candidates=4, max_trials=6,
            minibatch_size=6, progress=False, seed=1,
        )  # fmt: skip
    assert result.baseline_score == 0.0
    assert result.best_score == 1.0
    (state,) = result.state.modules.values()
    assert state.demos and {d.source for d in state.demos} == {"labeled"}
    assert all(d.outputs["text"] in ("positive", "negative") for d in state.demos)
    # the model's proposals were code, not instructions: dropped, and the run says how many
    (candidates,) = result.instruction_candidates.values()
    assert candidates == ("Classify the sentiment of the review.",)
    assert any("rejected 3 of 3 instruction proposals" in r.getMessage() for r in caplog.records)


def _two_stage() -> Any:
    model = SmallModel()
    summarize = ChatPromptTemplate.from_messages([("system", "Summarize."), ("human", "{review}")])
    classify = ChatPromptTemplate.from_messages(
        [("system", "Classify the sentiment."), ("human", "Review: {summary}")]
    )
    return RunnablePassthrough.assign(summary=summarize | model | StrOutputParser()) | (
        classify | model | StrOutputParser()
    )


def test_several_modules_warn_naming_fields_and_outputs_option_maps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chain = _two_stage()
    program = mc.adapt(chain)
    last = list(program.modules)[-1]
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        mc.optimize(chain, _data(8), _metric, valset=_data(6, 100), dry_run=True, progress=False)
    warned = [r.getMessage() for r in caplog.records if "no module output" in r.getMessage()]
    assert warned and "'label'" in warned[0] and "outputs=" in warned[0]
    result = mc.optimize(
            chain, _data(16), _metric, valset=_data(12, 100), num_candidates=4, max_trials=6,
        minibatch_size=6, progress=False, seed=1, outputs={last: "label"},
    )  # fmt: skip
    assert result.best_score == 1.0
    assert {d.source for d in result.state[last].demos} == {"labeled"}


@pytest.mark.parametrize(
    ("outputs", "problem"),
    [
        ({"nope": "label"}, "no module"),
        ({"steps[0].answer": "label"}, "has outputs"),
        ({"steps[0]": "gold"}, "no example has"),
    ],
)
def test_outputs_option_names_the_problem(outputs: dict[str, str], problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        mc.optimize(
            _chain(), _data(8), _metric, valset=_data(6, 100), dry_run=True, progress=False,
            outputs=outputs,
        )  # fmt: skip


class JsonSmallModel(SmallModel):
    """Answers ``{"label": ...}``: one word with demos in the prompt, a sentence without."""

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        text = super().answer(messages, stop)
        if "instruction" in str(messages[0].content).lower() and len(messages) <= 2:
            return text  # as a proposer
        return json.dumps({"label": text})


def _json_chain() -> Any:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Classify the sentiment; answer JSON."), ("human", "Review: {review}")]
    )
    return prompt | JsonSmallModel() | JsonOutputParser()


def _json_metric(example: mc.Example, prediction: Any) -> float:
    label = prediction.get("label") if isinstance(prediction, dict) else None
    return float(label == example.outputs["label"])


def test_a_json_parser_chain_is_not_mapped_automatically_and_the_warning_names_the_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # its reply is JSON: a labeled demo showing the bare gold answer would teach it to drop it
    program = mc.adapt(_json_chain())
    (module,) = program.modules.values()
    assert module.signature.outputs == ("text",) and module.output_is_raw_text is False
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        mc.optimize(
            _json_chain(), _data(8), _json_metric, valset=_data(6, 100), dry_run=True,
            progress=False,
        )  # fmt: skip
    warned = [
        r.getMessage() for r in caplog.records if "not the model's raw reply" in r.getMessage()
    ]
    assert len(warned) == 1
    assert "['text']" in warned[0] and "['label']" in warned[0]
    assert "outputs=" in warned[0] and "--map-output" in warned[0]


def test_a_str_parser_chain_is_mapped_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    (module,) = mc.adapt(_chain()).modules.values()
    assert module.output_is_raw_text is True
    with caplog.at_level(logging.INFO, logger="mipro_core"):
        mc.optimize(_chain(), _data(8), _metric, valset=_data(6, 100), dry_run=True, progress=False)
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "no labeled demos can be formed" in m]
    assert any("takes the data's one gold field 'label'" in m for m in messages)


def test_a_step_after_the_str_parser_makes_the_output_not_the_raw_reply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the lambda reshapes the reply: the gold answer is what the lambda returns, not what the
    # model wrote, so the one gold field is not taken as the model's output
    def chain() -> Any:
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Classify the sentiment."), ("human", "Review: {review}")]
        )
        return prompt | SmallModel() | StrOutputParser() | (lambda text: {"label": text})

    (module,) = mc.adapt(chain()).modules.values()
    assert module.output_is_raw_text is False
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        mc.optimize(chain(), _data(8), _json_metric, valset=_data(6, 100), dry_run=True,
                    progress=False)  # fmt: skip
    assert any("not the model's raw reply" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("json_chain", [False, True])
def test_outputs_option_forms_labeled_demos_for_either_parser(json_chain: bool) -> None:
    chain, metric = (_json_chain(), _json_metric) if json_chain else (_chain(), _metric)
    result = mc.optimize(
        chain, _data(16), metric, valset=_data(12, 100), num_candidates=2, max_trials=4,
        minibatch_size=6, progress=False, seed=1, outputs={"steps[0]": "label"},
    )  # fmt: skip
    assert result.best_score == 1.0
    (state,) = result.state.modules.values()
    assert state.demos and {d.source for d in state.demos} == {"labeled"}
    assert all(d.outputs["text"] in ("positive", "negative") for d in state.demos)


class SentenceModel(SmallModel):
    """Always a sentence: a JSON parser rejects every answer."""

    calls: ClassVar[int] = 0

    def answer(self, messages: list[BaseMessage], stop: list[str] | None) -> str:
        type(self).calls += 1
        return "The review is positive, and the product arrived on time."


def test_an_answer_the_json_parser_rejects_is_scored_once_not_retried() -> None:
    # the parser's JSONDecodeError used to read as a truncated reply body: each run was asked
    # again three times, with backoff, before it was scored as malformed
    prompt = ChatPromptTemplate.from_messages([("system", "Answer JSON."), ("human", "{review}")])
    program = mc.adapt(prompt | SentenceModel() | JsonOutputParser())
    SentenceModel.calls = 0
    with pytest.raises(mc.ParseError) as raised:
        program.run({"review": "Item 1: it is great."})
    assert SentenceModel.calls == 1 and isinstance(raised.value.__cause__, Exception)
    result = mc.optimize(
        prompt | SentenceModel() | JsonOutputParser(), _data(6), _json_metric,
        valset=_data(4, 100), max_trials=1, num_candidates=1, max_bootstrapped_demos=0,
        max_labeled_demos=0, progress=False, outputs={"steps[0]": "label"},
    )  # fmt: skip
    assert result.malformed > 0 and result.errors == 0
    assert result.task_lm_calls == result.malformed  # one call per run: none was retried
