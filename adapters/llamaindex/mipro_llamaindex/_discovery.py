"""Find every prompt template of a LlamaIndex object and who owns it.

Two walks are combined, deduplicated by object identity:

* the ``PromptMixin`` tree: each owner's own prompts (``_get_prompts()``, the live objects, not
  the deep copies ``get_prompts()`` returns) and its declared sub-modules
  (``_get_prompt_modules()``);
* an attribute scan for what ``get_prompts()`` hides: router and sub-question engines' query
  engines, tools' engines, chat engines' private templates, templates held by a ``Workflow``
  (instance or class attributes).

Each template becomes a :class:`PromptSlot` named by its path from the root, e.g.
``response_synthesizer.text_qa_template`` or
``query_engines[0].response_synthesizer.text_qa_template``. A slot rewrites its template on the
*leaf owner* (``owner.update_prompts({local_key: ...})``, never the ``"a:b:c"`` key form, which
breaks at depth >= 3), or by setting the attribute for non-``PromptMixin`` owners.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Iterator
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.chat_engine.types import BaseChatEngine
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.mixin import PromptMixin
from llama_index.core.tools.types import BaseTool
from llama_index.core.types import BasePydanticProgram
from llama_index.core.workflow import Workflow

MAX_DEPTH = 12
_FRAMEWORK_MODULES = ("llama_index", "workflows", "pydantic", "builtins", "abc", "typing")


class PromptSlot:
    """One place a prompt template lives: an owner object and a key or attribute on it."""

    def __init__(
        self,
        name: str,
        owner: Any,
        key: str,
        *,
        via_mixin: bool,
        attr: str | None,
        on_class: bool,
        lineage: tuple[Any, ...],
    ) -> None:
        self.name = name
        self.owner = owner
        self.key = key
        self.via_mixin = via_mixin
        self.attr = attr
        self.on_class = on_class
        self.lineage = lineage
        """Objects from the root down to the owner (used to tell apart equal templates)."""
        self.initial: BasePromptTemplate = self.current()
        self.stable = attr is not None or not via_mixin or self.current() is self.initial
        """Whether the owner hands out the same template object on every read. Some owners
        keep only the text and build a fresh template per ``_get_prompts()`` call
        (``QueryFusionRetriever.query_gen_prompt``), then format that text with ``str.format``:
        such a slot cannot be rewritten safely (escaping and exact restore both fail)."""

    @property
    def embedded(self) -> bool:
        """Chat engines copy the template's text into a chat message instead of formatting it."""
        return isinstance(self.owner, BaseChatEngine) and not self.via_mixin

    def current(self) -> BasePromptTemplate:
        """The template installed right now."""
        if self.attr is not None:  # the owner's own attribute: cheap, and opens no span
            value = getattr(self.owner, self.attr)
        else:
            value = self.owner._get_prompts()[self.key]
        if not isinstance(value, BasePromptTemplate):
            raise TypeError(f"{self.name} no longer holds a prompt template")
        return value

    def install(self, template: BasePromptTemplate) -> None:
        """Make the owner use ``template`` (the object itself, not a copy)."""
        if self.current() is template:
            return
        if self.via_mixin:
            self.owner.update_prompts({self.key: template})
            if self.current() is not template and self.attr is not None:
                # Some owners rebuild the template from its text in ``_update_prompts`` (e.g.
                # LLMQuestionGenerator), which drops metadata; set the attribute instead.
                setattr(self.owner, self.attr, template)
            return
        if template is self.initial and self.on_class:
            if self.key in vars(self.owner):
                delattr(self.owner, self.key)
            return
        setattr(self.owner, self.key, template)

    def __repr__(self) -> str:
        return f"PromptSlot({self.name!r}, owner={type(self.owner).__name__})"


def discover(root: Any) -> list[PromptSlot]:
    """Every prompt slot reachable from ``root``, in a deterministic order."""
    slots: list[PromptSlot] = []
    _walk(root, "", (), set(), slots)
    return slots


