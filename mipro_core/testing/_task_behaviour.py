"""Task calls: how the simulated model answers a question or writes a search query.

Mechanisms (a) in-context learning, (b) instructions and rules, and (d) free-form prompts of
``docs/simulated-lm.md``. Every probability comes from :class:`SimParams`.
"""

from __future__ import annotations

import functools
import json
import math
import re

import attrs

from ._params import SimParams
from ._prompt import PromptView, main_field
from ._rng import Draws
from ._rules import Statements, detect
from ._text import (
    RULE_OF_CATEGORY,
    STOPWORDS,
    apply_transform,
    check_format,
    iso_from_plain,
    normalize_loose,
    question_key,
    strip_final_period,
)
from ._world import MULTIHOP_QA, RULE_QA, SCONE_NLI, QInfo, World, get_world

_STOP = STOPWORDS
_VERBOSE_TEMPLATES = (
    "The answer is {a}.",
    "Based on the information available, the answer is {a}.",
    "{a} is the answer to this question.",
    "It is {a}.",
)
_REASONING_FIELDS = ("reason", "rationale", "thought", "explanation", "analysis")
_WORD = re.compile(r"[A-Za-z0-9]+")


@attrs.frozen
class DemoStats:
    """What the prompt's demonstrations teach for one live call (weights in demo units)."""

    good: float = 0.0
    bad: float = 0.0
    exhibits: tuple[tuple[str, int], ...] = ()
    """Per category: rule-following minus rule-breaking correct demos (``rule_qa`` formats)."""
    short: int = 0
    verbose: int = 0
    bridge_good: float = 0.0
    bridge_bad: float = 0.0


@attrs.frozen
class _DemoFacts:
    task: str
    correct: bool
    category: str = ""
    format_ok: bool | None = None
    short: bool = False
    verbose: bool = False
    hop: int = 0


def icl_probability(base: float, top: float, good: float, bad: float, params: SimParams) -> float:
    """Mechanism (a): chance of a right answer given demo evidence (diminishing returns)."""
    evidence = good - params.wrong_weight * bad
    if evidence >= 0:
        return base + (top - base) * (1.0 - math.exp(-evidence / params.icl_tau))
    floor = params.wrong_floor
    return base * (floor + (1.0 - floor) * math.exp(evidence / params.wrong_tau))


def content_matches(info: QInfo, value: str) -> bool:
    """Is ``value`` the right answer to ``info`` (in any formatting)?"""
    text = strip_final_period(value)
    if info.task == RULE_QA and info.category == "date":
        return (iso_from_plain(text) or text) == info.gold
    return normalize_loose(text) == normalize_loose(info.plain)


@functools.lru_cache(maxsize=8192)
def _demo_facts(role: str, qkey: str, input_text: str, value: str) -> _DemoFacts | None:
    info = get_world().questions.get(qkey)
    if info is None:
        return None
    if role == "query":
        if info.task != MULTIHOP_QA:
            return _DemoFacts(info.task, correct=bool(value.strip()))
        hop = 2 if info.hop1_fact in input_text else 1
        target = info.bridge if hop == 2 else info.hop1_entity
        return _DemoFacts(info.task, correct=target.lower() in value.lower(), hop=hop)
    correct = content_matches(info, value)
    contains = not correct and normalize_loose(info.plain) in normalize_loose(value)
    format_ok = None
    if correct and info.task == RULE_QA and info.category in RULE_OF_CATEGORY:
        format_ok = check_format(info.category, strip_final_period(value))
    return _DemoFacts(
        info.task,
        correct=correct or contains,
        category=info.category,
        format_ok=format_ok,
        short=correct,
        verbose=contains,
    )


