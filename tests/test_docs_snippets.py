"""Every code block of the guides runs (the convention is in ``tests/_snippet_runner.py``).

Each page runs in its own subprocess (fresh imports, its own temporary working directory);
blocks marked ``<!-- snippet: skip reason="..." -->`` are reported as skipped tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUNNER = ROOT / "tests" / "_snippet_runner.py"
PAGE_TIMEOUT = 240


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_snippet_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


EXCLUDED = runner.EXCLUDED  # pages whose blocks are not run, and why


def guide_pages() -> list[Path]:
    return runner.guide_pages(ROOT)


def _page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


PAGES = guide_pages()
SKIPPED = [
    (page, block)
    for page in PAGES
    for block in runner.parse_blocks(page.read_text(encoding="utf-8"))
    if block.kind == "skip"
]


Run = tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]


def _run_runner(page: Path, tmp_path: Path) -> Run:
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, str(RUNNER), str(page), str(tmp_path / "work"), str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    outcomes = json.loads(report.read_text(encoding="utf-8")) if report.exists() else []
    return completed, outcomes


# --- the pages ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, Future[Run]]]:
    """Every page's run, started at once: pages are independent, and most of a page's time is
    importing frameworks, so running them side by side roughly halves the wall time."""
    workers = min(len(PAGES), max(2, os.cpu_count() or 2))
    with ThreadPoolExecutor(workers) as pool:
        yield {
            page: pool.submit(_run_runner, page, tmp_path_factory.mktemp(page.stem))
            for page in PAGES
        }


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_code_blocks_run(page: Path, page_runs: dict[Path, Future[Run]]) -> None:
    completed, outcomes = page_runs[page].result()
    failed = [o for o in outcomes if o["status"] == "failed"]
    where = _page_id(page)
    mismatched = [o for o in outcomes if o["status"] == "mismatch"]
    if failed or (completed.returncode != 0 and not mismatched):
        output = "\n".join((completed.stdout + completed.stderr).splitlines()[-60:])
        detail = "\n".join(f"{where}:{o['line']} ({o['kind']}):\n{o['error']}" for o in failed)
        pytest.fail(f"a code block of {where} failed\n{detail}\n--- output (tail) ---\n{output}")
    assert outcomes or not runner.parse_blocks(page.read_text(encoding="utf-8"))
    assert all(
        o["status"] in {"ran", "written", "skipped", "ignored", "checked", "mismatch"}
        for o in outcomes
    )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_page_sample_outputs_are_real(page: Path, page_runs: dict[Path, Future[Run]]) -> None:
    """Every output a page shows (after a `$ command`, or in an `<!-- output -->` block) is what
    its code printed in the same run, timings and paths masked (tests/_sample_output.py)."""
    _, outcomes = page_runs[page].result()
    where = _page_id(page)
    diffs = [
        f"{where}:{c['line']}:\n{c['diff']}" for o in outcomes for c in o["checks"] if c["diff"]
    ]
    assert not diffs, (
        f"sample outputs of {where} differ from a real run; regenerate them with\n"
        f"    python tests/_snippet_runner.py --update {where}\n" + "\n".join(diffs)
    )


@pytest.mark.parametrize(
    ("page", "block"),
    SKIPPED,
    ids=[f"{_page_id(page)}:{block.line}" for page, block in SKIPPED],
)
def test_skipped_block(page: Path, block: Any) -> None:
    """One skipped test per block marked ``snippet: skip``, so ``-ra`` lists them with reasons."""
    pytest.skip(f"{_page_id(page)}:{block.line}: {block.skip_reason}")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_skip_markers_are_attached_and_explained(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if "snippet:" not in line or not line.lstrip().startswith("<!--"):
            continue
        marker = runner.SKIP_MARKER.match(line)
        assert marker, f"{_page_id(page)}:{number}: malformed snippet marker {line.strip()!r}"
        assert marker["reason"], f'{_page_id(page)}:{number}: a skip needs reason="..."'
        following = lines[number] if number < len(lines) else ""
        assert runner.FENCE_OPEN.match(following), (
            f"{_page_id(page)}:{number}: a skip marker must be directly above a code fence"
        )


def test_excluded_pages_exist() -> None:
    """The exclusion list names real pages (a renamed page must not silently lose its test)."""
    assert all((DOCS / name).exists() for name in EXCLUDED), sorted(
        name for name in EXCLUDED if not (DOCS / name).exists()
    )


# --- the convention itself ------------------------------------------------------------------

SAMPLE = """\
# A page

```python
x = 1
```

Some prose.

```python title="helper.py"
def double(v):
    return 2 * v
```

```python
from helper import double

y = double(x)
```

```console
$ python -c "print(6 * 7)"
42
$ echo one \\
    two
one two
```

<!-- snippet: skip reason="needs an API key" -->
```python
raise RuntimeError("never runs")
```

```text
just an illustration
```

```
no language
```

1. In a list:

    ~~~bash
    echo listed > listed.txt
    ~~~

````markdown
```python
inner = "not a block of its own"
```
````

