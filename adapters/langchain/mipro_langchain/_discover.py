"""Find every prompt template reachable from a runnable, with a stable, readable path name.

``get_prompts()`` / ``get_graph()`` miss prompts inside ``RunnableBranch`` and
``RunnableWithFallbacks``, so this module walks the container fields itself.

Naming rule (documented in ``docs/langchain.md``): a prompt's name is the path of container
steps from the root, segments joined by ``.``:

* ``RunnableSequence`` step *i* -> ``steps[i]``
* ``RunnableParallel`` / ``RunnablePassthrough.assign`` / ``RouterRunnable`` key *k* -> ``k``
  (keys that are not identifiers are written ``["k"]``)
* ``RunnableBranch`` -> ``branches[i]`` (the branch runnable), ``branches[i].condition``,
  ``default``
* ``RunnableWithFallbacks`` -> the primary runnable adds no segment; fallback *i* -> ``fallbacks[i]``
* ``RunnableConfigurableAlternatives`` -> default adds no segment; alternative *k* ->
  ``alternatives.k``
* wrappers that add no segment: ``RunnableBinding`` and subclasses (``bind``, ``with_config``,
  ``with_retry``, ...), ``RunnableEach`` (``map``), ``RunnableConfigurableFields``
* ``RunnableLambda`` -> runnables its function refers to (``RunnableLambda.deps``) -> ``deps[i]``
* any other pydantic runnable -> its runnable-valued fields by field name

A prompt at the root is named ``prompt``. A prompt with an explicit ``name`` (e.g.
``prompt.name = "answer"``) is named by it, unless two prompts share that name. A prompt reachable
by several paths is one module, named by the first path in depth-first order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseLanguageModel
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import (
    Runnable,
    RunnableBranch,
    RunnableGenerator,
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
from langchain_core.runnables.passthrough import RunnableAssign, RunnablePassthrough
from langchain_core.runnables.router import RouterRunnable
from langchain_core.tools import BaseTool
from pydantic import BaseModel

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Child = tuple[str | None, Any]
"""A child of a container: its path segment (``None`` = adds no segment) and the object."""


@dataclass
class FoundPrompt:
    """One prompt template found by the walk."""

    path: str
    prompt: BasePromptTemplate[Any]
    model: BaseLanguageModel[Any] | None = None
    parser: BaseOutputParser[Any] | None = None
    steps_after: bool = False
    """Whether more steps follow the model (and its parser) in the sequence: a lambda or a
    second parser then reshapes the reply before the chain returns it."""
    tools_bound: bool = False
    """Whether the model is bound with tools there (``llm.bind_tools(tools)``): its reply is
    usually a tool call, not text."""


@dataclass
class Discovery:
    """What the walk found: prompts in order, models (deduplicated), async-only lambdas, a tree."""

    prompts: list[FoundPrompt] = field(default_factory=list)
    models: list[BaseLanguageModel[Any]] = field(default_factory=list)
    async_only: bool = False
    tree: list[str] = field(default_factory=list)
    produced: set[str] = field(default_factory=set)
    """Keys computed inside the chain: every ``assign`` / ``RunnableParallel`` key whose value is
    not a plain passthrough of the input."""


def key_segment(key: str) -> str:
    return key if _IDENT.match(key) else f"[{json.dumps(key)}]"


def join(path: str, segment: str | None) -> str:
    if segment is None:
        return path
    if not path:
        return segment
    return f"{path}{segment}" if segment.startswith("[") else f"{path}.{segment}"


def _keyed(prefix: str | None, mapping: Mapping[str, Any]) -> Iterator[Child]:
    for key, value in mapping.items():
        segment = key_segment(str(key))
        yield (segment if prefix is None else join(prefix, segment)), value


def _generic_children(obj: BaseModel) -> Iterator[Child]:
    for name in type(obj).model_fields:
        value = getattr(obj, name, None)
        if isinstance(value, Runnable):
            yield name, value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, Runnable):
                    yield f"{name}[{i}]", item
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Runnable):
                    yield join(name, key_segment(str(key))), item


def children(obj: Any) -> Iterator[Child]:
    """The runnables directly contained in ``obj``, with their path segments."""
    if isinstance(obj, RunnableSequence):
        for i, step in enumerate(obj.steps):
            yield f"steps[{i}]", step
    elif isinstance(obj, RunnableParallel):
        yield from _keyed(None, obj.steps__)
    elif isinstance(obj, RunnableAssign):
        yield None, obj.mapper
    elif isinstance(obj, RouterRunnable):
        yield from _keyed(None, dict(obj.runnables))
    elif isinstance(obj, (RunnableBindingBase, RunnableEachBase)):
        yield None, obj.bound
    elif isinstance(obj, RunnableBranch):
        for i, (condition, runnable) in enumerate(obj.branches):
            yield f"branches[{i}]", runnable
            yield f"branches[{i}].condition", condition
        yield "default", obj.default
    elif isinstance(obj, RunnableWithFallbacks):
        yield None, obj.runnable
        for i, fallback in enumerate(obj.fallbacks):
            yield f"fallbacks[{i}]", fallback
    elif isinstance(obj, RunnableConfigurableAlternatives):
        yield None, obj.default
        yield from _keyed("alternatives", dict(obj.alternatives))
    elif isinstance(obj, RunnableConfigurableFields):
        yield None, obj.default
    elif isinstance(obj, RunnableLambda):
        for i, dep in enumerate(_lambda_deps(obj)):
            yield f"deps[{i}]", dep
    elif isinstance(obj, BaseModel) and not _is_leaf(obj):
        yield from _generic_children(obj)


def _lambda_deps(obj: RunnableLambda[Any, Any]) -> list[Runnable[Any, Any]]:
    try:
        return list(obj.deps)
    except Exception:  # deps reads source code; any failure just means "no known deps"
        return []


def _is_leaf(obj: Any) -> bool:
    return isinstance(
        obj, (BasePromptTemplate, BaseLanguageModel, BaseOutputParser, BaseRetriever, BaseTool)
    )


def unwrap(obj: Any) -> Any:
    """Strip wrappers that add no behaviour of interest (bindings, configurable fields)."""
    while True:
        if isinstance(obj, RunnableBindingBase):
            obj = obj.bound
        elif isinstance(obj, RunnableConfigurableFields):
            obj = obj.default
        else:
            return obj


def _flat_steps(steps: Sequence[Any]) -> Iterator[Any]:
    for step in steps:
        inner = unwrap(step)
        if isinstance(inner, RunnableWithFallbacks) and isinstance(
            unwrap(inner.runnable), BaseLanguageModel
        ):
            inner = unwrap(inner.runnable)  # ``llm.with_fallbacks([...])``: the primary model
        if isinstance(inner, RunnableSequence):
            yield from _flat_steps(inner.steps)
        else:
            yield inner


_Link = tuple[BaseLanguageModel[Any], BaseOutputParser[Any] | None, bool]


def _model_and_parser(following: Sequence[Any]) -> _Link | None:
    """The model that consumes a prompt's output (first one after it), a parser right after,
    and whether more steps follow them."""
    flat = list(_flat_steps(following))
    for i, step in enumerate(flat):
        if isinstance(step, BasePromptTemplate):
            return None
        if isinstance(step, BaseLanguageModel):
            j = i + 1
            while j < len(flat) and _passes_message_through(flat[j]):
                j += 1
            nxt = flat[j] if j < len(flat) else None
            parser = nxt if isinstance(nxt, BaseOutputParser) else None
            return step, parser, len(flat) > j + (parser is not None)
    return None


def _passes_message_through(step: Any) -> bool:
    """A provider package's check between a model and its parser that yields each message
    unchanged (``ChatOpenAI.with_structured_output``'s refusal check, a ``RunnableGenerator``
    over a function of ``langchain_openai``)."""
    if not isinstance(step, RunnableGenerator):
        return False
    module = getattr(getattr(step, "_transform", None), "__module__", None) or ""
    return module.startswith("langchain_") and module.split(".")[0] != "langchain_core"


def _is_passthrough(obj: Any) -> bool:
    """``RunnablePassthrough()`` with no function: the key repeats the input, computes nothing."""
    return isinstance(obj, RunnablePassthrough) and obj.func is None and obj.afunc is None


def _is_async_only(obj: Any) -> bool:
    return isinstance(obj, RunnableLambda) and not hasattr(obj, "func")


def explicit_name(prompt: BasePromptTemplate[Any]) -> str | None:
    name = getattr(prompt, "name", None)
    return name if isinstance(name, str) and name.strip() else None


def discover(root: Any) -> Discovery:
    """Walk ``root`` depth-first; every prompt object appears once, under its first path."""
    found = Discovery()
    seen_prompts: dict[int, FoundPrompt] = {}
    seen_models: set[int] = set()
    visited: set[int] = set()

    def visit(obj: Any, path: str, depth: int, label: str) -> None:
        indent = "  " * depth
        kind = type(obj).__name__
        if isinstance(obj, BasePromptTemplate):
            if id(obj) not in seen_prompts:
                seen_prompts[id(obj)] = FoundPrompt(path or "prompt", obj)
                found.prompts.append(seen_prompts[id(obj)])
            found.tree.append(f"{indent}{label}{kind} <prompt {seen_prompts[id(obj)].path!r}>")
            return
        if isinstance(obj, BaseLanguageModel):
            if id(obj) not in seen_models:
                seen_models.add(id(obj))
                found.models.append(obj)
            found.tree.append(f"{indent}{label}{kind} <model>")
            return
        if _is_async_only(obj):
            found.async_only = True
        name = getattr(obj, "name", None)
        shown = f"{kind}({name})" if isinstance(name, str) and name and name != kind else kind
        if id(obj) in visited:
            found.tree.append(f"{indent}{label}{shown} <seen above>")
            return
        visited.add(id(obj))
        found.tree.append(f"{indent}{label}{shown}")
        if isinstance(obj, RunnableParallel):
            found.produced.update(
                str(key) for key, step in obj.steps__.items() if not _is_passthrough(step)
            )
        for segment, child in children(obj):
            child_label = f"{segment}: " if segment is not None else ""
            visit(child, join(path, segment), depth + 1, child_label)

    visit(root, "", 0, "")
    _link_models(root, found)
    _apply_explicit_names(found.prompts)
    return found


def _link_models(root: Any, found: Discovery) -> None:
    """Attach to each prompt the model (and parser) that follows it in its sequence."""
    links: dict[int, _Link] = {}
    tooled: set[int] = set()
    visited: set[int] = set()

    def visit(obj: Any) -> None:
        if id(obj) in visited or _is_leaf(obj):
            return
        visited.add(id(obj))
        if isinstance(obj, RunnableSequence):
            flat = list(_flat_steps(obj.steps))
            for i, step in enumerate(flat):
                if isinstance(step, BasePromptTemplate) and id(step) not in links:
                    link = _model_and_parser(flat[i + 1 :])
                    if link is not None:
                        links[id(step)] = link
                        if _bound_with_tools(obj.steps, link[0]):
                            tooled.add(id(step))
        for _, child in children(obj):
            visit(child)

    visit(root)
    for item in found.prompts:
        if id(item.prompt) in links:
            item.model, item.parser, item.steps_after = links[id(item.prompt)]
            item.tools_bound = id(item.prompt) in tooled


def _bound_with_tools(steps: Sequence[Any], model: BaseLanguageModel[Any]) -> bool:
    """Whether ``model`` is bound with tools in these steps (``llm.bind_tools(tools)``)."""
    stack = list(steps)
    while stack:
        obj = stack.pop()
        if isinstance(obj, RunnableBindingBase):
            kwargs = obj.kwargs or {}
            if unwrap(obj) is model and ("tools" in kwargs or "functions" in kwargs):
                return True
            stack.append(obj.bound)
        elif isinstance(obj, RunnableSequence):
            stack.extend(obj.steps)
        elif isinstance(obj, RunnableWithFallbacks):
            stack.append(obj.runnable)
    return False


def _apply_explicit_names(prompts: list[FoundPrompt]) -> None:
    names = [explicit_name(p.prompt) for p in prompts]
    counts: dict[str, int] = {}
    for name in names:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    taken = {p.path for p in prompts}
    for item, name in zip(prompts, names, strict=True):
        if name is not None and counts[name] == 1 and (name == item.path or name not in taken):
            item.path = name
