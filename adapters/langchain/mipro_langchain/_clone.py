"""Copy a runnable for a replica: its optimized prompts new objects, everything else shared.

A replica must take its own prompt states while the user's chain stays untouched, yet it must
not copy models, retrievers, tools or parsers (clients hold connections, locks and caches, and
indexes are large). So the copy is *structural*: every container on the path from the root to an
optimized prompt is copied shallowly (``model_copy`` with the new children), the prompts are
replaced by the copies given, and every subtree without such a prompt is the same object as in
the original.

Only containers whose children are known are copied (those :func:`~._discover.children` walks:
sequences, parallels, assign, router, bindings, each, branches, fallbacks, configurable
alternatives and fields). A prompt reached through a ``RunnableLambda``'s function, or held by
any other runnable (a custom class whose other state mipro cannot know), cannot be replaced in a
copy: :func:`copy_runnable` raises ``NotImplementedError`` naming it, and trials then run one
after another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import (
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnableSequence,
    RunnableWithFallbacks,
)
from langchain_core.runnables.base import RunnableBindingBase, RunnableEachBase
from langchain_core.runnables.configurable import (
    RunnableConfigurableAlternatives,
    RunnableConfigurableFields,
)
from langchain_core.runnables.passthrough import RunnableAssign
from langchain_core.runnables.router import RouterRunnable

from ._discover import children, join, key_segment


def copy_runnable(root: Any, prompts: Mapping[int, BasePromptTemplate[Any]]) -> Any:
    """``root`` with each prompt whose ``id`` is a key of ``prompts`` replaced by its value.

    Raises ``NotImplementedError`` (its message is the reason) when such a prompt sits inside a
    runnable that cannot be copied safely.
    """
    return _Copier(prompts).copy(root, "")


class _Copier:
    def __init__(self, prompts: Mapping[int, BasePromptTemplate[Any]]) -> None:
        self._prompts = prompts
        self._memo: dict[int, Any] = {}
        self._active: set[int] = set()

    def copy(self, obj: Any, path: str) -> Any:
        key = id(obj)
        if key in self._memo:
            return self._memo[key]
        if key in self._active:  # a cycle: the copy in progress cannot be referred to yet
            return obj
        if isinstance(obj, BasePromptTemplate):
            return self._prompts.get(key, obj)
        self._active.add(key)
        try:
            result = self._copy_container(obj, path)
        finally:
            self._active.discard(key)
        self._memo[key] = result
        return result

    def _all(self, items: list[Any], path: str, segment: str) -> list[Any]:
        return [self.copy(item, join(path, f"{segment}[{i}]")) for i, item in enumerate(items)]

    def _mapping(self, items: Mapping[str, Any], path: str) -> dict[str, Any]:
        return {k: self.copy(v, join(path, key_segment(str(k)))) for k, v in items.items()}

    def _copy_container(self, obj: Any, path: str) -> Any:
        update = self._new_children(obj, path)
        if update is None:  # not a container: shared unless it holds an optimized prompt
            self._refuse_if_holds_prompt(obj, path)
            return obj
        changed = {
            name: value for name, value in update.items() if not _same(value, getattr(obj, name))
        }
        return obj.model_copy(update=changed) if changed else obj

    def _new_children(self, obj: Any, path: str) -> dict[str, Any] | None:
        """The container's child fields, copied; ``None`` for an object that is no container."""
        if isinstance(obj, RunnableSequence):
            steps = [self.copy(s, join(path, f"steps[{i}]")) for i, s in enumerate(obj.steps)]
            return {"first": steps[0], "middle": steps[1:-1], "last": steps[-1]}
        if isinstance(obj, RunnableParallel):
            return {"steps__": self._mapping(obj.steps__, path)}
        if isinstance(obj, RunnableAssign):
            return {"mapper": self.copy(obj.mapper, path)}
        if isinstance(obj, RouterRunnable):
            return {"runnables": self._mapping(dict(obj.runnables), path)}
        if isinstance(obj, (RunnableBindingBase, RunnableEachBase)):
            return {"bound": self.copy(obj.bound, path)}
        if isinstance(obj, RunnableBranch):
            branches = [
                (
                    self.copy(condition, join(path, f"branches[{i}].condition")),
                    self.copy(runnable, join(path, f"branches[{i}]")),
                )
                for i, (condition, runnable) in enumerate(obj.branches)
            ]
            return {"branches": branches, "default": self.copy(obj.default, join(path, "default"))}
        if isinstance(obj, RunnableWithFallbacks):
            return {
                "runnable": self.copy(obj.runnable, path),
                "fallbacks": self._all(list(obj.fallbacks), path, "fallbacks"),
            }
        if isinstance(obj, RunnableConfigurableAlternatives):
            alternatives = self._mapping(dict(obj.alternatives), join(path, "alternatives"))
            return {"default": self.copy(obj.default, path), "alternatives": alternatives}
        if isinstance(obj, RunnableConfigurableFields):
            return {"default": self.copy(obj.default, path)}
        return None

    def _refuse_if_holds_prompt(self, obj: Any, path: str) -> None:
        for segment, child in _safe_children(obj):
            if self._holds_prompt(child, set()):
                where = join(path, segment)
                kind = type(obj).__name__
                if isinstance(obj, RunnableLambda):
                    reason = (
                        f"the prompt at {where!r} is reached through the function of a "
                        f"RunnableLambda ({obj.get_name()!r}); a copy of the chain would still call "
                        "the original prompt"
                    )
                else:
                    reason = (
                        f"the prompt at {where!r} is held by a {kind}, a runnable whose other "
                        "state mipro cannot know how to copy"
                    )
                raise NotImplementedError(
                    f"this chain cannot be cloned: {reason}; trials run one after another"
                )

    def _holds_prompt(self, obj: Any, seen: set[int]) -> bool:
        if id(obj) in seen:
            return False
        seen.add(id(obj))
        if isinstance(obj, BasePromptTemplate):
            return id(obj) in self._prompts
        return any(self._holds_prompt(c, seen) for _, c in _safe_children(obj))


def _safe_children(obj: Any) -> list[tuple[str | None, Any]]:
    try:
        return list(children(obj))
    except Exception:  # a runnable whose fields cannot be read holds nothing we can find
        return []


def _same(new: Any, old: Any) -> bool:
    """Whether a copied field is the original (element-wise for lists, tuples and dicts)."""
    if isinstance(new, dict) and isinstance(old, Mapping):
        return new.keys() == old.keys() and all(new[k] is old[k] for k in new)
    if isinstance(new, list) and isinstance(old, (list, tuple)):
        return len(new) == len(old) and all(_same(a, b) for a, b in zip(new, old, strict=True))
    if isinstance(new, tuple) and isinstance(old, tuple):
        return len(new) == len(old) and all(a is b for a, b in zip(new, old, strict=True))
    return new is old
