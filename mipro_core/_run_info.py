"""What observer plugins (experiment trackers) learn about an optimization run when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._result import CostEstimate

ParamValue = bool | int | float | str | None
"""A flat parameter value, as trackers store them."""


def _frozen_mapping(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class RunInfo:
    """One optimization run, as the ``mipro_run_*`` and ``mipro_trial_completed`` hooks see it.

    ``run_id`` identifies the run across processes: for a journaled run it is stored in the
    journal, so :func:`mipro_core.resume` reports the same id (with ``resumed=True``); otherwise
    it is a fresh random id. On resume the engine replays the journal: the first
    ``replayed_trials`` trials were notified by the interrupted process and are *not* notified
    again (they are in the final result's ``trials``). ``params()`` flattens everything into
    ``{"budget.max_trials": 10, ...}`` for a tracker's parameter table.
    """

    run_id: str
    strategy: str
    seed: int
    modules: tuple[str, ...]
    frozen: tuple[str, ...]
    train_size: int
    val_size: int
    budget: Budget
    search: SearchConfig
    proposer: ProposerConfig
    sampler: str
    """The sampler's class name (``"TPESampler"``); its plain settings are ``sampler_params``."""
    sampler_params: Mapping[str, ParamValue] = attrs.field(converter=_frozen_mapping, factory=dict)
    num_threads: int
    parallel_trials: int
    estimate: CostEstimate | None = None
    """The LM calls the run is expected to make (computed before it started)."""
    pricing: Pricing | None = None
    library_version: str
    journal: str | None = None
    """The journal's path, for journaled runs."""
    resumed: bool = False
    replayed_trials: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A nested JSON-ready dict of every field."""
        return {
            "run_id": self.run_id,
            "strategy": self.strategy,
            "seed": self.seed,
            "modules": list(self.modules),
            "frozen": list(self.frozen),
            "train_size": self.train_size,
            "val_size": self.val_size,
            "budget": attrs.asdict(self.budget),
            "search": {  # demo ids as JSON lists
                k: list(v) if isinstance(v, tuple) else v
                for k, v in attrs.asdict(self.search).items()
            },
            "proposer": attrs.asdict(self.proposer),
            "sampler": {"type": self.sampler, "params": dict(self.sampler_params)},
            "num_threads": self.num_threads,
            "parallel_trials": self.parallel_trials,
            "estimate": None if self.estimate is None else _estimate_dict(self.estimate),
            "pricing": None if self.pricing is None else attrs.asdict(self.pricing),
            "library_version": self.library_version,
            "journal": self.journal,
            "resumed": self.resumed,
            "replayed_trials": self.replayed_trials,
        }

    def params(self) -> dict[str, ParamValue]:
        """Every setting as one flat mapping of dotted names to plain values.

        Lists (modules) are joined with commas; nested settings get their group as prefix
        (``budget.``, ``search.``, ``proposer.``, ``sampler.``, ``estimate.``, ``pricing.``).
        """
        flat: dict[str, ParamValue] = {}
        for key, value in self.to_dict().items():
            if isinstance(value, dict):
                _flatten(flat, key, value)
            elif isinstance(value, list):
                flat[key] = ",".join(str(v) for v in value)
            else:
                flat[key] = value
        return flat


def _estimate_dict(estimate: CostEstimate) -> dict[str, int]:
    return {
        **attrs.asdict(estimate),
        "task_lm_calls": estimate.task_lm_calls,
        "total_lm_calls": estimate.total_lm_calls,
    }


def _flatten(out: dict[str, ParamValue], prefix: str, value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, Mapping):
            _flatten(out, name if key != "params" else prefix, item)
        elif isinstance(item, (list, tuple)):
            out[name] = ",".join(str(v) for v in item)
        else:
            out[name] = (
                item if isinstance(item, (bool, int, float, str)) or item is None else str(item)
            )