```jsonl title="data/train.jsonl"
{"question": "q", "answer": "a"}
```
"""


def test_parse_blocks_reads_each_kind() -> None:
    blocks = runner.parse_blocks(SAMPLE)
    summary = [(b.lang, b.title, b.kind) for b in blocks]
    assert summary == [
        ("python", None, "python"),
        ("python", "helper.py", "file"),
        ("python", None, "python"),
        ("console", None, "console"),
        ("python", None, "skip"),
        ("text", None, "ignore"),
        ("", None, "ignore"),
        ("bash", None, "script"),
        ("markdown", None, "ignore"),
        ("jsonl", "data/train.jsonl", "file"),
    ]
    assert blocks[0].code == "x = 1\n"
    assert blocks[0].line == 3
    assert blocks[1].code == "def double(v):\n    return 2 * v\n"
    assert blocks[4].skip_reason == "needs an API key"
    assert blocks[7].code == "echo listed > listed.txt\n"  # list indentation removed
    assert 'inner = "not a block of its own"' in blocks[8].code
    assert runner.console_commands(blocks[3].code) == [
        'python -c "print(6 * 7)"',
        "echo one \\\ntwo",
    ]


def test_runner_runs_a_page(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    checks = (
        '\n```python\nassert y == 2\nassert open("listed.txt").read() == "listed\\n"\n```\n'
        "\n```console\n$ mipro --version\n$ test -f data/train.jsonl\n```\n"
    )
    page.write_text(SAMPLE + checks, encoding="utf-8")
    completed, outcomes = _run_runner(page, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    statuses = [(o["kind"], o["status"]) for o in outcomes]
    assert statuses == [
        ("python", "ran"),
        ("file", "written"),
        ("python", "ran"),
        ("console", "ran"),
        ("skip", "skipped"),
        ("ignore", "ignored"),
        ("ignore", "ignored"),
        ("script", "ran"),
        ("ignore", "ignored"),
        ("file", "written"),
        ("python", "ran"),
        ("console", "ran"),
    ]
    assert outcomes[4]["reason"] == "needs an API key"
    assert "42" in completed.stdout
    assert "mipro " in completed.stdout  # `mipro --version` ran this interpreter's mipro
    assert (tmp_path / "work" / "helper.py").exists()


def test_runner_stops_at_a_failing_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nz = 1\n```\n\n```console\n$ exit 3\n```\n\n```python\nz = 2\n```\n",
        encoding="utf-8",
    )
    completed, outcomes = _run_runner(page, tmp_path)
    assert completed.returncode == 1
    assert [o["status"] for o in outcomes] == ["ran", "failed", "not-run"]
    assert "exited with 3" in outcomes[1]["error"]


def test_runner_reports_python_errors_with_the_block_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Intro.\n\n```python\n\nundefined_name\n```\n", encoding="utf-8")
    completed, outcomes = _run_runner(page, tmp_path)
    assert completed.returncode == 1
    assert outcomes[0]["status"] == "failed"
    assert "NameError" in outcomes[0]["error"]
    assert "page_line3.py" in outcomes[0]["error"]


def test_titles_must_stay_inside_the_working_directory(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```text title="../escape.txt"\nx\n```\n', encoding="utf-8")
    completed, outcomes = _run_runner(page, tmp_path)
    assert completed.returncode == 1
    assert "relative path" in outcomes[0]["error"]
    assert not (tmp_path / "escape.txt").exists()


_BODY_LINE = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="`~"
    ),
    max_size=30,
)
_BLOCK = st.tuples(
    st.sampled_from(["python", "console", "text", "bash", "jsonl", ""]),
    st.one_of(st.none(), st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?\.[a-z]{2,4}", fullmatch=True)),
    st.lists(_BODY_LINE, max_size=5),
    st.one_of(st.none(), st.from_regex(r"[a-z ]{1,20}", fullmatch=True)),
)


@given(st.lists(_BLOCK, max_size=6), st.sampled_from(["```", "~~~", "````"]))
def test_parse_blocks_round_trips_generated_pages(
    specs: list[tuple[str, str | None, list[str], str | None]], fence: str
) -> None:
    parts = ["# Title", ""]
    for lang, title, body, reason in specs:
        if reason is not None:
            parts.append(f'<!-- snippet: skip reason="{reason}" -->')
        info = lang + (f' title="{title}"' if title else "")
        parts += [f"{fence}{info}", *body, fence, "", "prose", ""]
    blocks = runner.parse_blocks("\n".join(parts))
    assert len(blocks) == len(specs)
    for block, (lang, title, body, reason) in zip(blocks, specs, strict=True):
        assert block.lang == lang
        assert block.title == title
        assert block.code == "".join(line + "\n" for line in body)
        assert block.skip_reason == reason


def _bump_a_digit(lines: list[str]) -> list[str] | None:
    """``lines`` with the last digit of the first score-like number changed (None: none)."""
    for index, line in enumerate(lines):
        match = re.search(r"\d\.\d{3}\b", line)
        if match:
            end = match.end() - 1
            digit = str((int(line[end]) + 1) % 10)
            return [*lines[:index], line[:end] + digit + line[end + 1 :], *lines[index + 1 :]]
    return None


def test_an_edited_sample_output_fails(page_runs: dict[Path, Future[Run]]) -> None:
    """Editing a number in the demo output of docs/getting-started.md is caught: the shown
    output is compared with the real run's, and only volatile parts are masked."""
    _, outcomes = page_runs[DOCS / "getting-started.md"].result()
    checks = [c for o in outcomes for c in o["checks"]]
    demo = next(c for c in checks if any("test score" in line for line in c["shown"]))
    assert runner.samples.compare(demo["shown"], demo["real"])[1] is None
    edited = _bump_a_digit(demo["shown"])
    assert edited is not None
    diff = runner.samples.compare(edited, demo["real"])[1]
    assert diff is not None and "printed by the run" in diff
