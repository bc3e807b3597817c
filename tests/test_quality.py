"""Project-level checks that run with the test suite: lint, types, package boundaries, API."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mipro_core

ROOT = Path(__file__).resolve().parents[1]


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_is_clean() -> None:
    done = _tool("ruff", "check", "mipro_core", "adapters", "tests", "benchmarks", "docs/examples")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean_on_the_core() -> None:
    pytest.importorskip("mypy")
    done = _tool("mypy", "mipro_core")
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_never_imports_a_framework() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "mipro_core").rglob("*.py")
        if re.search(r"^\s*(from|import)\s+(langchain|llama_index)", path.read_text(), re.M)
    ]
    assert offenders == []


def test_adapters_use_only_the_public_core_api() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "adapters").rglob("*.py")
        if re.search(r"mipro_core\._|mipro_core\.testing\._", path.read_text())
    ]
    assert offenders == []


def test_import_pulls_in_no_framework_and_no_scipy() -> None:
    code = (
        "import mipro_core, sys; "
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'llama_index', 'scipy'))]; "
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_public_api_is_pinned_and_sorted() -> None:
    names = mipro_core.__all__  # ruff's RUF022 keeps it sorted
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(mipro_core, name), name
    assert {"optimize", "resume", "apply", "adapt", "MIPRO", "Example", "ProgramState"} <= set(
        names
    )


def test_package_ships_py_typed() -> None:
    assert (ROOT / "mipro_core" / "py.typed").exists()