def is_traversable(value: object) -> bool:
    """Objects the scan descends into: prompt owners, engines, retrievers, node postprocessors
    (``LLMRerank``), tools, workflows."""
    return isinstance(
        value,
        (
            PromptMixin,
            BaseQueryEngine,
            BaseChatEngine,
            BaseRetriever,
            BaseNodePostprocessor,
            BasePydanticProgram,
            BaseTool,
            Workflow,
        ),
    )


def attributes(obj: object) -> Iterator[tuple[str, Any]]:
    """Instance attributes of ``obj``, including pydantic private attributes."""
    yield from list(getattr(obj, "__dict__", {}).items())
    private = getattr(obj, "__pydantic_private__", None)
    if isinstance(private, dict):
        yield from list(private.items())


def _join(prefix: str, part: str) -> str:
    return f"{prefix}.{part}" if prefix else part


def _index_label(key: object) -> str:
    text = str(key)
    if isinstance(key, int) or (text.isidentifier() and not keyword.iskeyword(text)):
        return f"[{text}]"
    return f"[{text!r}]"


def _walk(
    obj: Any,
    prefix: str,
    lineage: tuple[Any, ...],
    visited: set[int],
    slots: list[PromptSlot],
) -> None:
    if id(obj) in visited or len(lineage) > MAX_DEPTH:
        return
    visited.add(id(obj))
    lineage = (*lineage, obj)
    used: set[str] = set()
    own_templates: set[int] = set()
    if isinstance(obj, PromptMixin):
        for key, template in obj._get_prompts().items():
            if isinstance(template, BasePromptTemplate):
                attr = _attribute_holding(obj, template)
                slots.append(
                    PromptSlot(
                        _join(prefix, key),
                        obj,
                        key,
                        via_mixin=True,
                        attr=attr,
                        on_class=False,
                        lineage=lineage,
                    )
                )
                own_templates.add(id(template))
                used.add(key)
        for key, child in obj._get_prompt_modules().items():
            used.add(key)
            if child is not None:
                _walk(child, _join(prefix, key), lineage, visited, slots)
    for attr, value, on_class in _scan_items(obj):
        label = attr.lstrip("_") or attr
        if label in used:
            label = attr
        used.add(label)
        path = _join(prefix, label)
        if isinstance(value, BasePromptTemplate):
            # a ``PromptMixin`` owner's templates that ``_get_prompts()`` does not list (a
            # ``CustomQueryEngine`` field, an LLM retriever's private prompt) are rewritten by
            # setting the attribute, as for any other owner
            if id(value) not in own_templates:
                slots.append(
                    PromptSlot(
                        path,
                        obj,
                        attr,
                        via_mixin=False,
                        attr=attr,
                        on_class=on_class,
                        lineage=lineage,
                    )
                )
                own_templates.add(id(value))
        elif is_traversable(value):
            _walk(value, path, lineage, visited, slots)
        elif isinstance(value, (list, tuple, dict)):
            items: Iterable[tuple[object, Any]] = (
                value.items() if isinstance(value, dict) else enumerate(value)
            )
            for index, item in items:
                if is_traversable(item):
                    _walk(item, path + _index_label(index), lineage, visited, slots)


def _scan_items(obj: object) -> Iterator[tuple[str, Any, bool]]:
    """``(name, value, on_class)``: instance attributes, then user-defined class-level templates."""
    seen: set[str] = set()
    for name, value in attributes(obj):
        seen.add(name)
        yield name, value, False
    for cls in type(obj).__mro__:
        if _is_framework_module(cls.__module__):
            continue
        for name, value in vars(cls).items():
            if name not in seen and isinstance(value, BasePromptTemplate):
                seen.add(name)
                yield name, value, True


def _is_framework_module(module: str) -> bool:
    """Whether ``module`` is one of the framework packages (or inside one), not user code that
    merely starts with the same letters (``abc_flows``, ``typing_helpers``)."""
    return any(module == name or module.startswith(name + ".") for name in _FRAMEWORK_MODULES)


def _attribute_holding(owner: object, template: BasePromptTemplate) -> str | None:
    for name, value in attributes(owner):
        if value is template:
            return name
    return None
