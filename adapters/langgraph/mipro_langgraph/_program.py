"""``LangGraphProgram``: a compiled LangGraph graph seen as a mipro :class:`~mipro_core.Program`."""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from mipro_langchain import (
    MODULE_KEY,
    LangChainLM,
    LangChainModule,
    LangChainProgram,
    ModuleInfo,
    NoPromptFoundError,
    TraceRecorder,
    UnattributedCallWarning,
)
from mipro_langchain._running import lacks_sync_path  # LangChain's own sync-path test

from mipro_core import InvalidInputError, ModuleState, ParseError, ProgramState, Signature, Trace
from mipro_core.eventloop import run_coroutine

from ._interrupts import (
    INTERRUPT_KEY,
    dynamic_interrupt_message,
    interrupt_problem,
)
from ._walk import GraphWalk, walk

logger = logging.getLogger("mipro_langgraph")


def _with_callback(config: RunnableConfig, handler: BaseCallbackHandler) -> RunnableConfig:
    callbacks = config.get("callbacks")
    if isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        return {**config, "callbacks": manager}
    return {**config, "callbacks": [*(callbacks or []), handler]}


def evaluation_graph(graph: Any) -> tuple[Any, Any]:
    """The graph evaluation runs invoke, and the checkpointer they write to.

    A graph with a checkpointer is run as a shallow copy (same nodes, so the same prompts) with a
    private ``InMemorySaver``: evaluation runs never reach the user's saver (a SQLite or Postgres
    database in production). When the graph cannot be copied, runs use the user's saver and each
    run's thread is deleted afterwards, where the saver can delete threads.
    """
    saver = getattr(graph, "checkpointer", None)
    if not isinstance(saver, BaseCheckpointSaver):
        return graph, None
    private = InMemorySaver()
    try:
        return graph.copy(update={"checkpointer": private}), private
    except Exception as exc:  # a graph class whose copy() fails: keep the user's saver
        logger.warning(
            "could not give evaluation runs a private checkpointer (%s: %s); they use the "
            "graph's %s and each run's thread is deleted after the run",
            type(exc).__name__,
            exc,
            type(saver).__name__,
        )
        return graph, saver


def _delete_thread(saver: Any, thread_id: str) -> None:
    try:
        saver.delete_thread(thread_id)
    except Exception as exc:  # NotImplementedError, or an async-only saver: say so, go on
        logger.warning(
            "evaluation thread %s left in %s: %s: %s",
            thread_id,
            type(saver).__name__,
            type(exc).__name__,
            exc,
        )


def prediction_of(value: Any) -> Any:
    """A message becomes its text, a list of messages its last message's text."""
    if isinstance(value, BaseMessage):
        return str(value.text)
    if isinstance(value, list) and value and all(isinstance(v, BaseMessage) for v in value):
        return str(value[-1].text)
    return value


class LangGraphModule:
    """One prompt of the graph: the LangChain adapter's module under its graph name."""

    def __init__(self, name: str, inner: LangChainModule) -> None:
        self._name = name
        self.inner = inner
        self.prompt = inner.prompt
        self.output_is_raw_text = False
        """Never: a node's function stands between the prompt's reply and the graph's output
        (the state), so the data's gold field is not taken as the reply automatically; name it
        with ``optimize(outputs=...)``."""

    @property
    def name(self) -> str:
        return self._name

    def describe(self) -> list[str]:
        """The LangChain module's description lines, under its graph name."""
        return self.inner.describe(self._name)

    @property
    def signature(self) -> Signature:
        return self.inner.signature

    @property
    def state(self) -> ModuleState:
        return self.inner.state

    @property
    def original_state(self) -> ModuleState:
        return self.inner.original_state

    def set_state(self, state: ModuleState) -> None:
        self.inner.set_state(state)


