"""Proposals the proposer answered with no usable instruction are counted in the result
(``OptimizationResult.rejected_proposals``) and its summary, not only in a log line."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import mipro_core as mc
from mipro_core import Message
from tests.toy import ToyLM, toy_data, toy_metric, toy_program, unit


class JunkProposer(ToyLM):
    """Answers about half of the instruction proposals with code or an echo of its prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.junk = 0
        self._junk_lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system, last = messages[0]["content"], messages[-1]["content"]
        draw = unit(f"{temperature}{last}")
        if "proposed_instruction" in system and draw < 0.5:
            with self._junk_lock:
                self.junk += 1
            if draw < 0.25:
                return [
                    "proposed_instruction: ```python\ndef answer(q):\n    return q.upper()\n```"
                ]
            return [f"proposed_instruction: {last}"]  # its own prompt, echoed
        return super().__call__(messages, n=n, temperature=temperature)


def test_the_result_counts_the_rejected_proposals_per_module(tmp_path: Path) -> None:
    proposer, journal = JunkProposer(), tmp_path / "run.sqlite"
    result = mc.optimize(
        toy_program(ToyLM(), stages=2), toy_data(16), toy_metric, valset=toy_data(12, 100),
        max_trials=6, num_candidates=8, proposer_lm=proposer, progress=False, seed=3,
        journal=journal,
    )  # fmt: skip
    assert proposer.junk > 0
    assert sum(result.rejected_proposals.values()) == proposer.junk
    assert set(result.rejected_proposals) <= {"s0", "s1"}
    summary = result.summary()
    for name, count in result.rejected_proposals.items():
        assert f"module {name}:" in summary and f"proposals rejected: {count}" in summary
    # a resumed run replays the journaled replies: the same count, with no proposer call
    replayed = JunkProposer()
    resumed = mc.resume(journal, toy_program(ToyLM(), stages=2), toy_metric, proposer_lm=replayed)
    assert resumed.rejected_proposals == result.rejected_proposals and replayed.calls == 0


def test_a_clean_proposer_rejects_nothing() -> None:
    result = mc.optimize(
        toy_program(ToyLM()), toy_data(12), toy_metric, valset=toy_data(8, 100), max_trials=3,
        progress=False,
    )  # fmt: skip
    assert result.rejected_proposals == {} and "rejected" not in result.summary()
