"""A sampler backed by Optuna's TPE (``pip install 'mipro-core[optuna]'``).

Registered as ``optuna-tpe`` in the ``mipro.samplers`` entry-point group
(``mipro optimize --sampler optuna-tpe``), or pass it directly::

    from mipro_core.integrations.optuna import OptunaTPESampler

    mipro_core.optimize(program, trainset, metric, sampler=OptunaTPESampler())

Importing this module does not import Optuna; creating the sampler does. See
``docs/samplers.md`` for how it handles a growing search space and how it compares with the
built-in :class:`~mipro_core.samplers.TPESampler` (the default).
"""

from ._optuna import OptunaTPESampler

__all__ = ["OptunaTPESampler"]
