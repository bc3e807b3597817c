"""DSPy versions of the bundled simulated tasks, and a DSPy LM backed by :class:`SimulatedLM`.

Used by ``compare_dspy.py`` (needs the ``bench`` extra: ``pip install dspy``). The programs have
the same structure, seed instructions and field names as the native ones of
``mipro_core.testing``:

* ``rule_qa``: one ``dspy.Predict("question -> answer")`` with the instruction
  ``"Answer the question."``;
* ``multihop_qa``: ``generate_query`` (``context, question -> search_query``) called once per hop,
  the task's BM25 ``search(query, k=3)`` after each hop, then ``generate_answer``
  (``context, question -> answer``), with the passages numbered ``[1] ...`` as in the native
  program;
* ``scone_nli``: one ``dspy.Predict("question -> answer")`` with the instruction ``"Answer the
  question. Say yes if the conclusion follows from the premise, else no."``;
* ``rule_qa_vote``: three predictors ``vote_1``, ``vote_2``, ``vote_3`` (each ``question ->
  answer``, ``"Answer the question."``) whose answers ``forward`` aggregates in plain Python by
  majority of the exact answer strings, a tie keeping the earliest (the native rule).

The seed instructions are read from the native program (``task.make_program``), so the two sides
cannot drift apart; :func:`prompt_parity` checks that the un-optimized programs send the same
prompts.

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
  unchanged (DSPy then handles it as a parse failure, as with a real model);
* ``JSONAdapter`` requests (GEPA's instruction proposer in dspy >= 3.4, whose system message says
  "Outputs will be a JSON object") are read the same way (their "Respond with a JSON object..."
  reminder is dropped too) and answered with a JSON object of the output fields, which
  ``JSONAdapter`` parses. A section whose value is a JSON list of objects (GEPA's
  ``examples_with_feedback``: inputs, generated outputs and the metric's feedback per example) is
  rendered in the markdown layout of the ``gepa`` package's own reflection prompt (``# Example
  1``, ``## Inputs``, ``### question``, each value on its own lines): the same text, without JSON's
  escaped newlines and quotes, which the simulator would read as one long free-form line.

The translation lives in ``dspy_prompts.py``. ``temperature`` sets the wrapper's default sampling
temperature (DSPy's ``dspy.LM`` argument; 0 for task models, GEPA's docs recommend 1.0 for the
reflection model).

``SimulatedLM`` itself is unchanged and gets the same seed as the native runs. Its output depends
only on (seed, prompt text, temperature, sample index); DSPy's ``rollout_id`` is not part of
the prompt, so two requests that differ only in ``rollout_id`` get the same text.

**Call accounting and cache.** DSPy's default ``dspy.LM`` caches responses (keyed on the request,
including ``temperature`` and ``rollout_id``), so repeated identical requests cost nothing. The
wrapper mirrors that with an in-memory cache keyed on (messages, temperature, n, rollout_id);
``stats.calls`` counts only requests that reach the simulator (cache misses), i.e. the calls a
user would pay for. ``stats.requests`` counts every request. ``stats.lm_cpu`` adds up the process
CPU time spent inside the wrapper (translation + simulator), for overhead measurements. Like
``dspy.LM``'s, the key does not name the predictor: when two voters of ``rule_qa_vote`` send the
same prompt (same instruction and demos, e.g. un-optimized), only the first costs a call. (The
native program's memo keys on stage name and prompt, so there each voter pays.)
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import dspy
from dspy.clients.base_lm import BaseLM
from dspy_prompts import to_chat_adapter, to_json_adapter, to_native

from mipro_core import LM, Example
from mipro_core.testing import SimulatedLM, Task

warnings.filterwarnings("ignore", message=".*BaseLM.forward.*", category=DeprecationWarning)


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


class SimulatedDSPyLM(BaseLM):  # type: ignore[misc]
    """A DSPy ``BaseLM`` answering through a :class:`SimulatedLM` (see the module docstring)."""

    def __init__(
        self, sim: SimulatedLM, stats: Stats | None = None, temperature: float = 0.0
    ) -> None:
        super().__init__(
            model=f"simulated-{sim.seed}",
            model_type="chat",
            temperature=temperature,
            max_tokens=1000,
            cache=False,
        )
        self.sim: LM = sim  # any mipro LM may stand in (e.g. a recorder)
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
        native, fields, wants_json = to_native(messages)
        replies = self.sim(native, n=n, temperature=min(temperature, 10.0))
        back = to_json_adapter if wants_json else to_chat_adapter
        texts = [back(r, fields) for r in replies]
        with self.stats.lock:
            if key not in self.stats.cache:
                self.stats.calls += 1
                self.stats.cache[key] = texts
        return texts


def format_passages(passages: Sequence[str]) -> str:
    """Passages as numbered lines ``[1] ...`` (the context format of the native program)."""
    return "\n".join(f"[{i}] {p}" for i, p in enumerate(passages, 1))


def native_instructions(task: Task) -> dict[str, str]:
    """The seed instruction of every stage of the task's native program, by stage name."""
    program = task.make_program(SimulatedLM(seed=0))
    return {name: stage.state.instruction for name, stage in program.stages.items()}


def _predict(signature: str, instruction: str) -> Any:
    return dspy.Predict(dspy.Signature(signature, instruction))


class RuleQA(dspy.Module):  # type: ignore[misc]
    """Answers a question about a fictional world (one stage: ``question -> answer``)."""

    def __init__(self, instruction: str = "Answer the question.") -> None:
        super().__init__()
        self.answer = _predict("question -> answer", instruction)

    def forward(self, question: str) -> Any:
        return self.answer(question=question)


