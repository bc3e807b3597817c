"""``mipro report`` / ``write_report``: the HTML run report from a journal, artifact or result."""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import re
import sqlite3
import struct
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mipro_core
from mipro_core import (
    Demo,
    InvalidInputError,
    Journal,
    JournalError,
    ModuleState,
    OptimizationResult,
    ProgramState,
    Trial,
    save_state,
)
from mipro_core._report import load_report_data, write_report
from mipro_core._report._data import cumulative_lm_calls
from mipro_core._report._diff import REWRITTEN, changed_share
from mipro_core._report._html import diff_html
from mipro_core.cli import main
from mipro_core.testing import SimulatedLM, load_task

HOSTILE = "Answer. <script>alert('x')</script> & <img src=x onerror=alert(1)> \u202eevil"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@attrs.frozen
class Run:
    journal: Path
    artifact: Path
    result: OptimizationResult


def _optimize(
    directory: Path, task_name: str, *, instruction: str | None = None, **options: Any
) -> Run:
    task = load_task(task_name)
    program = task.make_program(SimulatedLM(seed=0))
    if instruction is not None:
        (name,) = program.modules
        program.apply(ProgramState({name: ModuleState(instruction, ())}))
    journal = directory / "run.db"
    result = mipro_core.optimize(
        program,
        task.trainset[:60],
        task.metric,
        valset=task.valset[:40],
        journal=journal,
        num_threads=4,
        num_candidates=4,
        minibatch_size=10,
        full_eval_every=3,
        **options,
    )
    return Run(journal, result.save(directory / "best.json"), result)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _optimize(tmp_path_factory.mktemp("run"), "rule_qa", max_trials=6, seed=0)


