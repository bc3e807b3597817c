"""Stage 3's search strategies (private; the public names live in :mod:`mipro_core.samplers`).

``_sampler`` holds the contract (:class:`Observation`, :class:`Sampler`) and array encoding,
``_random`` the reference random search, ``_parzen`` the Parzen-estimator numerics (arrays only)
and ``_tpe`` the TPE orchestration that decides what the history means.
"""

from ._batch import BatchSampler, sample_batch
from ._random import RandomSampler
from ._registry import (
    available_samplers,
    make_sampler,
    register_sampler,
    sampler_settings,
    unregister_sampler,
)
from ._sampler import Observation, Sampler, complete_params
from ._tpe import TPESampler, default_gamma

__all__ = [
    "BatchSampler",
    "Observation",
    "RandomSampler",
    "Sampler",
    "TPESampler",
    "available_samplers",
    "complete_params",
    "default_gamma",
    "make_sampler",
    "register_sampler",
    "sample_batch",
    "sampler_settings",
    "unregister_sampler",
]
