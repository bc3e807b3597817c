"""DSPy versions of the bundled simulated tasks, and a DSPy LM backed by :class:`SimulatedLM`.

Used by ``compare_dspy.py`` (needs the ``bench`` extra: ``pip install dspy``). The programs have
the same structure, seed instructions and field names as the native ones of
``mipro_core.testing``:

* ``rule_qa``: one ``dspy.Predict("question -> answer")`` with the instruction
  ``"Answer the question."``;
* ``multihop_qa``: ``generate_query`` (``context, question -> search_query``) called once per hop,
  the task's BM25 ``search(query, k=3)`` after each hop, then ``generate_answer``
  (``context, question -> answer``), with the passages numbered ``[1] ...`` as in the native
  program.

**Prompt translation (the only adaptation, both directions, in :class:`SimulatedDSPyLM`).**
``SimulatedLM`` reads structured prompts in the native ``field: value`` format of
``mipro_core`` and treats anything else as a free-form prompt. DSPy's ``ChatAdapter`` renders
``[[ ## field ## ]]`` sections, which the simulator would read as free-form text: a demo's value
would become the marker line ``[[ ## answer ## ]]`` and a proposer prompt containing example
questions would be answered as a task. So that both optimizers face the *same* simulated model,
the wrapper re-renders each DSPy request in the native format before calling the simulator:

* system message: DSPy's objective text (the signature's instructions) becomes the instruction,
  followed by ``Input fields:`` / ``Output fields:`` lines, the field descriptions DSPy gives
  (``- field: description``) and ``Reply with exactly these lines:`` + ``field: <field>``, exactly
  the layout of ``mipro_core``'s native stage prompt; DSPy's generic "your input fields are / all
  interactions will be structured..." boilerplate is dropped;
* user / assistant messages (demos and the live inputs): every ``[[ ## field ## ]]`` section
  becomes a ``field: value`` line, ``[[ ## completed ## ]]`` and the "Respond with the
  corresponding output fields..." reminder are dropped; any other text is kept;
* the reply's ``field: value`` lines are re-rendered as ``[[ ## field ## ]]`` sections followed
  by ``[[ ## completed ## ]]``, which ``ChatAdapter`` parses. A reply lacking a field is passed on
  unchanged (DSPy then handles it as a parse failure, as with a real model).

``SimulatedLM`` itself is unchanged and gets the same seed as the native runs. Its output depends
only on (seed, prompt text, temperature, sample index); DSPy's ``rollout_id`` is not part of
the prompt, so two requests that differ only in ``rollout_id`` get the same text.

**Call accounting and cache.** DSPy's default ``dspy.LM`` caches responses (keyed on the request,
including ``temperature`` and ``rollout_id``), so repeated identical requests cost nothing. The
wrapper mirrors that with an in-memory cache keyed on (messages, temperature, n, rollout_id);
``stats.calls`` counts only requests that reach the simulator (cache misses), i.e. the calls a
user would pay for. ``stats.requests`` counts every request. ``stats.lm_cpu`` adds up the process
CPU time spent inside the wrapper (translation + simulator), for overhead measurements.
"""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import dspy
from dspy.clients.base_lm import BaseLM

from mipro_core import Example
from mipro_core.testing import SimulatedLM, Task

warnings.filterwarnings("ignore", message=".*BaseLM.forward.*", category=DeprecationWarning)

_HEADER = re.compile(r"^\[\[ ## (\w+) ## \]\]\s*$", re.MULTILINE)
_FIELD_DESC = re.compile(r"^\d+\. `(\w+)` \([^)]*\):[ \t]*(.*)$", re.MULTILINE)
_OBJECTIVE = "In adhering to this structure, your objective is:"
_REMINDER = re.compile(r"\n*Respond with the corresponding output fields.*\Z", re.DOTALL)


