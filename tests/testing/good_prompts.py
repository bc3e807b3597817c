"""Hand-written good prompts for the bundled tasks (used by the tests and to measure the docs'
numbers: ``python tests/testing/good_prompts.py`` prints the table of docs/simulated-lm.md)."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence

from mipro_core import Demo, Example, ModuleState, ProgramState
from mipro_core.native import NativeProgram
from mipro_core.testing import SimulatedLM, Task, load_task
from mipro_core.testing._tasks import format_passages
from mipro_core.testing._text import question_key
from mipro_core.testing._world import get_world

RULE_QA_INSTRUCTION = (
    "Answer the question. Write people's names in lowercase, dates in ISO format (YYYY-MM-DD), "
    "places without punctuation, and everything else in ALL CAPS."
)
QUERY_INSTRUCTION = (
    "Write a search query that will help answer the question. If the context mentions a new "
    "name that the question depends on, search for that name."
)
ANSWER_INSTRUCTION = "Answer the question. Reply with only the short answer, not a full sentence."


def score(task: Task, program: NativeProgram, data: Sequence[Example]) -> float:
    return statistics.fmean(task.metric(ex, program.run(ex.inputs)[0]) for ex in data)


def rule_qa_demos(task: Task, k: int = 3, *, wrong: bool = False) -> tuple[Demo, ...]:
    """``k`` labeled demos from the trainset (``wrong``: each with another example's answer)."""
    demos = []
    for i, ex in enumerate(task.trainset[:k]):
        answer = task.trainset[i + k].outputs["answer"] if wrong else ex.outputs["answer"]
        demos.append(Demo(dict(ex.inputs), {"answer": answer}, "labeled"))
    return tuple(demos)


def multihop_demos(task: Task, k: int = 3) -> tuple[tuple[Demo, ...], tuple[Demo, ...]]:
    """Correct second-hop query demos and short answer demos, written from the world's facts."""
    assert task.search is not None
    query_demos, answer_demos = [], []
    for ex in task.trainset[:k]:
        info = get_world().questions[question_key(ex.inputs["question"])]
        first = task.search(f"{info.hop1_entity} {info.hop1_hint}", 3)
        second_query = f"{info.bridge} {info.bridge_hint}"
        both = first + [p for p in task.search(second_query, 3) if p not in first]
        question = ex.inputs["question"]
        query_demos.append(
            Demo(
                {"context": format_passages(first), "question": question},
                {"search_query": second_query},
            )
        )
        answer_demos.append(
            Demo({"context": format_passages(both), "question": question}, {"answer": info.plain})
        )
    return tuple(query_demos), tuple(answer_demos)


def good_state(task: Task) -> ProgramState:
    """The hand-written good prompt: the rules stated plus 3 correct demos per module."""
    if task.name == "rule_qa":
        return ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION, rule_qa_demos(task))})
    query_demos, answer_demos = multihop_demos(task)
    return ProgramState(
        {
            "generate_query": ModuleState(QUERY_INSTRUCTION, query_demos),
            "generate_answer": ModuleState(ANSWER_INSTRUCTION, answer_demos),
        }
    )


def rules_only_state(task: Task) -> ProgramState:
    if task.name == "rule_qa":
        return ProgramState({"answer": ModuleState(RULE_QA_INSTRUCTION)})
    return ProgramState(
        {
            "generate_query": ModuleState(QUERY_INSTRUCTION),
            "generate_answer": ModuleState(ANSWER_INSTRUCTION),
        }
    )


def demos_only_state(task: Task) -> ProgramState:
    program = task.make_program(SimulatedLM())
    good = good_state(task)
    return ProgramState(
        {
            name: ModuleState(stage.state.instruction, good[name].demos)
            for name, stage in program.stages.items()
        }
    )


def measure(task_name: str, seed: int, split: str = "valset") -> dict[str, float]:
    task = load_task(task_name)
    data = getattr(task, split)
    program = task.make_program(SimulatedLM(seed))
    out = {"baseline": score(task, program, data)}
    for label, state in (
        ("rules only", rules_only_state(task)),
        ("demos only", demos_only_state(task)),
        ("good prompt", good_state(task)),
    ):
        program.apply(state)
        out[label] = score(task, program, data)
    return out


def main() -> None:
    for task_name in ("rule_qa", "multihop_qa"):
        for split in ("valset", "testset"):
            rows = [measure(task_name, seed, split) for seed in range(5)]
            cells = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
            lo_hi = {k: (min(r[k] for r in rows), max(r[k] for r in rows)) for k in rows[0]}
            text = ", ".join(
                f"{k} {v:.3f} [{lo_hi[k][0]:.3f}-{lo_hi[k][1]:.3f}]" for k, v in cells.items()
            )
            sys.stdout.write(f"{task_name} {split} (seeds 0-4): {text}\n")


if __name__ == "__main__":
    main()
