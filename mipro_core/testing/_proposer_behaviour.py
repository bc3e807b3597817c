"""Proposer calls: how the simulated model writes instructions and summaries (mechanism (c)).

The model looks for *evidence* of each hidden rule anywhere in its prompt (rule-following
answers in examples and demos, or sentences that state the rule) and states a rule with
probability ``state_max * (1 - exp(-evidence_rate * evidence))``. Without evidence it writes a
plausible generic instruction. Tips change style and length, temperature adds variety, and at a
documented rate it writes something misleading (over-generalised or over-specific).
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict

from ._params import SimParams
from ._prompt import PromptView
from ._rng import Draws
from ._rules import detect
from ._text import RULE_OF_CATEGORY
from ._tool_behaviour import worked_examples
from ._tool_task import TOOL_QA
from ._world import MULTIHOP_QA, RULE_QA, SCONE_NLI, World, get_world

RULES = ("person", "place", "date", "other", "short", "bridge", "calculator", "dictionary")
"""Every hidden rule the proposer can discover: four ``rule_qa`` formats, two ``multihop_qa``
strategies (short answers; the bridge entity) and the two ``tool_qa`` tool choices."""
TOOL_RULES = {"arithmetic": "calculator", "lexicon": "dictionary"}  # tool_qa: kind -> rule

STATEMENTS: dict[str, tuple[str, ...]] = {
    "person": (
        "If the answer is a person's name, write it entirely in lowercase.",
        "Write people's names in lowercase.",
        "Answers that name a person must be in lower case.",
    ),
    "place": (
        "Write place answers without any punctuation (no commas).",
        "For locations, omit all punctuation.",
        "Place names in answers must contain no punctuation.",
    ),
    "date": (
        "Write dates in ISO format (YYYY-MM-DD).",
        "Dates must use the YYYY-MM-DD format.",
        "Give every date as year-month-day.",
    ),
    "other": (
        "Write every other answer (organizations, titles and the like) in ALL CAPS.",
        "Everything else goes in uppercase.",
        "Answers that are organizations, books or ships must be in capital letters.",
    ),
    "short": (
        "Reply with only the short answer (a name, place or year), not a full sentence.",
        "Give just the answer in a few words, with no explanation.",
        "Answer with the exact name, place or year and nothing else.",
    ),
    "bridge": (
        "If the context mentions a new name that the question depends on, search for that name.",
        "Use the entity mentioned in the retrieved passages as the next search query.",
        "When passages are available, search for the person or organization they mention "
        "that links to the answer.",
    ),
    "calculator": (
        "Use the calculator tool for every arithmetic question.",
        "For any calculation, call the calculator instead of computing in your head.",
        "Always compute arithmetic with the calculator tool.",
    ),
    "dictionary": (
        "Look up every Veltish word with the dictionary tool.",
        "Use the dictionary tool to translate words you do not know.",
        "For questions about word meanings, consult the dictionary.",
    ),
}
OBSERVATIONS: dict[str, str] = {
    "person": "Answers that are people's names are written in lowercase.",
    "place": "Place answers are written without punctuation (no commas).",
    "date": "Dates are written in ISO format (YYYY-MM-DD).",
    "other": "Everything else (organizations, books, ships) is written in ALL CAPS.",
    "short": "Answers are short: just the name, place or year, not a full sentence.",
    "bridge": "Good follow-up searches name the entity mentioned in the retrieved passages.",
    "calculator": "Arithmetic questions are solved by calling the calculator tool.",
    "dictionary": "Questions about Veltish words are solved by looking them up in the dictionary.",
}
OVERGENERAL: dict[str, str] = {
    "person": "Write every answer in lowercase.",
    "other": "Write every answer in ALL CAPS.",
    "place": "Never use punctuation in any answer.",
}
NLI_STATEMENTS: dict[str, tuple[str, ...]] = {
    "surface": (  # the spurious rule: true on sentences without negation, wrong under negation
        "Ignore negation words such as 'not': the answer is yes whenever the conclusion only "
        "swaps a word of the premise for a more general one.",
        "Negation words do not change the answer; say yes if the conclusion uses a more general "
        "word than the premise, otherwise no.",
        "Answer yes exactly when the conclusion replaces a word of the premise with a more "
        "general one, regardless of negation.",
    ),
    "negation": (  # the correct generic advice
        "Pay close attention to negation words such as 'not' and to what they apply to: a "
        "negation can reverse whether the conclusion follows.",
        "Check the scope of every negation before deciding.",
        "Track each negation and the words it covers, since a negation can flip the answer.",
    ),
}
NLI_OBSERVATIONS: dict[str, str] = {
    "surface": "Negation words rarely matter: the answer is yes whenever the conclusion swaps a "
    "word of the premise for a more general one.",
    "negation": "A negation that covers the changed word reverses the answer.",
}
MISLEAD_VERBOSE = "Explain your answer in a complete sentence."
MISLEAD_ANTI_BRIDGE = "Always use the question's own words as the search query."
BASE: dict[str, tuple[str, ...]] = {
    "answer": (
        "Answer the question.",
        "Read the question and give its answer.",
        "Given the question, provide the answer.",
        "Respond to the question with its answer.",
    ),
    "answer_context": (
        "Answer the question using the provided context.",
        "Use the given passages to answer the question.",
        "Read the context and answer the question.",
    ),
    "query": (
        "Write a search query that will find the information needed to answer the question.",
        "Given the question and any context so far, write a focused search query.",
        "Produce a precise search query for the next retrieval step.",
    ),
}
PERSONAS: dict[str, tuple[str, ...]] = {
    "answer": ("You are an expert quiz champion.", "You are a meticulous research librarian."),
    "query": ("You are an expert search strategist.", "You are a seasoned reference librarian."),
}
GENERIC = ("Think carefully before answering.", "Be accurate.", "Check the facts carefully.")
HIGH_STAKES = (
    "This matters a great deal: double-check every answer before replying.",
    "Lives depend on getting this exactly right, so be precise.",
)
CREATIVE = (
    "Treat each question as a small puzzle to be solved.",
    "Imagine you are guiding a curious traveller through an unfamiliar archive.",
)
DESCRIPTIONS: dict[str, str] = {
    RULE_QA: "The questions concern a fictional world of people, places, organizations and books.",
    MULTIHOP_QA: "The questions need facts that are spread over two passages of a small encyclopedia.",
    SCONE_NLI: "The questions ask whether a conclusion follows from a one-sentence premise.",
    TOOL_QA: "The questions are arithmetic problems and words of the fictional Veltish language.",
    "": "The inputs come from the task's training data.",
}
SUMMARY_OPENERS: dict[str, str] = {
    RULE_QA: "The examples are closed-book questions about fictional entities, each answered by "
    "a name, place, date or number.",
    MULTIHOP_QA: "The examples are two-step questions about fictional entities; each needs two "
    "facts from an encyclopedia.",
    TOOL_QA: "The examples are arithmetic questions and questions about words of the fictional "
    "Veltish language, each answered by a bare number or word.",
    SCONE_NLI: "The examples are yes/no questions asking whether a conclusion follows from a "
    "premise sentence; some sentences contain negations.",
    "nli": "The program decides whether a conclusion follows logically from a premise.",
    "retrieval": "The program retrieves text with search queries and then answers.",
    "": "The data consists of inputs paired with outputs.",
}
_TIPS = (
    ("persona", re.compile(r"\bpersona\b", re.I)),
    ("high_stakes", re.compile(r"\bhigh[- ]stakes\b", re.I)),
    ("creative", re.compile(r"\bcreative\b", re.I)),
    ("description", re.compile(r"\b(?:descriptive|informative)\b", re.I)),
    ("simple", re.compile(r"\b(?:concise|simple)\b", re.I)),
)
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_ROLE_LINE = re.compile(
    r"^[ \t\-*]*[\w ]*(?:module|signature|stage|predictor)[\w ]*:[ \t]*(\S[^\n]*)$",
    re.I | re.M,
)
_INSTRUCTION_LINE = re.compile(
    r"^[ \t\-*]*[\w ]*instruction[\w ]*:[ \t]*([^<\s][^\n]*)$", re.I | re.M
)
_NLI_CUE = re.compile(r"\b(?:premises?|hypothes[ie]s|entail\w*)\b", re.I)
_LABEL_LINE = re.compile(r"^(?:[ \t\-*]*[\w ]{0,40}:)?[ \t]*(yes|no)\.?[ \t]*$", re.I | re.M)
_LABEL_VALUE = re.compile(r"""["'][\w ]{1,40}["'][ \t]*[:=][ \t]*["'](yes|no)["']""", re.I)
"""A label as a quoted key-value pair: ``'answer': 'yes'`` in a dict repr, ``"answer": "no"``
in JSON. A model reads it as surely as an ``answer: yes`` line."""
_LABEL_WINDOW = 300
_QUERY_LABEL = re.compile(r"^[ \t]*[\w ]*query[ \t]*:", re.I | re.M)
_ANSWER_LABEL = re.compile(r"^[ \t]*[\w ]*answer[ \t]*:", re.I | re.M)


