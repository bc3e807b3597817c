"""The sample outputs of the docs are checked against real runs (``tests/_sample_output.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_docs_snippets import PAGES, RUNNER, _page_id, runner

samples = runner.samples


def test_masks_hide_what_changes_from_run_to_run() -> None:
    mask = samples.mask
    assert mask("LM calls: 2360; wall time: 1.6s") == mask("LM calls: 2360; wall time: 12.0s")
    assert mask("trial 20/20  best 0.810  LM calls 2318  1s  1937.0 calls/s") == mask(
        "trial 20/20  best 0.810  LM calls 2318  0s"
    )
    assert mask("~46s left") == mask("~1m05s left") == mask("~1h02m left")
    assert mask("created:     2026-12-07 15:46:04 UTC") == mask(
        "created:     2025-01-01 00:00:00 UTC"
    )
    assert mask("llamaindex  llama-index-core 0.14.25") == mask(
        "llamaindex  llama-index-core 0.13.1"
    )
    # what the docs claim stays: scores, counts, dates of the data
    assert mask("best 0.810") != mask("best 0.820")
    assert mask("LM calls: 2360") != mask("LM calls: 2427")
    assert mask("answer: 1830-09-08") != mask("answer: 1830-09-09")


def test_the_terminal_rendering_applies_redraws() -> None:
    written = (
        "[mipro] start\n\r[#---] trial 1/4\x1b[K\r[####] trial 4/4\x1b[K\n\x1b[1mbold\x1b[0m\n"
    )
    assert samples.render_terminal(written).splitlines() == [
        "[mipro] start",
        "[####] trial 4/4",
        "bold",
    ]


REAL = ["one", "two 0.500", "three", "four", "five 2.0s"]


@pytest.mark.parametrize(
    ("shown", "matches"),
    [
        (REAL, True),
        (["one", "two 0.500", "three", "four", "five 9.9s"], True),  # a timing: masked
        (["one", "two 0.600", "three", "four", "five 2.0s"], False),  # a score: checked
        (["one", "two 0.500", "three", "four"], False),  # an excerpt needs an elision line
        (["one", "..."], True),
        (["...", "five 1s"], True),
        (["one", "...", "four", "...", "five 2s"], True),
        (["one", "two 0.500", "three", "...", "four", "five 2.0s"], True),  # elides nothing
        (["one", "... (three more lines)", "five 2.0s"], True),
        (["one", "...", "six", "...", "five 2s"], False),
        (["two 0.500", "..."], False),  # the first lines are the output's first lines
    ],
)
def test_excerpts_with_elisions(shown: list[str], matches: bool) -> None:
    expected, diff = samples.compare(shown, REAL)
    assert (diff is None) is matches, diff
    if not matches:
        assert diff is not None and "shown in the page" in diff
        # the excerpt written by --update keeps the shown elisions and then matches
        assert samples.compare(expected, REAL)[1] is None or len(expected) == len(REAL)


@given(
    st.lists(st.from_regex(r"[a-z0-9 .:]{0,12}", fullmatch=True), min_size=1, max_size=12),
    st.integers(0, 12),
    st.integers(0, 12),
)
def test_an_excerpt_of_the_real_output_matches_it(real: list[str], head: int, tail: int) -> None:
    real = samples.real_lines("\n".join(real))
    if not real:
        return
    head, tail = min(head, len(real)), min(tail, len(real) - min(head, len(real)))
    shown = [*real[:head], "...", *real[len(real) - tail :]]
    expected, diff = samples.compare(shown, real)
    assert diff is None
    assert samples.mask("\n".join(expected)) == samples.mask("\n".join(shown))


def test_marker_options_are_checked() -> None:
    assert samples.parse_marker("<!-- output -->") == samples.OutputSpec()
    spec = samples.parse_marker('<!-- output: stream="both" terminal -->')
    assert spec == samples.OutputSpec("both", terminal=True)
    assert samples.parse_marker("<!-- snippet: skip -->") is None
    with pytest.raises(ValueError, match="unknown output marker option"):
        samples.parse_marker('<!-- output: stream="sdtout" -->')
    with pytest.raises(ValueError, match="unknown output marker option"):
        samples.parse_marker("<!-- output: termnal -->")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_output_markers_sit_on_a_fence_below_a_block_that_runs(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if samples.parse_marker(line) is None:
            continue
        following = lines[number] if number < len(lines) else ""
        assert runner.FENCE_OPEN.match(following), (
            f"{_page_id(page)}:{number}: an output marker must be directly above a code fence"
        )
    blocks = runner.parse_blocks("\n".join(lines))
    for index, source in runner._sources(blocks).items():
        assert source is not None, f"{_page_id(page)}:{blocks[index].line}: shows no block's output"


PAGE = """\
# Outputs

```python
import sys

print("score 0.500 in 1.2s")
print("progress", file=sys.stderr)
```

<!-- output -->
```text
score 0.400 in 3.4s
```

<!-- output: stream="stderr" -->
```text
progress
```

```console
$ printf 'a\\nb\\nc\\nd\\n'
a
...
c
$ echo 42
41
$ echo shows nothing
```
"""


def _run(page: Path, tmp_path: Path, *flags: str) -> tuple[int, list[dict]]:
    report = tmp_path / "report.json"
    work = tmp_path / f"work{len(list(tmp_path.iterdir()))}"
    argv = [sys.executable, str(RUNNER), *flags, str(page), str(work), str(report)]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return completed.returncode, json.loads(report.read_text(encoding="utf-8"))


def test_a_wrong_sample_output_fails_and_update_rewrites_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    status, outcomes = _run(page, tmp_path)
    assert status == 1
    diffs = {c["line"]: c["diff"] for o in outcomes for c in o["checks"] if c["diff"]}
    assert sorted(diffs) == [11, 21, 25]  # the output block and the two console commands
    assert "-score 0.400 in 3.4s\n+score 0.500 in 1.2s" in diffs[11]
    assert "-c\n+d" in diffs[21] and "-41\n+42" in diffs[25]
    assert [o["status"] for o in outcomes] == ["ran", "mismatch", "checked", "mismatch"]

    status, _ = _run(page, tmp_path, "--write")
    text = page.read_text(encoding="utf-8")
    assert "score 0.500 in 1.2s" in text and "a\n...\nd\n$ echo 42\n42\n$ echo shows" in text
    assert text.count("progress") == 2  # what matched is left as it was
    status, outcomes = _run(page, tmp_path)
    assert status == 0, outcomes
