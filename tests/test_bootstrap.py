"""Stage 1: which module call of a passing trace becomes the module's bootstrapped demo."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import numpy as np

from mipro_core import current_state
from mipro_core._bootstrap import bootstrap_pools
from mipro_core._evaluate import CallBudget, Evaluator
from mipro_core._memo import InMemoryMemo
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric


def two_hop_program(lm: ToyLM) -> NativeProgram:
    """One stage called twice per run: a draft call, then the call whose answer is returned."""

    def forward(st: Any, inputs: Any) -> Any:
        st["hop"](question=f"draft {inputs['question']}")
        return st["hop"](question=inputs["question"])

    return NativeProgram(
        [Stage("hop", "question -> answer", "Answer the question.", lm=lm)], forward
    )


def test_a_module_called_twice_per_run_keeps_its_last_call_as_the_demo() -> None:
    program = two_hop_program(ToyLM())
    with cf.ThreadPoolExecutor(4) as executor:
        evaluator = Evaluator(
            [program], toy_metric, executor, InMemoryMemo(), CallBudget(), max_errors=100
        )
        pools = bootstrap_pools(
            evaluator,
            current_state(program),
            program.modules,
            toy_data(40),
            wanted=5,
            threshold=None,
            rng=np.random.default_rng(0),
            batch_size=8,
        )
    demos = pools.bootstrapped["hop"]
    assert pools.successes == 5
    assert len(demos) == 5
    # the last call's input is "wordN", the draft call's "draft wordN"
    assert all(demo.inputs["question"].startswith("word") for demo in demos)
    assert all(demo.source == "bootstrapped" for demo in demos)
