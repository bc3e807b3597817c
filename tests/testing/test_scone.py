"""The ``scone_nli`` task: grounding on its training data makes proposers state a spurious rule.

The training split is dominated by sentences without negation, on which "negation does not
matter; yes iff the conclusion is more general" is always right. A data summary of it states that
rule; the validation and test splits are dominated by negations that reverse the answer, where
following it fails (docs/simulated-lm.md, task ``scone_nli``).
"""

from __future__ import annotations

import statistics
from collections import Counter

import pytest

from mipro_core import Demo, Example, ModuleState, ProgramState
from mipro_core.native import Stage
from mipro_core.testing import TASK_NAMES, SimulatedLM, load_task
from mipro_core.testing._proposer_behaviour import NLI_OBSERVATIONS, NLI_STATEMENTS
from mipro_core.testing._rules import detect
from mipro_core.testing._text import question_key
from mipro_core.testing._world import get_world

TASK = load_task("scone_nli")
N = 300
SPURIOUS = "Answer the question. " + NLI_STATEMENTS["surface"][0]
ADVICE = "Answer the question. " + NLI_STATEMENTS["negation"][0]


def example_text(examples: tuple[Example, ...]) -> str:
    return "\n\n".join(
        f"Example {i + 1}:\nquestion: {ex.inputs['question']}\nanswer: {ex.outputs['answer']}"
        for i, ex in enumerate(examples)
    )


def data_summary(seed: int, batches: int = 3, size: int = 10) -> str:
    """A data summary written by the simulated model itself: observe batches, then summarize."""
    lm = SimulatedLM(seed)
    observe = Stage("observe", "examples, prior_observations -> observations", "Observe.", lm=lm)
    summarize = Stage("summarize", "observations -> summary", "Summarize the observations.", lm=lm)
    notes: list[str] = []
    for b in range(batches):
        batch = TASK.trainset[b * size : (b + 1) * size]
        reply = lm(
            observe.render(
                {"examples": example_text(batch), "prior_observations": "\n".join(notes)}
            ),
            temperature=1.0,
        )[0]
        notes.append(reply.split(": ", 1)[1])
    reply = lm(summarize.render({"observations": "\n".join(notes)}), temperature=1.0)[0]
    return reply.split(": ", 1)[1]


def proposals(seed: int, n: int = N, **fields: str) -> list[str]:
    lm = SimulatedLM(seed)
    stage = Stage(
        "propose",
        "dataset_description, module, task_demos, basic_instruction, tip -> proposed_instruction",
        "Propose a better instruction for one module of a language model program.",
        lm=lm,
    )
    inputs = {
        "dataset_description": "",
        "module": "answer: question -> answer",
        "task_demos": "No task demos provided.",
        "basic_instruction": TASK.make_program(lm).stages["answer"].state.instruction,
        "tip": "",
    }
    inputs.update(fields)
    return [o.split(": ", 1)[1] for o in lm(stage.render(inputs), n=n, temperature=1.0)]


