"""The documented mechanisms: demos (a), instructions and rules (b), the world's consistency."""

from __future__ import annotations

import itertools
import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mipro_core import Demo, ModuleState, ProgramState
from mipro_core.testing import SimParams, SimulatedLM, load_task
from mipro_core.testing._rules import detect
from mipro_core.testing._task_behaviour import icl_probability

from .good_prompts import (
    RULE_QA_INSTRUCTION,
    good_state,
    rule_qa_demos,
    score,
)

PARAMS = SimParams()


# ----------------------------------------------------------------- acceptance (2): baseline < good


@pytest.mark.parametrize("task_name", ["rule_qa", "multihop_qa"])
def test_baseline_scores_clearly_below_a_hand_written_good_prompt(task_name: str) -> None:
    task = load_task(task_name)
    program = task.make_program(SimulatedLM(0))
    baseline = score(task, program, task.valset)
    program.apply(good_state(task))
    good = score(task, program, task.valset)
    assert baseline <= 0.30, baseline
    assert good >= baseline + 0.40, (baseline, good)


# ----------------------------------------------------------------- (a) in-context learning


@given(
    base=st.floats(0.05, 0.9),
    good=st.floats(0, 20),
    extra=st.floats(0.01, 5),
    bad=st.floats(0, 10),
)
def test_icl_probability_rises_with_good_demos_falls_with_bad_ones(
    base: float, good: float, extra: float, bad: float
) -> None:
    top = min(1.0, base + 0.2)
    p = icl_probability(base, top, good, bad, PARAMS)
    assert 0.0 <= p <= top
    assert icl_probability(base, top, good + extra, bad, PARAMS) >= p
    assert icl_probability(base, top, good, bad + extra, PARAMS) <= p
    assert icl_probability(base, top, 0, 0, PARAMS) == pytest.approx(base)


def test_icl_has_diminishing_returns() -> None:
    gains = [
        icl_probability(0.7, 0.92, k + 1, 0, PARAMS) - icl_probability(0.7, 0.92, k, 0, PARAMS)
        for k in range(8)
    ]
    assert all(a > b for a, b in itertools.pairwise(gains))


def test_wrong_demos_lower_the_score_versus_no_demos() -> None:
    task = load_task("rule_qa")
    data = task.valset + task.testset
    program = task.make_program(SimulatedLM(0))
    program.apply(ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION)}))
    no_demos = score(task, program, data)
    program.apply(
        ProgramState(
            {"answer": ModuleState(RULE_QA_INSTRUCTION, rule_qa_demos(task, 3, wrong=True))}
        )
    )
    wrong = score(task, program, data)
    program.apply(
        ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION, rule_qa_demos(task, 3))})
    )
    right = score(task, program, data)
    assert wrong < no_demos - 0.05 < right - 0.05, (wrong, no_demos, right)


def test_more_correct_demos_help_more() -> None:
    task = load_task("rule_qa")
    data = task.valset + task.testset
    program = task.make_program(SimulatedLM(1))
    scores = []
    for k in (0, 2, 8):
        program.apply(
            ProgramState({"answer": ModuleState("Answer the question.", rule_qa_demos(task, k))})
        )
        scores.append(score(task, program, data))
    assert scores[0] < scores[1] < scores[2], scores


def test_irrelevant_demos_help_less_than_relevant_ones() -> None:
    rule, multi = load_task("rule_qa"), load_task("multihop_qa")
    data = rule.valset + rule.testset
    program = rule.make_program(SimulatedLM(2))
    foreign = tuple(Demo(dict(ex.inputs), dict(ex.outputs)) for ex in multi.trainset[:3])
    program.apply(ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION, foreign)}))
    irrelevant = score(rule, program, data)
    program.apply(
        ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION, rule_qa_demos(rule, 3))})
    )
    relevant = score(rule, program, data)
    assert irrelevant < relevant


# ----------------------------------------------------------------- (b) instructions and rules


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write people's names in lowercase.", {("lower", "person")}),
        ("When the answer is a person's name, write it in lowercase.", {("lower", "person")}),
        (
            "Lowercase for people, ALL CAPS for everything else.",
            {("lower", "person"), ("caps", "other")},
        ),
        ("Dates must use the YYYY-MM-DD format.", {("iso", "date")}),
        ("Place answers must not contain commas.", {("nopunct", "place")}),
        ("Write every answer in lowercase.", {("lower", "all")}),
        ("Never use capital letters for people.", {("lower", "person")}),
        (
            RULE_QA_INSTRUCTION,
            {("lower", "person"), ("iso", "date"), ("nopunct", "place"), ("caps", "other")},
        ),
        ("Answer the question.", set()),
        ("Use punctuation carefully in places.", set()),
    ],
)
def test_rule_statements_are_detected_by_documented_cues(
    text: str, expected: set[tuple[str, str]]
) -> None:
    assert set(detect(text).format_rules) == expected


