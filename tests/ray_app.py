"""The app a Ray worker rebuilds in tests/test_ray_backend.py (importable as ``tests.ray_app``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mipro_core.native import NativeProgram
from tests.toy import ToyLM, toy_metric, toy_program

KILL_DIR = "MIPRO_TEST_KILL_DIR"
"""A folder: while it holds a file ``armed`` and no file ``killed``, the next worker run creates
``killed`` and kills its own process (once per arming)."""


class DyingLM(ToyLM):
    """The toy model, except that it kills its worker process when armed (see ``KILL_DIR``)."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        folder = os.environ.get(KILL_DIR)
        if folder and (Path(folder) / "armed").exists():
            try:
                (Path(folder) / "killed").touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                os._exit(1)  # a worker dying mid-run, as a killed process or a lost node would
        return super().__call__(messages, n=n, temperature=temperature)


def build() -> NativeProgram:
    # one stage: a native program's prompt cache (repeated stage prompts within a run are free)
    # lives in the driver's run memo, which workers do not share (docs/scaling.md)
    return toy_program(DyingLM(), stages=1)


metric = toy_metric
