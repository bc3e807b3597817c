"""(c) Proposer calls: grounded instruction writing, summaries, tips, temperature, misleading rate."""

from __future__ import annotations

from collections import Counter

import pytest

from mipro_core import Demo, ModuleState, ProgramState
from mipro_core.native import Stage
from mipro_core.testing import SimulatedLM, load_task
from mipro_core.testing._proposer_behaviour import (
    BASE,
    CREATIVE,
    DESCRIPTIONS,
    GENERIC,
    HIGH_STAKES,
    OBSERVATIONS,
    OVERGENERAL,
    PERSONAS,
    STATEMENTS,
    SUMMARY_OPENERS,
)
from mipro_core.testing._rules import detect

from .good_prompts import score

N = 300
RULE_OF = {
    "person": ("lower", "person"),
    "place": ("nopunct", "place"),
    "date": ("iso", "date"),
    "other": ("caps", "other"),
}


def proposer(lm: SimulatedLM) -> Stage:
    return Stage(
        "propose",
        "dataset_description, module, task_demos, basic_instruction, tip -> proposed_instruction",
        "Propose a better instruction for one module of a language model program.",
        lm=lm,
    )


def instructions(
    inputs: dict[str, str], n: int = N, seed: int = 0, temperature: float = 1.0
) -> list[str]:
    lm = SimulatedLM(seed)
    out = lm(proposer(lm).render(inputs), n=n, temperature=temperature)
    assert all(o.startswith("proposed_instruction: ") for o in out)
    return [o.split(": ", 1)[1] for o in out]


