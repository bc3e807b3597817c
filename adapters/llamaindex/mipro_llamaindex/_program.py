"""``LlamaIndexProgram``: a query engine, chat engine or workflow as a :class:`mipro_core.Program`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from llama_index.core.base.llms.base import BaseLLM
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.response_synthesizers import Accumulate, BaseSynthesizer

from mipro_core import (
    LM,
    EmptyCompletionError,
    InvalidInputError,
    MiproError,
    ModuleCall,
    ModuleState,
    Program,
    ProgramState,
    Signature,
    Trace,
)

from ._attribution import Attributor
from ._clone import copy_tree, fresh_template
from ._discovery import PromptSlot, discover
from ._lm import LlamaIndexLM, find_llm, warn_if_client_retries
from ._rewrite import build, origin_of
from ._runner import runner_for
from ._templates import is_rewritable, signature_of, text_of
from ._tracing import Recorder, recording
from ._usage import unused_reason

logger = logging.getLogger("mipro_llamaindex")


class LlamaIndexModule:
    """One optimizable prompt: a template slot, its signature and its current state."""

    def __init__(self, slot: PromptSlot) -> None:
        origin = origin_of(slot.initial)
        self.slot = slot
        self.base: BasePromptTemplate = origin.base
        """The original template every rewrite starts from."""
        self.initial_state: ModuleState = origin.state
        self._state = origin.state
        if slot.embedded:  # a chat engine's system prompt: the user message is an input too
            self._signature = signature_of(origin.base, ("query_str",), "answer")
        elif isinstance(slot.owner, BaseSynthesizer):  # whatever its prompt_type says
            self._signature = signature_of(origin.base, output="answer")
        else:
            self._signature = signature_of(origin.base)
        self.output_is_raw_text = False
        """Whether the output is the model's reply as it is and the answer of the program: a
        query or chat engine's response synthesizer (without a structured ``output_cls``) or
        chat prompt. Set by :class:`LlamaIndexProgram`; mipro_core reads it to map a one-prompt
        engine's answer to the data's one gold field."""

    @property
    def name(self) -> str:
        return self.slot.name

    @property
    def signature(self) -> Signature:
        return self._signature

    @property
    def state(self) -> ModuleState:
        """Read from the installed template, so it is right even if another program (e.g. the
        one ``mipro_core.optimize`` adapted from the same engine) rewrote it since."""
        current = self.slot.current()
        if current is self.slot.initial:
            return self.initial_state
        origin = origin_of(current)
        return origin.state if origin.base is self.base else self._state

    @property
    def template(self) -> BasePromptTemplate:
        """The template installed right now."""
        return self.slot.current()

    def set_state(self, state: ModuleState) -> None:
        try:
            if state == self.initial_state:
                template = self.slot.initial
            else:
                template = build(self.base, state, self._signature, self.name)
            self.slot.install(template)
        except MiproError:
            raise
        except Exception as exc:  # a framework error: name the module it concerns
            raise InvalidInputError(
                f"cannot write the new instruction and demos into prompt {self.name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._state = state

    def __repr__(self) -> str:
        return f"LlamaIndexModule({self.name!r})"


def _answers_as_text(slot: PromptSlot, kind: str) -> bool:
    """Whether the prompt of ``slot`` writes the engine's answer text itself (a workflow's
    result is its own code's, a structured synthesizer's answer is an object, an accumulating
    one joins several answers)."""
    if kind not in ("query engine", "chat engine"):
        return False
    if slot.embedded:
        return True
    owner = slot.owner
    if not isinstance(owner, BaseSynthesizer) or isinstance(owner, Accumulate):
        return False
    return getattr(owner, "_output_cls", None) is None


class LlamaIndexProgram:
    """A LlamaIndex query engine, chat engine or ``Workflow`` whose prompts mipro rewrites in place.

    Inputs are ``{"query": ...}`` for query engines, ``{"message": ...}`` for chat engines and
    the keyword arguments of ``workflow.run(...)`` for workflows; the prediction is the response
    text (or the workflow's result). ``include``/``exclude`` override which discovered prompts are
    optimized (see :attr:`skipped` for the prompts left out and why). :meth:`clone` makes a
    replica for parallel trials.
    """

    def __init__(
        self, obj: Any, *, include: Iterable[str] = (), exclude: Iterable[str] = ()
    ) -> None:
        self.target = obj
        self._runner = runner_for(obj)
        slots = _discover(obj)
        include, exclude = set(include), set(exclude)
        self._include, self._exclude = sorted(include), sorted(exclude)
        unknown = sorted((include | exclude) - {s.name for s in slots})
        if unknown:
            raise InvalidInputError(
                f"include/exclude name unknown prompt(s) {unknown}; found {[s.name for s in slots]}"
            )
        self._modules: dict[str, LlamaIndexModule] = {}
        self._skipped: dict[str, str] = {}
        for slot in slots:
            reason = unused_reason(slot)
            if slot.name in exclude:
                reason = "excluded by the caller"
            elif slot.name in include:
                if not _includable(slot):
                    raise InvalidInputError(f"cannot include {slot.name!r}: {reason}")
                reason = None
            if reason is None:
                self._modules[slot.name] = module = _module_of(slot)
                module.output_is_raw_text = _answers_as_text(slot, self._runner.kind)
            else:
                self._skipped[slot.name] = reason
        if not self._modules:
            found = "; ".join(f"{n}: {r}" for n, r in self._skipped.items()) or "no prompt at all"
            raise InvalidInputError(
                f"{type(obj).__name__} has no prompt template that reaches the LLM ({found}). "
                "mipro rewrites the PromptTemplate / ChatPromptTemplate objects an engine or "
                "workflow holds; a system prompt given as a plain string (SimpleChatEngine, "
                "agents) is not one: use an engine with templates (as_query_engine, a "
                "context chat engine) or a Workflow holding a PromptTemplate; see "
                "docs/llamaindex.md"
            )
        warn_if_client_retries(find_llm(obj))
        self._attributor = Attributor(slots)
        self._slots = {slot.name: slot for slot in slots}
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    @property
    def modules(self) -> Mapping[str, LlamaIndexModule]:
        return dict(self._modules)

    def clone(self) -> LlamaIndexProgram:
        """A replica with the same modules and current state whose prompts can be rewritten
        without touching this program or your object.

        The objects on the path from the root to each optimized prompt's owner (engine,
        synthesizer, selector, workflow) are shallow copies holding new template objects; LLMs,
        retrievers, indexes, vector stores and everything else are shared. Each run's calls
        are attributed to the replica's own modules. Raises ``NotImplementedError`` whose message
        is the reason when the object cannot be copied safely; trials then run one at a time.
        """
        root = copy_tree(self.target, [m.slot for m in self._modules.values()])
        copied = {slot.name: slot for slot in _discover(root)}
        for name, module in self._modules.items():
            slot = copied.get(name)
            if root is self.target or slot is None or slot.owner is module.slot.owner:
                raise NotImplementedError(
                    f"this {type(self.target).__name__} cannot be cloned: the owner of prompt "
                    f"{name!r} is not reachable through objects mipro can copy; trials run one "
                    "after another"
                )
            slot.install(fresh_template(module.slot.initial))
        replica = LlamaIndexProgram(root, include=self._include, exclude=self._exclude)
        if list(replica.modules) != list(self._modules):
            raise NotImplementedError(
                f"this {type(self.target).__name__} cannot be cloned: the copy has modules "
                f"{list(replica.modules)}, the original {list(self._modules)}"
            )
        replica.apply(ProgramState({n: m.state for n, m in self._modules.items()}))
        return replica

    @property
    def skipped(self) -> Mapping[str, str]:
        """Prompts found but not optimized, with the reason (see ``docs/llamaindex.md``)."""
        return dict(self._skipped)

    @property
    def input_fields(self) -> tuple[str, ...] | None:
        """The inputs one run takes (``("query",)`` for a query engine, ``("message",)`` for a
        chat engine; ``None`` for a workflow, whose ``run`` keywords are its own). Tools that map
        dataset columns to inputs (``mipro optimize``) read it: the prompt templates' variables
        (``query_str``, ``context_str``) are filled by LlamaIndex, not by the data."""
        return self._runner.input_keys or None

    @property
    def kind(self) -> str:
        """``"query engine"``, ``"chat engine"`` or ``"workflow"``."""
        return self._runner.kind

    def apply(self, state: ProgramState) -> None:
        """Rewrite the real prompts in place; the original state restores the original objects."""
        unknown = [name for name in state if name not in self._modules]
        if unknown:
            raise InvalidInputError(
                f"state names unknown module(s) {unknown}; this program has {list(self._modules)}"
            )
        with self._lock:
            for name in state:
                self._modules[name].set_state(state[name])

    def run(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        self._runner.check(inputs)
        with recording(self._attributor) as recorder:
            try:
                prediction = self._runner.run(inputs, recorder)
                _check_not_empty(recorder)
            except Exception as exc:
                exc.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]  # its cost
                raise
        return prediction, self._trace(recorder)

    async def arun(self, inputs: Mapping[str, Any]) -> tuple[Any, Trace]:
        """Like :meth:`run`, awaiting ``aquery``/``achat``/``workflow.run`` in the caller's loop."""
        self._runner.check(inputs)
        with recording(self._attributor) as recorder:
            try:
                prediction = await self._runner.arun(inputs, recorder)
                _check_not_empty(recorder)
            except Exception as exc:
                exc.mipro_lm_calls = recorder.started  # type: ignore[attr-defined]  # its cost
                raise
        return prediction, self._trace(recorder)

    def _unoptimized_message(self, name: str) -> str:
        reason = self._skipped.get(name, "")
        message = f"prompt {name!r} reached the LLM but is not optimized ({reason})"
        slot = self._slots.get(name)
        if slot is not None and _includable(slot):
            message += f"; pass include=[{name!r}] to search it"
        return message

    def _trace(self, recorder: Recorder) -> Trace:
        calls: list[ModuleCall] = []
        unattributed = 0
        for raw in recorder.calls:
            module = self._modules.get(raw.slot.name) if raw.slot is not None else None
            if module is None:
                unattributed += 1
                where = raw.slot.name if raw.slot is not None else None
                self._warn_once(
                    where or "unknown-template",
                    self._unoptimized_message(where)
                    if where
                    else "an LLM call used a prompt template the adapter did not discover",
                )
                continue
            sig = module.signature
            inputs = {k: _text(raw.inputs[k]) for k in sig.inputs if k in raw.inputs}
            calls.append(ModuleCall(module.name, inputs, {sig.outputs[0]: raw.output}))
        if recorder.unfinished:
            unattributed += recorder.unfinished
            self._warn_once(
                "unfinished",
                "an LLM call started but never reported its output (streaming responses emit no "
                "end event); disable streaming while optimizing so its calls can be recorded",
            )
        for span in recorder.bypass:
            unattributed += 1
            self._warn_once(
                f"bypass:{span}",
                f"an LLM call inside {span} bypassed prompt templates (llm.chat/complete); "
                "it is counted in Trace.unattributed_calls",
            )
        return Trace(tuple(calls), unattributed_calls=unattributed)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message)

    def describe(self) -> str:
        lines = [
            f"A LlamaIndex {self.kind} ({type(self.target).__name__}). "
            + _INPUTS.get(self.kind, ""),
            "Each module below is one prompt template sent to the LLM; its instruction is written "
            "in front of the template and its demos are shown as worked examples.",
            "",
            "Modules:",
        ]
        for module in self._modules.values():
            owners = " > ".join(type(o).__name__ for o in module.slot.lineage)
            sig = module.signature
            lines.append(
                f"- {module.name} (in {owners}): ({', '.join(sig.inputs)}) -> "
                f"({', '.join(sig.outputs)})"
            )
            lines.append("  Template:")
            lines.extend(f"    {line}" for line in text_of(module.base).strip().splitlines())
        if self._skipped:
            lines.append("")
            lines.append("Prompts not optimized:")
            lines.extend(f"- {name}: {reason}" for name, reason in self._skipped.items())
        return "\n".join(lines)

    def default_lm(self) -> LM | None:
        """The pipeline's own LLM wrapped for the proposer: the first one it holds, else the
        ``Settings.llm`` you set (steps that call ``Settings.llm`` hold none); ``None`` when
        there is neither."""
        llm = find_llm(self.target) or _configured_settings_llm()
        return LlamaIndexLM(llm) if llm is not None else None

    def __repr__(self) -> str:
        return f"LlamaIndexProgram({type(self.target).__name__}, modules={list(self._modules)})"


