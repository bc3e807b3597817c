"""How one example runs through each kind of LlamaIndex object, and what its prediction is.

* query engines: inputs ``{"query": str}``; ``engine.query(...)``; prediction = response text;
* chat engines: inputs ``{"message": str}``; every run starts from an empty chat history. An
  engine with a ``_memory`` (all built-in ones) is shallow-copied per run with a fresh memory,
  so runs are independent, can overlap, and the user's own conversation is left untouched;
  other engines are ``reset()`` and run one at a time;
* workflows: inputs are the keyword arguments of ``workflow.run(...)``; prediction = the
  workflow's result (response text when it returns a LlamaIndex response).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextvars
import copy
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    PydanticResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine
from llama_index.core.memory import BaseMemory, ChatMemoryBuffer
from llama_index.core.workflow import Workflow

from mipro_core import InvalidInputError

from ._tracing import Recorder

SUPPORTED = (BaseQueryEngine, BaseChatEngine, Workflow)


def prediction_of(result: Any) -> Any:
    """The text of a LlamaIndex response object; other results unchanged."""
    if isinstance(result, StreamingResponse):
        result = result.get_response()
    if isinstance(result, AsyncStreamingResponse):
        raise InvalidInputError("async streaming responses are not supported; disable streaming")
    if isinstance(result, (Response, AgentChatResponse)):
        return result.response or ""
    if isinstance(result, PydanticResponse):
        return str(result)
    return result


class Runner:
    """Runs examples through one target object."""

    kind: str = "object"
    input_keys: tuple[str, ...] = ()

    def __init__(self, target: Any) -> None:
        self.target = target

    def check(self, inputs: Mapping[str, Any]) -> None:
        missing = [k for k in self.input_keys if k not in inputs]
        if missing:
            expected = ", ".join(f"{k!r}: ..." for k in self.input_keys)
            raise InvalidInputError(
                f"a LlamaIndex {self.kind} takes inputs {{{expected}}}; "
                f"got keys {sorted(inputs)} (missing {missing})"
            )

    def run(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        raise NotImplementedError

    async def arun(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        raise NotImplementedError


class QueryEngineRunner(Runner):
    kind = "query engine"
    input_keys = ("query",)

    def run(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        return prediction_of(self.target.query(str(inputs["query"])))

    async def arun(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        return prediction_of(await self.target.aquery(str(inputs["query"])))


class ChatEngineRunner(Runner):
    kind = "chat engine"
    input_keys = ("message",)

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self._lock = threading.Lock()
        self._replicable = isinstance(getattr(target, "_memory", None), BaseMemory)

    def _replica(self, recorder: Recorder) -> Any:
        replica = copy.copy(self.target)
        replica._memory = ChatMemoryBuffer.from_defaults(token_limit=100_000)
        recorder.alias(replica, self.target)
        return replica

    def run(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        message = str(inputs["message"])
        if self._replicable:
            return prediction_of(self._replica(recorder).chat(message))
        with self._lock:
            self.target.reset()
            return prediction_of(self.target.chat(message))

    async def arun(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        message = str(inputs["message"])
        if not self._replicable:
            raise InvalidInputError(
                f"{type(self.target).__name__} keeps its history outside a _memory attribute; "
                "use the synchronous run()"
            )
        return prediction_of(await self._replica(recorder).achat(message))


class WorkflowRunner(Runner):
    kind = "workflow"

    def run(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        return run_coroutine(lambda: self.arun(inputs, recorder))

    async def arun(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        return prediction_of(await self.target.run(**dict(inputs)))


class _EventLoopThread:
    """One event loop, in a daemon thread, that runs every async run of every program.

    A fresh loop per run (``asyncio.run``) breaks real providers: their async HTTP clients are
    created once and bound to the first loop they ran on, so later runs fail with "Event loop
    is closed". Each coroutine runs in a copy of its caller's context (the recording tags live
    in context variables); runs from several evaluator threads share the loop concurrently.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="mipro-llamaindex-loop", daemon=True
                ).start()
                self._loop = loop
            return self._loop

    def run(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        loop = self._started()
        context = contextvars.copy_context()
        done: cf.Future[Any] = cf.Future()
        tasks: list[asyncio.Task[Any]] = []

        def finish(task: asyncio.Task[Any]) -> None:
            if done.done():
                return
            if task.cancelled():
                done.cancel()
            elif task.exception() is not None:
                done.set_exception(task.exception())
            else:
                done.set_result(task.result())

        def start() -> None:
            try:
                # created inside the caller's context, the task runs in a copy of it
                task = context.run(lambda: loop.create_task(make()))
            except BaseException as exc:  # making the coroutine failed
                done.set_exception(exc)
                return
            tasks.append(task)
            task.add_done_callback(finish)

        loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:  # Ctrl-C or a timeout while waiting: stop the run as well
            loop.call_soon_threadsafe(lambda: [t.cancel() for t in tasks])
            raise


_EVENT_LOOP = _EventLoopThread()


def run_coroutine(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from sync code (also inside a running event loop), on the
    adapter's long-lived event loop."""
    return _EVENT_LOOP.run(make)


def _is_agent(target: Any) -> bool:
    try:
        from llama_index.core.agent.workflow import AgentWorkflow, BaseWorkflowAgent
    except ImportError:  # pragma: no cover - older llama-index-core without workflow agents
        return False
    return isinstance(target, (AgentWorkflow, BaseWorkflowAgent))


def runner_for(target: Any) -> Runner:
    """The runner for ``target``; raises :class:`InvalidInputError` for unsupported objects."""
    if _is_agent(target):
        raise InvalidInputError(
            f"cannot optimize a {type(target).__name__}: agents are not supported (their prompts "
            "are rebuilt with tool descriptions on every step and their runs are tool loops); "
            "optimize the query engines their tools wrap instead"
        )
    if isinstance(target, BaseQueryEngine):
        return QueryEngineRunner(target)
    if isinstance(target, BaseChatEngine):
        return ChatEngineRunner(target)
    if isinstance(target, Workflow):
        return WorkflowRunner(target)
    raise InvalidInputError(
        f"cannot optimize a {type(target).__name__}: the LlamaIndex adapter accepts query "
        "engines, chat engines and Workflow instances (for an index, pass "
        "index.as_query_engine(...) or index.as_chat_engine(...); an LLM goes to proposer_lm=...)"
    )
