"""Reports one run's events to the observer plugins (experiment trackers, loggers).

The engine knows nothing about plugins: it calls ``on_trial`` per trial. :class:`RunObservers`
adds the run-level events around it, skips trials a resumed run replays from its journal, and
lets :func:`~mipro_core._plugin_manager.notify` keep a failing observer from stopping the run.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ._plugin_manager import notify

if TYPE_CHECKING:
    from ._memo import Memo
    from ._result import OptimizationResult, Trial
    from ._run_info import RunInfo

RUN_ID_KEY = "run_id"
"""The journal ``meta`` key holding the run id (kept across resumes)."""


class RunObservers:
    """The observer hooks of one run, called in order: started, trials, completed or failed."""

    def __init__(self, run: RunInfo) -> None:
        self.run = run

    def started(self) -> None:
        notify("mipro_run_started", run=self.run)

    def trial(self, trial: Trial) -> None:
        if trial.number < self.run.replayed_trials:
            return  # notified by the process that first ran it
        notify("mipro_trial_completed", trial=trial, run=self.run)

    def completed(self, result: OptimizationResult) -> None:
        notify("mipro_run_completed", run=self.run, result=result)

    def failed(self, error: BaseException) -> None:
        notify("mipro_run_failed", run=self.run, error=error)


def run_id_of(memo: Memo) -> str:
    """The run's id: kept in a journal's metadata (so a resume reports the same id), else new."""
    meta = getattr(memo, "meta", None)
    set_meta = getattr(memo, "set_meta", None)
    if callable(meta) and callable(set_meta):
        found = meta(RUN_ID_KEY)
        if isinstance(found, str) and found:
            return found
        new = uuid.uuid4().hex
        set_meta(RUN_ID_KEY, new)
        return new
    return uuid.uuid4().hex


def recorded_trials(memo: Memo) -> int:
    """How many trials the memo already holds (a journal being resumed); they are numbered
    ``0 .. n-1`` and the replay records them again in the same order."""
    count = 0
    while memo.get("trial", f"{count:06d}") is not None:
        count += 1
    return count
