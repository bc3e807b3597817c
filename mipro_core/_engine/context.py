"""What every stage of one run reads: the program, the data, the settings and the run's
shared services (memo, budget, progress, random streams)."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping

import attrs
import numpy as np

from .._call_budget import CallBudget
from .._memo import Memo
from .._progress import Progress
from .._protocols import Module, Program
from .._types import Example, ProgramState
from .settings import EngineSettings


@attrs.frozen(kw_only=True)
class RunContext:
    """The fixed inputs of one run (the stages' mutable state lives in their own objects).

    Attributes:
        program: the program being optimized (its replicas are the evaluator's).
        modules: the program's modules by name.
        initial_state: the program's prompts when the run started.
        trainset: the training examples (bootstrap, data summary).
        valset: the validation examples (baseline, minibatches, full evaluations).
        settings: the run's settings.
        memo: the run's cache and journal.
        budget: the run's call accounting.
        progress: the progress reporter.
        executor: runs program runs and proposer calls.
        rng: the random streams (see :func:`rng_streams`).
        deadline: ``max_seconds`` as a ``time.monotonic()`` point, if set.
    """

    program: Program
    modules: Mapping[str, Module]
    initial_state: ProgramState
    trainset: tuple[Example, ...]
    valset: tuple[Example, ...]
    settings: EngineSettings
    memo: Memo
    budget: CallBudget
    progress: Progress
    executor: cf.Executor
    rng: Mapping[str, np.random.Generator]
    deadline: float | None
