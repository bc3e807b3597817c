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

import copy
import threading
from collections.abc import Mapping
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
from llama_index.core.workflow import Workflow, WorkflowTimeoutError

from mipro_core import InvalidInputError
from mipro_core.eventloop import run_coroutine

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
        # one shared, long-lived loop: real async clients bind to their first loop
        return run_coroutine(lambda: self.arun(inputs, recorder))

    async def arun(self, inputs: Mapping[str, Any], recorder: Recorder) -> Any:
        try:
            return prediction_of(await self.target.run(**dict(inputs)))
        except WorkflowTimeoutError as exc:
            # the workflow's own ``timeout=``: not a provider hiccup to retry (its name would
            # make it look like one), the run simply failed
            raise WorkflowRunTimedOut(str(exc)) from exc


class WorkflowRunTimedOut(RuntimeError):
    """A workflow run exceeded the workflow's own ``timeout`` (not retried)."""

    transient = False  # decides before the WorkflowTimeoutError it is raised from


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