class SconeNLI(dspy.Module):  # type: ignore[misc]
    """Decides whether a conclusion follows logically from a premise (one stage: ``question ->
    answer``, yes or no)."""

    def __init__(
        self,
        instruction: str = "Answer the question. Say yes if the conclusion follows from the "
        "premise, else no.",
    ) -> None:
        super().__init__()
        self.answer = _predict("question -> answer", instruction)

    def forward(self, question: str) -> Any:
        return self.answer(question=question)


class RuleQAVote(dspy.Module):  # type: ignore[misc]
    """Three stages answer a question about a fictional world; the majority answer wins."""

    def __init__(self, instructions: Sequence[str] = ("Answer the question.",) * 3) -> None:
        super().__init__()
        first, second, third = instructions
        self.vote_1 = _predict("question -> answer", first)
        self.vote_2 = _predict("question -> answer", second)
        self.vote_3 = _predict("question -> answer", third)

    def forward(self, question: str) -> Any:
        voters = (self.vote_1, self.vote_2, self.vote_3)
        answers = [str(voter(question=question).answer) for voter in voters]
        counts: dict[str, int] = {}
        for answer in answers:  # majority of the exact answers; a tie keeps the earliest
            counts[answer] = counts.get(answer, 0) + 1
        winner = max(answers, key=lambda a: (counts[a], -answers.index(a)))
        return dspy.Prediction(answer=winner, votes=answers)


class MultiHopQA(dspy.Module):  # type: ignore[misc]
    """Query, retrieve, query, retrieve, answer (two modules, three LM calls)."""

    def __init__(
        self,
        search: Callable[..., list[str]],
        query_instruction: str = "Write a search query that will help answer the question.",
        answer_instruction: str = "Answer the question.",
    ) -> None:
        super().__init__()
        self._search = search
        self.generate_query = _predict("context, question -> search_query", query_instruction)
        self.generate_answer = _predict("context, question -> answer", answer_instruction)

    def forward(self, question: str) -> Any:
        passages: list[str] = []
        for _hop in range(2):
            context = format_passages(passages)
            query = self.generate_query(context=context, question=question).search_query
            for passage in self._search(query, k=3):
                if passage not in passages:
                    passages.append(passage)
        return self.generate_answer(context=format_passages(passages), question=question)


DSPY_TASKS = ("rule_qa", "multihop_qa", "scone_nli", "rule_qa_vote")
"""The bundled tasks with a DSPy version (all of ``mipro_core.testing.TASK_NAMES``)."""


def make_dspy_program(task: Task) -> Any:
    """The un-optimized DSPy program of a bundled task, seeded with the native instructions.

    Its predictors have the native program's stage names (``dict(program.named_predictors())``
    has the keys of ``task.make_program(lm).stages``).
    """
    seeds = native_instructions(task)
    if task.name == "rule_qa":
        return RuleQA(seeds["answer"])
    if task.name == "scone_nli":
        return SconeNLI(seeds["answer"])
    if task.name == "rule_qa_vote":
        return RuleQAVote([seeds[name] for name in ("vote_1", "vote_2", "vote_3")])
    if task.name == "multihop_qa":
        assert task.search is not None
        return MultiHopQA(task.search, seeds["generate_query"], seeds["generate_answer"])
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


class _Recorder:
    """An LM that forwards to a :class:`SimulatedLM` and records every prompt it is sent."""

    def __init__(self, sim: SimulatedLM) -> None:
        self.sim = sim
        self.seed = sim.seed
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        with self._lock:
            self.prompts.append(json.dumps(list(messages), sort_keys=True))
        return self.sim(messages, n=n, temperature=temperature)


def prompt_parity(task: Task, seed: int = 1, limit: int | None = None) -> dict[str, Any]:
    """Run both un-optimized programs on the test split; compare prompts and scores.

    Returns ``native`` and ``dspy`` (test scores), ``prompts`` (distinct prompts sent by the
    native program), ``identical`` (both sides sent the same distinct prompts, in the same
    order, after the wrapper's translation) and ``first_mismatch`` (``(native, dspy)`` or
    ``None``). Distinct prompts are compared because the wrapper's cache (like DSPy's) answers
    a repeated prompt, e.g. the second and third voter of ``rule_qa_vote``, without the model.
    """
    examples = task.testset[:limit] if limit is not None else task.testset
    native_lm = _Recorder(SimulatedLM(seed=seed))
    program = task.make_program(native_lm)
    native_score = sum(
        float(task.metric(ex, program.run(dict(ex.inputs))[0])) for ex in examples
    ) / len(examples)
    dspy_rec = _Recorder(SimulatedLM(seed=seed))
    lm = SimulatedDSPyLM(SimulatedLM(seed=seed))
    lm.sim = dspy_rec
    with dspy.context(lm=lm):
        dspy_score = dspy_test_score(task, make_dspy_program(task), to_dspy_examples(examples))
    ours = list(dict.fromkeys(native_lm.prompts))
    theirs = list(dict.fromkeys(dspy_rec.prompts))
    mismatch = next(
        ((a, b) for a, b in zip(ours, theirs, strict=False) if a != b),
        None if len(ours) == len(theirs) else ("<count>", f"{len(ours)} vs {len(theirs)}"),
    )
    return {
        "native": native_score,
        "dspy": dspy_score,
        "prompts": len(ours),
        "identical": mismatch is None,
        "first_mismatch": mismatch,
    }
