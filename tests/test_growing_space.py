"""A search space that grows during the run never crashes the search (#16 §4).

Under MIPRO++ a module whose first proposals all repeat its original instruction has no
instruction variable at first; a later proposal round adds one, and the trials made before
must count as the original instruction. Today's main crashed in TPE with
``InvalidInputError: observation 0 of the history has no index for variable 's1.instruction'``.
"""

from __future__ import annotations

from collections.abc import Sequence

import mipro_core as mc
from mipro_core import Message, Trial
from mipro_core.plugins import hookimpl, registered
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


class LateProposerLM(ToyLM):
    """Proposes the original instruction (nothing new) until the first search trial is done."""

    def __init__(self) -> None:
        super().__init__()
        self.searching = False

    @hookimpl
    def mipro_trial_completed(self, trial: Trial) -> None:
        if trial.number > 0:  # trial 0 is the baseline
            self.searching = True

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        if "proposed_instruction" in messages[0]["content"] and not self.searching:
            with self._lock:
                self.calls += 1
            return ["proposed_instruction: Answer the question."] * n
        return super().__call__(messages, n=n, temperature=temperature)


def test_an_instruction_that_becomes_searchable_later_is_searched() -> None:
    lm = LateProposerLM()
    with registered(lm, "late-proposer"):
        result = mc.optimize(
            toy_program(lm, stages=2),
            toy_data(40),
            toy_metric,
            valset=toy_data(60, offset=100),
            minibatch_size=15,
            num_candidates=4,
            strategy="mipro++",
            max_trials=24,
            seed=8,
            num_threads=2,
            progress=False,
        )
    assert "s1.instruction" not in result.trials[1].params  # the variable did not exist yet
    later = [t for t in result.trials if "s1.instruction" in t.params]
    assert later, "a proposal round made the instruction searchable"
    assert len(result.instruction_candidates["s1"]) > 1
    assert result.stopped_reason in ("completed", "search exhausted")