@functools.lru_cache(maxsize=1024)
def evidence(text: str, weight: float) -> tuple[tuple[str, float], ...]:
    """Evidence for each hidden rule found in ``text`` (sorted ``(rule, amount)`` pairs)."""
    world = get_world()
    found: defaultdict[str, float] = defaultdict(float)
    stmts = detect(text)
    for (transform, scope), count in stmts.format_rules.items():
        if RULE_OF_CATEGORY.get(scope) == transform:
            found[scope] += weight * count
    found["short"] += weight * stmts.short_count
    found["bridge"] += weight * stmts.bridge_count
    for category, count in stmts.tool_rules.items():
        found[TOOL_RULES[category]] += weight * count
    for question, used_tool in worked_examples(text, world):  # tool use shown in examples
        if used_tool:
            found[TOOL_RULES[question.category]] += 1
    for category in world.iter_formatted_forms(text):
        found[category] += 1
    found["date"] += len(_ISO_DATE.findall(text))
    hits = world.find_questions(text)
    seen: set[str] = set()
    for i, hit in enumerate(hits):
        info = hit.info
        if info.task not in (MULTIHOP_QA, TOOL_QA) or info.question in seen:
            continue
        seen.add(info.question)
        end = hits[i + 1].start if i + 1 < len(hits) else min(len(text), hit.end + 4000)
        value_at = re.compile(
            r"(?:^|[:=]\s*|[\"'])\s*" + re.escape(info.plain) + r"\s*(?:[\"'},]|$)", re.M
        )
        if value_at.search(text, hit.end, max(hit.end, end)):
            found["short"] += 1
        if info.task == MULTIHOP_QA and world.mentions_outside_passages(text, info.bridge):
            found["bridge"] += 1
    return tuple(sorted((k, v) for k, v in found.items() if v > 0))


