"""The metric's calling convention, checked once before anything is spent.

mipro calls ``metric(example, prediction, trace)``; DSPy users often write the two-argument form
``metric(example, prediction)``. :func:`checked_metric` accepts both (and ``trace`` as a keyword
only parameter), returning a callable that always takes the three arguments, and refuses any
other signature with an :class:`InvalidInputError` naming it. ``optimize()``, ``resume()`` and the
CLI share it.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._errors import InvalidInputError
from ._protocols import Metric
from ._types import Example, Trace

EXPECTED = "metric(example, prediction) or metric(example, prediction, trace=None)"


class _WithoutTrace:
    """A two-argument metric seen through the three-argument convention."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def __call__(self, example: Example, prediction: Any, trace: Trace | None = None) -> Any:
        return self.metric(example, prediction)


class _TraceKeyword:
    """A metric whose ``trace`` parameter is keyword-only."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def __call__(self, example: Example, prediction: Any, trace: Trace | None = None) -> Any:
        return self.metric(example, prediction, trace=trace)


def checked_metric(metric: Any, label: str = "metric") -> Metric:
    """``metric`` as a three-argument callable; ``label`` names it in the error message."""
    if not callable(metric):
        raise InvalidInputError(
            f"{label} is not callable (an object of type {type(metric).__name__}); write {EXPECTED}"
        )
    try:
        signature = inspect.signature(metric)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return metric  # type: ignore[no-any-return]
    if _binds(signature, None, None, None):
        return metric  # type: ignore[no-any-return]
    if _binds(signature, None, None, trace=None):
        return _TraceKeyword(metric)
    if _binds(signature, None, None):
        return _WithoutTrace(metric)
    raise InvalidInputError(
        f"{label} has the signature {signature}, but mipro calls it as {EXPECTED} "
        "(trace is passed only when the metric takes it)"
    )


def _binds(signature: inspect.Signature, *args: Any, **kwargs: Any) -> bool:
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return False
    return True