class Stats:
    """Counters shared by an LM and every ``copy()`` DSPy makes of it (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.requests = 0
        self.lm_cpu = 0.0
        self.cache: dict[str, list[str]] = {}

    def reset(self) -> None:
        with self.lock:
            self.calls = self.requests = 0
            self.lm_cpu = 0.0
            self.cache.clear()


def _field_section(text: str, start: str, stop: str) -> list[tuple[str, str]]:
    """``(name, description)`` of the numbered field lines between two headings."""
    i = text.find(start)
    if i < 0:
        return []
    j = text.find(stop, i + len(start))
    block = text[i + len(start) : j if j >= 0 else len(text)]
    return [(m.group(1), m.group(2).strip()) for m in _FIELD_DESC.finditer(block)]


def native_system(system: str) -> tuple[str, list[str]]:
    """A ChatAdapter system message in the native layout, and its output field names."""
    inputs = _field_section(system, "Your input fields are:", "Your output fields are:")
    outputs = _field_section(system, "Your output fields are:", "All interactions will")
    i = system.find(_OBJECTIVE)
    objective = system[i + len(_OBJECTIVE) :] if i >= 0 else ""
    instruction = "\n".join(line.strip() for line in objective.strip().splitlines()).strip()
    lines = [instruction] if instruction else []
    lines.append("")
    lines.append("Input fields: " + ", ".join(name for name, _ in inputs))
    lines.append("Output fields: " + ", ".join(name for name, _ in outputs))
    lines.extend(f"- {name}: {desc}" for name, desc in (*inputs, *outputs) if desc)
    lines.append("")
    lines.append("Reply with exactly these lines:")
    lines.extend(f"{name}: <{name}>" for name, _ in outputs)
    return "\n".join(lines).strip(), [name for name, _ in outputs]


def native_turn(content: str) -> str:
    """A ChatAdapter user/assistant message as ``field: value`` lines."""
    content = _REMINDER.sub("", content)
    headers = list(_HEADER.finditer(content))
    if not headers:
        return content
    parts = [content[: headers[0].start()].strip()]
    for k, match in enumerate(headers):
        end = headers[k + 1].start() if k + 1 < len(headers) else len(content)
        name = match.group(1)
        if name == "completed":
            continue
        parts.append(f"{name}: {content[match.end() : end].strip()}")
    return "\n".join(p for p in parts if p)


def to_native(messages: Sequence[dict[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """DSPy ChatAdapter messages in the native format, and the requested output fields."""
    out: list[dict[str, str]] = []
    fields: list[str] = []
    for message in messages:
        role = str(message.get("role", "user"))
        content = message.get("content", "")
        if not isinstance(content, str):  # OpenAI-style content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if role == "system":
            text, fields = native_system(content)
            out.append({"role": "system", "content": text})
        else:
            out.append({"role": role, "content": native_turn(content)})
    return out, fields


def to_chat_adapter(reply: str, fields: Sequence[str]) -> str:
    """A native ``field: value`` reply as ChatAdapter sections (unchanged if a field is missing)."""
    if not fields:
        return reply
    names = "|".join(re.escape(f) for f in fields)
    pattern = re.compile(rf"^\s*(?:\*\*)?({names})(?:\*\*)?\s*:\s*", re.IGNORECASE | re.MULTILINE)
    matches = list(pattern.finditer(reply))
    values: dict[str, str] = {}
    for k, match in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(reply)
        name = next(f for f in fields if f.lower() == match.group(1).lower())
        values.setdefault(name, reply[match.end() : end].strip())
    if not values and len(fields) == 1 and reply.strip():
        values[fields[0]] = reply.strip()
    if any(f not in values for f in fields):
        return reply
    sections = [f"[[ ## {f} ## ]]\n{values[f]}" for f in fields]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


class SimulatedDSPyLM(BaseLM):  # type: ignore[misc]
    """A DSPy ``BaseLM`` answering through a :class:`SimulatedLM` (see the module docstring)."""

    def __init__(self, sim: SimulatedLM, stats: Stats | None = None) -> None:
        super().__init__(
            model=f"simulated-{sim.seed}",
            model_type="chat",
            temperature=0.0,
            max_tokens=1000,
            cache=False,
        )
        self.sim = sim
        self.stats = stats if stats is not None else Stats()

    def forward(
        self, prompt: str | None = None, messages: list[dict[str, Any]] | None = None, **kwargs: Any
    ) -> SimpleNamespace:
        start = time.process_time()
        try:
            texts = self._texts(prompt, messages, {**self.kwargs, **kwargs})
        finally:
            with self.stats.lock:
                self.stats.lm_cpu += time.process_time() - start
        choices = [
            SimpleNamespace(message=SimpleNamespace(content=t), finish_reason="stop") for t in texts
        ]
        return SimpleNamespace(choices=choices, usage={}, model=self.model)

    def _texts(
        self, prompt: str | None, messages: list[dict[str, Any]] | None, kwargs: dict[str, Any]
    ) -> list[str]:
        if messages is None:
            messages = [{"role": "user", "content": prompt or ""}]
        temperature = float(kwargs.get("temperature") or 0.0)
        n = int(kwargs.get("n") or 1)
        key = json.dumps(
            [messages, temperature, n, kwargs.get("rollout_id")], sort_keys=True, default=str
        )
        with self.stats.lock:
            self.stats.requests += 1
            cached = self.stats.cache.get(key)
        if cached is not None:
            return cached
        native, fields = to_native(messages)
        replies = self.sim(native, n=n, temperature=min(temperature, 10.0))
        texts = [to_chat_adapter(r, fields) for r in replies]
        with self.stats.lock:
            if key not in self.stats.cache:
                self.stats.calls += 1
                self.stats.cache[key] = texts
        return texts


def format_passages(passages: Sequence[str]) -> str:
    """Passages as numbered lines ``[1] ...`` (the context format of the native program)."""
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


class RuleQA(dspy.Module):  # type: ignore[misc]
    """One stage: ``question -> answer``."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict(dspy.Signature("question -> answer", "Answer the question."))

    def forward(self, question: str) -> Any:
        return self.answer(question=question)


