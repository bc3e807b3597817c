"""One process per journal: the lock is released on every way out of a run, and a forked child
does not keep it."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import Journal
from mipro_core.plugins import (
    DISABLE_AUTOLOAD_ENV,
    RunInfo,
    hookimpl,
    register_plugin,
    reset_plugin_manager,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

fcntl = pytest.importorskip("fcntl", reason="the journal lock is POSIX flock only")

OPTIONS: dict[str, Any] = {"max_trials": 2, "progress": False}


@pytest.fixture(autouse=True)
def in_process_plugins_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def locked(path: Path) -> bool:
    """Whether a process holds the journal's lock: a new open file description is refused
    exactly as another process's would be (``flock`` locks belong to open file descriptions)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # drops the probe's own lock, if it got one
    return False


def shut_down_pool() -> cf.ThreadPoolExecutor:
    pool = cf.ThreadPoolExecutor(2)
    pool.shutdown()
    return pool


def optimize(path: Path, **options: Any) -> mc.OptimizationResult:
    lm = ToyLM()
    return mc.optimize(
        toy_program(lm), toy_data(20), toy_metric, proposer_lm=lm, journal=path, **options
    )


def finished_journal(path: Path) -> Path:
    optimize(path, **OPTIONS)
    assert not locked(path)
    return path


class LocalSession:
    def __init__(self, program: mc.Program, metric: mc.Metric) -> None:
        self.program, self.metric = program, metric

    def close(self) -> None:
        pass


class LocalBackend:
    """Runs the program where it is: the backend path of optimize()."""

    def connect(
        self,
        program: mc.Program,
        metric: mc.Metric,
        examples: Sequence[mc.Example],
        *,
        num_threads: int,
    ) -> LocalSession:
        return LocalSession(program, metric)


class InterruptedTracker:
    """Ctrl-C while an experiment tracker starts its run (its server is slow to answer)."""

    @hookimpl
    def mipro_run_started(self, run: RunInfo) -> None:
        raise KeyboardInterrupt


# --- optimize() and resume() failing before the engine starts ----------------------------------


def test_a_refused_executor_leaves_the_journal_free_for_another_process(tmp_path: Path) -> None:
    """A notebook's optimize() failed at once; `mipro resume` from a shell must not be refused
    while the kernel lives on."""
    path = tmp_path / "run.sqlite"
    with pytest.raises(mc.InvalidInputError, match="executor"):
        optimize(path, executor=shut_down_pool(), **OPTIONS)
    code = "import sys, mipro_core as mc; mc.Journal.open(sys.argv[1]).close(); print('opened')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    other = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
    )
    assert other.stdout == "opened\n", other.stderr


def test_an_observer_interrupted_at_start_leaves_the_journal_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    register_plugin(InterruptedTracker(), name="tracker")
    with pytest.raises(KeyboardInterrupt):
        optimize(path, **OPTIONS)
    assert not locked(path)
    with Journal.open(path):  # and this process can open it again
        assert locked(path)
    assert not locked(path)


def test_a_run_on_a_backend_failing_at_start_leaves_the_journal_unlocked(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with pytest.raises(mc.InvalidInputError, match="executor"):
        optimize(path, backend=LocalBackend(), executor=shut_down_pool(), **OPTIONS)
    assert not locked(path)


def test_a_run_on_a_backend_unlocks_its_journal_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    result = optimize(path, backend=LocalBackend(), **OPTIONS)
    assert result.trials
    assert not locked(path)


def test_a_resume_with_a_refused_executor_leaves_the_journal_unlocked(tmp_path: Path) -> None:
    path = finished_journal(tmp_path / "run.sqlite")
    lm = ToyLM()
    with pytest.raises(mc.InvalidInputError, match="executor"):
        mc.resume(path, toy_program(lm), toy_metric, proposer_lm=lm, executor=shut_down_pool())
    assert not locked(path)


def test_a_resume_failing_while_it_prepares_leaves_the_journal_unlocked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = finished_journal(tmp_path / "run.sqlite")

    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr("mipro_core._resume.estimate_cost", interrupted)
    lm = ToyLM()
    with pytest.raises(KeyboardInterrupt):
        mc.resume(path, toy_program(lm), toy_metric, proposer_lm=lm)
    assert not locked(path)


# --- fork ---------------------------------------------------------------------------------------


def fork() -> int:
    with warnings.catch_warnings():  # "fork() of a multi-threaded process": nothing runs here
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_a_forked_child_does_not_keep_the_journal_locked(tmp_path: Path) -> None:
    """A user's multiprocessing pool started during a run outlives it: the journal must still be
    free once the run closed it, and the child must not count as its holder."""
    path = tmp_path / "run.sqlite"
    Journal.create(path, {"run": 1}).close()
    store = Journal.open(path)
    hold_read, hold_write = os.pipe()  # the child lingers until the write end closes
    report_read, report_write = os.pipe()
    pid = fork()
    if pid == 0:  # the child: try the journal (the parent has it), then linger
        try:
            os.close(hold_write)
            os.close(report_read)
            try:
                Journal.open(path).close()
                outcome = b"opened"
            except mc.JournalError:
                outcome = b"refused"
            os.write(report_write, outcome)
            os.close(report_write)
            os.read(hold_read, 1)
        finally:
            os._exit(0)
    os.close(report_write)
    os.close(hold_read)
    try:
        with os.fdopen(report_read, "rb") as child:
            assert child.read() == b"refused"  # another process, whatever it inherited
        assert locked(path)  # the child closed its copy without unlocking the parent's
        store.close()
        assert not locked(path)  # the child lives on and holds nothing
        Journal.open(path).close()
    finally:
        os.close(hold_write)
        os.waitpid(pid, 0)
