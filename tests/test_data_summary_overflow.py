"""The data summary's observation calls: ten examples each whatever the thread count, and a
batch that overflows the proposer's context window read again in halves."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import mipro_core as mc
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

_EXAMPLE = re.compile(r"\bExample \d+:\n")


class ObservingLM(ToyLM):
    """Records how many examples each observation call shows; refuses prompts showing more
    than ``window`` examples as a small local model's server would."""

    def __init__(self, window: int | None = None, summary_overflows: bool = False) -> None:
        super().__init__()
        self.window = window
        self.summary_overflows = summary_overflows
        self.observed: list[int] = []
        self.summaries: list[str] = []
        self.proposals: list[str] = []
        self._record = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system, last = messages[0]["content"], messages[-1]["content"]
        if "prior_observations" in last:
            shown = len(_EXAMPLE.findall(last))
            with self._record:
                self.observed.append(shown)
            if self.window is not None and shown > self.window:
                raise RuntimeError(
                    "This model's maximum context length is 2048 tokens. However, you "
                    "requested 3100 tokens"
                )
        elif "summary" in system and not any(
            k in system for k in ("stage_observations", "proposed_instruction")
        ):
            with self._record:
                self.summaries.append(last)
            if self.summary_overflows:
                raise RuntimeError("Requested tokens (4000) exceed context window of 2048")
        elif "proposed_instruction" in system:
            with self._record:
                self.proposals.append(last)
        return super().__call__(messages, n=n, temperature=temperature)


def run(lm: ObservingLM, threads: int, **options: Any) -> mc.OptimizationResult:
    return mc.optimize(
        toy_program(lm),
        toy_data(150),
        toy_metric,
        valset=toy_data(100, offset=1000),
        num_threads=threads,
        max_trials=2,
        num_candidates=3,
        seed=3,
        progress=None,
        **options,
    )


def test_the_summary_reads_ten_examples_per_call_whatever_the_threads() -> None:
    # DSPy's batches; reading the same examples in fewer, larger calls with many threads
    # (which would shorten the chain the proposals wait for) cost test score at equal calls
    # (docs/scaling.md), so the thread count does not change them
    few, many = ObservingLM(), ObservingLM()
    run(few, 8)
    run(many, 64)
    assert few.observed == many.observed == [10] * 10


def test_an_observation_that_overflows_the_context_window_is_read_again_in_halves() -> None:
    lm = ObservingLM(window=3)
    result = run(lm, 8)
    # 10 do not fit, nor 5; 2 do, and the calls after keep that size
    assert lm.observed[:3] == [10, 5, 2]
    assert set(lm.observed[3:]) == {2}
    assert len(lm.observed) == 10  # max_data_batches bounds the calls, refused ones included
    # the refusal never reaches the summary as an observation
    assert len(lm.summaries) == 1
    assert "context window" not in lm.summaries[0]
    assert "no reply" not in lm.summaries[0]
    assert result.best_score >= result.baseline_score


def test_a_summary_that_overflows_leaves_the_proposals_without_one() -> None:
    lm = ObservingLM(summary_overflows=True)
    run(lm, 8)
    assert lm.summaries and lm.proposals
    assert all("dataset_summary" not in prompt for prompt in lm.proposals)
    assert all("no reply" not in prompt for prompt in lm.proposals)


def test_a_single_example_too_long_for_the_window_is_skipped() -> None:
    lm = ObservingLM(window=0)  # not even one example fits
    run(lm, 8)
    # 10, 5, 2, 1 refused, then one call per example, each refused: no observation at all
    assert lm.observed[:4] == [10, 5, 2, 1]
    assert len(lm.observed) == 10
    assert lm.summaries == []  # nothing observed, no summary call


class DescriptionOverflowLM(ObservingLM):
    """Refuses the program description and the stages' demo observations as too long."""

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        system = messages[0]["content"]
        if "stage_observations" in system and "proposed_instruction" not in system:
            raise RuntimeError("prompt is too long")
        if "program_description" in system and "module_description" not in system:
            raise RuntimeError("prompt is too long")
        return super().__call__(messages, n=n, temperature=temperature)


def test_grounding_parts_over_the_window_are_left_out_of_the_proposals() -> None:
    lm = DescriptionOverflowLM()
    run(lm, 8)
    assert lm.proposals
    for prompt in lm.proposals:
        assert "no reply" not in prompt
        assert "program_description" not in prompt
        assert "stage_observations" not in prompt
        assert "dataset_summary" in prompt  # what did fit is still shown
