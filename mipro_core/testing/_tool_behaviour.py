"""Tool calls: how the simulated model acts as an agent on ``tool_qa`` questions (mechanism (e)).

The model gets OpenAI-style chat messages (assistant messages may carry ``tool_calls``, tool
results come as ``tool`` messages) and the tools on offer. It reads the conversation up to the
last user message like any prompt (instruction, demos as prior turns, worked examples as text)
and then, for a ``tool_qa`` question:

1. before any tool result, it calls the tool that fits the question's kind (found by the tool's
   name and description: a calculator for arithmetic, a dictionary for Veltish words) with
   probability ``tool_unprompted`` when nothing guides it; ``rule_follow`` when the instruction
   names that tool for that kind of question; towards ``tool_demo_max`` with worked examples of
   the same kind that used the tool (mechanism (a)'s curve). Otherwise it answers on its own:
   right at ``mental_arithmetic`` for arithmetic, at ``obscure_known`` for Veltish words;
2. with the fitting tool's result, it answers with that result;
3. the answer is the bare value or a sentence ("The answer is 4042."): ``tool_verbose`` unless
   the instruction asks for the bare answer (or a sentence), less with short demos.

Nothing here knows about mipro: the cues are words an instruction or a worked example shows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._errors import InvalidInputError
from ._params import SimParams
from ._prompt import PromptView, content_text, normalize_messages
from ._rng import Draws
from ._rules import TOOL_CUES, Statements, detect
from ._task_behaviour import DemoStats, demo_stats
from ._text import question_key
from ._tool_task import TOOL_QA, expression_of, word_of
from ._world import QInfo, World

VERBOSE_TEMPLATES = ("The answer is {a}.", "It is {a}.", "{a} is the answer.")
_FITS = {
    "arithmetic": re.compile(r"calculat|arithmetic|\bmath", re.I),
    "lexicon": re.compile(r"dictionar|translat|veltish|lexicon", re.I),
}
_DEFAULT_ARGUMENT = {"arithmetic": "expression", "lexicon": "word"}


@attrs.frozen
class ToolSpec:
    """A tool on offer: its name, description and first argument's name."""

    name: str
    description: str = ""
    argument: str = ""


@attrs.frozen
class ToolCall:
    name: str
    arguments: dict[str, str]


def tool_specs(tools: Sequence[Any]) -> list[ToolSpec]:
    """Tools as names or OpenAI-style ``{"type": "function", "function": {...}}`` dicts."""
    if isinstance(tools, (str, bytes)) or not isinstance(tools, Sequence):
        raise InvalidInputError("tools must be a list of tool names or OpenAI tool dicts")
    specs = []
    for i, tool in enumerate(tools):
        if isinstance(tool, str):
            specs.append(ToolSpec(tool))
            continue
        if not isinstance(tool, Mapping):
            raise InvalidInputError(f"tools[{i}] must be a name or an OpenAI tool dict")
        function = tool.get("function", tool)
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidInputError(f"tools[{i}] has no function name")
        properties = (function.get("parameters") or {}).get("properties") or {}
        argument = next(iter(properties), "") if isinstance(properties, Mapping) else ""
        specs.append(ToolSpec(function["name"], str(function.get("description") or ""), argument))
    return specs


def _calls_of(message: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(id, name, arguments text) of an assistant message's tool calls."""
    calls = []
    for call in message.get("tool_calls") or ():
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or call
        arguments = function.get("arguments", function.get("args", ""))
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, sort_keys=True)
        calls.append((str(call.get("id", "")), str(function.get("name", "")), arguments))
    return calls


