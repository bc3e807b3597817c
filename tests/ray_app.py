"""The app a Ray worker rebuilds in tests/test_ray_backend.py (importable as ``tests.ray_app``)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

from mipro_core.native import NativeProgram, Stage
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


PAID_DIR = "MIPRO_TEST_PAID_DIR"
"""A folder where :class:`PaidDyingLM` records each call it made as a file in ``calls``; while
it holds ``armed`` and no ``killed``, the next call is made, then its worker process killed."""


class PaidDyingLM(ToyLM):
    """The toy model, except that it kills its worker right after a call it made (and that the
    provider bills) when armed (see ``PAID_DIR``); every call is recorded there."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        answer = super().__call__(messages, n=n, temperature=temperature)
        folder = Path(os.environ[PAID_DIR])
        (folder / "calls").mkdir(exist_ok=True)
        (folder / "calls" / uuid.uuid4().hex).touch()
        if (folder / "armed").exists():
            try:
                (folder / "killed").touch(exist_ok=False)
            except FileExistsError:
                pass
            else:
                os._exit(1)  # the call was made and billed; its answer is lost with the worker
        return answer


def build_paid() -> NativeProgram:
    """:func:`build` with a model that records its calls and dies after one (see ``PAID_DIR``)."""
    return toy_program(PaidDyingLM(), stages=1)


CALL_LOG = "MIPRO_TEST_CALL_LOG"
"""A folder where :class:`SlowLM` records each call as a file holding its start and end time."""


class SlowLM(ToyLM):
    """The toy model answering after ``MIPRO_TEST_LATENCY`` seconds (a remote provider); it
    needs ``CALL_LOG`` in its environment (only a backend's own runtime_env sets it)."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        folder = os.environ.get(CALL_LOG)
        if not folder:
            raise RuntimeError(f"{CALL_LOG} is not set on this worker")
        start = time.time()
        time.sleep(float(os.environ.get("MIPRO_TEST_LATENCY", "0.2")))
        answer = super().__call__(messages, n=n, temperature=temperature)
        (Path(folder) / uuid.uuid4().hex).write_text(f"{start} {time.time()}")
        return answer


def calls(folder: Path) -> list[tuple[float, float]]:
    """The (start, end) wall times of the calls :class:`SlowLM` recorded in ``folder``."""
    spans = [p.read_text().split() for p in folder.iterdir()]
    return sorted((float(a), float(b)) for a, b in spans)


def most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most calls that were in flight at one moment."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    peak = level = 0
    for _, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def build_slow() -> NativeProgram:
    """:func:`build` with a model that takes its time (see :class:`SlowLM`)."""
    return toy_program(SlowLM(), stages=1)


def build() -> NativeProgram:
    # one stage: a native program's prompt cache (repeated stage prompts within a run are free)
    # lives in the driver's run memo, which workers do not share (docs/scaling.md)
    return toy_program(DyingLM(), stages=1)


def build_failing() -> NativeProgram:
    """A factory that raises on the workers (a missing key or file there)."""
    raise RuntimeError("no API key on this node")


def build_dying() -> NativeProgram:
    """A factory whose worker process dies while building (a native crash, the OOM killer)."""
    os._exit(3)


metric = toy_metric


class SoloProgram(NativeProgram):
    """A program that cannot be cloned (its prompts sit where a copy cannot reach them): the
    run scores one trial at a time."""

    def clone(self) -> NativeProgram:
        raise NotImplementedError("SoloProgram keeps its prompts behind a function")


def build_solo() -> SoloProgram:
    """:func:`build` as a program whose ``clone()`` refuses."""
    stage = Stage("s0", "question -> answer", "Answer the question.", lm=DyingLM())
    return SoloProgram([stage], lambda st, inputs: st["s0"](question=inputs["question"]))


class Answer:
    """What many apps return: an object (an AIMessage, a pydantic model), not JSON."""

    def __init__(self, text: str) -> None:
        self.text = text


def build_answer() -> NativeProgram:
    """:func:`build` returning an :class:`Answer`: only a metric on the workers can score it."""
    stage = Stage("s0", "question -> answer", "Answer the question.", lm=DyingLM())
    return NativeProgram(
        [stage], lambda st, inputs: Answer(st["s0"](question=inputs["question"])["answer"])
    )


def answer_metric(example: Any, prediction: Answer, trace: Any = None) -> bool:
    return bool(prediction.text == example.outputs["answer"])