def rates(texts: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        s = detect(text)
        counts["surface"] += s.surface_count > 0
        counts["negation"] += s.negation_count > 0
    return counts


def test_task_is_registered_with_large_splits_and_a_shifted_mix() -> None:
    assert "scone_nli" in TASK_NAMES
    world = get_world()
    mix = {}
    for split in ("trainset", "valset", "testset"):
        data = getattr(TASK, split)
        assert len(data) >= 100
        infos = [world.questions[question_key(ex.inputs["question"])] for ex in data]
        assert all(
            i.plain == ex.outputs["answer"] in ("yes", "no")
            for i, ex in zip(infos, data, strict=True)
        )
        flipped = sum(i.plain != i.surface for i in infos) / len(infos)
        assert flipped == sum(i.category == "scoped" for i in infos) / len(infos)
        mix[split] = flipped
    assert mix["trainset"] <= 0.15 and mix["valset"] >= 0.4 and mix["testset"] >= 0.4


def test_phrases_round_trip_and_world_questions_state_nothing() -> None:
    for text in (*NLI_STATEMENTS["surface"], NLI_OBSERVATIONS["surface"]):
        assert detect(text).surface_count == 1 and not detect(text).negation_count, text
    for text in (*NLI_STATEMENTS["negation"], NLI_OBSERVATIONS["negation"]):
        assert detect(text).negation_count == 1 and not detect(text).surface_count, text
    for ex in TASK.trainset + TASK.valset + TASK.testset:
        s = detect(ex.inputs["question"])
        assert not (s.surface_count or s.negation_count or s.format_rules or s.short), ex
        assert not (s.bridge_count or s.anti_bridge or s.verbose or s.generic), ex


def test_metric_is_label_exact_match() -> None:
    ex = Example({"question": "q"}, {"answer": "yes"})
    assert TASK.metric(ex, {"answer": "Yes."}) == 1.0
    assert TASK.metric(ex, "no") == 0.0
    assert TASK.metric(ex, "yes, it follows") == 0.0


def test_a_data_summary_of_the_training_split_states_the_spurious_rule() -> None:
    summaries = [data_summary(seed) for seed in range(20)]
    stated = sum(detect(s).surface_count > 0 for s in summaries)
    assert stated >= 12, summaries


def test_summary_grounded_proposals_state_the_spurious_rule_far_more_often() -> None:
    summary = data_summary(0)
    assert detect(summary).surface_count  # seed 0's summary states it (checked above for most)
    grounded = rates(proposals(0, dataset_description=summary))
    ungrounded = rates(proposals(0))
    tipped = rates(proposals(0, tip="Keep the instruction simple and concise."))
    assert grounded["surface"] / N >= 0.5, grounded
    assert ungrounded["surface"] == tipped["surface"] == 0
    # the ungrounded proposer, told only that this is about premises, sometimes advises on negation
    assert 0.1 <= ungrounded["negation"] / N <= 0.4, ungrounded
    assert grounded["negation"] < ungrounded["negation"]


def test_data_with_reversing_negations_grounds_the_right_advice_instead() -> None:
    scoped = tuple(
        ex
        for ex in TASK.valset
        if get_world().questions[question_key(ex.inputs["question"])].category == "scoped"
    )[:6]
    found = rates(proposals(0, task_demos=example_text(scoped)))
    assert found["surface"] == 0 and found["negation"] / N >= 0.6, found


def _score(instruction: str | None, seed: int, demos: tuple[Demo, ...] = ()) -> float:
    program = TASK.make_program(SimulatedLM(seed))
    if instruction is not None or demos:
        seed_instruction = program.stages["answer"].state.instruction
        state = ModuleState(instruction or seed_instruction, demos)
        program.apply(ProgramState({"answer": state}))
    return statistics.fmean(TASK.metric(ex, program.run(ex.inputs)[0]) for ex in TASK.testset)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_spurious_rule_hurts_on_test_and_negation_advice_helps(seed: int) -> None:
    baseline = _score(None, seed)
    assert _score(SPURIOUS, seed) < baseline - 0.05
    assert _score(ADVICE, seed) > baseline + 0.05


def test_the_spurious_rule_looks_good_on_the_training_split() -> None:
    program = TASK.make_program(SimulatedLM(0))
    seed_score = statistics.fmean(
        TASK.metric(ex, program.run(ex.inputs)[0]) for ex in TASK.trainset
    )
    program.apply(ProgramState({"answer": ModuleState(SPURIOUS)}))
    spurious = statistics.fmean(TASK.metric(ex, program.run(ex.inputs)[0]) for ex in TASK.trainset)
    assert spurious > seed_score + 0.05


def test_examples_in_a_one_line_dict_repr_are_read_like_labeled_lines() -> None:
    """A real model reads ``Example({'question': ..., 'answer': 'yes'})`` lists (DSPy's data
    summary shows its examples that way) as surely as ``question:``/``answer:`` lines: the
    simulated one finds every question and label in both layouts, and weighs them the same."""
    from mipro_core.testing._params import SimParams
    from mipro_core.testing._proposer_behaviour import nli_evidence

    batch = tuple(TASK.trainset[:10])
    repr_text = (
        "examples: ["
        + ", ".join(
            f"Example({{'question': {ex.inputs['question']!r}, 'answer': {ex.outputs['answer']!r}}}) "
            "(input_keys={'question'})"
            for ex in batch
        )
        + "]"
    )
    assert "\n" not in repr_text
    world = get_world()
    assert len(world.find_questions(repr_text)) == len(batch)
    json_text = "\n".join(
        f'{{"question": "{ex.inputs["question"]}", "answer": "{ex.outputs["answer"]}"}}'
        for ex in batch
    )
    params = SimParams()
    lines = nli_evidence(example_text(batch), params)
    assert lines != (0.0, 0.0)
    assert nli_evidence(repr_text, params) == lines
    assert nli_evidence(json_text, params) == lines
