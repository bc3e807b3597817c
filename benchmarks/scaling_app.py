"""The app Ray workers rebuild for the Ray row of ``benchmarks/scaling.py``: the same job as its
thread rows (``rule_qa``'s program on ``SimulatedLM(seed=0, latency=0.05)``)."""

from __future__ import annotations

from mipro_core.native import NativeProgram
from mipro_core.testing import SimulatedLM, load_task

LATENCY = 0.05


def build() -> NativeProgram:
    """A fresh ``rule_qa`` program (each worker builds its own, with its own model)."""
    program = load_task("rule_qa").make_program(SimulatedLM(seed=0, latency=LATENCY))
    assert isinstance(program, NativeProgram)
    return program
