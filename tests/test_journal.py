"""The journal: resume after SIGKILL equals an uninterrupted run; integrity errors are clear."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core._evaluate import CallBudget
from mipro_core._journal_read import open_read_only
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

ROOT = Path(__file__).resolve().parents[1]


def worker(*args: str, strategy: str = "mipro") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MIPRO_TEST_STRATEGY": strategy}
    return subprocess.run(
        [sys.executable, "-m", "tests.journal_worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("ref")
    done = worker("run", str(tmp / "ref.sqlite"), str(tmp / "ref.json"))
    assert done.returncode == 0, done.stderr
    return dict(json.loads((tmp / "ref.json").read_text()))


# Kill points by LM call count, from this run's phases: the baseline (120 calls) and the
# bootstrap, with the grounding (data summary, descriptions) interleaved, 1-176, instruction
# proposals (an observe call and a propose call each) 177-188, trials from 189 with full
# evaluations at about 239-328 and 457-525 (the prompt cache makes later phases cheaper), the
# repair round's two proposer calls (one per stage) at 329-330 right after the first.
@pytest.mark.parametrize("kill_at", [130, 160, 179, 250, 329, 330, 380, 520])
def test_resume_after_sigkill_equals_uninterrupted(
    tmp_path: Path, reference: dict[str, Any], kill_at: int
) -> None:
    journal = tmp_path / "run.sqlite"
    killed = worker("run", str(journal), str(tmp_path / "x.json"), str(kill_at))
    assert killed.returncode == -9, killed.stderr
    resumed = worker("resume", str(journal), str(tmp_path / "out.json"))
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["trials"] == reference["trials"]
    assert out["state"] == reference["state"]
    # never re-pays: the killed run's calls + the resumed run's calls exceed an uninterrupted
    # run's only by the runs in flight at the kill (4 worker threads x 2 LM calls per run)
    assert kill_at + out["calls"] <= reference["calls"] + 4 * 2
    # the resumed run reports (and budgets) the whole run's spend, journaled calls included;
    # prompts that runs in flight at the kill had already paid for are answered from the
    # journal's prompt cache, uncounted (at most 4 runs x 2 calls)
    assert reference["lm_calls"] - 4 * 2 <= out["lm_calls"] <= reference["lm_calls"]


def test_the_main_file_alone_resumes_from_the_last_full_evaluation(
    tmp_path: Path, reference: dict[str, Any]
) -> None:
    """Copying only run.sqlite of a killed run (its -wal left behind) re-pays no more than the
    calls made since the last full evaluation: the log is checkpointed at each one."""
    journal = tmp_path / "run.sqlite"
    kill_at = 340  # the first full evaluation ends at about call 328
    killed = worker("run", str(journal), str(tmp_path / "x.json"), str(kill_at))
    assert killed.returncode == -9, killed.stderr
    (tmp_path / "copy").mkdir()
    shutil.copyfile(journal, tmp_path / "copy" / "run.sqlite")
    resumed = worker("resume", str(tmp_path / "copy" / "run.sqlite"), str(tmp_path / "out.json"))
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["trials"] == reference["trials"]
    # since call ~328: 12 calls, plus the runs in flight (4 threads x 2 calls); 84 before
    assert kill_at + out["calls"] <= reference["calls"] + (kill_at - 328) + 4 * 2


@pytest.fixture(scope="module")
def reference_pp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("refpp")
    done = worker("run", str(tmp / "ref.sqlite"), str(tmp / "ref.json"), strategy="mipro++")
    assert done.returncode == 0, done.stderr
    return dict(json.loads((tmp / "ref.json").read_text()))


# MIPRO++ (failure-aware) phases: proposer calls of the rounds are calls 386-387 and 538-539.
@pytest.mark.parametrize("kill_at", [386, 387, 450, 539])
def test_mipro_plus_plus_resumes_mid_round(
    tmp_path: Path, reference_pp: dict[str, Any], kill_at: int
) -> None:
    journal = tmp_path / "run.sqlite"
    killed = worker("run", str(journal), str(tmp_path / "x.json"), str(kill_at), strategy="mipro++")
    assert killed.returncode == -9, killed.stderr
    resumed = worker("resume", str(journal), str(tmp_path / "out.json"))
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["trials"] == reference_pp["trials"]
    assert out["state"] == reference_pp["state"]
    assert reference_pp["lm_calls"] - 4 * 2 <= out["lm_calls"] <= reference_pp["lm_calls"]


def test_existing_journal_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    small_journaled_run(path)
    before = path.read_bytes()
    with pytest.raises(mc.JournalError, match="already exists"):
        small_journaled_run(path)
    assert path.read_bytes() == before
    small_journaled_run(path, overwrite=True)


def small_journaled_run(path: Path, **options: Any) -> mc.OptimizationResult:
    return mc.optimize(
        toy_program(ToyLM()),
        toy_data(20),
        toy_metric,
        valset=toy_data(20, 100),
        journal=path,
        max_trials=2,
        num_candidates=2,
        **options,
    )


def test_journal_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    small_journaled_run(path)
    with pytest.raises(mc.JournalError, match="another program"):
        mc.resume(path, toy_program(ToyLM(), stages=2), toy_metric)


@pytest.mark.parametrize(
    "content", [b"", b"not a database at all", b"SQLite format 3\x00" + b"\x00" * 50]
)
def test_corrupt_journal_is_a_journal_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(content)
    with pytest.raises(mc.JournalError):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


def test_other_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    small_journaled_run(path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(mc.JournalError, match="schema version 99"):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


def test_truncated_journal_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    small_journaled_run(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(mc.JournalError):
        mc.resume(path, toy_program(ToyLM()), toy_metric)


def test_ctrl_c_stops_cleanly_and_keeps_the_journal(tmp_path: Path) -> None:
    import signal
    import time

    journal, out = tmp_path / "run.sqlite", tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.journal_worker", "slow", str(journal), str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the search has begun
        time.sleep(0.2)
        if journal.exists():
            try:  # read-only, as the report reads it: the running worker holds its journal
                with open_read_only(journal) as db:
                    query = "SELECT 1 FROM memo WHERE kind = 'trial' AND key = '000003'"
                    if db.execute(query).fetchone() is not None:
                        break
            except mc.JournalError:  # the worker is still creating it (seen on a loaded machine)
                continue
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "stopped: interrupted" in stdout
    result = json.loads(out.read_text())
    assert result["reason"] == "interrupted" and result["trials"] >= 3
    with mc.Journal.open(journal) as store:  # consistent and resumable
        assert store.get("trial", "000000") is not None


def test_usage_and_cost_are_in_the_result_and_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    pricing = mc.Pricing(input_per_million=2.0, output_per_million=8.0)
    result = small_journaled_run(path, pricing=pricing)
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
    assert result.cost == pytest.approx(
        pricing.cost(result.prompt_tokens, result.completion_tokens)
    )
    assert "cost:" in result.summary()
    with mc.Journal.open(path) as store:
        usage = store.get("usage", "totals")
    assert usage["lm_calls"] == result.lm_calls and usage["cost"] == pytest.approx(result.cost)
    resumed = mc.resume(path, toy_program(ToyLM()), toy_metric)
    assert resumed.cost == pytest.approx(result.cost)


class TwoFieldLM(ToyLM):
    """The toy model for a stage ``topic, question -> reasoning, answer``."""

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        out = super().__call__(messages, n=n, temperature=temperature)
        return [f"reasoning: it is a word\n{o}" if o.startswith("answer:") else o for o in out]


def two_field_program(lm: ToyLM) -> NativeProgram:
    stage = Stage("s0", "topic, question -> reasoning, answer", "Answer the question.", lm=lm)
    return NativeProgram([stage], lambda st, inputs: st["s0"](**inputs))


def test_resume_of_a_finished_run_with_multi_field_stages_pays_nothing(tmp_path: Path) -> None:
    """Field order (not alphabetical here) survives the journal: demos and failing examples
    built from replayed traces are the same prompts the run paid for."""

    def data(n: int, offset: int = 0) -> list[mc.Example]:
        return [
            mc.Example({"topic": "words", "question": f"word{i}"}, {"answer": f"WORD{i}"})
            for i in range(offset, offset + n)
        ]

    journal = tmp_path / "run.sqlite"
    first = mc.optimize(
        two_field_program(TwoFieldLM()),
        data(40),
        toy_metric,
        valset=data(60, 100),
        journal=journal,
        num_threads=4,
        minibatch_size=15,
        max_trials=12,
        num_candidates=4,
        seed=5,
    )
    assert first.stopped_reason == "completed"
    assert len(first.instruction_candidates["s0"]) == 5  # the repair round ran
    lm = TwoFieldLM()
    again = mc.resume(journal, two_field_program(lm), toy_metric)
    assert lm.calls == 0
    assert [t.log_entry() for t in again.trials] == [t.log_entry() for t in first.trials]


def test_the_journal_keeps_the_key_order_of_what_it_stores(tmp_path: Path) -> None:
    with mc.Journal.create(tmp_path / "j.sqlite", {"program": "x"}) as store:
        store.put("run", "k", {"inputs": {"topic": "t", "question": "q"}, "b": 1, "a": 2})
        assert list(store.get("run", "k")) == ["inputs", "b", "a"]
        assert list(store.get("run", "k")["inputs"]) == ["topic", "question"]


def test_replayed_runs_inform_the_per_run_estimate_like_the_runs_did() -> None:
    budget = CallBudget(1000)
    assert budget.per_run_estimate(1) == 1
    budget.count_replayed("run:s:e1", 3, 0, 0, succeeded=True)
    budget.count_replayed("run:s:e2", 3, 0, 0, succeeded=True)
    budget.count_replayed("run:s:e3", 9, 0, 0, succeeded=False)  # a failed run: not a cost sample
    budget.count_replayed("run:s:e1", 3, 0, 0, succeeded=True)  # once per run
    budget.count_replayed("proposer:k", 1, 0, 0)
    assert budget.per_run_estimate(1) == 3
    assert budget.used == 3 + 3 + 9 + 1
    assert not budget.needs_pilot()
