"""The final selection: among fully evaluated configurations tied at the best score, the one
closest to the original wins (a proposed instruction that only ties the original loses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core._report import load_report_data
from mipro_core.native import NativeProgram, Stage

DATA = [mc.Example({"question": f"q{i}"}, {"answer": "yes"}, id=f"e{i}") for i in range(40)]


def task_lm(
    messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
) -> list[str]:
    """Right with demos in the prompt, whatever the instruction says."""
    return ["answer: " + ("yes" if len(messages) > 2 else "maybe")] * n


def junk(
    messages: Sequence[Mapping[str, str]], *, n: int = 1, temperature: float = 0.0
) -> list[str]:
    """A weak proposer's prose (as SmolLM2-135M wrote it), varied so each is kept."""
    text = "\n".join(m["content"] for m in messages)
    return [f"No, I don't know your name ({len(text) % 97})."] * n


# seeds whose first fully evaluated configuration at the best score has a proposed instruction
@pytest.mark.parametrize("seed", [1, 4])
def test_a_proposed_instruction_that_only_ties_the_original_does_not_replace_it(
    seed: int, tmp_path: Path
) -> None:
    stage = Stage("qa", "question -> answer", "Answer.", lm=task_lm)
    program = NativeProgram([stage], lambda st, inp: st["qa"](question=inp["question"])["answer"])
    result = mc.optimize(
        program, DATA, lambda ex, p, t=None: float(p == "yes"), proposer_lm=junk,
        progress=False, seed=seed, journal=tmp_path / "run.sqlite", budget=mc.Budget(max_trials=8, num_candidates=3),
    )  # fmt: skip
    full: list[Any] = [t for t in result.trials if t.kind == "full" and t.score == 1.0]
    assert full[0].params["qa.instruction"] != 0  # the junk was evaluated first: a real tie
    assert any(t.params["qa.instruction"] == 0 for t in full)
    assert result.best_score == 1.0
    assert result.best_params["qa.instruction"] == 0
    assert result.state["qa"].instruction == "Answer." and result.state["qa"].demos
    # the report built from the journal picks the same winner
    [module] = load_report_data(tmp_path / "run.sqlite").modules
    assert module.best_instruction == "Answer."
