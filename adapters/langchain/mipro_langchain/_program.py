"""``LangChainProgram``: a LangChain runnable seen as a mipro :class:`~mipro_core.Program`."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.runnables import Runnable, RunnableConfig

from mipro_core import (
    EmptyCompletionError,
    InvalidInputError,
    MiproError,
    ParseError,
    ProgramState,
    Trace,
)
from mipro_core.eventloop import run_coroutine

from ._clone import copy_runnable
from ._discover import Discovery, discover
from ._lm import LangChainLM, warn_if_client_retries
from ._module import LangChainModule, module_of
from ._running import (
    input_type,
    lacks_sync_path,
    no_sync_path_error,
    prediction_of,
    with_callback,
)
from ._trace import MODULE_KEY, ModuleInfo, TraceRecorder

logger = logging.getLogger("mipro_langchain")


class NoPromptFoundError(InvalidInputError):
    """The runnable contains no prompt template the adapter can optimize."""


class UnattributedCallWarning(UserWarning):
    """An LM call ran that no discovered prompt owns (e.g. a prompt built inside a lambda)."""


def _discover(runnable: Runnable[Any, Any]) -> Discovery:
    try:
        return discover(runnable)
    except MiproError:
        raise
    except Exception as exc:  # a runnable whose fields cannot be read
        raise InvalidInputError(
            f"cannot find the prompts of this {type(runnable).__name__}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


class LangChainProgram:
    """A LangChain runnable as a :class:`~mipro_core.Program`; every prompt is a module.

    ``input_key``: when the chain takes a single value rather than a dict, the name of the
    example input to pass (a chain whose input type is ``str``, e.g. ``{"context": retriever,
    "question": RunnablePassthrough()} | prompt | llm``, gets an example's only input without
    it). ``use_async``: force (``True``) or forbid (``False``) the ``ainvoke``
    path; by default it is used only when the chain has async-only lambdas. ``config``: a
    ``RunnableConfig`` passed to every run (``{"configurable": {"session_id": ...}}`` for a
    ``RunnableWithMessageHistory``, tags, your own callbacks); the adapter adds its tracing
    callback to it.

    Adapting tags each prompt's ``metadata`` with its module name (merged into the existing
    metadata). ``apply`` edits the prompt objects in place; ``apply`` of the original state
    restores them exactly. :meth:`clone` makes a replica for parallel trials (new prompt
    objects, shared models, retrievers, tools and parsers), or raises ``NotImplementedError``
    with the reason when the chain cannot be copied safely.
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        *,
        input_key: str | None = None,
        use_async: bool | None = None,
        config: RunnableConfig | None = None,
    ) -> None:
        self._build(runnable, input_key, use_async, config, warn=True)

    def _build(
        self,
        runnable: Runnable[Any, Any],
        input_key: str | None,
        use_async: bool | None,
        config: RunnableConfig | None,
        *,
        warn: bool,
    ) -> None:
        self.runnable = runnable
        self.input_key = input_key
        self.config: RunnableConfig = dict(config or {})  # type: ignore[assignment]
        self._takes_string = input_key is None and input_type(runnable) is str
        self._discovery: Discovery = _discover(runnable)
        for model in self._discovery.models:
            warn_if_client_retries(model)
        self.use_async = self._discovery.async_only if use_async is None else use_async
        self._modules: dict[str, LangChainModule] = {}
        for found in self._discovery.prompts:
            module = module_of(found, warn=warn)
            if module is not None:
                self._modules[found.path] = module
        if not self._modules:
            raise NoPromptFoundError(
                f"no prompt template found in {type(runnable).__name__}: mipro optimizes the "
                "ChatPromptTemplate / PromptTemplate / FewShotPromptTemplate objects of a chain, "
                "and none is reachable from this object. The walk enters runnables and the "
                "objects a RunnableLambda's function refers to by name; it cannot see prompts "
                "built inside a function at call time, nor ones reached through self.<attr> in "
                "a method, a dict, or functools.partial. Adapt the chain that holds the prompt "
                "(LangChainProgram(inner_chain)) or refer to the prompt from a variable"
            )
        for name, module in self._modules.items():
            module.prompt.metadata = {**(module.prompt.metadata or {}), MODULE_KEY: name}
        self._infos = {
            name: ModuleInfo(m.signature.inputs, m.outputs_of) for name, m in self._modules.items()
        }
        self._apply_lock = threading.Lock()
        self._warned = threading.Event()

    @property
    def modules(self) -> Mapping[str, LangChainModule]:
        return dict(self._modules)

    def clone(self) -> LangChainProgram:
        """A replica with the same modules and current state that shares no prompt object with
        this program; applying states to it never changes this program or the user's chain.

        The containers leading to the optimized prompts are copied shallowly and the prompts are
        new objects; models, retrievers, tools, parsers, lambdas and every runnable that holds
        no optimized prompt are the same objects (clients keep their connections). The run
        ``config`` (with your callbacks) is shared; each run records its own trace, attributed
        to the replica's modules. Raises ``NotImplementedError`` whose message is the reason
        when a prompt cannot be replaced in a copy (reached through a ``RunnableLambda``'s
        function, or held by a custom runnable): trials then run one after another.
        """
        copies = {id(m.prompt): m.pristine_prompt() for m in self._modules.values()}
        runnable = copy_runnable(self.runnable, copies)
        replica = LangChainProgram.__new__(LangChainProgram)
        replica._build(runnable, self.input_key, self.use_async, self.config, warn=False)
        for name, module in self._modules.items():
            own = replica._modules.get(name)
            if own is None or own.prompt is not copies[id(module.prompt)]:
                raise NotImplementedError(
                    f"this chain cannot be cloned: the copy of prompt {name!r} is not where "
                    "the original is; trials run one after another"
                )
        if list(replica._modules) != list(self._modules):
            raise NotImplementedError(
                f"this chain cannot be cloned: the copy has modules {list(replica._modules)}, "
                f"the original {list(self._modules)}; trials run one after another"
            )
        replica.apply(ProgramState({n: m.state for n, m in self._modules.items()}))
        return replica

    def apply(self, state: ProgramState) -> None:
        unknown = [name for name in state if name not in self._modules]
        if unknown:
            raise InvalidInputError(
                f"the state names module(s) {unknown} that this chain does not have; "
                f"its modules are {list(self._modules)}"
            )
        with self._apply_lock:
            for name in state:
                self._modules[name].set_state(state[name])

    def restore(self) -> None:
        """Put every prompt back exactly as it was when the chain was adapted."""
        self.apply(ProgramState({n: m.original_state for n, m in self._modules.items()}))

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        recorder = TraceRecorder(self._infos)
        config = with_callback(self.config, recorder)
        value: Any = dict(inputs)
        if self.input_key is not None:
            if self.input_key not in inputs:
                raise InvalidInputError(
                    f"input_key {self.input_key!r} is not among the inputs {sorted(inputs)}"
                )
            value = inputs[self.input_key]
        elif self._takes_string:
            if len(inputs) != 1:
                raise InvalidInputError(
                    f"this {type(self.runnable).__name__} takes a single string, but the example "
                    f"has inputs {sorted(inputs)}; name the one to pass with "
                    "LangChainProgram(chain, input_key=...)"
                )
            (value,) = inputs.values()
        try:
            if self.use_async:
                # one shared, long-lived loop: real async clients bind to their first loop
                output = run_coroutine(lambda: self.runnable.ainvoke(value, config))
            else:
                output = self.runnable.invoke(value, config)
            if recorder.empty:
                raise EmptyCompletionError(
                    f"{recorder.empty} LM call(s) of the chain returned an empty completion"
                )
        except OutputParserException as exc:
            # the model's answer did not parse: a malformed answer (scored 0), not a failed run
            error = ParseError(f"the chain's output parser rejected the answer: {exc}")
            error.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]
            raise error from exc
        except Exception as exc:
            if isinstance(exc, NotImplementedError) and not self.use_async and lacks_sync_path(exc):
                refused = no_sync_path_error(exc, "LangChainProgram(chain, use_async=True)")
                refused.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]
                raise refused from exc
            if recorder.no_choices and not isinstance(exc, EmptyCompletionError):
                # LangChain indexes the missing choice (an IndexError): say what happened, as
                # an empty completion (retried like one)
                empty = EmptyCompletionError(
                    f"{recorder.no_choices} LM call(s) of the chain returned no completion "
                    f"(a reply without choices), then {type(exc).__name__}: {exc}"
                )
                empty.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]
                raise empty from exc
            exc.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]  # what it cost
            raise
        trace = recorder.trace()
        if trace.unattributed_calls and not self._warned.is_set():
            self._warned.set()
            warnings.warn(
                f"{trace.unattributed_calls} LM call(s) in this chain belong to no discovered "
                "prompt (e.g. a prompt built inside a lambda at call time); they cannot be "
                "optimized and are counted in Trace.unattributed_calls",
                UnattributedCallWarning,
                stacklevel=2,
            )
        return prediction_of(output), trace

    def describe(self) -> str:
        lines = [
            f"A LangChain {type(self.runnable).__name__} with {len(self._modules)} prompt "
            "module(s). Structure:",
            *(f"  {line}" for line in self._discovery.tree),
            "Modules:",
        ]
        for module in self._modules.values():
            lines += module.describe()
        return "\n".join(lines)

    @property
    def external_inputs(self) -> tuple[str, ...] | None:
        """What a run takes from outside (``None`` when unknown): the keys of the chain's input
        schema, or, when the schema names none, the prompts' variables; without the values
        computed inside the chain (an ``assign``'s or a ``RunnableParallel``'s keys)."""
        produced = self._discovery.produced
        try:
            schema = self.runnable.get_input_jsonschema()
        except Exception:  # a custom runnable without a usable schema
            schema = {}
        properties = schema.get("properties") if isinstance(schema, dict) else None
        names = list(properties) if isinstance(properties, dict) else []
        if not names:  # an empty schema says nothing (a chain that starts with an ``assign``)
            names = [f for m in self._modules.values() for f in m.signature.inputs]
        outside = tuple(dict.fromkeys(str(k) for k in names if str(k) not in produced))
        return outside or None

    def default_lm(self) -> LangChainLM | None:
        """The chain's own model as an ``LM`` when the chain has exactly one model."""
        models = self._discovery.models
        return LangChainLM(models[0]) if len(models) == 1 else None
