"""``LangChainProgram``: a LangChain runnable seen as a mipro :class:`~mipro_core.Program`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import warnings
from collections.abc import Coroutine, Mapping
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import BaseOutputParser, JsonOutputParser
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig

from mipro_core import InvalidInputError, ModuleState, ProgramState, Signature, Trace

from ._discover import Discovery, FoundPrompt, discover
from ._lm import LangChainLM
from ._rewrite import Rewriter, make_rewriter
from ._trace import MODULE_KEY, ModuleInfo, TraceRecorder

logger = logging.getLogger("mipro_langchain")


class NoPromptFoundError(InvalidInputError):
    """The runnable contains no prompt template the adapter can optimize."""


class UnattributedCallWarning(UserWarning):
    """An LM call ran that no discovered prompt owns (e.g. a prompt built inside a lambda)."""


class LangChainModule:
    """One prompt template of the chain: a mipro :class:`~mipro_core.Module`."""

    def __init__(self, name: str, found: FoundPrompt, rewriter: Rewriter) -> None:
        self._name = name
        self.prompt: BasePromptTemplate[Any] = found.prompt
        self.parser: BaseOutputParser[Any] | None = found.parser
        self._rewriter = rewriter
        self._state = rewriter.original
        self._signature = Signature(
            inputs=tuple(found.prompt.input_variables), outputs=_output_fields(found.parser)
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def state(self) -> ModuleState:
        return self._state

    @property
    def original_state(self) -> ModuleState:
        """The state the prompt had when the chain was adapted."""
        return self._rewriter.original

    def set_state(self, state: ModuleState) -> None:
        self._rewriter.apply(state)
        self._state = state

    def outputs_of(self, text: str) -> Mapping[str, Any]:
        """The module's output fields for a model answer: parsed fields or ``{"text": ...}``."""
        fields = self._signature.outputs
        if fields == ("text",) or self.parser is None:
            return {"text": text}
        try:
            parsed = self.parser.parse(text)
        except Exception:
            return {"text": text}
        if hasattr(parsed, "model_dump"):
            parsed = parsed.model_dump(mode="json")
        if not isinstance(parsed, Mapping):
            return {"text": text}
        return {k: parsed[k] for k in fields if k in parsed}


def _output_fields(parser: BaseOutputParser[Any] | None) -> tuple[str, ...]:
    schema = (
        getattr(parser, "pydantic_object", None) if isinstance(parser, JsonOutputParser) else None
    )
    fields = getattr(schema, "model_fields", None)
    if isinstance(fields, Mapping) and fields:
        return tuple(str(name) for name in fields)
    return ("text",)


def prediction_of(output: Any) -> Any:
    """What ``run`` returns: message text for a message, a plain ``str`` for text, else as is."""
    if isinstance(output, BaseMessage):
        return str(output.text)
    if isinstance(output, str):
        return str(output)
    return output


def _run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class LangChainProgram:
    """A LangChain runnable as a :class:`~mipro_core.Program`; every prompt is a module.

    ``input_key``: when the chain takes a single value rather than a dict, the name of the
    example input to pass. ``use_async``: force (``True``) or forbid (``False``) the ``ainvoke``
    path; by default it is used only when the chain has async-only lambdas.

    Adapting tags each prompt's ``metadata`` with its module name (merged into the existing
    metadata). ``apply`` edits the prompt objects in place; ``apply`` of the original state
    restores them exactly. Replicas are not offered (``clone`` is absent): prompts reachable only
    through lambda closures cannot be copied safely, so trials run one after another.
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        *,
        input_key: str | None = None,
        use_async: bool | None = None,
    ) -> None:
        self.runnable = runnable
        self.input_key = input_key
        self._discovery: Discovery = discover(runnable)
        self.use_async = self._discovery.async_only if use_async is None else use_async
        self._modules: dict[str, LangChainModule] = {}
        for found in self._discovery.prompts:
            rewriter = make_rewriter(found.prompt)
            if rewriter is None:
                logger.warning(
                    "prompt %r (%s) is not optimized: this prompt type cannot be rewritten",
                    found.path,
                    type(found.prompt).__name__,
                )
                continue
            self._modules[found.path] = LangChainModule(found.path, found, rewriter)
        if not self._modules:
            raise NoPromptFoundError(
                f"no prompt template found in {type(runnable).__name__}: mipro optimizes the "
                "ChatPromptTemplate / PromptTemplate / FewShotPromptTemplate objects of a chain, "
                "and none is reachable from this object (prompts built inside a function at "
                "call time cannot be found)"
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
        config: RunnableConfig = {"callbacks": [recorder]}
        value: Any = dict(inputs)
        if self.input_key is not None:
            if self.input_key not in inputs:
                raise InvalidInputError(
                    f"input_key {self.input_key!r} is not among the inputs {sorted(inputs)}"
                )
            value = inputs[self.input_key]
        if self.use_async:
            output = _run_coroutine(self.runnable.ainvoke(value, config))
        else:
            output = self.runnable.invoke(value, config)
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
        for name, module in self._modules.items():
            sig = module.signature
            lines.append(
                f"- {name} ({type(module.prompt).__name__}): "
                f"({', '.join(sig.inputs)}) -> ({', '.join(sig.outputs)})"
            )
            pretty = getattr(module.prompt, "pretty_repr", None)
            text = pretty() if callable(pretty) else repr(module.prompt)
            lines.extend(f"    {line}" for line in text[:1500].splitlines())
        return "\n".join(lines)

    def default_lm(self) -> LangChainLM | None:
        """The chain's own model as an ``LM`` when the chain has exactly one model."""
        models = self._discovery.models
        return LangChainLM(models[0]) if len(models) == 1 else None