def test_other_statement_kinds_are_detected() -> None:
    assert detect("Reply with only the short answer, not a full sentence.").short == 2
    assert detect("Be concise.").short == 1
    assert detect("Explain your answer in a complete sentence.").verbose
    assert detect("If the context mentions a new name, search for that name.").bridge_count == 1
    assert detect("Always use the question's own words as the search query.").anti_bridge
    assert detect("Think carefully.").generic and not detect("Answer.").generic


def _rule_qa_score(instruction: str, seed: int = 0) -> float:
    task = load_task("rule_qa")
    program = task.make_program(SimulatedLM(seed))
    program.apply(ProgramState({"answer": ModuleState(instruction)}))
    return score(task, program, task.valset + task.testset)


def test_each_stated_rule_helps_and_an_overgeneral_rule_hurts() -> None:
    plain = _rule_qa_score("Answer the question.")
    assert _rule_qa_score("Answer the question. Write people's names in lowercase.") > plain + 0.05
    assert (
        _rule_qa_score("Answer the question. Write dates in ISO format (YYYY-MM-DD).")
        > plain + 0.05
    )
    full = _rule_qa_score(RULE_QA_INSTRUCTION)
    overgeneral = _rule_qa_score(RULE_QA_INSTRUCTION.replace("people's names", "every answer"))
    assert overgeneral < full - 0.05, (overgeneral, full)


def test_cases_needing_an_unstated_rule_fail_more() -> None:
    task = load_task("rule_qa")
    program = task.make_program(SimulatedLM(0))
    program.apply(
        ProgramState(
            {"answer": ModuleState("Answer the question. Write people's names in lowercase.")}
        )
    )
    by_cat: dict[str, list[float]] = {}
    for ex in task.valset + task.testset:
        gold = ex.outputs["answer"]
        cat = "person" if gold == gold.lower() and not gold[0].isdigit() else "other"
        by_cat.setdefault(cat, []).append(task.metric(ex, program.run(ex.inputs)[0]))
    mean = {k: sum(v) / len(v) for k, v in by_cat.items()}
    assert mean["person"] > mean["other"] + 0.3, mean


def test_generic_advice_helps_a_little_and_rambling_hurts_a_little() -> None:
    seeds = range(4)
    base = sum(_rule_qa_score(RULE_QA_INSTRUCTION, s) for s in seeds)
    generic = sum(
        _rule_qa_score(RULE_QA_INSTRUCTION + " Think carefully and be accurate.", s) for s in seeds
    )
    filler = " The weather in the archive is mild and the shelves are tall." * 16
    rambling = sum(_rule_qa_score(RULE_QA_INSTRUCTION + filler, s) for s in seeds)
    assert generic > base > rambling


def test_multihop_answers_fail_without_the_fact_in_context() -> None:
    task = load_task("multihop_qa")
    lm = SimulatedLM(0)
    hits = 0
    for ex in task.valset:
        prompt = f"Answer with only the short answer.\nQuestion: {ex.inputs['question']}\nAnswer:"
        hits += task.metric(ex, lm.complete(prompt))
    assert hits / len(task.valset) <= 0.10  # obscure facts: known only with a small probability


def test_second_hop_query_needs_the_first_hop_passage() -> None:
    from mipro_core.testing._text import question_key
    from mipro_core.testing._world import get_world

    task = load_task("multihop_qa")
    assert task.search is not None
    lm = SimulatedLM(0)
    instruction = "Write a search query. If the context mentions a new name, search for that name."
    with_ctx = without_ctx = 0
    for ex in task.valset:
        info = get_world().questions[question_key(ex.inputs["question"])]
        context = "\n".join(task.search(f"{info.hop1_entity} {info.hop1_hint}", 3))
        q1 = lm.complete(
            f"{instruction}\nContext: {context}\nQuestion: {ex.inputs['question']}\nSearch query:"
        )
        q2 = lm.complete(f"{instruction}\nQuestion: {ex.inputs['question']}\nSearch query:")
        with_ctx += info.bridge in q1
        without_ctx += info.bridge in q2
    assert with_ctx / len(task.valset) >= 0.7 and without_ctx == 0


def test_params_are_causal_knobs() -> None:
    task = load_task("rule_qa")
    strict = attrs.evolve(SimParams(), rule_spontaneous=0.0, rule_demo_max=0.0)
    program = task.make_program(SimulatedLM(0, params=strict))
    program.apply(ProgramState({"answer": ModuleState("Answer the question.")}))
    per_cat = [task.metric(ex, program.run(ex.inputs)[0]) for ex in task.valset]
    ruled = [
        s for ex, s in zip(task.valset, per_cat, strict=True) if not ex.outputs["answer"].isdigit()
    ]
    assert sum(ruled) == 0  # with no spontaneous rule-following, every ruled answer fails
    assert math.isclose(SimParams().rule_follow, 0.93)
