"""Search strategies for stage 3: propose the next configuration of a categorical space.

A configuration picks one category index per variable (for MIPRO: per module, an instruction
index and a demo-set index). A :class:`Sampler` is stateless: the engine passes the whole
history of :class:`Observation` values and its own seeded :class:`numpy.random.Generator`, so a
run resumed from its journal makes the same proposals again.

* :class:`TPESampler` — multivariate Tree-structured Parzen Estimator, the default. It keeps
  noisy minibatch scores and exact full-evaluation scores apart (see its documentation).
* :class:`RandomSampler` — uniform random search, the reference and a baseline.

Write your own by implementing ``sample(space, history, rng) -> dict[str, int]``; ship it as a
plugin in the ``mipro.samplers`` entry-point group (``mipro optimize --sampler NAME``,
:func:`make_sampler`) and test it with :class:`mipro_core.testing.samplers.SamplerConformanceTests`.
For trials that run at the same time, :func:`sample_batch` proposes ``k`` configurations at once
given the pending ones (a sampler's own ``sample_batch``, see :class:`BatchSampler`, else the
constant liar rule). A journal records a sampler as its registered name and :func:`sampler_settings`; resume rebuilds
it from those. See ``docs/samplers.md``.
"""

from ._search import (
    BatchSampler,
    Observation,
    RandomSampler,
    Sampler,
    TPESampler,
    available_samplers,
    complete_params,
    default_gamma,
    make_sampler,
    register_sampler,
    sample_batch,
    sampler_settings,
    unregister_sampler,
)

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
