"""Configuration values of an optimization run: budget, proposer and search settings.

All are frozen attrs values with keyword-only fields; presets are named constructors.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from ._errors import InvalidInputError


def _outputs_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    from ._gold import outputs_pairs

    return outputs_pairs(value)


def _name(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not (_is_int(value) and value >= 1):
        raise InvalidInputError(f"{_name(instance, attribute)} must be an int >= 1, got {value!r}")


def _count(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not (_is_int(value) and value >= 0):
        raise InvalidInputError(f"{_name(instance, attribute)} must be an int >= 0, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise InvalidInputError(
            f"{_name(instance, attribute)} must be a finite number >= 0, got {value!r}"
        )


def _positive_seconds(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise InvalidInputError(
            f"{_name(instance, attribute)} must be a finite number > 0, got {value!r}"
        )


def _finite(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (_is_number(value) and math.isfinite(value)):
        raise InvalidInputError(
            f"{_name(instance, attribute)} must be a finite number, got {value!r}"
        )


MAX_CANDIDATES = 1000
"""The most candidates per module a :class:`Budget` accepts: each one is a proposer call (or a
bootstrapped demo set), so a larger count is a typo, not a plan."""


def _at_most(limit: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
        if value > limit:
            raise InvalidInputError(
                f"{_name(instance, attribute)} must be at most {limit}, got {value!r}"
            )

    return check


@attrs.frozen(kw_only=True)
class Budget:
    """How much the search may spend.

    ``num_candidates`` instructions and demo sets are built per module, the original included
    (the repair round may add one instruction per module); ``val_size`` caps the
    validation set used for full evaluations; ``max_trials`` defaults to DSPy MIPROv2's formula
    ``max(2 * V * log2(N), 1.5 * N)`` for V search variables. ``max_lm_calls`` and ``max_seconds``
    are hard caps (a run never exceeds ``max_lm_calls`` by more than the calls already in flight).
    """

    num_candidates: int = attrs.field(default=6, validator=[_positive, _at_most(MAX_CANDIDATES)])
    val_size: int = attrs.field(default=100, validator=_positive)
    max_trials: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    max_lm_calls: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive)
    )
    max_seconds: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive_seconds)
    )

    @classmethod
    def light(cls) -> Budget:
        """6 candidates per module, validation capped at 100 examples (as DSPy's ``auto="light"``)."""
        return cls(num_candidates=6, val_size=100)

    @classmethod
    def medium(cls) -> Budget:
        """12 candidates per module, validation capped at 300 examples."""
        return cls(num_candidates=12, val_size=300)

    @classmethod
    def heavy(cls) -> Budget:
        """18 candidates per module, validation capped at 1000 examples."""
        return cls(num_candidates=18, val_size=1000)

    @classmethod
    def from_name(cls, name: str) -> Budget:
        presets = {"light": cls.light, "medium": cls.medium, "heavy": cls.heavy}
        if name not in presets:
            raise InvalidInputError(f"budget must be one of {sorted(presets)}, got {name!r}")
        return presets[name]()

    def trials_for(self, num_variables: int) -> int:
        """Number of search trials: explicit ``max_trials`` or the MIPROv2 formula."""
        if self.max_trials is not None:
            return self.max_trials
        n = self.num_candidates
        return max(1, int(max(2 * num_variables * math.log2(max(n, 2)), 1.5 * n)))


@attrs.frozen(kw_only=True)
class ProposerConfig:
    """Which grounding the instruction proposer sees (every part can be switched off)."""

    use_data_summary: bool = True
    use_program_summary: bool = True
    use_demos: bool = True
    use_tip: bool = True
    use_original_instruction: bool = True
    num_demos_in_context: int = attrs.field(default=6, validator=_count)
    """Demos shown to the proposer (walking the demo sets from the proposal's own set). DSPy
    shows 3; 6 scored +0.01 to +0.04 over 40 seeds on every bundled task but ``scone_nli``
    (neutral), where the training data's pattern is the spurious one and 8 already hurt."""
    observe_demos: bool = True
    """Before each proposal that shows demos, ask the proposer what good outputs of the stage
    have in common (one extra proposer call per proposal) and show it those observations."""
    temperature: float = attrs.field(default=1.0, validator=_non_negative)
    data_batch_size: int = attrs.field(default=10, validator=_positive)
    max_data_batches: int = attrs.field(default=10, validator=_positive)
    use_history: bool = False
    """Show the proposer the module's best and worst earlier instructions with their scores."""
    use_failures: bool = False
    """Show the proposer failing examples of the module's trace (inputs, outputs, expected,
    the metric's feedback) and ask for an instruction that fixes them."""
    meta_optimize: bool = False
    """MIPRO++: propose in rounds during the search, drawing the proposer's settings (grounding
    parts, demo set, tip, temperature, history, failures) from a proposal-level surrogate that
    is credited with the scores its instructions earn."""
    meta_round_every: int = attrs.field(default=5, validator=_positive)
    repair_round: bool = True
    """Once ``SearchConfig.full_eval_every`` minibatch trials are done (and the budget still
    affords a few more trials and the final full evaluation), write one more instruction per
    module from ``max_failures`` failing validation examples of the recent trials (with their
    expected outputs; no data summary, no demos) and try it at once with the best
    configuration's other settings. It catches what grounding on the training data misses when
    the training data mislead (a pattern that holds there but not on the validation set).
    Needs a proposer, minibatch trials (a validation set larger than ``minibatch_size``) and
    more than ``full_eval_every`` trials; off under ``meta_optimize``, whose proposal rounds
    add candidates during the search already (and show failures with ``use_failures``)."""
    max_history: int = attrs.field(default=5, validator=_count)
    max_failures: int = attrs.field(default=3, validator=_count)


@attrs.frozen(kw_only=True)
class SearchConfig:
    """How trials are run and scored.

    Each trial scores one configuration on a fresh random minibatch of ``minibatch_size``
    validation examples; every ``full_eval_every`` trials the untested configuration with the best
    mean minibatch score is scored on the whole validation set.
    """

    minibatch_size: int = attrs.field(default=30, validator=_positive)
    full_eval_every: int = attrs.field(default=5, validator=_positive)
    max_bootstrapped_demos: int = attrs.field(default=4, validator=_count)
    max_labeled_demos: int = attrs.field(default=4, validator=_count)
    metric_threshold: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_finite)
    )
    max_errors: int = attrs.field(default=10, validator=_count)
    timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_positive_seconds)
    )
    max_retries: int = attrs.field(default=6, validator=_count)
    retry_base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    retry_max_delay: float = attrs.field(default=20.0, validator=_non_negative)
    search_instructions: bool = True
    search_demos: bool = True
    screen_demos: bool = True
    """Prefer bootstrapped traces whose earlier stages did not already write the gold answer."""
    exclude_demos: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Ids of training examples that never become demos."""
    pin_demos: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    """Ids of training examples whose demos are part of every candidate demo set."""
    outputs: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_outputs_pairs)
    """Which gold field holds a module output named differently, for labeled demos: given as
    ``{"module": "gold field"}`` (a module with one output) or ``{"module.field": "gold field"}``,
    kept as sorted pairs. Not needed for a one-module program whose one output is the model's
    raw reply (``Module.output_is_raw_text``) and data with one gold field."""


@attrs.frozen(kw_only=True)
class Pricing:
    """Model prices in currency units per million tokens, for the cost in results and journals."""

    input_per_million: float = attrs.field(validator=_non_negative)
    output_per_million: float = attrs.field(validator=_non_negative)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / 1_000_000
