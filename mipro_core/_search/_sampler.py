"""The search-strategy contract: observations in, one configuration out.

A configuration assigns one category index to every variable of a categorical search space
(``space`` maps a variable name to its number of categories). A :class:`Sampler` is stateless:
it proposes the next configuration from the history of scored configurations and an RNG the
engine owns, so a run resumed from its journal replays the same proposals.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

import attrs
import numpy as np
import numpy.typing as npt

from .._errors import InvalidInputError

Kind = Literal["minibatch", "full"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _freeze_params(params: Mapping[str, int]) -> Mapping[str, int]:
    frozen: dict[str, int] = {}
    for name, index in params.items():
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise InvalidInputError(
                f"Observation.params[{name!r}] must be a category index (int >= 0), got {index!r}"
            )
        frozen[str(name)] = int(index)
    return MappingProxyType(frozen)


def _check_value(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise InvalidInputError(f"Observation.value must be a finite number, got {value!r}")


def _check_kind(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ("minibatch", "full"):
        raise InvalidInputError(f"Observation.kind must be 'minibatch' or 'full', got {value!r}")


@attrs.frozen(hash=False)
class Observation:
    """One scored configuration, as a sampler sees it.

    ``params`` holds one category index per variable; ``value`` is the score (higher is
    better); ``kind`` says whether it was measured on a random minibatch (a noisy estimate) or on
    the full validation set (the exact objective the search maximises).
    """

    params: Mapping[str, int] = attrs.field(converter=_freeze_params)
    value: float = attrs.field(converter=float, validator=_check_value)
    kind: Kind = attrs.field(default="minibatch", validator=_check_kind)


@runtime_checkable
class Sampler(Protocol):
    """A search strategy over a categorical space.

    ``sample`` must return a dict with every variable of ``space`` mapped to an index in
    ``range(space[name])``, must not keep state between calls, and must be a pure function of
    ``(space, history, rng state)``: the same inputs give the same output.

    The space may grow between calls of one run: a variable may appear (a module's instruction
    becomes searchable in a later proposal round) and a variable may gain categories (indices
    already used keep their meaning). An observation made before a variable existed has no
    entry for it and counts as its original value, index 0 (see :func:`complete_params`).
    Observations may also name variables that are no longer in the space: ignore those.
    """

    def sample(
        self,
        space: Mapping[str, int],
        history: Sequence[Observation],
        rng: np.random.Generator,
    ) -> dict[str, int]: ...


def validate_space(space: Mapping[str, int]) -> tuple[tuple[str, ...], IntArray]:
    """Return the variable names in canonical (sorted) order and their category counts.

    Sorting makes a sampler's output independent of the mapping's insertion order.
    """
    names = tuple(sorted(space))
    counts = []
    for name in names:
        count = space[name]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise InvalidInputError(
                f"search space variable {name!r} must have an int number of categories >= 1, "
                f"got {count!r}"
            )
        counts.append(int(count))
    return names, np.asarray(counts, dtype=np.int64)


def encode_history(
    names: Sequence[str], counts: IntArray, history: Sequence[Observation]
) -> tuple[IntArray, FloatArray, BoolArray]:
    """Turn observations into arrays: configurations ``(n, d)``, values ``(n,)``, is-full ``(n,)``.

    Variables of ``params`` that are not in the space are ignored (e.g. a variable the engine has
    since frozen). A variable of the space that an observation lacks was added to the space
    after that observation was made (spaces grow during a run): the observation counts as its
    original value, index 0. An index out of range raises :class:`InvalidInputError`.
    """
    n, d = len(history), len(names)
    if d:
        getter = operator.itemgetter(*names)
        try:
            rows = [getter(observation.params) for observation in history]
        except KeyError:  # the space grew since some observations: they had the original value
            rows = [tuple(o.params.get(name, 0) for name in names) for o in history]
        configs = np.array(rows, dtype=np.int64).reshape(n, d)
    else:
        configs = np.zeros((n, 0), dtype=np.int64)
    values = np.fromiter((o.value for o in history), dtype=np.float64, count=n)
    is_full = np.fromiter((o.kind == "full" for o in history), dtype=np.bool_, count=n)
    bad = configs >= counts
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(
            f"observation {row} of the history has index {configs[row, col]} for variable "
            f"{names[col]!r}, which has only {counts[col]} categories"
        )
    return configs, values, is_full


def complete_params(space: Mapping[str, int], params: Mapping[str, int]) -> dict[str, int]:
    """``params`` restricted to ``space``, with index 0 (the original value) for every variable
    the space gained after ``params`` was observed. For samplers that read the history."""
    return {name: int(params.get(name, 0)) for name in space}


def row_keys(configs: IntArray, counts: IntArray) -> IntArray:
    """One integer per row, equal for equal rows and ordered like the rows lexicographically.

    Mixed-radix encoding when the space has fewer than 2**62 configurations, else ranks among
    the distinct rows.
    """
    if math.prod(int(c) for c in counts) < 2**62:
        strides = np.append(np.cumprod(counts[::-1])[::-1][1:], 1)[: len(counts)]
        keys: IntArray = configs @ strides.astype(np.int64)
        return keys
    inverse = np.unique(configs, axis=0, return_inverse=True)[1]
    ranks: IntArray = np.asarray(inverse, dtype=np.int64).reshape(-1)
    return ranks


def to_dict(names: Sequence[str], config: IntArray) -> dict[str, int]:
    """One configuration row as the ``{variable: index}`` dict samplers return."""
    return {name: int(index) for name, index in zip(names, config, strict=True)}
