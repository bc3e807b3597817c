"""Subprocess used by test_journal: runs (or resumes) a journaled optimization.

usage: python -m tests.journal_worker run|resume JOURNAL OUT.json [KILL_AT_CALL]
Kills itself with SIGKILL on the KILL_AT_CALL-th LM call, like a crash would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import mipro_core as mc
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


class SlowLM(ToyLM):
    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        import time

        time.sleep(0.05)  # slow enough that the run is still searching when Ctrl-C comes
        return super().__call__(messages, n=n, temperature=temperature)


class KillingLM(ToyLM):
    def __init__(self, kill_at: int | None) -> None:
        super().__init__()
        self.kill_at = kill_at

    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        out = super().__call__(messages, n=n, temperature=temperature)
        if self.kill_at is not None and self.calls >= self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return out


def main() -> None:
    mode, journal, out = sys.argv[1:4]
    kill_at = int(sys.argv[4]) if len(sys.argv) > 4 else None
    lm = KillingLM(kill_at)
    program = toy_program(lm, stages=2)
    if mode == "slow":
        slow = toy_program(SlowLM(), stages=2)
        print("started", flush=True)
        result = mc.optimize(
            slow,
            toy_data(40),
            toy_metric,
            valset=toy_data(60, offset=100),
            journal=journal,
            num_threads=4,
            minibatch_size=15,
            max_trials=200,
            num_candidates=4,
            seed=5,
        )
        print("stopped:", result.stopped_reason, flush=True)
        with open(out, "w") as fh:
            json.dump({"trials": len(result.trials), "reason": result.stopped_reason}, fh)
        return
    if mode == "run":
        result = mc.optimize(
            program,
            toy_data(40),
            toy_metric,
            valset=toy_data(60, offset=100),
            journal=journal,
            num_threads=4,
            minibatch_size=15,
            max_trials=12,
            num_candidates=4,
            seed=5,
        )
    else:
        result = mc.resume(journal, program, toy_metric)
    with open(out, "w") as fh:
        json.dump(
            {
                "trials": [list(map(str, t.log_entry())) for t in result.trials],
                "state": result.state.to_dict(),
                "calls": lm.calls,
                "lm_calls": result.lm_calls,
            },
            fh,
        )


if __name__ == "__main__":
    main()