def _discover(obj: Any) -> list[PromptSlot]:
    try:
        return discover(obj)
    except MiproError:
        raise
    except Exception as exc:  # an object whose prompts cannot be read
        raise InvalidInputError(
            f"cannot find the prompts of this {type(obj).__name__}: {type(exc).__name__}: {exc}"
        ) from exc


def _module_of(slot: PromptSlot) -> LlamaIndexModule:
    try:
        return LlamaIndexModule(slot)
    except MiproError:
        raise
    except Exception as exc:  # e.g. a template whose variables cannot be read
        raise InvalidInputError(
            f"cannot read prompt {slot.name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _includable(slot: PromptSlot) -> bool:
    """Whether ``include=`` can make ``slot`` a module: its template can be rewritten safely."""
    return is_rewritable(slot.initial) and slot.stable


def _configured_settings_llm() -> Any:
    """``Settings.llm`` if the user set it; reading ``Settings.llm`` itself would resolve the
    OpenAI default (and fail without a key)."""
    from llama_index.core import Settings

    llm = getattr(Settings, "_llm", None)
    # ``Settings.llm = None`` stores a MockLLM: that is "no LLM", not a proposer
    return llm if isinstance(llm, BaseLLM) and not isinstance(llm, MockLLM) else None


_INPUTS = {
    "query engine": 'Inputs: {"query": question}; output: the response text.',
    "chat engine": 'Inputs: {"message": user message} (fresh history each run); output: the reply.',
    "workflow": "Inputs: the keyword arguments of workflow.run(); output: the workflow result.",
}


def _text(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _check_protocol(program: LlamaIndexProgram) -> Program:
    return program


def _check_not_empty(recorder: Recorder) -> None:
    """An empty completion is a failed call (retried, then an error), never a silent answer."""
    empty = sum(1 for call in recorder.calls if not call.output.strip())
    if empty:
        raise EmptyCompletionError(f"{empty} LLM call(s) of the run returned an empty completion")
