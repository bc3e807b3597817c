"""Per-run tracing: pair each prompt run with the LM run that consumed its output.

The adapter puts each module's name in its prompt's ``metadata`` (key :data:`MODULE_KEY`), and
``BasePromptTemplate.invoke`` reports that metadata on the prompt's ``on_chain_start``. The
prompt and its model are separate runs (usually siblings), so :class:`TraceRecorder` pairs them:
when an LM run starts it claims an unclaimed, finished prompt run of the same root run, choosing

1. a prompt whose rendered output equals the LM's input (robust to lambdas, sub-chains and
   concurrency inside one run), the one whose parent is the nearest ancestor of the LM run first;
2. otherwise (a lambda changed the messages on the way) the most recent prompt run whose parent
   is an ancestor of the LM run.

LM runs that claim nothing are counted as unattributed. One recorder may watch many root runs at
once (``batch``/``abatch`` with a shared handler): calls are kept per root run.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage, convert_to_messages
from langchain_core.outputs import LLMResult
from langchain_core.prompt_values import PromptValue

from mipro_core import ModuleCall, Trace

MODULE_KEY = "mipro_module"
"""The prompt ``metadata`` key that carries the module name."""

OutputsFn = Callable[[str, Mapping[str, Any] | None], Mapping[str, Any]]
"""A module's output fields from the answer text and the first tool call's arguments."""


@dataclass(frozen=True)
class ModuleInfo:
    """What the recorder needs to know about a module: its input fields and output parsing."""

    inputs: tuple[str, ...]
    outputs_of: OutputsFn


@dataclass
class _PromptRun:
    module: str
    inputs: dict[str, Any]
    parent: UUID | None
    root: UUID
    order: int
    value: PromptValue | None = None
    claimed: bool = False
    _keys: dict[str, Any] = field(default_factory=dict)

    def key(self, kind: str) -> Any:
        if kind not in self._keys and self.value is not None:
            if kind == "chat":
                self._keys[kind] = messages_key(self.value.to_messages())
            else:
                self._keys[kind] = self.value.to_string()
        return self._keys.get(kind)


def messages_key(messages: Sequence[BaseMessage]) -> tuple[tuple[str, str], ...]:
    return tuple((m.type, json.dumps(m.content, sort_keys=True, default=str)) for m in messages)


def jsonable(value: Any) -> Any:
    """A JSON-compatible stand-in for an input value that renders in a template as it does."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, BaseMessage):
        record: dict[str, Any] = {"type": value.type, "content": jsonable(value.content)}
        if isinstance(value, AIMessage) and value.tool_calls:  # an agent's step: keep the calls
            record["tool_calls"] = [
                {"name": c["name"], "args": json.loads(json.dumps(c["args"], default=str))}
                | ({"id": c["id"]} if c.get("id") else {})
                for c in value.tool_calls
            ]
        if isinstance(value, ToolMessage):  # a tool's result: which call it answers
            record["tool_call_id"] = value.tool_call_id
            if value.name:
                record["name"] = value.name
        return record
    if isinstance(value, (list, tuple)) and value:
        messages = as_messages(value)
        if messages is not None:
            return [jsonable(m) for m in messages]
    return str(value)


