"""The method works: on the SimulatedLM tasks MIPRO beats the baseline and demos-only search.

These are outcome tests over several seeds on held-out test splits (the simulated model is
documented in docs/simulated-lm.md; its parameters are fixed, not tuned for the optimizer).
"""

from __future__ import annotations

import concurrent.futures as cf
import statistics
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.testing import SimulatedLM, load_task

SEEDS = (0, 1, 2)


def test_score(task: Any, program: Any) -> float:
    def one(example: mc.Example) -> float:
        return float(task.metric(example, program.run(dict(example.inputs))[0]))

    with cf.ThreadPoolExecutor(8) as pool:
        return statistics.fmean(pool.map(one, task.testset))


test_score.__test__ = False  # type: ignore[attr-defined]


def optimized_test_scores(task_name: str, strategy: str) -> tuple[float, list[float]]:
    task = load_task(task_name)
    lm = SimulatedLM(seed=0)
    baseline = test_score(task, task.make_program(lm))
    scores = []
    for seed in SEEDS:
        program = task.make_program(lm)
        mc.optimize(
            program, task.trainset, task.metric, valset=task.valset, strategy=strategy, seed=seed
        )
        scores.append(test_score(task, program))
    return baseline, scores


@pytest.mark.parametrize("task_name", ["rule_qa", "multihop_qa"])
def test_mipro_beats_the_unoptimized_program_on_test(task_name: str) -> None:
    baseline, scores = optimized_test_scores(task_name, "mipro")
    assert statistics.fmean(scores) >= baseline + 0.25, (baseline, scores)
    assert min(scores) > baseline + 0.1, (baseline, scores)


def test_joint_search_beats_demos_only_where_a_rule_needs_an_instruction() -> None:
    _, joint = optimized_test_scores("rule_qa", "mipro")
    _, demos_only = optimized_test_scores("rule_qa", "bootstrap-random-search")
    assert statistics.fmean(joint) >= statistics.fmean(demos_only) + 0.1, (joint, demos_only)
