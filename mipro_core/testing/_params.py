"""The fixed parameters of the simulated model (every number ``docs/simulated-lm.md`` cites)."""

from __future__ import annotations

import attrs


@attrs.frozen
class SimParams:
    """Every probability and rate the :class:`~mipro_core.testing.SimulatedLM` uses.

    The defaults are the documented model; pass a modified copy (``attrs.evolve``) only for
    ablation experiments. Probabilities are in [0, 1]; "demo units" count correct, relevant
    demonstrations (see ``docs/simulated-lm.md``, mechanism (a)).
    """

    # (a) in-context learning: p = base + (max - base) * (1 - exp(-e / icl_tau)) for evidence e >= 0,
    #     p = base * (floor + (1 - floor) * exp(e / wrong_tau)) for e < 0;  e = good - wrong_weight * bad
    icl_tau: float = 2.5
    wrong_weight: float = 1.0
    wrong_tau: float = 3.0
    wrong_floor: float = 0.6
    irrelevant_demo_weight: float = 0.3
    unknown_demo_weight: float = 0.3
    max_demos_counted: int = 16
    known_base: float = 0.70
    known_max: float = 0.92
    read_base: float = 0.80
    read_max: float = 0.95
    obscure_known: float = 0.03
    query_base: float = 0.88
    query_max: float = 0.97
    bridge_base: float = 0.40
    bridge_max: float = 0.85
    bridge_stated: float = 0.88
    bridge_countered: float = 0.15
    hop1_demo_weight_for_bridge: float = 0.25
    # (b) instructions and answer-format rules
    rule_follow: float = 0.93
    rule_spontaneous: float = 0.08
    rule_demo_max: float = 0.80
    rule_demo_rate: float = 0.55
    verbose_with_context: float = 0.45
    verbose_closed_book: float = 0.10
    verbose_stated_short: float = 0.04
    verbose_weak_short_factor: float = 0.4
    verbose_demo_rate: float = 0.45
    verbose_stated_verbose: float = 0.90
    generic_bonus: float = 0.03
    ramble_words: int = 150
    ramble_penalty: float = 0.05
    temperature_penalty: float = 0.04
    item_correlation: float = 0.4
    # (c) proposer: p_state(e) = state_max * (1 - exp(-evidence_rate * e))
    evidence_rate: float = 0.2
    state_max: float = 0.9
    statement_weight: float = 6.0
    mislead_rate: float = 0.15
    mislead_creative_extra: float = 0.10
    mislead_temperature_slope: float = 0.05
    generic_sentence_rate: float = 0.5
    # scone_nli: negation (mechanisms (a), (b) and (c) for the NLI task)
    nli_plain_base: float = 0.90
    nli_plain_max: float = 0.95
    nli_negated_base: float = 0.60
    nli_negated_max: float = 0.72
    nli_advice_bonus: float = 0.12
    surface_example_weight: float = 1.0
    surface_counter_weight: float = 2.0
    negation_advice_rate: float = 0.25
    # (e) tool calling (``tool_qa``): p_use = tool_unprompted without guidance, rule_follow when
    #     the instruction names the tool for the question's kind, ICL towards tool_demo_max with
    #     worked examples that used it
    tool_unprompted: float = 0.40
    tool_demo_max: float = 0.90
    mental_arithmetic: float = 0.30
    tool_verbose: float = 0.50
    # accounting
    chars_per_token: float = 4.0