class MultiHopQA(dspy.Module):  # type: ignore[misc]
    """Query, retrieve, query, retrieve, answer (two modules, three LM calls)."""

    def __init__(self, search: Callable[..., list[str]]) -> None:
        super().__init__()
        self._search = search
        self.generate_query = dspy.Predict(
            dspy.Signature(
                "context, question -> search_query",
                "Write a search query that will help answer the question.",
            )
        )
        self.generate_answer = dspy.Predict(
            dspy.Signature("context, question -> answer", "Answer the question.")
        )

    def forward(self, question: str) -> Any:
        passages: list[str] = []
        for _hop in range(2):
            context = format_passages(passages)
            query = self.generate_query(context=context, question=question).search_query
            for passage in self._search(query, k=3):
                if passage not in passages:
                    passages.append(passage)
        return self.generate_answer(context=format_passages(passages), question=question)


def make_dspy_program(task: Task) -> Any:
    """The un-optimized DSPy program of a bundled task."""
    if task.name == "rule_qa":
        return RuleQA()
    if task.name == "multihop_qa":
        assert task.search is not None
        return MultiHopQA(task.search)
    raise ValueError(f"no DSPy version of task {task.name!r}")


def to_dspy_examples(examples: Sequence[Example]) -> list[Any]:
    """``dspy.Example`` copies (inputs marked with ``with_inputs``)."""
    return [
        dspy.Example(**dict(ex.inputs), **dict(ex.outputs)).with_inputs(*ex.inputs)
        for ex in examples
    ]


def dspy_metric(task: Task) -> Callable[..., float]:
    """The task's metric with DSPy's ``metric(gold, prediction, trace=None)`` signature."""

    def metric(gold: Any, prediction: Any, trace: Any = None) -> float:
        example = Example({"question": gold.question}, {"answer": gold.answer})
        return float(task.metric(example, prediction))

    return metric


def dspy_test_score(task: Task, program: Any, examples: Sequence[Any]) -> float:
    """Mean metric of a DSPy program over ``examples`` (sequential; errors score 0)."""
    metric = dspy_metric(task)
    total = 0.0
    for ex in examples:
        try:
            total += metric(ex, program(**ex.inputs()))
        except Exception:  # a parse failure is a wrong answer
            total += 0.0
    return total / len(examples)
