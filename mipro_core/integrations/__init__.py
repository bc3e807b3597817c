"""Integrations with other tools, shipped in the core and enabled explicitly.

Each lives in its own submodule that imports its tool only when used (``import mipro_core``
never imports them): :mod:`mipro_core.integrations.mlflow` (``pip install 'mipro-core[mlflow]'``)
logs runs to MLflow. See ``docs/trackers.md``.
"""
