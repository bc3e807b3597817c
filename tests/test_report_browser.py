"""The HTML run report in a real browser: headless Chromium driven by Playwright.

Chromium is Debian's ``chromium`` package at /usr/bin/chromium; when it is missing and we are
root on a system with apt-get, the session fixture installs it (this can take minutes). Playwright
is only the driver (the ``playwright`` pip package; its own browser downloads are not used).
Without either, the tests are skipped with the reason.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core
from mipro_core import Demo, ModuleState, ProgramState, save_state
from mipro_core._report import write_report
from mipro_core.testing import SimulatedLM, load_task

pytestmark = pytest.mark.timeout(1800)  # the first test may install Chromium

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "Answer. <script>alert('x')</script><img src=x onerror=alert(1)>"


def _install_chromium() -> None:
    if CHROMIUM.exists() or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    if shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=900)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            env=env,
            capture_output=True,
            timeout=1500,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass


@pytest.fixture(scope="session")
def chromium() -> Path:
    _install_chromium()
    if not CHROMIUM.exists():
        pytest.skip(
            "headless Chromium is not available: install Debian's 'chromium' package "
            "(/usr/bin/chromium); the test setup could not (not root, no apt-get, or it failed)"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the dev extra: pip install -e '.[test,dev]'"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def journal_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("browser")
    task = load_task("multihop_qa")
    program = task.make_program(SimulatedLM(seed=0))
    mipro_core.optimize(
        program,
        task.trainset[:40],
        task.metric,
        valset=task.valset[:30],
        max_trials=6,
        num_candidates=4,
        minibatch_size=8,
        full_eval_every=3,
        num_threads=4,
        journal=directory / "run.db",
    )
    out = directory / "report.html"
    write_report(directory / "run.db", out)
    return out


class _Page:
    """A loaded page and everything the browser reported while loading it."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.dialogs: list[str] = []
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def loaded(browser: Any, journal_report: Path) -> Iterator[_Page]:
    page = _Page(browser, journal_report)
    yield page
    page.close()


def _pixels(png: bytes) -> Any:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


def _assert_not_blank(png: bytes, min_colors: int) -> None:
    import numpy as np

    pixels = (_pixels(png)[..., :3] * 255).round().astype(np.int64)
    assert pixels.std() > 10, "the screenshot is (nearly) one flat colour"
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    colors = len(np.unique(packed))
    assert colors >= min_colors, f"only {colors} distinct colours"


def test_page_loads_without_errors_or_network(loaded: _Page, journal_report: Path) -> None:
    assert loaded.errors == []
    assert loaded.failed == []
    assert loaded.dialogs == []
    assert loaded.requests, "the page itself should have been requested"
    assert all(url.startswith(("file:", "data:")) for url in loaded.requests), loaded.requests
    assert loaded.page.title().startswith("mipro report")
    assert loaded.page.evaluate("document.scripts.length") == 0


def test_figures_are_decoded_and_visible(loaded: _Page) -> None:
    images = loaded.page.locator("figure img")
    assert images.count() == 3
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        assert image.is_visible()
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 300
        _assert_not_blank(image.screenshot(), min_colors=20)


def test_screenshot_is_not_blank(loaded: _Page) -> None:
    _assert_not_blank(loaded.page.screenshot(full_page=True), min_colors=50)
    text = loaded.page.inner_text("body")
    for heading in (
        "Score trajectory",
        "Per-module credit",
        "Prompts per module",
        "Run configuration",
    ):
        assert heading in text


def test_hostile_content_is_shown_as_text(browser: Any, tmp_path: Path) -> None:
    state = ProgramState(
        {"<b>m</b>": ModuleState(HOSTILE, (Demo({"q": HOSTILE}, {"a": "<i>x</i>"}, "labeled"),))}
    )
    artifact = save_state(tmp_path / "evil.json", state, {"note": HOSTILE})
    out = tmp_path / "evil.html"
    write_report(artifact, out)
    page = _Page(browser, out)
    try:
        assert page.errors == [] and page.dialogs == [] and page.failed == []
        assert all(url.startswith(("file:", "data:")) for url in page.requests)
        assert page.page.evaluate("document.scripts.length") == 0
        assert page.page.locator("b, i, img").count() == 0
        assert HOSTILE in page.page.inner_text("pre.winning")
        assert "<b>m</b>" in page.page.inner_text("h3")
    finally:
        page.close()