@pytest.fixture(scope="module")
def report(run: Run, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert write_report(run.journal, out) == (out,)
    return out.read_text("utf-8")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def _images(page: str) -> list[bytes]:
    prefix = "data:image/png;base64,"
    sources = [a.get("src") or "" for tag, a in _tags(page) if tag == "img"]
    assert all(s.startswith(prefix) for s in sources), sources
    return [base64.b64decode(s[len(prefix) :], validate=True) for s in sources]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["report", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the page ----------------------------------------------------------------------------------


def test_page_is_self_contained(report: str) -> None:
    tags = _tags(report)
    assert not any(tag in ("script", "iframe", "object", "embed") for tag, _ in tags)
    references = [
        value or ""
        for _, attributes in tags
        for name, value in attributes.items()
        if name in ("src", "href", "action", "srcset", "poster")
    ]
    assert references, "expected the figures at least"
    assert all(ref.startswith("data:") for ref in references), references
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", report, re.IGNORECASE)
    assert "@import" not in report and "url(" not in report
    policy = next(
        a["content"]
        for t, a in tags
        if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    )
    assert policy is not None and "default-src 'none'" in policy and "img-src data:" in policy


def test_figures_are_inline_pngs(report: str) -> None:
    images = _images(report)
    assert len(images) == 3  # score by trial, score by LM calls, credit
    for image in images:
        width, height = _png_size(image)
        assert width > 300 and height > 100
    for key in ("score_by_trial", "score_by_lm_calls", "credit"):
        assert f'id="fig-{key}"' in report


def test_page_shows_original_and_winning_instruction_with_a_diff(run: Run, report: str) -> None:
    (name,) = run.result.state.names()
    original = run.result.initial_state[name].instruction
    winning = run.result.state[name].instruction
    assert original != winning, "the fixture run should change the instruction"
    assert f'<pre class="original">{html.escape(original)}</pre>' in report
    assert f'<pre class="winning">{html.escape(winning)}</pre>' in report
    if changed_share(original, winning) > REWRITTEN:  # a rewrite: the two texts side by side
        assert '<div class="side">' in report and '<div class="diff">' not in report
    else:
        diff = re.search(r'<div class="diff">(.*?)</div>', report, re.DOTALL)
        assert diff is not None and "<ins>" in diff.group(1)
    assert "instruction changed" in report


def test_page_shows_demos_credit_and_configuration(run: Run, report: str) -> None:
    (name,) = run.result.state.names()
    for demo in run.result.state[name].demos:
        for value in (*demo.inputs.values(), *demo.outputs.values()):
            assert html.escape(str(value)) in report
    for section in ("Score trajectory", "Per-module credit", "Run configuration", "Trials"):
        assert f"<h2>{section}</h2>" in report
    credit = run.result.credit[0]
    assert f"{credit.instruction_share:.0%}" in report and f"{credit.demos_share:.0%}" in report
    for label in ("strategy", "seed", "max_trials", "minibatch_size", "TPESampler", "LM calls"):
        assert label in report
    assert f"<td>LM calls</td><td>{run.result.lm_calls}</td>" in report
    assert f"{run.result.best_score:.3f}" in report and f"{run.result.baseline_score:.3f}" in report


def test_journal_gives_the_same_numbers_as_the_result(run: Run) -> None:
    from_journal, from_result = load_report_data(run.journal), load_report_data(run.result)
    assert [t.log_entry() for t in from_journal.trials] == [
        t.log_entry() for t in run.result.trials
    ]
    assert [t.lm_calls for t in from_journal.trials] == [t.lm_calls for t in run.result.trials]
    assert from_journal.baseline_score == run.result.baseline_score
    assert from_journal.best_score == run.result.best_score
    assert from_journal.lm_calls == run.result.lm_calls
    assert from_journal.lm_calls_at == from_result.lm_calls_at
    assert from_journal.lm_calls_at[-1] == run.result.lm_calls
    for module, credit in zip(from_journal.modules, run.result.credit, strict=True):
        assert module.best_instruction == credit.best_instruction
        assert module.original_instruction == credit.original_instruction
        assert module.instruction_share == pytest.approx(credit.instruction_share)
        assert module.demos_share == pytest.approx(credit.demos_share)
        assert module.demos == run.result.state[module.name].demos
    assert [m.instruction_means for m in from_journal.modules] == [
        m.instruction_means for m in from_result.modules
    ]


def test_mipro_plus_plus_multi_module_journal_matches_result(tmp_path: Path) -> None:
    run = _optimize(tmp_path, "multihop_qa", max_trials=6, seed=1, strategy="mipro++")
    data = load_report_data(run.journal)
    assert [m.name for m in data.modules] == list(run.result.state.names())
    for module in data.modules:
        assert module.best_instruction == run.result.state[module.name].instruction
        assert module.demos == run.result.state[module.name].demos
        assert module.instruction_candidates == len(run.result.instruction_candidates[module.name])
    assert data.best_score == run.result.best_score
    out = tmp_path / "r.html"
    write_report(run.journal, out, png_dir=tmp_path / "png")
    assert len(_images(out.read_text("utf-8"))) == 3


def test_reading_leaves_the_journal_untouched(run: Run) -> None:
    before = {p.name: _digest(p) for p in run.journal.parent.iterdir()}
    assert load_report_data(run.journal).trials
    assert {p.name: _digest(p) for p in run.journal.parent.iterdir()} == before


def test_report_from_an_optimization_result(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_report(run.result, out)
    page = out.read_text("utf-8")
    assert len(_images(page)) == 3
    assert "stopped because" in page and run.result.stopped_reason in page


# --- the command -------------------------------------------------------------------------------


def test_cli_writes_html_and_pngs(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, figures = tmp_path / "report.html", tmp_path / "figs" / "nested"
    status, stdout, err = _cli(capsys, str(run.journal), "--out", str(out), "--png", str(figures))
    assert (status, err) == (0, "")
    names = sorted(p.name for p in figures.iterdir())
    assert names == ["credit.png", "score_by_lm_calls.png", "score_by_trial.png"]
    embedded = sorted(_images(out.read_text("utf-8")))
    assert sorted(p.read_bytes() for p in figures.iterdir()) == embedded
    for path in figures.iterdir():
        assert _png_size(path.read_bytes())[0] > 300
    assert stdout.count("wrote ") == 4


def test_cli_png_only(run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys, str(run.journal), "--png", str(tmp_path))
    assert (status, err) == (0, "")
    assert len(list(tmp_path.glob("*.png"))) == 3
    assert not list(tmp_path.glob("*.html"))


def test_cli_needs_an_output(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _cli(capsys, str(run.journal))
    assert status == 1
    assert err.count("\n") == 1 and "--out" in err


def test_cli_refuses_to_overwrite_its_source(run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(run.journal)
    status, _, err = _cli(capsys, str(run.journal), "--out", str(run.journal))
    assert status == 1 and "overwrite" in err and err.count("\n") == 1
    assert _digest(run.journal) == before


def test_report_from_an_artifact(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a.html"
    status, _, err = _cli(capsys, str(run.artifact), "--out", str(out))
    assert (status, err) == (0, "")
    page = out.read_text("utf-8")
    (name,) = run.result.state.names()
    assert html.escape(run.result.state[name].instruction) in page
    assert "made from an artifact" in page  # says what is missing
    assert "<img" not in page and "Score trajectory" not in page
    assert f"{run.result.best_score:.3f}" in page  # the score kept in the metadata


def test_artifact_report_needs_no_matplotlib(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide_matplotlib(monkeypatch)
    write_report(run.artifact, tmp_path / "a.html")
    assert "made from an artifact" in (tmp_path / "a.html").read_text("utf-8")


def _hide_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError


def test_without_matplotlib_one_clear_line(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _hide_matplotlib(monkeypatch)
    out = tmp_path / "r.html"
    with pytest.raises(InvalidInputError, match=re.escape("mipro-core[report]")):
        write_report(run.journal, out)
    status, _, err = _cli(capsys, str(run.journal), "--out", str(out))
    assert status == 1 and err.count("\n") == 1 and "mipro-core[report]" in err
    assert not out.exists()


# --- bad files ---------------------------------------------------------------------------------


def _one_line_failure(capsys: pytest.CaptureFixture[str], source: Path, tmp_path: Path) -> str:
    out = tmp_path / "out.html"
    status, stdout, err = _cli(capsys, str(source), "--out", str(out))
    assert status == 1
    assert stdout == ""
    assert err.startswith("mipro: error: ") and err.count("\n") == 1, err
    assert not out.exists()
    return err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_failure(capsys, tmp_path / "nope.db", tmp_path)
    assert "nope.db" in err


def test_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _one_line_failure(capsys, tmp_path, tmp_path)
    assert "not a regular file" in err


def test_output_directory_missing(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _cli(capsys, str(run.journal), "--out", str(tmp_path / "no" / "r.html"))
    assert status == 1 and err.count("\n") == 1 and "does not exist" in err


def test_journal_path_with_uri_characters(run: Run, tmp_path: Path) -> None:
    odd = tmp_path / "a b#c?d%20e"
    odd.mkdir()
    copy = odd / "run.db"
    copy.write_bytes(run.journal.read_bytes())
    assert load_report_data(copy).trials


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x00\x01garbage\xff" * 50, "neither a mipro journal"),
        (b"", "neither a mipro journal"),
        (b'{"format": "something.else"}', "not a mipro program-state artifact"),
        (b'{"truncated": ', "not valid JSON"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "not a readable mipro journal"),
    ],
)
def test_corrupt_files(
    content: bytes, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.db"
    source.write_bytes(content)
    err = _one_line_failure(capsys, source, tmp_path)
    assert expected in err


def test_sqlite_file_that_is_not_a_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "other.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    db.close()
    before = _digest(source)
    err = _one_line_failure(capsys, source, tmp_path)
    assert "not a readable mipro journal" in err and "no such table: meta" in err
    assert _digest(source) == before  # not switched to WAL mode or otherwise touched


def test_truncated_journal(run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cut.db"
    data = run.journal.read_bytes()
    source.write_bytes(data[: len(data) // 3])
    err = _one_line_failure(capsys, source, tmp_path)
    assert "journal" in err


def test_journal_with_a_malformed_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "j.db"
    with Journal.create(source, {"modules": ["answer"], "strategy": "mipro"}) as journal:
        journal.put("trial", "000000", {"number": "zero", "kind": "full"})
    with pytest.raises(JournalError, match="invalid trial record"):
        load_report_data(source)
    err = _one_line_failure(capsys, source, tmp_path)
    assert "invalid trial record '000000'" in err


def test_journal_of_another_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "j.db"
    with Journal.create(source, {"modules": ["answer"]}) as journal:
        journal.set_meta("schema_version", 99)
    err = _one_line_failure(capsys, source, tmp_path)
    assert "schema version 99" in err


def test_journal_before_the_search_and_while_running(tmp_path: Path) -> None:
    source = tmp_path / "live.db"
    journal = Journal.create(source, {"modules": ["answer"], "strategy": "mipro", "seed": 3})
    try:
        data = load_report_data(source)  # the run's connection is open: a -wal file exists
        assert [m.name for m in data.modules] == ["answer"] and data.modules[
            0
        ].best_instruction is None
        assert any("before the search space was recorded" in n for n in data.notes)
        trial = Trial(0, "full", {}, 0.25, ("a", "b"), lm_calls=2)
        journal.put("trial", "000000", trial.to_dict())
        journal.put("space", "instructions", {"answer": ["Answer."]})
        journal.put("space", "demo_sets", {"answer": [[]]})
        live = load_report_data(source)
        assert live.trials == (trial,) and live.baseline_score == 0.25
        assert live.modules[0].best_instruction == "Answer."
        out = tmp_path / "live.html"
        write_report(source, out)
        assert "Answer." in out.read_text("utf-8")
    finally:
        journal.close()


# --- untrusted content -------------------------------------------------------------------------


def _assert_escaped(page: str) -> None:
    assert "<script" not in page.lower()
    tags = _tags(page)
    assert not any(name.startswith("on") for _, a in tags for name in a)
    assert [t for t, _ in tags].count("img") == page.count("data:image/png;base64,")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "\u202e" not in page and "\\u202e" in page


def test_hostile_artifact_is_escaped(tmp_path: Path) -> None:
    state = ProgramState(
        {
            "<b>mod</b>": ModuleState(
                HOSTILE,
                (Demo({"<q>": HOSTILE}, {"answer": HOSTILE}, source="<script>x</script>"),),
            )
        }
    )
    artifact = save_state(tmp_path / "evil.json", state, {"<script>k</script>": HOSTILE})
    out = tmp_path / "evil.html"
    write_report(artifact, out)
    page = out.read_text("utf-8")
    _assert_escaped(page)
    assert "&lt;b&gt;mod&lt;/b&gt;" in page and "<b>mod" not in page
    assert "&lt;q&gt;" in page


def test_hostile_instruction_in_a_journal_is_escaped(tmp_path: Path) -> None:
    run = _optimize(tmp_path, "rule_qa", instruction=HOSTILE, max_trials=3, seed=2)
    out = tmp_path / "evil.html"
    write_report(run.journal, out)
    page = out.read_text("utf-8")
    _assert_escaped(page)
    assert len(_images(page)) >= 1


# --- invariants --------------------------------------------------------------------------------

_PLAIN = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs"),
        blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
    | st.sampled_from(" \n\t"),
    max_size=60,
)


def _strip(markup: str, drop: str) -> str:
    markup = re.sub(rf"<{drop}>.*?</{drop}>", "", markup, flags=re.DOTALL)
    return html.unescape(re.sub(r"</?(ins|del)>", "", markup))


@settings(max_examples=100, deadline=None)
@given(_PLAIN, _PLAIN)
def test_diff_reconstructs_both_texts(old: str, new: str) -> None:
    markup = diff_html(old, new)
    assert _strip(markup, "ins") == old
    assert _strip(markup, "del") == new
    assert "<" not in re.sub(r"</?(ins|del)>", "", markup)


_TRIALS = st.lists(
    st.builds(
        lambda n, kind, params, ids, calls: Trial(n, kind, params, 0.5, ids, lm_calls=calls),
        st.integers(0, 1000),
        st.sampled_from(["minibatch", "full"]),
        st.dictionaries(st.sampled_from(["a.instruction", "a.demos"]), st.integers(0, 3)),
        st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True).map(tuple),
        st.integers(0, 30),
    ),
    min_size=1,
    max_size=12,
)


@given(_TRIALS, st.integers(0, 2000))
def test_cumulative_lm_calls_is_monotone_and_ends_at_the_total(
    trials: list[Trial], total: int
) -> None:
    points = cumulative_lm_calls(trials, total)
    assert len(points) == len(trials)
    assert all(a <= b for a, b in itertools.pairwise(points))
    if sum(t.lm_calls for t in trials) <= total:
        assert points[-1] == total
    assert cumulative_lm_calls(trials, None) == ()


def test_repeated_configuration_is_not_charged_twice() -> None:
    first = Trial(0, "full", {}, 0.5, ("a", "b"), lm_calls=4)
    again = Trial(1, "minibatch", {"m.instruction": 0}, 0.5, ("a", "b"), lm_calls=4)
    assert cumulative_lm_calls([first, again], 4) == (4, 4)


def test_lm_calls_axis_is_exact_when_trials_record_the_running_total() -> None:
    from mipro_core._report._data import recorded_lm_calls

    first = Trial(
        number=0,
        kind="full",
        params={},
        score=0.5,
        example_ids=("a",),
        lm_calls=3,
        total_lm_calls=3,
    )
    second = Trial(
        number=1,
        kind="minibatch",
        params={"m.instruction": 1},
        score=0.7,
        example_ids=("a",),
        lm_calls=3,
        total_lm_calls=40,
    )
    assert recorded_lm_calls([first, second])
    assert cumulative_lm_calls([first, second], 45) == (3, 40)
    old = Trial(number=1, kind="minibatch", params={}, score=0.7, example_ids=("a",), lm_calls=3)
    assert not recorded_lm_calls([first, old])
