"""``Evaluator.evaluate()`` takes what one evaluation needs as arguments: whether failing runs
keep what a proposer reads, and a callback after the first successful run."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from mipro_core import current_state
from mipro_core._evaluate import CallBudget, EvalJob, EvalOutcome, Evaluator
from mipro_core._memo import InMemoryMemo
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


def _evaluate(
    executor: cf.Executor, key: str, **kwargs: Any
) -> tuple[Evaluator, list[EvalOutcome]]:
    program = toy_program(ToyLM())
    evaluator = Evaluator(
        [program], toy_metric, executor, InMemoryMemo(), CallBudget(), max_errors=8
    )
    job = EvalJob(key, current_state(program), tuple(toy_data(12)))
    return evaluator, evaluator.evaluate([job], **kwargs)


def test_failing_runs_keep_their_answer_only_when_asked() -> None:
    with cf.ThreadPoolExecutor(4) as executor:
        _, kept = _evaluate(executor, "a", keep_failures=True)
        _, plain = _evaluate(executor, "b")
    failing = [r for r in kept[0].records if r.score is not None and r.score < 1.0]
    assert failing, "the toy task should fail some examples"
    assert all(r.prediction is not None and r.trace is not None for r in failing)
    assert all(r.prediction is None and r.trace is None for r in plain[0].records)


def test_the_first_success_callback_runs_once_for_its_evaluation_only() -> None:
    calls: list[int] = []
    with cf.ThreadPoolExecutor(4) as executor:
        evaluator, outcomes = _evaluate(executor, "a", on_first_success=lambda: calls.append(1))
        assert outcomes[0].complete
        assert calls == [1]
        program = evaluator.replicas[0]
        job = EvalJob("c", current_state(program), tuple(toy_data(4, offset=20)))
        evaluator.evaluate([job])  # a later evaluation without a callback calls nothing
    assert calls == [1]
