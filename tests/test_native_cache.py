"""The native program's prompt cache: repeated temperature-0 prompts are paid once."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Sequence
from typing import Any

import mipro_core as mc
from mipro_core._memo import InMemoryMemo
from tests.toy import ToyLM, toy_data, toy_metric, toy_program


class SlowLM(ToyLM):
    def __call__(
        self, messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        time.sleep(0.02)
        return super().__call__(messages, n=n, temperature=temperature)


def test_a_repeated_prompt_is_answered_from_the_cache_and_traced_as_cached() -> None:
    lm = ToyLM()
    program = toy_program(lm)
    program.attach_cache(InMemoryMemo())
    first, trace1 = program.run({"question": "word1"})
    second, trace2 = program.run({"question": "word1"})
    assert first == second and lm.task_calls == 1
    assert trace1.lm_calls == 1 and trace2.lm_calls == 0
    assert trace2.calls[0].usage["cached"] == 1


def test_concurrent_identical_prompts_are_paid_once() -> None:
    lm = SlowLM()
    program = toy_program(lm)
    program.attach_cache(InMemoryMemo())
    barrier = threading.Barrier(8)

    def run(_: int) -> Any:
        barrier.wait()
        return program.run({"question": "word7"})[0]

    with cf.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(run, range(8)))
    assert len({a["answer"] for a in answers}) == 1
    assert lm.task_calls == 1


def test_optimize_uses_the_cache_only_while_it_runs() -> None:
    lm = ToyLM()
    program = toy_program(lm)
    result = mc.optimize(
        program,
        toy_data(30),
        toy_metric,
        valset=toy_data(40, 100),
        max_trials=10,
        num_candidates=3,
        minibatch_size=10,
        num_threads=4,
    )
    assert result.lm_calls == lm.calls  # cache hits are not counted as calls
    assert all(stage.cache is None for stage in program.stages.values())
    assert len(set(lm.prompts)) == len(lm.prompts)  # no task prompt was paid twice


def _voters(lms: Sequence[ToyLM]) -> mc.native.NativeProgram:
    stages = [
        mc.native.Stage(f"vote_{i}", "question -> answer", "Answer the question.", lm=lm)
        for i, lm in enumerate(lms)
    ]

    def forward(by_name: Any, inputs: Any) -> dict[str, str]:
        answers = [by_name[s.name](question=inputs["question"])["answer"] for s in stages]
        return {"answer": max(set(answers), key=answers.count)}

    return mc.native.NativeProgram(stages, forward)


def test_stages_sending_the_same_prompt_to_the_same_lm_share_one_answer() -> None:
    lm = ToyLM()
    program = _voters([lm, lm, lm])
    program.attach_cache(InMemoryMemo())
    _, trace = program.run({"question": "word3"})
    assert lm.task_calls == 1 and trace.lm_calls == 1
    assert [c.usage.get("cached", 0) for c in trace.calls] == [0, 1, 1]


def test_stages_on_different_lms_do_not_share_answers() -> None:
    first, second = ToyLM(), ToyLM()
    program = _voters([first, second, first])
    program.attach_cache(InMemoryMemo())
    program.run({"question": "word3"})
    assert (first.task_calls, second.task_calls) == (1, 1)
