"""(d) Free-form prompts written by LangChain / LlamaIndex users (no ``field:`` format)."""

from __future__ import annotations

import json
import statistics

from mipro_core.testing import SimulatedLM, load_task
from mipro_core.testing._text import question_key
from mipro_core.testing._world import get_world

RULE = load_task("rule_qa")
MULTI = load_task("multihop_qa")


def _accuracy(outputs: list[str], task_name: str = "rule_qa") -> float:
    task = RULE if task_name == "rule_qa" else MULTI
    return statistics.fmean(
        task.metric(ex, out) for ex, out in zip(task.valset, outputs, strict=True)
    )


def _content_right(outputs: list[str]) -> float:
    """Content accuracy ignoring the hidden format rules (the plain answer, any case)."""
    hits = 0
    for ex, out in zip(RULE.valset, outputs, strict=True):
        info = get_world().questions[question_key(ex.inputs["question"])]
        hits += info.plain.lower() in out.lower() or info.gold.lower() in out.lower()
    return hits / len(outputs)


def test_plain_string_prompt_gets_a_bare_sensible_answer() -> None:
    lm = SimulatedLM(0)
    outs = [lm.complete(f"Answer the question: {ex.inputs['question']}") for ex in RULE.valset]
    assert all("\n" not in o and ":" not in o for o in outs)
    assert _content_right(outs) >= 0.6


def test_langchain_chat_prompt_system_and_human() -> None:
    from langchain_core.prompts import ChatPromptTemplate

    prompt = ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "You answer trivia. Write people's names in lowercase, dates in ISO format "
                "(YYYY-MM-DD), places without punctuation, and everything else in ALL CAPS.",
            ),
            ("human", "{question}"),
        ]
    )
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    lm = SimulatedLM(0)
    outs = []
    for ex in RULE.valset:
        msgs = prompt.invoke({"question": ex.inputs["question"]}).to_messages()
        outs.append(lm([{"role": roles[m.type], "content": str(m.content)} for m in msgs])[0])  # type: ignore[misc]
    assert _content_right(outs) >= 0.6
    assert _accuracy(outs) >= 0.45  # the rules stated in a free-form system prompt are followed


def test_langchain_few_shot_chat_turns_count_as_demos() -> None:
    lm = SimulatedLM(0)
    demos: list[dict[str, str]] = []
    for ex in RULE.trainset[:8]:
        demos += [
            {"role": "user", "content": ex.inputs["question"]},
            {"role": "assistant", "content": ex.outputs["answer"]},
        ]
    plain = [lm([{"role": "user", "content": ex.inputs["question"]}])[0] for ex in RULE.valset]
    shot = [
        lm([*demos, {"role": "user", "content": ex.inputs["question"]}])[0] for ex in RULE.valset
    ]  # type: ignore[list-item]
    assert _accuracy(shot) > _accuracy(plain) + 0.15


def test_example_blocks_inside_a_text_prompt_count_as_demos() -> None:
    lm = SimulatedLM(0)
    block = "\n\n".join(
        f"Question: {e.inputs['question']}\nAnswer: {e.outputs['answer']}"
        for e in RULE.trainset[:8]
    )
    plain = [lm.complete(f"Question: {ex.inputs['question']}\nAnswer:") for ex in RULE.valset]
    shot = [
        lm.complete(f"{block}\n\nQuestion: {ex.inputs['question']}\nAnswer:") for ex in RULE.valset
    ]
    assert _accuracy(shot) > _accuracy(plain) + 0.15


def test_llamaindex_text_qa_template_answers_from_context() -> None:
    from llama_index.core.prompts.default_prompts import DEFAULT_TEXT_QA_PROMPT

    assert MULTI.search is not None
    lm = SimulatedLM(0)
    with_fact, without_fact = [], []
    for ex in MULTI.valset:
        info = get_world().questions[question_key(ex.inputs["question"])]
        hop1 = MULTI.search(f"{info.hop1_entity} {info.hop1_hint}", 3)
        hop2 = MULTI.search(f"{info.bridge} {info.bridge_hint}", 3)
        for docs, bucket in ((hop1 + hop2, with_fact), (hop1, without_fact)):
            text = DEFAULT_TEXT_QA_PROMPT.format(
                context_str="\n\n".join(docs), query_str=ex.inputs["question"]
            )
            bucket.append(lm.complete(text))
    assert all(o and "\n" not in o for o in with_fact)
    assert _accuracy(with_fact, "multihop_qa") >= 0.35
    assert _accuracy(without_fact, "multihop_qa") <= 0.10


def test_query_writing_prompts_get_a_search_query() -> None:
    lm = SimulatedLM(0)
    ex = MULTI.valset[0]
    info = get_world().questions[question_key(ex.inputs["question"])]
    out = lm(
        [
            {"role": "system", "content": "Write a search query for the question."},
            {"role": "user", "content": ex.inputs["question"]},
        ]
    )[0]
    assert out != info.plain and len(out.split()) <= 8
    hits = sum(
        info.hop1_entity
        in lm.complete(f"Generate a search query to answer: {e.inputs['question']}")
        for e in MULTI.valset
        for info in [get_world().questions[question_key(e.inputs["question"])]]
    )
    assert hits / len(MULTI.valset) >= 0.8


def test_json_requests_get_json() -> None:
    lm = SimulatedLM(0)
    ex = RULE.valset[0]
    out = lm.complete(f'Return a JSON object with key "answer".\nQuestion: {ex.inputs["question"]}')
    assert set(json.loads(out)) == {"answer"}


def test_unknown_inputs_get_a_plausible_generic_answer() -> None:
    lm = SimulatedLM(0)
    assert lm.complete("What is the capital of France?") == "I do not know."
    native = lm(
        [
            {"role": "system", "content": "Reply with exactly these lines:\nanswer: <answer>"},
            {"role": "user", "content": "question: Who is the mayor of Nowhere?"},
        ]
    )[0]
    assert native == "answer: I do not know."
    query = lm(
        [
            {
                "role": "system",
                "content": "Reply with exactly these lines:\nsearch_query: <search_query>",
            },
            {"role": "user", "content": "question: Who built the Lonely Tower?"},
        ]
    )[0]
    assert query.startswith("search_query: ") and "Lonely" in query