def as_messages(value: Any) -> list[BaseMessage] | None:
    """``value`` as chat messages when it is a list of them (message objects, ``(role,
    content)`` pairs, also as ``[role, content]`` lists (a pair read back from JSON), or
    ``{"role"/"type": ..., "content": ...}`` dicts), else ``None``."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    items = [tuple(v) if _is_json_pair(v) else v for v in value]
    if not all(isinstance(v, (BaseMessage, tuple, dict)) for v in items):
        return None
    try:
        return convert_to_messages(items)
    except Exception:  # not message-shaped after all
        return None


def _is_json_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def usage_of(response: LLMResult) -> dict[str, int]:
    usage: dict[str, int] = {}
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    if isinstance(token_usage, Mapping):
        for key in ("prompt_tokens", "completion_tokens"):
            if isinstance(token_usage.get(key), int):
                usage[key] = token_usage[key]
    if not usage and response.generations and response.generations[0]:
        message = getattr(response.generations[0][0], "message", None)
        meta = getattr(message, "usage_metadata", None) or {}
        if "input_tokens" in meta:
            usage = {
                "prompt_tokens": int(meta["input_tokens"]),
                "completion_tokens": int(meta.get("output_tokens", 0)),
            }
    return usage


class TraceRecorder(BaseCallbackHandler):
    """A LangChain callback handler recording :class:`~mipro_core.ModuleCall` s per root run."""

    run_inline = True

    def __init__(self, modules: Mapping[str, ModuleInfo]) -> None:
        self._modules = dict(modules)
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._parent: dict[UUID, UUID | None] = {}
        self._root: dict[UUID, UUID] = {}
        self._prompts: dict[UUID, _PromptRun] = {}
        self._claims: dict[UUID, _PromptRun | None] = {}
        self._calls: dict[UUID, list[ModuleCall]] = {}
        self._unattributed: dict[UUID, int] = {}
        self.started = 0
        """LM calls started (failed ones included): what a failed run cost."""
        self.empty = 0
        """LM calls that returned an empty completion (no text and no tool call)."""
        self.no_choices = 0
        """LM calls whose reply held no completion at all (an empty ``choices``)."""

    # -- results -------------------------------------------------------------------------------

    def roots(self) -> list[UUID]:
        """Root runs seen, in the order they started."""
        with self._lock:
            return [run for run, parent in self._parent.items() if parent is None]

    def trace(self, root: UUID | None = None) -> Trace:
        """The trace of one root run, or of everything seen when ``root`` is ``None``."""
        with self._lock:
            if root is None:
                calls = [c for group in self._calls.values() for c in group]
                return Trace(tuple(calls), sum(self._unattributed.values()))
            return Trace(tuple(self._calls.get(root, ())), self._unattributed.get(root, 0))

    # -- bookkeeping -----------------------------------------------------------------------------

    def _register(self, run_id: UUID, parent_run_id: UUID | None) -> UUID:
        self._parent[run_id] = parent_run_id
        root = run_id if parent_run_id is None else self._root.get(parent_run_id, parent_run_id)
        self._root[run_id] = root
        return root

    def _ancestors(self, run_id: UUID) -> dict[UUID, int]:
        distances: dict[UUID, int] = {}
        current = self._parent.get(run_id)
        depth = 0
        while current is not None and current not in distances:
            distances[current] = depth
            depth += 1
            current = self._parent.get(current)
        return distances

    def _claim(self, run_id: UUID, parent_run_id: UUID | None, kind: str, key: Any) -> None:
        with self._lock:
            root = self._register(run_id, parent_run_id)
            ancestors = self._ancestors(run_id)
            candidates = [
                p
                for p in self._prompts.values()
                if p.root == root and p.value is not None and not p.claimed
            ]

            def rank(p: _PromptRun) -> tuple[int, int]:
                distance = ancestors.get(p.parent, len(ancestors)) if p.parent else len(ancestors)
                return distance, -p.order

            matching = [p for p in candidates if p.key(kind) == key]
            related = [p for p in candidates if p.parent in ancestors]
            pool = matching or related
            chosen = min(pool, key=rank) if pool else None
            if chosen is not None:
                chosen.claimed = True
            self._claims[run_id] = chosen

    # -- callbacks -------------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            root = self._register(run_id, parent_run_id)
            module = (metadata or {}).get(MODULE_KEY)
            if kwargs.get("run_type") != "prompt" or module not in self._modules:
                return
            info = self._modules[module]
            if isinstance(inputs, Mapping):
                values = {k: jsonable(inputs[k]) for k in info.inputs if k in inputs}
            elif len(info.inputs) == 1:
                values = {info.inputs[0]: jsonable(inputs)}
            else:
                values = {}
            self._prompts[run_id] = _PromptRun(
                module, values, parent_run_id, root, next(self._counter)
            )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            run = self._prompts.get(run_id)
            if run is not None and isinstance(outputs, PromptValue):
                run.value = outputs

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._prompts.pop(run_id, None)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        key = messages_key(messages[0]) if messages else ()
        with self._lock:
            self.started += 1
        self._claim(run_id, parent_run_id, "chat", key)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            self.started += 1
        self._claim(run_id, parent_run_id, "text", prompts[0] if prompts else "")

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        generations = response.generations[0] if response.generations else []
        text = generations[0].text if generations else ""
        tool_args = None
        message = getattr(generations[0], "message", None) if generations else None
        tool_calls = getattr(message, "tool_calls", None)
        if tool_calls and isinstance(tool_calls[0].get("args"), Mapping):
            tool_args = tool_calls[0]["args"]  # also when a preamble text comes with the call
        with self._lock:
            if not text.strip() and not tool_calls:
                self.empty += 1
            if not generations:
                self.no_choices += 1
            claim = self._claims.pop(run_id, None)
            root = self._root.get(run_id, run_id)
            if claim is None:
                self._unattributed[root] = self._unattributed.get(root, 0) + 1
                return
            info = self._modules[claim.module]
        outputs = info.outputs_of(text, tool_args)
        call = ModuleCall(claim.module, claim.inputs, outputs, usage_of(response))
        with self._lock:
            self._calls.setdefault(root, []).append(call)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        # the prompt's output goes to the next attempt (``with_retry``, ``with_fallbacks``):
        # release the claim so that attempt's LM run can take it
        with self._lock:
            claim = self._claims.pop(run_id, None)
            if claim is not None:
                claim.claimed = False

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            self._register(run_id, parent_run_id)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            self._register(run_id, parent_run_id)