@functools.lru_cache(maxsize=1024)
def nli_evidence(text: str, params: SimParams) -> tuple[float, float]:
    """``scone_nli`` evidence in ``text``: (for the spurious rule, for negation advice).

    Stating sentences count ``statement_weight``. Each distinct NLI question shown with a yes/no
    label counts: if a label is the answer that negation reverses, ``-surface_counter_weight``
    for the spurious rule and 1 for negation advice; else, if a label is the surface answer,
    ``surface_example_weight`` for the spurious rule.
    """
    stmts = detect(text)
    surface = params.statement_weight * stmts.surface_count
    negation = params.statement_weight * stmts.negation_count
    hits = get_world().find_questions(text)
    seen: set[str] = set()
    for i, hit in enumerate(hits):
        info = hit.info
        if info.task != SCONE_NLI or info.question in seen:
            continue
        seen.add(info.question)
        end = min(hits[i + 1].start if i + 1 < len(hits) else len(text), hit.end + _LABEL_WINDOW)
        window = (hit.end, max(hit.end, end))
        labels = {
            m.group(1).lower()
            for rx in (_LABEL_LINE, _LABEL_VALUE)
            for m in rx.finditer(text, *window)
        }
        if info.plain != info.surface and info.plain in labels:
            surface -= params.surface_counter_weight
            negation += 1.0
        elif info.surface in labels:
            surface += params.surface_example_weight
    return surface, negation


def _nli_stated(
    text: str, tasks: set[str], draws: Draws, params: SimParams, spontaneous: float
) -> str:
    """Which ``scone_nli`` statement to make: ``"surface"``, ``"negation"`` or ``""``."""
    surface, negation = nli_evidence(text, params)
    if not (surface or negation or SCONE_NLI in tasks or _NLI_CUE.search(text)):
        return ""
    says_surface = surface > 0 and draws.chance("state:surface", state_probability(surface, params))
    p_negation = state_probability(negation, params) if negation > 0 else 0.0
    p_negation = 1.0 - (1.0 - p_negation) * (1.0 - spontaneous)
    says_negation = draws.chance("state:negation", p_negation)
    if says_surface and says_negation:  # contradictory beliefs: the better supported one wins
        return "surface" if surface >= negation else "negation"
    return "surface" if says_surface else "negation" if says_negation else ""


def _tasks_seen(text: str, world: World) -> set[str]:
    return {hit.info.task for hit in world.find_questions(text)}


def _tip(text: str) -> str:
    for name, rx in _TIPS:
        if rx.search(text):
            return name
    return "none"


def _target_role(view: PromptView) -> str:
    text = view.full_text
    lines = _ROLE_LINE.findall(text)
    signatures = [line for line in lines if "->" in line]  # prefer "inputs -> outputs" views
    if signatures or lines:
        last = (signatures or lines)[-1].lower()
        # what the stage produces decides its role: "(context_str, query_str) -> (answer)"
        # answers, even though an input is named "query"
        produced = last.rsplit("->", 1)[-1]
        for part in (produced, last):
            if "query" in part or "search" in part:
                return "query"
            if "answer" in part:
                return "answer"
    current = _INSTRUCTION_LINE.findall(text)
    if current:
        return "query" if re.search(r"\b(?:search|query)\b", current[-1], re.I) else "answer"
    if len(_QUERY_LABEL.findall(text)) > len(_ANSWER_LABEL.findall(text)):
        return "query"
    return "answer"


