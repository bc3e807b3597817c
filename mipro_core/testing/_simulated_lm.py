"""The simulated language model: deterministic, offline, and causally sensitive to prompts."""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .._errors import InvalidInputError
from .._protocols import Message
from ._params import SimParams
from ._prompt import PromptView, build_view, normalize_messages
from ._proposer_behaviour import compose_instruction, compose_summary
from ._rng import Draws, prompt_digest
from ._task_behaviour import respond_task
from ._text import approx_tokens
from ._tool_behaviour import agent_step, split_conversation, tool_specs
from ._tool_task import TOOL_QA
from ._world import World, get_world


class SimulatedLM:
    """A deterministic stand-in for a chat model, for tests, demos and benchmarks.

    It implements the :class:`~mipro_core.LM` protocol (``lm(messages, n=..., temperature=...)``)
    and a completion-style :meth:`complete`. Each output is a pure function of ``(seed, full
    prompt text, temperature, sample index)``; at temperature 0 all ``n`` samples are equal.
    It answers questions of the bundled world (see :func:`~mipro_core.testing.load_task`) through
    the documented mechanisms of ``docs/simulated-lm.md``: in-context learning from demos,
    hidden answer-format rules that instructions can state, grounded instruction proposal, and
    free-form prompts. It is an honest simulation, not a model of any real LLM's quality.

    ``latency`` seconds are slept per call (outside any lock). The counters ``calls``,
    ``prompt_tokens`` and ``completion_tokens`` are thread-safe; tokens are approximate
    (``chars_per_token`` characters per token).
    """

    def __init__(
        self, seed: int = 0, *, latency: float = 0.0, params: SimParams | None = None
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise InvalidInputError(f"seed must be an int, got {type(seed).__name__}")
        if not 0 <= latency < math.inf:  # NaN too: time.sleep(nan) fails every call
            raise InvalidInputError(f"latency must be a finite number >= 0, got {latency}")
        self.seed = seed
        self.latency = float(latency)
        self.params = params if params is not None else SimParams()
        self._world: World = get_world()
        self._lock = threading.Lock()
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0

    # ------------------------------------------------------------------ counters

    @property
    def calls(self) -> int:
        """Number of ``__call__`` / :meth:`complete` invocations (``n > 1`` counts once)."""
        return self._calls

    @property
    def prompt_tokens(self) -> int:
        return self._prompt_tokens

    @property
    def completion_tokens(self) -> int:
        return self._completion_tokens

    def reset_counters(self) -> None:
        with self._lock:
            self._calls = self._prompt_tokens = self._completion_tokens = 0

    # ------------------------------------------------------------------ calls

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        pairs = normalize_messages(messages)
        return self._generate(pairs, n, temperature)

    def complete(self, prompt: str, *, temperature: float = 0.0) -> str:
        """Completion-style call: ``prompt`` is read as one user message."""
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt must be a string, got {type(prompt).__name__}")
        return self._generate((("user", prompt),), 1, temperature)[0]

    def chat(
        self, messages: Sequence[Any], *, tools: Sequence[Any], temperature: float = 0.0
    ) -> dict[str, Any]:
        """One chat turn with tools on offer: an OpenAI-style assistant message.

        ``messages`` are OpenAI-style dicts (assistant ``tool_calls``, ``tool`` results);
        ``tools`` are names or OpenAI tool dicts. On a ``tool_qa`` question (see
        :func:`~mipro_core.testing.load_tool_task`) the reply may be a tool call
        (``{"role": "assistant", "content": "", "tool_calls": [...]}``, arguments as JSON text);
        otherwise it is the text :meth:`__call__` would give. Mechanism (e) of
        ``docs/simulated-lm.md``.
        """
        specs = tool_specs(tools)
        pairs, results = split_conversation(messages)
        temperature = self._temperature(temperature)
        view = build_view(pairs, self._world)
        rendered = json.dumps(
            [list(pairs), results, [s.name for s in specs]], ensure_ascii=False, sort_keys=True
        )
        draws = Draws(
            self.seed,
            prompt_digest(self.seed, rendered),
            temperature,
            0,
            self.params.item_correlation,
        )
        info = view.live_hit.info if view.live_hit is not None else None
        call = None
        if info is not None and info.task == TOOL_QA and view.mode == "task" and specs:
            text, call = agent_step(
                view, info, results, specs, self._world, draws, temperature, self.params
            )
        else:
            text = self._respond(view, draws, temperature)
        reply: dict[str, Any] = {"role": "assistant", "content": text}
        if call is not None:
            arguments = json.dumps(call.arguments, ensure_ascii=False)
            reply["tool_calls"] = [
                {
                    "id": f"call_{uuid.uuid5(uuid.NAMESPACE_OID, rendered).hex[:16]}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": arguments},
                }
            ]
        self._count([c for _, c in pairs] + [r for _, r in results], [text + str(call or "")])
        return reply

    def _temperature(self, temperature: Any) -> float:
        if (
            not isinstance(temperature, (int, float))
            or isinstance(temperature, bool)
            or not (0.0 <= float(temperature) <= 10.0)
        ):
            raise InvalidInputError(f"temperature must be a number in [0, 10], got {temperature!r}")
        return float(temperature)

    def _count(self, prompts: Sequence[str], texts: Sequence[str]) -> None:
        prompt_tokens = sum(approx_tokens(c, self.params.chars_per_token) for c in prompts)
        completion_tokens = sum(approx_tokens(t, self.params.chars_per_token) for t in texts)
        with self._lock:
            self._calls += 1
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
        if self.latency:
            time.sleep(self.latency)

    def _generate(self, pairs: tuple[tuple[str, str], ...], n: int, temperature: Any) -> list[str]:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidInputError(f"n must be an int >= 1, got {n!r}")
        temperature = self._temperature(temperature)
        view = build_view(pairs, self._world)
        digest = prompt_digest(self.seed, "\x1e".join(f"{r}\x1f{c}" for r, c in pairs))
        samples = n if temperature > 0 else 1
        texts = [
            self._respond(
                view,
                Draws(self.seed, digest, temperature, i, self.params.item_correlation),
                temperature,
            )
            for i in range(samples)
        ]
        if samples < n:
            texts = texts * n
        self._count([c for _, c in pairs], texts)
        return texts

    def _respond(self, view: PromptView, draws: Draws, temperature: float) -> str:
        if view.mode == "task":
            return respond_task(view, self._world, draws, temperature, self.params)
        if not view.requested:  # a free-form proposer request: bare text
            if view.mode == "instruction":
                return compose_instruction(view, self._world, draws, temperature, self.params)
            return compose_summary(view, self._world, draws, self.params)
        lines = []
        for field in view.requested:  # native format: one line per requested field
            low = field.lower()
            if "instruction" in low or "prompt" in low:
                value = compose_instruction(view, self._world, draws, temperature, self.params)
            elif any(k in low for k in ("summary", "observation", "descri")):
                value = compose_summary(view, self._world, draws, self.params)
            else:
                value = "Based on the inputs above."
            lines.append(f"{field}: {value}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SimulatedLM(seed={self.seed}, latency={self.latency})"
