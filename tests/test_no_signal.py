"""A search without signal: nothing passes, no demo can be formed, no proposal helps. The repair
round (instructions written from the failing examples) is then run from the full evaluations'
failures instead of the run stopping early with 0.0 and most of its budget unspent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.native import NativeProgram, Stage

# the data's gold field is not the stage's output: no labeled demo, nothing passes
DATA = [mc.Example({"question": f"q{i}"}, {"label": "yes"}, id=f"e{i}") for i in range(40)]


def task_lm(
    messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
) -> list[str]:
    """Answers ``yes`` only when its instruction says so."""
    return ["answer: " + ("yes" if "yes" in messages[0]["content"].lower() else "maybe")] * n


def proposer(original: str) -> Any:
    """Proposes ``original`` again (a weak proposer); reading failures, it names the answer."""

    def lm(
        messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        text = "\n".join(m["content"] for m in messages)
        if "failing_examples:" in text and "yes" in text:
            return ["Always answer with the single word yes."] * n
        return [original] * n

    return lm


def metric(example: mc.Example, prediction: Any, trace: Any = None) -> float:
    return float(prediction == example.outputs["label"])


def run(proposal: str, **options: Any) -> mc.OptimizationResult:
    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    return mc.optimize(
        program, DATA, metric, proposer_lm=proposer(proposal), progress=False, seed=0,
        max_lm_calls=400, **options,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("proposal", "before"),
    [
        ("Answer the question.", "every configuration fully evaluated"),  # scored, all 0
        ("Answer.", "nothing to search"),  # every proposal was the original again
    ],
)
def test_without_signal_the_repair_round_writes_from_the_full_evaluations_failures(
    proposal: str, before: str
) -> None:
    off = run(proposal, proposer=mc.ProposerConfig(repair_round=False))
    assert off.best_score == 0.0 and off.stopped_reason == before and off.lm_calls < 100
    result = run(proposal)
    assert result.baseline_score == 0.0 and result.best_score == 1.0
    assert result.state["qa"].instruction == "Always answer with the single word yes."
    assert result.repair_candidates == {"qa": len(result.instruction_candidates["qa"]) - 1}


def test_with_signal_there_is_no_extra_round() -> None:
    # the same run whose stage output is named like the gold field: labeled demos give signal
    data = [mc.Example(ex.inputs, {"answer": "yes"}, id=ex.id) for ex in DATA]
    stage = Stage("qa", "question -> answer", "Answer yes.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    result = mc.optimize(
        program, data, metric=lambda ex, p, t=None: float(p == "yes"),
        proposer_lm=proposer("Answer the question."), progress=False, seed=0, max_lm_calls=400,
    )  # fmt: skip
    assert result.baseline_score == 1.0 and not result.repair_candidates


def test_a_search_without_signal_that_runs_out_of_trials_tries_the_repair_round_last() -> None:
    # the proposer writes distinct, useless instructions: configurations remain when the trials
    # run out, so the search ends "completed" rather than "every configuration fully evaluated"
    def varied(
        messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        text = "\n".join(m["content"] for m in messages)
        if "failing_examples:" in text and "yes" in text:
            return ["Always answer with the single word yes."] * n
        return [f"Answer the question, variant {len(text) % 997}."] * n

    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    options: dict[str, Any] = {
        "proposer_lm": varied, "progress": False, "seed": 0, "max_lm_calls": 400,
        "budget": mc.Budget(max_trials=4, num_candidates=5),
    }  # fmt: skip
    off = mc.optimize(
        program, DATA, metric, proposer=mc.ProposerConfig(repair_round=False), **options
    )
    assert off.stopped_reason == "completed" and off.best_score == 0.0
    assert len(off.instruction_candidates["qa"]) > 4  # configurations were left untried
    result = mc.optimize(program, DATA, metric, **options)
    assert result.best_score == 1.0 and len(result.trials) == len(off.trials)
    assert result.state["qa"].instruction == "Always answer with the single word yes."
    assert result.lm_calls <= 400