class LangGraphProgram:
    """A compiled LangGraph graph as a :class:`~mipro_core.Program`; every prompt is a module.

    Modules are the prompt templates the graph's nodes run or refer to (see
    ``docs/langgraph.md``), named ``node/...`` (``parent/child/...`` inside subgraphs). ``run``
    invokes the graph on an example's inputs (its input state) and returns the final state, or
    ``state[output_key]`` with ``output_key`` (a message as its text, a list of messages as the
    last one's text). ``config``: a ``RunnableConfig`` for every run; when the graph has a
    checkpointer, each run gets a thread id of its own (replacing any ``thread_id`` in
    ``config``) so no state leaks between runs, and runs are checkpointed in a private
    in-memory saver whose thread is deleted after the run: the user's saver is not written to.
    A ``store`` (cross-thread memory) is not isolated.
    ``use_async``: force (``True``) or forbid (``False``) ``ainvoke``; by default it is used
    when a node is async-only.

    ``apply`` writes into the prompt objects the graph uses (in place); a failing apply puts the
    modules it had changed back. Replicas are not offered (prompts reached through closures
    cannot be copied safely), so trials run one after another.
    """

    def __init__(
        self,
        graph: Any,
        *,
        output_key: str | None = None,
        config: RunnableConfig | None = None,
        use_async: bool | None = None,
    ) -> None:
        self.graph = graph
        self.output_key = output_key
        self.config: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        self._walk: GraphWalk = walk(graph)
        self._run_graph, self._saver = evaluation_graph(graph)
        self.use_async = self._walk.async_only if use_async is None else use_async
        for agent in self._walk.agents:
            agent.install_template()
        self._programs: list[LangChainProgram] = []
        self._modules: dict[str, LangGraphModule] = {}
        self._collect_modules()
        for refusal in self._walk.refused:
            logger.warning("not optimized: %s", refusal)
        if not self._modules:
            reasons = "".join(f"; {r}" for r in self._walk.refused)
            raise NoPromptFoundError(
                f"no prompt template found in this {type(graph).__name__}: mipro optimizes the "
                "ChatPromptTemplate / PromptTemplate objects the graph's nodes run or refer to: "
                "node runnables; the closures, default arguments, module globals and instance "
                "or class attributes of node functions, bound methods and callable objects; "
                "with the functional API, what an @entrypoint function and the @task functions "
                "it names refer to the same way. A prompt created inside a function each time "
                "it runs cannot be found: create it once outside (a module global, a closure "
                f"variable or an attribute); see docs/langgraph.md{reasons}"
            )
        for name, module in self._modules.items():
            module.prompt.metadata = {**(module.prompt.metadata or {}), MODULE_KEY: name}
        self._infos = {
            name: ModuleInfo(m.signature.inputs, m.inner.outputs_of)
            for name, m in self._modules.items()
        }
        self._apply_lock = threading.Lock()
        self._warned = threading.Event()
        self._interrupts = interrupt_problem(graph)

    def _collect_modules(self) -> None:
        seen: set[int] = set()
        for root in self._walk.roots:
            try:
                program = LangChainProgram(root.obj)
            except NoPromptFoundError:
                continue
            self._programs.append(program)
            for inner, module in program.modules.items():
                if id(module.prompt) in seen:
                    continue  # a prompt shared by several nodes is one module
                seen.add(id(module.prompt))
                name = root.module_name(inner)
                while name in self._modules:
                    name += "'"
                self._modules[name] = LangGraphModule(name, module)

    @property
    def modules(self) -> Mapping[str, LangGraphModule]:
        return dict(self._modules)

    def apply(self, state: ProgramState) -> None:
        unknown = [name for name in state if name not in self._modules]
        if unknown:
            raise InvalidInputError(
                f"the state names module(s) {unknown} that this graph does not have; "
                f"its modules are {list(self._modules)}"
            )
        with self._apply_lock:
            before = {name: self._modules[name].state for name in state}
            done: list[str] = []
            try:
                for name in state:
                    self._modules[name].set_state(state[name])
                    done.append(name)
            except BaseException:
                for name in done:  # put back what this apply changed, then report
                    self._modules[name].set_state(before[name])
                raise

    def restore(self) -> None:
        """Put every prompt back as it was when the graph was adapted."""
        self.apply(ProgramState({n: m.original_state for n, m in self._modules.items()}))

    def _run_config(self, recorder: TraceRecorder) -> RunnableConfig:
        config = _with_callback(self.config, recorder)
        if self._saver is not None:
            configurable = dict(config.get("configurable") or {})
            configurable["thread_id"] = f"mipro-{uuid.uuid4().hex}"  # no state across runs
            config = {**config, "configurable": configurable}
        return config

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        if self._interrupts:
            raise InvalidInputError(self._interrupts)
        recorder = TraceRecorder(self._infos)
        config = self._run_config(recorder)
        value = dict(inputs)
        graph = self._run_graph
        try:
            if self.use_async:
                output = run_coroutine(lambda: graph.ainvoke(value, config))
            else:
                output = graph.invoke(value, config)
            if isinstance(output, Mapping) and output.get(INTERRUPT_KEY):
                error = InvalidInputError(dynamic_interrupt_message(graph, config))
                error.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]
                raise error
        except OutputParserException as exc:
            raise ParseError(f"an output parser in the graph rejected the answer: {exc}") from exc
        except NotImplementedError as exc:
            if self.use_async or not lacks_sync_path(exc):  # that run's failure
                exc.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]
                raise
            raise InvalidInputError(  # every run would fail the same way: stop at once
                f"a step of this graph raised NotImplementedError on invoke ({exc}): a step with "
                "only an async implementation (a chat model with only _agenerate) runs with "
                "ainvoke: adapt the graph as LangGraphProgram(graph, use_async=True) and pass "
                "that program to mipro_core.optimize"
            ) from exc
        finally:
            if self._saver is not None:
                _delete_thread(self._saver, config["configurable"]["thread_id"])
        trace = recorder.trace()
        if trace.unattributed_calls and not self._warned.is_set():
            self._warned.set()
            warnings.warn(self._unattributed_message(trace), UnattributedCallWarning, stacklevel=2)
        return self._prediction(output), trace

    def _unattributed_message(self, trace: Trace) -> str:
        ran = {call.module for call in trace}
        idle = [name for name in self._modules if name not in ran]
        hint = (
            f" The prompt(s) {idle} were found but did not run as runnables in this run; if a "
            "node renders them with format_messages()/format(), their instructions are still "
            "optimized but the calls give no demos."
            if idle
            else ""
        )
        return (
            f"{trace.unattributed_calls} LM call(s) in this graph could not be tied to a "
            "discovered prompt (counted in Trace.unattributed_calls; no demos come from them). "
            "A call is tied to a prompt that runs as a runnable before it: `prompt | llm`, or "
            "`prompt.invoke(...)` then `llm.invoke(...)`. Not tied: messages rendered with "
            "`prompt.format_messages(...)` / `prompt.format(...)` (use `prompt.invoke(...)`), "
            "a prompt built inside a node at call time, or an agent without a system prompt."
            f"{hint} See docs/langgraph.md, 'Not covered'."
        )

    def _prediction(self, output: Any) -> Any:
        if self.output_key is None:
            return output
        if hasattr(output, "model_dump") and not isinstance(output, Mapping):
            output = output.model_dump()
        if not isinstance(output, Mapping) or self.output_key not in output:
            keys = sorted(output) if isinstance(output, Mapping) else type(output).__name__
            raise InvalidInputError(
                f"output_key {self.output_key!r} is not in the graph's final state ({keys})"
            )
        return prediction_of(output[self.output_key])

    def describe(self) -> str:
        lines = [
            f"A LangGraph {type(self.graph).__name__} with {len(self._modules)} prompt "
            "module(s). Nodes and edges:",
            *(f"  {line}" for line in _edges(self.graph)),
            "Where the prompts live:",
            *(f"  {line}" for line in self._walk.tree),
            "Modules:",
        ]
        for module in self._modules.values():
            lines += module.describe()
        return "\n".join(lines)

    def default_lm(self) -> LangChainLM | None:
        """The graph's model as an ``LM`` when all its prompts feed one model."""
        models = [p.default_lm() for p in self._programs]
        distinct = {id(m.model) for m in models if m is not None}
        if len(distinct) == 1 and all(m is not None for m in models):
            return models[0]
        return None


def _edges(graph: Any) -> list[str]:
    try:
        drawable = graph.get_graph()
    except Exception:  # drawing is a courtesy for the proposer; a graph that cannot is fine
        return []
    return [
        f"{edge.source} -> {edge.target}" + (" (conditional)" if edge.conditional else "")
        for edge in drawable.edges
    ]