def rule_rates(texts: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        found = set(detect(text).format_rules)
        for rule, pair in RULE_OF.items():
            counts[rule] += pair in found
        s = detect(text)
        counts["short"] += s.short == 2
        counts["bridge"] += s.bridge_count > 0
    return counts


def rule_qa_demo_text(k: int) -> str:
    task = load_task("rule_qa")
    return "\n\n".join(
        f"question: {ex.inputs['question']}\nanswer: {ex.outputs['answer']}"
        for ex in task.trainset[:k]
    )


def inputs(**overrides: str) -> dict[str, str]:
    base = {
        "dataset_description": "",
        "module": "answer: question -> answer",
        "task_demos": "No task demos provided.",
        "basic_instruction": "Answer the question.",
        "tip": "",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("rule", ["person", "place", "date", "other"])
@pytest.mark.parametrize("phrases", [STATEMENTS, OBSERVATIONS])
def test_every_phrase_the_model_writes_is_read_back_as_the_rule(
    rule: str, phrases: dict[str, object]
) -> None:
    texts = phrases[rule]
    for text in texts if isinstance(texts, tuple) else (texts,):
        assert set(detect(text).format_rules) == {RULE_OF[rule]}


def test_other_phrases_round_trip() -> None:
    for text in (*STATEMENTS["short"], OBSERVATIONS["short"]):
        assert detect(text).short == 2 and not detect(text).format_rules
    for text in (*STATEMENTS["bridge"], OBSERVATIONS["bridge"]):
        assert detect(text).bridge_count == 1
    assert detect(OVERGENERAL["person"]).format_rules.keys() == {("lower", "all")}


def test_filler_sentences_state_no_rule() -> None:
    fillers = [
        *(t for texts in BASE.values() for t in texts),
        *(t for texts in PERSONAS.values() for t in texts),
        *GENERIC,
        *HIGH_STAKES,
        *CREATIVE,
        *DESCRIPTIONS.values(),
        *SUMMARY_OPENERS.values(),
    ]
    for text in fillers:
        s = detect(text)
        assert not (s.format_rules or s.short or s.verbose or s.bridge_count or s.anti_bridge), text


def test_grounded_proposals_state_rules_more_often_than_ungrounded_ones() -> None:
    ungrounded = rule_rates(instructions(inputs()))
    grounded = rule_rates(instructions(inputs(task_demos=rule_qa_demo_text(12))))
    for rule in RULE_OF:
        assert ungrounded[rule] == 0
        assert grounded[rule] / N >= 0.15, (rule, grounded)


def test_more_evidence_means_rules_are_stated_more_often() -> None:
    few = rule_rates(instructions(inputs(task_demos=rule_qa_demo_text(3))))
    many = rule_rates(instructions(inputs(task_demos=rule_qa_demo_text(20))))
    assert sum(many[r] for r in RULE_OF) > sum(few[r] for r in RULE_OF) * 1.3


def test_a_summary_that_states_a_rule_grounds_the_instruction() -> None:
    summary = "The answers are dates. " + OBSERVATIONS["date"]
    rates = rule_rates(instructions(inputs(dataset_description=summary)))
    assert rates["date"] / N >= 0.6
    assert rates["person"] == 0


def test_data_summary_mentions_rules_found_in_the_data() -> None:
    lm = SimulatedLM(0)
    stage = Stage("describe", "examples -> observations", "Describe patterns in the data.", lm=lm)
    task = load_task("rule_qa")
    batch = "\n".join(
        repr({"question": e.inputs["question"], "answer": e.outputs["answer"]})
        for e in task.trainset[:12]
    )
    summaries = [
        o.split(": ", 1)[1] for o in lm(stage.render({"examples": batch}), n=100, temperature=1.0)
    ]
    rates = rule_rates(summaries)
    assert all(rates[r] >= 15 for r in RULE_OF), rates
    assert rates["short"] == rates["bridge"] == 0
    empty = lm(stage.render({"examples": "No examples."}), n=20, temperature=1.0)
    assert not any(detect(o).format_rules for o in empty)


def test_multihop_evidence_short_answers_and_bridge_queries() -> None:
    task = load_task("multihop_qa")
    answers = "\n\n".join(
        f"question: {e.inputs['question']}\nanswer: {e.outputs['answer']}"
        for e in task.trainset[:8]
    )
    rates = rule_rates(
        instructions(
            inputs(task_demos=answers, module="generate_answer: context, question -> answer")
        )
    )
    assert rates["short"] / N >= 0.5 and rates["bridge"] == 0
    from .good_prompts import multihop_demos

    query_demos, _ = multihop_demos(task, 3)
    text = "\n\n".join(
        f"context: {d.inputs['context']}\nquestion: {d.inputs['question']}\nsearch_query: {d.outputs['search_query']}"
        for d in query_demos
    )
    rates = rule_rates(
        instructions(
            inputs(task_demos=text, module="generate_query: context, question -> search_query")
        )
    )
    assert rates["bridge"] / N >= 0.4
    ungrounded = rule_rates(
        instructions(inputs(module="generate_query: context, question -> search_query"))
    )
    assert ungrounded["bridge"] == 0


def test_temperature_adds_variety_and_zero_is_greedy() -> None:
    grounded = inputs(task_demos=rule_qa_demo_text(6))
    assert len(set(instructions(grounded, n=20, temperature=0.0))) == 1
    assert len(set(instructions(grounded, n=20, temperature=1.0))) >= 10


def test_misleading_instructions_appear_at_a_documented_rate() -> None:
    texts = instructions(inputs(task_demos=rule_qa_demo_text(12)), n=600, temperature=0.0 + 1e-9)
    overgeneral = sum(any(scope == "all" for _, scope in detect(t).format_rules) for t in texts)
    verbose = sum(detect(t).verbose for t in texts)
    # mislead rate 0.15 at T~0; split among over-generalisation, verbosity and over-fitting
    assert 0.02 <= (overgeneral + verbose) / 600 <= 0.15


@pytest.mark.parametrize(
    ("tip", "marker"),
    [
        ("Include a persona relevant to the task.", "You are"),
        ("Describe a high stakes scenario.", None),
        ("Keep the instruction concise and simple.", "Be concise."),
    ],
)
def test_tips_change_style(tip: str, marker: str | None) -> None:
    plain = instructions(inputs(), n=50)
    tipped = instructions(inputs(tip=tip), n=50)
    assert plain != tipped
    if marker:
        assert all(marker in t for t in tipped)
        assert not any(marker in t for t in plain)


def test_grounded_proposals_score_better_on_average_than_ungrounded() -> None:
    task = load_task("rule_qa")
    demos = tuple(Demo(dict(e.inputs), dict(e.outputs)) for e in task.trainset[:3])

    def mean_score(texts: list[str]) -> float:
        program = task.make_program(SimulatedLM(0))
        total = 0.0
        for text in texts:
            program.apply(ProgramState({"answer": ModuleState(text, demos)}))
            total += score(task, program, task.valset[:60])
        return total / len(texts)

    grounded = instructions(inputs(task_demos=rule_qa_demo_text(12)), n=12, seed=1)
    ungrounded = instructions(inputs(), n=12, seed=1)
    assert mean_score(grounded) > mean_score(ungrounded) + 0.1


def test_other_requested_fields_get_plausible_values() -> None:
    lm = SimulatedLM()
    stage = Stage(
        "p", "module -> reasoning, proposed_instruction, program_description", "Help.", lm=lm
    )
    out = lm(stage.render({"module": "answer"}))[0]
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "reasoning",
        "proposed_instruction",
        "program_description",
    ]
    free = lm(
        [
            {
                "role": "user",
                "content": "Please write a better instruction for a question answering bot.",
            }
        ]
    )[0]
    assert free and ":" not in free.split(".")[0]


def test_role_is_read_from_the_outputs_of_the_module_view() -> None:
    from mipro_core.testing._prompt import build_view
    from mipro_core.testing._proposer_behaviour import _target_role
    from mipro_core.testing._world import get_world

    def role(module_line: str) -> str:
        messages = (
            ("system", "Reply with exactly these lines:\nproposed_instruction: <x>"),
            ("user", module_line),
        )
        return _target_role(build_view(messages, get_world()))

    assert role("module: text_qa_template: (context_str, query_str) -> (answer)") == "answer"
    assert role("module: generate_query: (question) -> (search_query)") == "query"
