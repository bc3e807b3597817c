"""The documentation site builds with MkDocs in strict mode, with generated CLI and API pages."""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mipro_core.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 240

for _module in ("mkdocs", "material", "mkdocstrings"):  # MkDocs, its theme, the API pages
    pytest.importorskip(
        _module, reason=f"{_module} is in the dev extra: pip install -e '.[test,dev]'"
    )


def _text(page: Path) -> str:
    """The visible text of a built HTML page (tags removed, entities decoded)."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", raw)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once for this module; fail with MkDocs' own output when it does not build."""
    site_dir = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner, not a build problem
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{completed.stdout}\n{completed.stderr}")
    return site_dir


def test_every_nav_page_is_built(site: Path) -> None:
    for page in ("index.html", "getting-started/index.html", "cli-reference/index.html"):
        assert (site / page).is_file(), page
    assert (site / "api" / "index.html").is_file()
    # The toy adapter package and the build hooks are not part of the site.
    assert not (site / "examples").exists()
    assert not (site / "_hooks").exists()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the mipro parser has no subcommands")


def test_cli_reference_lists_every_subcommand_and_flag(site: Path) -> None:
    text = _text(site / "cli-reference" / "index.html")
    commands = _subcommands(build_parser())
    assert {"demo", "resume", "plugins", "show"} <= set(commands)
    for name, parser in commands.items():
        assert f"mipro {name}" in text, name
        assert f"usage: mipro {name}" in text, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings:
                assert option in text, f"mipro {name} {option}"
            if not action.option_strings and isinstance(action.metavar, str):
                assert action.metavar in text, f"mipro {name} {action.metavar}"
    assert "--version" in text
    assert "<!-- mipro-cli-reference -->" not in (site / "cli-reference" / "index.html").read_text(
        encoding="utf-8"
    )


def test_api_reference_renders_the_public_api(site: Path) -> None:
    page = site / "api" / "index.html"
    raw = page.read_text(encoding="utf-8")
    text = _text(page)
    for name in ("optimize", "resume", "OptimizationResult", "ProgramState", "MiproError"):
        assert f'id="mipro_core.{name}"' in raw, name
    assert "Optimize the prompts of" in text  # optimize's docstring
    # Sphinx roles in docstrings become links or code, never raw markup.
    for api_page in (site / "api").rglob("*.html"):
        content = api_page.read_text(encoding="utf-8")
        assert not re.search(r":(class|func|meth|mod|attr|exc|data):<code>", content), api_page
    assert 'href="#mipro_core.Program"' in raw  # a cross-reference resolved on the page
    testing = site / "api" / "testing" / "index.html"
    assert 'id="mipro_core.testing.SimulatedLM"' in testing.read_text(encoding="utf-8")
    plugins = site / "api" / "plugins" / "index.html"
    assert 'id="mipro_core.plugins.mipro_trial_completed"' in plugins.read_text(encoding="utf-8")
