"""Every numeric setting of the public config classes is validated with a clear error (#16 §4)."""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipro_core import Budget, InvalidInputError, Pricing, ProposerConfig, SearchConfig

# (class, field) -> smallest valid value, whether it must be an int, whether None is allowed
Rule = tuple[float, bool, bool]
RULES: dict[tuple[type[Any], str], Rule] = {
    (Budget, "num_candidates"): (1, True, False),
    (Budget, "val_size"): (1, True, False),
    (Budget, "max_trials"): (1, True, True),
    (Budget, "max_lm_calls"): (1, True, True),
    (Budget, "max_seconds"): (math.ulp(0.0), False, True),
    (ProposerConfig, "num_demos_in_context"): (0, True, False),
    (ProposerConfig, "temperature"): (0, False, False),
    (ProposerConfig, "data_batch_size"): (1, True, False),
    (ProposerConfig, "max_data_batches"): (1, True, False),
    (ProposerConfig, "meta_round_every"): (1, True, False),
    (ProposerConfig, "max_history"): (0, True, False),
    (ProposerConfig, "max_failures"): (0, True, False),
    (SearchConfig, "minibatch_size"): (1, True, False),
    (SearchConfig, "full_eval_every"): (1, True, False),
    (SearchConfig, "max_bootstrapped_demos"): (0, True, False),
    (SearchConfig, "max_labeled_demos"): (0, True, False),
    (SearchConfig, "metric_threshold"): (-math.inf, False, True),
    (SearchConfig, "max_errors"): (0, True, False),
    (SearchConfig, "timeout"): (math.ulp(0.0), False, True),
    (SearchConfig, "max_retries"): (0, True, False),
    (SearchConfig, "retry_base_delay"): (0, False, False),
    (SearchConfig, "retry_max_delay"): (0, False, False),
    (Pricing, "input_per_million"): (0, False, False),
    (Pricing, "output_per_million"): (0, False, False),
}
REQUIRED: dict[type[Any], dict[str, Any]] = {
    Pricing: {"input_per_million": 1.0, "output_per_million": 1.0}
}


def build(cls: type[Any], name: str, value: object) -> Any:
    return cls(**{**REQUIRED.get(cls, {}), name: value})


def valid(value: object, rule: Rule) -> bool:
    minimum, integer, optional = rule
    if value is None:
        return optional
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if integer and not isinstance(value, int):
        return False
    return math.isfinite(value) and value >= minimum


def test_every_numeric_field_has_a_rule() -> None:
    """A new numeric setting must be added here (and get a validator)."""
    for cls in (Budget, ProposerConfig, SearchConfig, Pricing):
        numeric = {
            f.name
            for f in attrs.fields(cls)
            if f.type is not None and any(t in str(f.type) for t in ("int", "float"))
        }
        assert numeric == {name for c, name in RULES if c is cls}, cls


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=2),
)


@given(key=st.sampled_from(sorted(RULES, key=lambda k: (k[0].__name__, k[1]))), value=values)
@settings(max_examples=300, deadline=None)
def test_numeric_settings_are_validated(key: tuple[type[Any], str], value: object) -> None:
    cls, name = key
    if valid(value, RULES[key]):
        assert getattr(build(cls, name, value), name) == value
    else:
        with pytest.raises(InvalidInputError, match=rf"{cls.__name__}\.{name} must be"):
            build(cls, name, value)


def test_the_reported_examples_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="meta_round_every"):
        ProposerConfig(meta_round_every=0)
    with pytest.raises(InvalidInputError, match="max_failures"):
        ProposerConfig(max_failures=-3)
    with pytest.raises(InvalidInputError, match="data_batch_size"):
        ProposerConfig(data_batch_size=0)
    with pytest.raises(InvalidInputError, match="retry_base_delay"):
        SearchConfig(retry_base_delay=-1)
    with pytest.raises(InvalidInputError, match="retry_max_delay"):
        SearchConfig(retry_max_delay=float("nan"))


@pytest.mark.parametrize("value", ["2", 1.5, True, 0, None])
@pytest.mark.parametrize("name", ["num_threads", "parallel_trials"])
def test_thread_and_trial_counts_must_be_positive_ints(name: str, value: object) -> None:
    import mipro_core as mc

    if name == "parallel_trials" and value is None:
        assert mc.MIPRO(parallel_trials=None).parallel_trials is None  # None: the default
        return
    with pytest.raises(InvalidInputError, match=rf"{name} must be an int >= 1, got {value!r}"):
        mc.MIPRO(**{name: value})
    with pytest.raises(InvalidInputError, match=name):
        mc.optimize(object(), [], lambda e, p, t=None: 1.0, **{name: value})


def test_an_absurd_num_candidates_is_refused_before_any_call() -> None:
    import mipro_core as mc
    from mipro_core._config import MAX_CANDIDATES

    assert Budget(num_candidates=MAX_CANDIDATES).num_candidates == MAX_CANDIDATES
    with pytest.raises(InvalidInputError, match=r"Budget\.num_candidates must be at most"):
        Budget(num_candidates=10**6)
    with pytest.raises(InvalidInputError, match="num_candidates"):
        mc.optimize(object(), [], lambda e, p, t=None: 1.0, num_candidates=10**6, max_trials=1)