def demo_stats(view: PromptView, live: QInfo | None, params: SimParams) -> DemoStats:
    good = bad = bridge_good = bridge_bad = 0.0
    short = verbose = 0
    exhibits: dict[str, int] = {}
    for demo in view.demos[-params.max_demos_counted :]:
        if demo.info is None:
            good += params.unknown_demo_weight
            continue
        facts = _demo_facts(
            view.role, question_key(demo.info.question), demo.input_text, demo.value
        )
        if facts is None:
            continue
        relevant = live is not None and facts.task == live.task
        weight = 1.0 if relevant else params.irrelevant_demo_weight
        if facts.correct:
            good += weight
        else:
            bad += weight
        if not relevant:
            continue
        if facts.format_ok is not None:
            exhibits[facts.category] = exhibits.get(facts.category, 0) + (
                1 if facts.format_ok else -1
            )
        short += facts.short
        verbose += facts.verbose
        if facts.hop == 2:
            if facts.correct:
                bridge_good += 1.0
            else:
                bridge_bad += 1.0
        elif facts.hop == 1 and facts.correct:
            bridge_good += params.hop1_demo_weight_for_bridge
    return DemoStats(
        good=good,
        bad=bad,
        exhibits=tuple(sorted(exhibits.items())),
        short=short,
        verbose=verbose,
        bridge_good=bridge_good,
        bridge_bad=bridge_bad,
    )


def _adjust(p: float, stmts: Statements, temperature: float, params: SimParams) -> float:
    if stmts.generic:
        p += params.generic_bonus
    if stmts.words > params.ramble_words:
        p -= params.ramble_penalty
    p *= 1.0 - params.temperature_penalty * min(temperature, 2.0)
    return min(1.0, max(0.0, p))


def _content_words(text: str, drop: str = "") -> list[str]:
    dropped = {w.lower() for w in _WORD.findall(drop)}
    return [w for w in _WORD.findall(text) if w.lower() not in _STOP and w.lower() not in dropped]


def write_query(
    view: PromptView,
    info: QInfo | None,
    stats: DemoStats,
    stmts: Statements,
    draws: Draws,
    temperature: float,
    params: SimParams,
) -> str:
    """Mechanism (d), query role: a search query for the live question."""
    if info is None:
        words = _content_words(view.live.strip().splitlines()[-1] if view.live.strip() else "")
        return " ".join(words[:8]) or "information"
    item = question_key(info.question)
    if info.task != MULTIHOP_QA:
        return " ".join(_content_words(info.question)[:6])
    first_query = f"{info.hop1_entity} {info.hop1_hint}"
    if info.hop1_fact in view.full_text:  # the first hop's passage is in the prompt
        if stmts.anti_bridge:
            p = params.bridge_countered
        elif stmts.bridge_count:
            p = params.bridge_stated
        else:
            p = icl_probability(
                params.bridge_base, params.bridge_max, stats.bridge_good, stats.bridge_bad, params
            )
        if draws.chance("bridge", _adjust(p, stmts, temperature, params), item=item):
            return f"{info.bridge} {info.bridge_hint}"
        if draws.chance("bridge_slip", 0.5):
            return f"{info.distractor} {info.bridge_hint}"
        return first_query
    p = icl_probability(params.query_base, params.query_max, stats.good, stats.bad, params)
    if draws.chance("query", _adjust(p, stmts, temperature, params), item=item):
        return first_query
    return " ".join(_content_words(info.question, drop=info.hop1_entity)[:4])


def _category_transforms(
    category: str, stmts: Statements, stats: DemoStats, draws: Draws, params: SimParams
) -> list[tuple[str, int]]:
    """Mechanism (b): which format transforms the model applies, with their specificity."""
    own_rule = RULE_OF_CATEGORY.get(category)
    exhibits = dict(stats.exhibits).get(category, 0)
    chosen: list[tuple[str, int]] = []
    for transform in ("iso", "nopunct", "lower", "caps"):
        scopes = stmts.scopes_of(transform)
        specificity = 2 if category in scopes else (1 if "all" in scopes else 0)
        if specificity:
            p = params.rule_follow
        elif transform == own_rule:
            k = max(exhibits, 0)
            p = params.rule_spontaneous + (params.rule_demo_max - params.rule_spontaneous) * (
                1.0 - math.exp(-params.rule_demo_rate * k)
            )
            specificity = 1
        else:
            continue
        if draws.chance(f"format:{transform}", p):
            chosen.append((transform, specificity))
    cases = [c for c in chosen if c[0] in ("lower", "caps")]
    if len(cases) == 2:  # conflicting case rules: the more specific wins, else a coin flip
        a, b = cases
        loser = b if a[1] > b[1] else a if b[1] > a[1] else draws.choice("case", cases)
        chosen.remove(loser)
    return chosen