def state_probability(amount: float, params: SimParams) -> float:
    return params.state_max * (1.0 - math.exp(-params.evidence_rate * amount))


def _stated_rules(ev: dict[str, float], draws: Draws, params: SimParams) -> list[str]:
    return [
        r
        for r in RULES
        if ev.get(r, 0.0) > 0 and draws.chance(f"state:{r}", state_probability(ev[r], params))
    ]


def compose_instruction(
    view: PromptView, world: World, draws: Draws, temperature: float, params: SimParams
) -> str:
    """Write one instruction from the evidence in the prompt."""
    text = view.full_text
    ev = dict(evidence(text, params.statement_weight))
    role = _target_role(view)
    tip = _tip(text)
    tasks = _tasks_seen(text, world)
    stated = _stated_rules(ev, draws, params)

    p_mislead = params.mislead_rate + params.mislead_temperature_slope * min(temperature, 2.0)
    if tip == "creative":
        p_mislead += params.mislead_creative_extra
    overgeneral = ""
    extra: list[str] = []
    if draws.chance("mislead", p_mislead):
        kinds = [r for r in stated if r in OVERGENERAL]
        kinds.append("anti_bridge" if role == "query" else "verbose")
        kinds.append("overfit")
        kind = draws.choice("mislead_kind", kinds)
        if kind in OVERGENERAL:
            overgeneral = kind
        elif kind == "anti_bridge":
            extra.append(MISLEAD_ANTI_BRIDGE)
        elif kind == "verbose":
            extra.append(MISLEAD_VERBOSE)
        else:
            hits = world.find_questions(text)
            if hits:
                subject = draws.choice("overfit_subject", hits).info.question.rstrip("?")
                extra.append(f'Pay special attention to questions like "{subject}".')

    sentences: list[str] = []
    if tip == "persona":
        sentences.append(draws.choice("persona", PERSONAS[role]))
    context = role == "answer" and re.search(r"\b(?:context|passages?)\b", text, re.I)
    sentences.append(draws.choice("base", BASE["answer_context" if context else role]))
    if tip == "description":
        task = sorted(tasks)[0] if len(tasks) == 1 else ""
        sentences.append(DESCRIPTIONS[task])
    rule_sentences = []
    for rule in stated:
        if rule == overgeneral:
            rule_sentences.append(OVERGENERAL[rule])
        else:
            rule_sentences.append(draws.choice(f"phrase:{rule}", STATEMENTS[rule]))
    nli = _nli_stated(text, tasks, draws, params, params.negation_advice_rate)
    if nli:
        rule_sentences.append(draws.choice(f"phrase:{nli}", NLI_STATEMENTS[nli]))
    order = sorted(range(len(rule_sentences)), key=lambda i: draws.uniform(f"order:{i}"))
    sentences.extend(rule_sentences[i] for i in order)
    sentences.extend(extra)
    if tip == "high_stakes":
        sentences.append(draws.choice("stakes", HIGH_STAKES))
    elif tip == "creative":
        sentences.append(draws.choice("creative", CREATIVE))
    elif tip == "simple":
        sentences.append("Be concise.")
    elif draws.chance("generic", params.generic_sentence_rate):
        sentences.append(draws.choice("generic_sentence", GENERIC))
    return " ".join(sentences)


def compose_summary(view: PromptView, world: World, draws: Draws, params: SimParams) -> str:
    """Write a summary (data summary, observations, program description) of the prompt."""
    text = view.full_text
    ev = dict(evidence(text, params.statement_weight))
    tasks = _tasks_seen(text, world)
    sentences = [
        SUMMARY_OPENERS[t] for t in (RULE_QA, MULTIHOP_QA, SCONE_NLI, TOOL_QA) if t in tasks
    ]
    if not tasks:
        retrieval = re.search(r"\b(?:search|retriev\w*)\b", text, re.I)
        nli = _NLI_CUE.search(text)
        sentences.append(SUMMARY_OPENERS["retrieval" if retrieval else "nli" if nli else ""])
    sentences.extend(OBSERVATIONS[r] for r in _stated_rules(ev, draws, params))
    nli_observation = _nli_stated(text, tasks, draws, params, 0.0)
    if nli_observation:
        sentences.append(NLI_OBSERVATIONS[nli_observation])
    return " ".join(sentences)