def split_conversation(
    messages: Sequence[Any],
) -> tuple[tuple[tuple[str, str], ...], list[tuple[str, str]]]:
    """The prompt up to the last user message as ``(role, text)`` pairs (earlier tool steps as
    text), and the ``(tool name, result)`` pairs that came after it."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise InvalidInputError("messages must be a non-empty list of message dicts")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message:
            raise InvalidInputError(f"messages[{i}] must be a dict with a 'role'")
    roles = [str(m["role"]).lower() for m in messages]
    last_user = max((i for i, r in enumerate(roles) if r in ("user", "human")), default=-1)
    names: dict[str, str] = {}
    before: list[dict[str, str]] = []
    results: list[tuple[str, str]] = []
    for i, (role, message) in enumerate(zip(roles, messages, strict=True)):
        text = content_text(message.get("content"))
        calls = _calls_of(message) if role in ("assistant", "ai") else []
        names.update({ident: name for ident, name, _ in calls})
        if role == "tool":
            name = str(message.get("name") or names.get(str(message.get("tool_call_id")), ""))
            if i > last_user:
                results.append((name, text))
                continue
            role, text = "user", f"The tool {name} returned: {text}"
        elif calls:
            steps = [f"Called the tool {name} with {arguments}" for _, name, arguments in calls]
            text = "\n".join([text, *steps]).strip()
        if i <= last_user:
            before.append({"role": role, "content": text})
    return normalize_messages(before), results


def _fitting_tool(category: str, specs: Sequence[ToolSpec]) -> ToolSpec | None:
    fits = _FITS.get(category)
    if fits is None:
        return None
    return next((s for s in specs if fits.search(f"{s.name} {s.description}")), None)


def worked_examples(text: str, world: World) -> list[tuple[QInfo, bool]]:
    """Every ``tool_qa`` question shown in ``text``, and whether the text after it (up to the
    next question) names the tool its kind needs."""
    hits = world.find_questions(text)
    found = []
    for i, hit in enumerate(hits):
        if hit.info.task != TOOL_QA:
            continue
        end = hits[i + 1].start if i + 1 < len(hits) else len(text)
        tool = TOOL_CUES[hit.info.category][0]
        found.append((hit.info, bool(tool.search(text, hit.end, max(hit.end, end)))))
    return found


def _tool_evidence(view: PromptView, info: QInfo, world: World, params: SimParams) -> float:
    last_user = max(i for i, (r, _) in enumerate(view.messages) if r == "user")
    prior = "\n\n".join(c for _, c in view.messages[:last_user])
    shown = [(q, used) for q, used in worked_examples(prior, world) if used]
    weights = [
        1.0 if q.category == info.category else params.irrelevant_demo_weight for q, _ in shown
    ]
    return sum(weights[-params.max_demos_counted :])


def _own_answer(info: QInfo, world: World, draws: Draws, params: SimParams, item: str) -> str:
    if info.category == "arithmetic":
        if draws.chance("mental", params.mental_arithmetic, item=item):
            return info.plain
        slip = draws.choice("slip", (-100, -10, -2, -1, 1, 2, 10, 100))
        return str(int(info.plain) + slip)
    if draws.chance("content", params.obscure_known, item=item):
        return info.plain
    pool = [a for a in world.pools.get((info.task, info.category), ()) if a != info.plain]
    return draws.choice("distractor", pool) if pool else "unknown"


def _verbosity(stmts: Statements, stats: DemoStats, params: SimParams) -> float:
    if stmts.verbose and stmts.short < 2:
        return params.verbose_stated_verbose
    if stmts.short == 2:
        return params.verbose_stated_short
    p = params.tool_verbose
    if stmts.short == 1:
        p *= params.verbose_weak_short_factor
    p *= math.exp(-params.verbose_demo_rate * (stats.short - stats.verbose))
    return min(0.95, max(0.0, p))


def agent_step(
    view: PromptView,
    info: QInfo,
    results: Sequence[tuple[str, str]],
    specs: Sequence[ToolSpec],
    world: World,
    draws: Draws,
    temperature: float,
    params: SimParams,
) -> tuple[str, ToolCall | None]:
    """One agent turn on a ``tool_qa`` question: a tool call, or the answer text."""
    stmts = detect(view.instruction)
    item = question_key(info.question)
    spec = _fitting_tool(info.category, specs)
    result = next((text for name, text in results if spec and name == spec.name), None)
    if spec is not None and not results:
        if stmts.tool_rules.get(info.category):
            p = params.rule_follow
        else:
            evidence = _tool_evidence(view, info, world, params)
            p = params.tool_unprompted + (params.tool_demo_max - params.tool_unprompted) * (
                1.0 - math.exp(-evidence / params.icl_tau)
            )
        p *= 1.0 - params.temperature_penalty * min(temperature, 2.0)
        if draws.chance("tool", p, item=item):
            value = expression_of(info.question) if info.category == "arithmetic" else None
            value = value if value is not None else (word_of(info.question) or "")
            argument = spec.argument or _DEFAULT_ARGUMENT[info.category]
            return "", ToolCall(spec.name, {argument: value})
    answer = result.strip() if result is not None else _own_answer(info, world, draws, params, item)
    if draws.chance("verbose", _verbosity(stmts, demo_stats(view, info, params), params)):
        answer = draws.choice("verbose_form", VERBOSE_TEMPLATES).format(a=answer)
    return answer, None
