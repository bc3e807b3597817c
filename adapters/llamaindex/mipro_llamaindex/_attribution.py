"""Decide which prompt slot an LLM call came from.

An ``LLMPredictStartEvent`` carries the template the caller passed, usually a partial copy of
the installed one, so identity does not survive. In order:

1. a template the adapter rewrote carries its module name in ``metadata`` (copies keep it);
2. otherwise the template's text (any branch of a selector) is matched against the text of
   every installed template; chat engines embed their prompt's text at the start of the first
   chat message, which is matched as a prefix;
3. when several slots share the text (two sub-engines with the default QA prompt), the span
   ancestry of the call decides: the nearest enclosing span whose instance lies on exactly one
   candidate's path from the root (e.g. the sub-engine's synthesizer).

A call that matches nothing, or stays ambiguous, is unattributed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llama_index.core.prompts import BasePromptTemplate, PromptTemplate

from ._discovery import PromptSlot
from ._templates import branch_texts, first_message_text, module_tag


class Attributor:
    """Maps an event's template (and its span ancestry) to one of ``slots``."""

    def __init__(self, slots: Sequence[PromptSlot]) -> None:
        self._slots = tuple(slots)
        self._by_name = {slot.name: slot for slot in self._slots}
        self._lineage_ids = {slot.name: frozenset(id(o) for o in slot.lineage) for slot in slots}
        self._seen: dict[str, tuple[BasePromptTemplate, frozenset[str], str | None]] = {}

    def _installed(self, slot: PromptSlot) -> tuple[frozenset[str], str | None]:
        """Branch texts (and chat-engine prefix) of the template installed right now.

        Read live, not cached at ``apply`` time: another program (or the user) may have
        rewritten the same object since; recomputed only when the installed object changes.
        """
        current = slot.current()
        seen = self._seen.get(slot.name)
        if seen is not None and seen[0] is current:
            return seen[1], seen[2]
        prefix = None
        if slot.embedded and isinstance(current, PromptTemplate) and current.template.strip():
            prefix = current.template
        texts = branch_texts(current)
        self._seen[slot.name] = (current, texts, prefix)
        return texts, prefix

    def resolve(
        self,
        template: BasePromptTemplate,
        ancestors: Sequence[int],
        aliases: Mapping[int, int] | None = None,
    ) -> PromptSlot | None:
        """The slot ``template`` belongs to; ``ancestors`` are span instance ids, nearest first."""
        texts = branch_texts(template)
        installed = {slot.name: self._installed(slot) for slot in self._slots}
        tag = module_tag(template)
        if tag in installed and texts & installed[tag][0]:
            return self._by_name[tag]
        candidates = [name for name, (own, _) in installed.items() if texts & own]
        if not candidates:
            first = first_message_text(template)
            if first is not None:
                candidates = [
                    name
                    for name, (_, prefix) in installed.items()
                    if prefix is not None and first.startswith(prefix)
                ]
        if len(candidates) > 1:
            candidates = self._narrow(candidates, ancestors, aliases or {})
        return self._by_name[candidates[0]] if len(candidates) == 1 else None

    def _narrow(
        self, candidates: list[str], ancestors: Sequence[int], aliases: Mapping[int, int]
    ) -> list[str]:
        for instance in ancestors:
            instance = aliases.get(instance, instance)
            narrowed = [c for c in candidates if instance in self._lineage_ids[c]]
            if narrowed and len(narrowed) < len(candidates):
                candidates = narrowed
                if len(candidates) == 1:
                    break
        return candidates
