"""Turn a module state into the template object to install, and remember what was rewritten.

Every template the adapter creates is recorded (weakly, for as long as it is alive) with the
original template it was built from and the state it renders. So a program adapted from a
pipeline that was already optimized (e.g. ``mipro_core.apply`` called twice on the same query
engine) recovers the true original and its current state instead of stacking prefaces, and
applying the original state puts back the original *object*.
"""

from __future__ import annotations

import weakref

import attrs
from llama_index.core.prompts import BasePromptTemplate

from mipro_core import ModuleState, Signature

from ._templates import render_preface, rewrite

EMPTY = ModuleState(instruction="")


@attrs.frozen
class Origin:
    """Where a template came from: the original it was built on and the state it renders."""

    base: BasePromptTemplate
    state: ModuleState


# No lock: single dict operations are atomic, and a lock here could deadlock when garbage
# collection runs a finalizer (``_forget``) while the same thread holds it.
_registry: dict[int, tuple[weakref.ref[BasePromptTemplate], Origin]] = {}


def _forget(key: int) -> None:
    _registry.pop(key, None)


def remember(template: BasePromptTemplate, origin: Origin) -> None:
    key = id(template)
    _registry[key] = (weakref.ref(template), origin)
    weakref.finalize(template, _forget, key)


def origin_of(template: BasePromptTemplate) -> Origin:
    """The original and state behind ``template`` (itself and the empty state if not ours)."""
    entry = _registry.get(id(template))
    if entry is not None and entry[0]() is template:
        return entry[1]
    return Origin(base=template, state=EMPTY)


def build(
    base: BasePromptTemplate, state: ModuleState, signature: Signature, module: str
) -> BasePromptTemplate:
    """The template for ``state``: ``base`` itself for the empty state, else a rewritten copy."""
    if state == EMPTY:
        return base
    template = rewrite(base, render_preface(state, signature), module)
    remember(template, Origin(base=base, state=state))
    return template
