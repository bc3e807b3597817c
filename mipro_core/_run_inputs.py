"""What a run is given, checked (and resolved) before anything is spent: the data split, the
examples, the program against the data, the executor and the proposer model."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._engine import EngineSettings
from ._errors import InvalidInputError
from ._input_checks import check_distinct, check_input_values, check_modules_read_input
from ._protocols import LM, Metric, Program
from ._types import Example, canonical_json

MIN_VALSET = 2


def split_data(
    trainset: Iterable[Example], valset: Iterable[Example] | None, val_size: int, seed: int
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Train/validation sets; without a valset, a seeded split of the trainset (half each)."""
    train = _examples(trainset, "trainset")
    if valset is not None:
        val = _examples(valset, "valset")
    else:
        if len(train) < 2 * MIN_VALSET:
            raise InvalidInputError(
                f"trainset has {len(train)} example(s); without a valset at least "
                f"{2 * MIN_VALSET} are needed (half of them become the validation set)"
            )
        order = np.random.default_rng(np.random.SeedSequence([seed, 7])).permutation(len(train))
        cut = len(train) // 2
        val = tuple(train[int(i)] for i in order[cut:])
        train = tuple(train[int(i)] for i in order[:cut])
    if len(val) > val_size:
        order = np.random.default_rng(np.random.SeedSequence([seed, 11])).permutation(len(val))
        val = tuple(val[int(i)] for i in sorted(order[:val_size]))
    return train, val


def _examples(data: Iterable[Example], name: str) -> tuple[Example, ...]:
    if data is None or isinstance(data, (str, bytes)):
        raise InvalidInputError(f"{name} must be a sequence of mipro_core.Example")
    items = tuple(data)
    if not items:
        raise InvalidInputError(f"{name} is empty: pass at least a few mipro_core.Example objects")
    bad = [i for i, ex in enumerate(items) if not isinstance(ex, Example)]
    if bad:
        raise InvalidInputError(
            f"{name}[{bad[0]}] is a {type(items[bad[0]]).__name__}, not a mipro_core.Example; "
            "build examples with Example(inputs={...}, outputs={...})"
        )
    first: dict[str, int] = {}
    for i, ex in enumerate(items):
        j = first.setdefault(ex.id, i)
        if j != i and (ex.inputs != items[j].inputs or ex.outputs != items[j].outputs):
            # results are cached by example id: two different examples under one id would
            # share one result, and every score would be wrong
            raise InvalidInputError(
                f"{name}[{j}] and {name}[{i}] are different examples with the same id "
                f"{ex.id!r}; give each example its own id (or leave id empty for a content hash)"
            )
    return items


def check_inputs(
    program: Program,
    train: Sequence[Example],
    val: Sequence[Example],
    metric: Metric,
    freeze: Sequence[str],
) -> None:
    modules = program.modules
    if not modules:
        raise InvalidInputError("the program has no modules (no prompt to optimize)")
    if len(val) < MIN_VALSET:
        raise InvalidInputError(f"valset has {len(val)} example(s); at least {MIN_VALSET} needed")
    check_distinct(val, "valset", MIN_VALSET)
    unknown = [n for n in freeze if n not in modules]
    if unknown:
        raise InvalidInputError(
            f"freeze names unknown module(s) {unknown}; modules: {list(modules)}"
        )
    if len(freeze) == len(modules):
        raise InvalidInputError("every module is frozen: nothing left to optimize")
    check_modules_read_input(program, freeze)
    check_input_values(program, {"trainset": train, "valset": val})


def check_journalable(*datasets: Sequence[Example]) -> None:
    """A journal stores examples as JSON: refuse values it cannot hold before creating it."""
    for data in datasets:
        for ex in data:
            try:
                canonical_json(ex.to_dict())
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"example {ex.id} holds a value a journal cannot store as JSON ({exc}); "
                    "convert it (e.g. a date to an ISO string) or run without journal="
                ) from exc


def check_executor(executor: cf.Executor) -> None:
    """Refuse an executor that cannot run work (e.g. already shut down) before spending."""
    if isinstance(executor, cf.ProcessPoolExecutor):
        raise InvalidInputError(
            "optimize() needs an executor that runs work in this process (a thread pool): runs "
            "share the program object and its trace collectors, which cannot be sent to other "
            "processes; pass a ThreadPoolExecutor or none"
        )
    try:
        executor.submit(int).result()
    except RuntimeError as exc:
        raise InvalidInputError(
            f"the executor passed to optimize() cannot run work ({exc}); pass a live executor "
            "or none (mipro then manages its own thread pool)"
        ) from exc


def resolve_proposer(program: Program, proposer_lm: Any, settings: EngineSettings) -> LM | None:
    """The proposer model: ``proposer_lm`` wrapped, else the program's own single model.

    Resolved before anything is spent or journaled: a run that proposes instructions and has
    no model fails here, not after the baseline.
    """
    from ._adapt import wrap_lm

    lm: LM | None = None
    if proposer_lm is not None:
        lm = wrap_lm(proposer_lm)
    elif callable(default := getattr(program, "default_lm", None)):
        found = default()
        lm = wrap_lm(found) if found is not None else None
    searched = [n for n in program.modules if n not in settings.freeze]
    if lm is None and settings.proposes_instructions(searched):
        raise InvalidInputError(
            "instruction proposal needs a proposer model, and the program has no single model "
            "of its own to use (it has none, or several): pass proposer_lm=... in Python "
            "(--proposer on the command line), any LM or a framework chat model"
        )
    return lm
