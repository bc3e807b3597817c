"""Log mipro runs to MLflow (``pip install 'mipro-core[mlflow]'``).

:class:`MLflowTracker` is an observer plugin. Enable it for one run or for the process::

    from mipro_core.integrations.mlflow import MLflowTracker
    from mipro_core.plugins import registered

    with registered(MLflowTracker(experiment_name="qa")):
        result = mipro_core.optimize(program, trainset, metric)

Importing this module does not import MLflow; creating a tracker does. See ``docs/trackers.md``.
"""

from ._mlflow import MLflowTracker

__all__ = ["MLflowTracker"]
