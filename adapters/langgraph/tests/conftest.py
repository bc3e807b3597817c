"""Shared fixtures: the test-support module importable; the plugin registered in-process when
the distribution is not installed (a checkout run with ``PYTHONPATH``), again before each test,
since core tests reset the plugin manager."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

# appended, not inserted first: the LangChain adapter's tests import their own
# ``test_conformance``, which this directory's module of the same name must not shadow when
# both directories are collected in one run (lg_graphs / lg_agent have unique names)
sys.path.append(str(Path(__file__).parent))


def _register_if_not_installed() -> None:
    if any(ep.name == "langgraph" for ep in importlib.metadata.entry_points(group="mipro")):
        return
    import mipro_langgraph.plugin

    from mipro_core.plugins import get_plugin_manager, register_plugin

    if not get_plugin_manager().is_registered(mipro_langgraph.plugin):
        register_plugin(mipro_langgraph.plugin, name="langgraph")


_register_if_not_installed()


@pytest.fixture(autouse=True)
def _langgraph_plugin() -> None:
    _register_if_not_installed()
