"""Proposer replies as small local models write them: the instruction is extracted or the reply
rejected (replies recorded from SmolLM2-135M-Instruct on llama.cpp, and their usual shapes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mipro_core._propose._extract import extract_instruction

CLEAN = "Classify the review as positive or negative and answer with one word."


@pytest.mark.parametrize(
    "reply",
    [
        CLEAN,
        f'"{CLEAN}"',
        f"Sure! Here is the instruction:\n{CLEAN}",
        f"Sure! Here is an improved instruction: {CLEAN}",
        f"Proposed instruction: {CLEAN}",
        f"[[ ## proposed_instruction ## ]]\n{CLEAN}",
        f"**Instruction:** {CLEAN}",
        f"Here are three instructions:\n1. {CLEAN}\n2. Say if the review is good.\n3. Label it.",
        f"{CLEAN}\n\nThis instruction helps the model focus on the label.",
    ],
)
def test_the_instruction_is_extracted(reply: str) -> None:
    assert extract_instruction(reply) == CLEAN


@pytest.mark.parametrize(
    "reply",
    [
        # recorded from SmolLM2-135M-Instruct as the proposer
        "* create_and_process(message) ### PLAIN: Here is the review",
        "Here's a Python solution:\n```python\ndef classify(review):\n    return 'positive'\n```",
        "def classify(review): return review",
        "",
        "   ",
        "positive",
        "[[ ## task_demos ## ]] Review: great",
        "{}",
    ],
)
def test_junk_is_rejected(reply: str) -> None:
    assert extract_instruction(reply) is None


def test_an_echo_of_the_prompt_is_rejected() -> None:
    summary = (
        "The dataset holds short product reviews, each labeled positive or negative, written by "
        "customers of an online shop about kitchen tools and electronics."
    )
    prompt = {"dataset_summary": summary, "original_instruction": CLEAN}
    assert extract_instruction(summary, prompt) is None
    assert extract_instruction(CLEAN, prompt) == CLEAN  # repeating the instruction is no echo


def test_numbered_steps_of_one_instruction_are_kept() -> None:
    steps = "Follow these steps:\n1. Read the whole review.\n2. Answer positive or negative."
    assert extract_instruction(steps) == steps


@given(st.text(max_size=300))
def test_extraction_never_raises_and_returns_stripped_text(reply: str) -> None:
    text = extract_instruction(reply)
    assert text is None or (text == text.strip() and len(text.split()) >= 2)