def write_answer(
    view: PromptView,
    info: QInfo | None,
    world: World,
    stats: DemoStats,
    stmts: Statements,
    draws: Draws,
    temperature: float,
    params: SimParams,
) -> str:
    """Mechanisms (a), (b), (d), answer role."""
    if info is None:
        return "I do not know."
    if info.task == SCONE_NLI:
        return answer_nli(info, stats, stmts, draws, temperature, params)
    item = question_key(info.question)
    if info.task == RULE_QA:
        p = icl_probability(params.known_base, params.known_max, stats.good, stats.bad, params)
    elif info.bridge_fact in view.full_text:
        p = icl_probability(params.read_base, params.read_max, stats.good, stats.bad, params)
    else:
        p = params.obscure_known
    if draws.chance("content", _adjust(p, stmts, temperature, params), item=item):
        answer = info.plain
    else:
        pool = [a for a in world.pools.get((info.task, info.category), ()) if a != info.plain]
        answer = draws.choice("distractor", pool) if pool else "unknown"
    for transform, _ in _category_transforms(info.category, stmts, stats, draws, params):
        answer = apply_transform(transform, answer)
    if draws.chance("verbose", _verbosity(view, info, stats, stmts, params)):
        answer = draws.choice("verbose_form", _VERBOSE_TEMPLATES).format(a=answer)
    return answer


def answer_nli(
    info: QInfo,
    stats: DemoStats,
    stmts: Statements,
    draws: Draws,
    temperature: float,
    params: SimParams,
) -> str:
    """``scone_nli``: a bare ``yes``/``no``; negations make it harder, the spurious rule
    (negation does not matter) is followed at ``rule_follow``, advice on negation helps."""
    if stmts.surface_count and draws.chance("surface", params.rule_follow):
        return info.surface
    if info.category == "no_negation":
        base, top = params.nli_plain_base, params.nli_plain_max
    else:
        base, top = params.nli_negated_base, params.nli_negated_max
    p = icl_probability(base, top, stats.good, stats.bad, params)
    if stmts.negation_count and info.category != "no_negation":
        p += params.nli_advice_bonus
    if draws.chance(
        "content", _adjust(p, stmts, temperature, params), item=question_key(info.question)
    ):
        return info.plain
    return "no" if info.plain == "yes" else "yes"


def _verbosity(
    view: PromptView, info: QInfo, stats: DemoStats, stmts: Statements, params: SimParams
) -> float:
    if stmts.verbose and stmts.short < 2:
        return params.verbose_stated_verbose
    if stmts.short == 2:
        return params.verbose_stated_short
    with_context = view.has_passages or bool(
        info.bridge_fact and info.bridge_fact in view.full_text
    )
    p = params.verbose_with_context if with_context else params.verbose_closed_book
    if stmts.short == 1:
        p *= params.verbose_weak_short_factor
    p *= math.exp(-params.verbose_demo_rate * (stats.short - stats.verbose))
    return min(0.95, max(0.0, p))


def respond_task(
    view: PromptView, world: World, draws: Draws, temperature: float, params: SimParams
) -> str:
    """One completion for a task call, shaped like the prompt asks (fields, JSON or bare)."""
    info = view.live_hit.info if view.live_hit is not None else None
    stmts = detect(view.instruction)
    stats = demo_stats(view, info, params)
    if view.role == "query":
        value = write_query(view, info, stats, stmts, draws, temperature, params)
    else:
        value = write_answer(view, info, world, stats, stmts, draws, temperature, params)
    if view.requested:
        main = main_field(view.requested, view.role)
        lines = []
        for field in view.requested:
            if field == main:
                lines.append(f"{field}: {value}")
            elif any(k in field.lower() for k in _REASONING_FIELDS):
                lines.append(f"{field}: Let me recall the relevant facts before answering.")
            else:
                lines.append(f"{field}: {value}")
        return "\n".join(lines)
    if view.json_keys:
        key = main_field(view.json_keys, view.role)
        return json.dumps({k: value if k == key else "" for k in view.json_keys})
    return value
