"""Record the LLM calls of one program run through LlamaIndex's instrumentation API.

One event handler and one span handler are added to the root dispatcher, once per process.
Each run opens a :func:`recording` scope: it registers a :class:`Recorder` under a fresh run id
and puts ``{"mipro_run": id}`` into ``instrument_tags`` (a context variable, merged with any
tags already active). Every span and event raised inside the run carries that tag, so runs in
flight at the same time on different threads, or as concurrent ``aquery`` tasks, each see only
their own calls. Code the pipeline runs on threads it starts itself without copying the context
is invisible to the run (LlamaIndex's own span tree has the same limit).

Per run the recorder keeps:

* predict calls (``LLMPredictStartEvent``/``EndEvent`` and the structured variants, paired by
  span id): the template, its arguments (``{**template.kwargs, **template_args}``), the slot
  the :class:`~mipro_llamaindex._attribution.Attributor` resolves and the output;
* bare ``llm.chat``/``llm.complete`` calls not nested in a predict call (they bypass
  templates): counted, with the name of the nearest enclosing span for the warning.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
from llama_index.core.instrumentation.dispatcher import (  # type: ignore[attr-defined]
    active_instrument_tags,
    instrument_tags,
)
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import (
    LLMChatStartEvent,
    LLMCompletionStartEvent,
    LLMPredictEndEvent,
    LLMPredictStartEvent,
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import BaseSpanHandler

from ._attribution import Attributor
from ._discovery import PromptSlot

TAG = "mipro_run"


@attrs.frozen
class RawCall:
    """One finished predict call: the slot it was attributed to (or None), inputs, output."""

    slot: PromptSlot | None
    inputs: Mapping[str, Any]
    output: str


class Recorder:
    """Collects the calls of one run. Thread-safe: a run may fan out over threads or tasks."""

    def __init__(self, attributor: Attributor, aliases: Mapping[int, int] | None = None) -> None:
        self._attributor = attributor
        self._aliases = dict(aliases or {})
        self._lock = threading.RLock()
        self._spans: dict[str, tuple[str | None, int | None]] = {}
        self._pending: dict[str, tuple[PromptSlot | None, dict[str, Any]]] = {}
        self._llm_spans: set[str] = set()
        self.calls: list[RawCall] = []
        self.bypass: list[str] = []
        """Nearest named span of each LLM call that bypassed templates."""

    def alias(self, copy: object, original: object) -> None:
        """Treat spans of ``copy`` (a per-run replica) as spans of ``original``."""
        with self._lock:
            self._aliases[id(copy)] = id(original)

    def on_span(self, span_id: str, parent_id: str | None, instance: Any) -> None:
        with self._lock:
            self._spans[span_id] = (parent_id, None if instance is None else id(instance))

    def _ancestry(self, span_id: str | None) -> list[str]:
        chain: list[str] = []
        while span_id is not None and span_id in self._spans and len(chain) < 1000:
            chain.append(span_id)
            span_id = self._spans[span_id][0]
        return chain

    def on_event(self, event: BaseEvent) -> None:
        if isinstance(event, (LLMPredictStartEvent, LLMStructuredPredictStartEvent)):
            self._start(event)
        elif isinstance(event, (LLMPredictEndEvent, LLMStructuredPredictEndEvent)):
            with self._lock:
                self._end(event.span_id, event.output)
        elif isinstance(event, (LLMChatStartEvent, LLMCompletionStartEvent)):
            with self._lock:
                self._bare_call(event.span_id)

    def _start(self, event: LLMPredictStartEvent | LLMStructuredPredictStartEvent) -> None:
        span_id = event.span_id
        if span_id is None:
            return
        with self._lock:
            chain = self._ancestry(span_id)
            if any(s in self._llm_spans for s in chain[1:]):
                return  # nested inside another recorded LLM call: part of that call
            self._llm_spans.add(span_id)
            ancestors = [inst for s in chain if (inst := self._spans[s][1]) is not None]
            aliases = dict(self._aliases)
        # Resolve outside the lock: reading the installed templates may itself open spans.
        slot = self._attributor.resolve(event.template, ancestors, aliases)
        template = event.template
        inputs = {**(template.kwargs or {}), **(event.template_args or {})}
        mappings = template.template_var_mappings or {}  # caller's names -> the template's
        inputs = {mappings.get(k, k): v for k, v in inputs.items()}
        with self._lock:
            self._pending[span_id] = (slot, inputs)

    @property
    def started(self) -> int:
        """LLM calls started in the run (failed ones included): what a failed run cost."""
        with self._lock:
            return len(self._llm_spans)

    @property
    def unfinished(self) -> int:
        """Predict calls that started but never ended (streaming calls emit no end event)."""
        with self._lock:
            return len(self._pending)

    def _end(self, span_id: str | None, output: Any) -> None:
        if span_id is None or span_id not in self._pending:
            return
        slot, inputs = self._pending.pop(span_id)
        text = output if isinstance(output, str) else _as_text(output)
        self.calls.append(RawCall(slot, inputs, text))

    def _bare_call(self, span_id: str | None) -> None:
        chain = self._ancestry(span_id)
        if span_id is None or any(s in self._llm_spans for s in chain[1:]):
            return
        self._llm_spans.add(span_id)
        named = [s.split("-", 1)[0] for s in chain[1:]]
        self.bypass.append(next(iter(named), span_id.split("-", 1)[0]))


def _as_text(output: Any) -> str:
    dump = getattr(output, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return str(output)


_active_lock = threading.Lock()
_active: dict[str, Recorder] = {}
_installed = False


def _recorder_for(tags: Mapping[str, Any] | None) -> Recorder | None:
    run_id = (tags or {}).get(TAG)
    return _active.get(run_id) if isinstance(run_id, str) else None


class _EventHandler(BaseEventHandler):
    @classmethod
    def class_name(cls) -> str:
        return "MiproEventHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        recorder = _recorder_for(event.tags)
        if recorder is not None:
            recorder.on_event(event)


class _SpanHandler(BaseSpanHandler[SimpleSpan]):
    @classmethod
    def class_name(cls) -> str:
        return "MiproSpanHandler"

    def span_enter(
        self,
        id_: str,
        bound_args: Any,
        instance: Any | None = None,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        recorder = _recorder_for(tags)
        if recorder is not None:
            recorder.on_span(id_, parent_id, instance)

    def span_exit(self, *args: Any, **kwargs: Any) -> None:
        return None

    def span_drop(self, *args: Any, **kwargs: Any) -> None:
        return None

    def new_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None

    def prepare_to_exit_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None

    def prepare_to_drop_span(self, *args: Any, **kwargs: Any) -> SimpleSpan | None:
        return None


def install_handlers() -> None:
    """Attach the adapter's handlers to the root dispatcher (idempotent)."""
    global _installed
    with _active_lock:
        if _installed:
            return
        dispatcher = get_dispatcher()
        dispatcher.add_event_handler(_EventHandler())
        dispatcher.add_span_handler(_SpanHandler())
        _installed = True


@contextlib.contextmanager
def recording(attributor: Attributor) -> Iterator[Recorder]:
    """Scope one run: every LLM call made inside (in this context) lands in the recorder."""
    install_handlers()
    recorder = Recorder(attributor)
    run_id = uuid.uuid4().hex
    with _active_lock:
        _active[run_id] = recorder
    try:
        with instrument_tags({**active_instrument_tags.get(), TAG: run_id}):
            yield recorder
    finally:
        with _active_lock:
            _active.pop(run_id, None)
