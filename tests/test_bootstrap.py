"""Stage 1: which module call of a passing trace becomes the module's bootstrapped demo."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import numpy as np

import mipro_core as mc
from mipro_core import current_state
from mipro_core._bootstrap import bootstrap_pools
from mipro_core._evaluate import CallBudget, Evaluator
from mipro_core._memo import InMemoryMemo
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


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


def test_bootstrap_batches_stop_growing_past_the_runs_still_needed() -> None:
    from mipro_core._bootstrap import MIN_BATCH, _batch_size

    assert _batch_size(16, 12, 0, 0) == 16  # up to 8 threads: the batch is the limit
    assert _batch_size(8, 12, 0, 0) == 8
    assert _batch_size(128, 12, 0, 0) == MIN_BATCH  # 64 threads: not 128 runs for 12 traces
    assert _batch_size(128, 40, 0, 0) == 40
    assert _batch_size(128, 6, 16, 8) == MIN_BATCH  # half passed: 12 more runs for 6 traces
    assert _batch_size(128, 30, 16, 4) == 120  # a quarter passed: 120 runs for 30 more
    assert _batch_size(128, 12, 16, 0) == 128  # none passed yet: as many as allowed


def test_many_threads_spend_a_call_cap_like_eight_threads() -> None:
    # at 64 threads the bootstrap used to run batches of 128: under a call cap it spent calls
    # eight threads leave to the trials, so the search made fewer trials
    def run(threads: int) -> mc.OptimizationResult:
        return mc.optimize(
            toy_program(ToyLM()),
            toy_data(60),
            toy_metric,
            valset=toy_data(40, offset=500),
            num_threads=threads,
            parallel_trials=1,
            num_candidates=4,
            minibatch_size=10,
            max_lm_calls=700,
            max_trials=40,
            seed=5,
        )

    eight, many = run(8), run(64)
    assert [(t.kind, dict(t.params), t.score) for t in many.trials] == [
        (t.kind, dict(t.params), t.score) for t in eight.trials
    ]
    assert many.lm_calls == eight.lm_calls
