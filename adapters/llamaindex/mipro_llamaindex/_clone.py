"""Copy a LlamaIndex object for a replica: the prompt owners new objects, everything else shared.

A replica must install its own templates while the user's engine stays untouched, yet it must
not copy LLMs, embedding models, retrievers, indexes or vector stores (clients hold connections
and locks; indexes are large). So the copy is *structural*: every object on the path from the
root to an optimized prompt's owner (a slot's ``lineage``) is shallow-copied with
``copy.copy``, and each copied parent's references to the original child (attributes, pydantic
private attributes, and lists, tuples and dicts held in them) are pointed at the copy. Every
other object (the LLM a synthesizer holds, the retriever of a query engine, the index) is the
same object in both.

A ``Workflow`` is copied the same way and the copy is registered with the workflow's runtime
(``track_workflow``). When an object cannot be copied, or a copied owner is not reachable from
the copied root (the reference sits somewhere the scan does not see), :func:`copy_tree` raises
``NotImplementedError`` whose message is the reason, and trials run one after another.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.workflow import Workflow

from ._discovery import PromptSlot
from ._rewrite import origin_of, remember


def fresh_template(template: BasePromptTemplate) -> BasePromptTemplate:
    """A new template object equal to ``template``, remembered with the same origin (so a
    replica of an engine that was already optimized still knows its true original)."""
    fresh = template.model_copy(update={"metadata": dict(template.metadata or {})})
    origin = origin_of(template)
    if origin.base is not template:
        remember(fresh, origin)
    return fresh


def copy_tree(root: Any, slots: Iterable[PromptSlot]) -> Any:
    """``root`` with every object on the lineage of ``slots`` replaced by a shallow copy."""
    copies: dict[int, Any] = {}
    for slot in slots:
        parent: Any = None
        for obj in slot.lineage:
            fresh = copies.get(id(obj))
            if fresh is None:
                fresh = copies[id(obj)] = _shallow_copy(obj, slot.name)
            if parent is not None:
                _repoint(parent, obj, fresh)
            parent = fresh
    return copies.get(id(root), root)


def _shallow_copy(obj: Any, where: str) -> Any:
    try:
        fresh = copy.copy(obj)
        _own_template_containers(fresh)
        if isinstance(obj, Workflow):
            fresh._runtime.track_workflow(fresh)
    except Exception as exc:  # a framework object that refuses to be copied
        raise NotImplementedError(
            f"this {type(obj).__name__} cannot be cloned: copying it (on the way to prompt "
            f"{where!r}) failed with {type(exc).__name__}: {exc}; trials run one after another"
        ) from exc
    return fresh


def _containers(obj: Any) -> list[dict[str, Any]]:
    """The attribute dicts of ``obj``: ``__dict__`` and pydantic private attributes."""
    found = []
    own = getattr(obj, "__dict__", None)
    if isinstance(own, dict):
        found.append(own)
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        found.append(private)
    return found


def _own_template_containers(obj: Any) -> None:
    """Give ``obj`` its own list/dict for attributes holding templates (some owners update a
    template held in a container in place)."""
    for attrs in _containers(obj):
        for name, value in list(attrs.items()):
            if isinstance(value, dict) and any(
                isinstance(v, BasePromptTemplate) for v in value.values()
            ):
                attrs[name] = dict(value)
            elif isinstance(value, list) and any(isinstance(v, BasePromptTemplate) for v in value):
                attrs[name] = list(value)


def _repoint(parent: Any, old: Any, new: Any) -> None:
    """Replace references to ``old`` held by ``parent`` (directly or in a container) by ``new``."""
    for attrs in _containers(parent):
        for name, value in list(attrs.items()):
            if value is old:
                attrs[name] = new
            elif isinstance(value, list) and any(v is old for v in value):
                attrs[name] = [new if v is old else v for v in value]
            elif type(value) is tuple and any(v is old for v in value):
                attrs[name] = tuple(new if v is old else v for v in value)
            elif isinstance(value, dict) and any(v is old for v in value.values()):
                attrs[name] = {k: new if v is old else v for k, v in value.items()}
