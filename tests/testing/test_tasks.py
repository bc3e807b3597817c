"""Bundled tasks: data splits, metrics, retrieval, programs, data files and packaging."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mipro_core.testing as testing
from mipro_core import Example, InvalidInputError
from mipro_core.native import NativeProgram
from mipro_core.testing import TASK_NAMES, SimulatedLM, Task, load_task
from mipro_core.testing._rules import detect
from mipro_core.testing._text import question_key
from mipro_core.testing._world import get_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_splits_are_large_disjoint_and_stable(name: str) -> None:
    task = load_task(name)
    assert isinstance(task, Task) and task.name == name and task.description
    sizes = [len(task.trainset), len(task.valset), len(task.testset)]
    assert min(sizes) >= 100
    ids = [ex.id for split in (task.trainset, task.valset, task.testset) for ex in split]
    assert len(set(ids)) == len(ids)
    assert all(
        set(ex.inputs) == {"question"} and set(ex.outputs) == {"answer"} for ex in task.trainset
    )
    assert load_task(name) is task  # cached


def test_unknown_task_name_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="rule_qa"):
        load_task("nope")


def test_rule_qa_metric_requires_the_rule_and_the_answer() -> None:
    metric = load_task("rule_qa").metric
    person = Example({"question": "q"}, {"answer": "ada quill"})
    place = Example({"question": "q"}, {"answer": "Port Veyra Osland"})
    date = Example({"question": "q"}, {"answer": "1872-03-04"})
    other = Example({"question": "q"}, {"answer": "COPPER GUILD"})
    number = Example({"question": "q"}, {"answer": "42"})
    assert metric(person, {"answer": "ada quill"}) == 1.0
    assert metric(person, {"answer": "Ada Quill"}) == 0.0
    assert metric(place, "Port Veyra Osland.") == 1.0
    assert metric(place, "Port Veyra, Osland") == 0.0
    assert metric(date, SimpleNamespace(response="1872-03-04")) == 1.0
    assert metric(date, "4 March 1872") == 0.0
    assert metric(other, SimpleNamespace(content="COPPER GUILD")) == 1.0
    assert metric(other, "Copper Guild") == 0.0
    assert metric(number, {"answer": " 42 "}) == 1.0
    assert metric(person, None) == 0.0


def test_multihop_metric_is_normalised_exact_match() -> None:
    metric = load_task("multihop_qa").metric
    ex = Example({"question": "q"}, {"answer": "Salt Harbor Company"})
    assert metric(ex, {"answer": "the salt harbor company."}) == 1.0
    assert metric(ex, "The answer is Salt Harbor Company.") == 0.0
    with pytest.raises(InvalidInputError):
        metric(Example({"question": "q"}, {}), "x")


@given(query=st.text(max_size=60), k=st.integers(0, 6))
def test_search_is_deterministic_and_bounded(query: str, k: int) -> None:
    task = load_task("multihop_qa")
    assert task.search is not None
    first = task.search(query, k)
    assert first == task.search(query, k=k)
    assert len(first) <= k and all(doc in task.corpus for doc in first)


def test_search_finds_both_hops_for_entity_queries() -> None:
    task = load_task("multihop_qa")
    assert task.search is not None and len(task.corpus) >= 500
    world = get_world()
    found1 = found2 = 0
    for ex in task.valset:
        info = world.questions[question_key(ex.inputs["question"])]
        found1 += any(
            info.hop1_fact in d for d in task.search(f"{info.hop1_entity} {info.hop1_hint}")
        )
        found2 += any(
            info.bridge_fact in d for d in task.search(f"{info.bridge} {info.bridge_hint}")
        )
        assert not any(info.bridge_fact in d for d in task.search(ex.inputs["question"]))
    assert found1 == found2 == len(task.valset)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_make_program_builds_a_fresh_baseline_program(name: str) -> None:
    task = load_task(name)
    lm = SimulatedLM(0)
    program = task.make_program(lm)
    assert isinstance(program, NativeProgram)
    assert program is not task.make_program(lm)
    prediction, trace = program.run(task.valset[0].inputs)
    assert isinstance(prediction, dict) and "answer" in prediction
    assert trace.lm_calls == (3 if name in ("multihop_qa", "rule_qa_vote") else 1)
    assert task.metric(task.valset[0], prediction) in (0.0, 1.0)
    assert "Answer the question." in program.stages[list(program.stages)[-1]].state.instruction


def test_world_texts_state_no_rules_by_accident() -> None:
    world = get_world()
    texts = [info.question for info in world.questions.values()] + list(world.corpus)
    for text in texts:
        s = detect(text)
        assert not s.format_rules and not s.short and not s.bridge_count and not s.anti_bridge, text


def test_bundled_data_files_are_reproducible() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "make_sim_data.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_public_names_are_pinned_and_sorted() -> None:
    assert testing.__all__ == [
        "TASK_NAMES",
        "FaultProxy",
        "FaultyLM",
        "OpenAICompatibleServer",
        "SimParams",
        "SimulatedLM",
        "Task",
        "ToolTask",
        "TransientLMError",
        "answer_text",
        "load_task",
        "load_tool_task",
        "serve_openai_compatible",
    ]


def test_importing_testing_pulls_in_no_frameworks_or_scipy() -> None:
    code = (
        "import sys, mipro_core.testing\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('scipy', 'langchain', 'langchain_core', "
        "'llama_index', 'openai')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.timeout(240)
def test_data_files_ship_in_the_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("mipro_core-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mipro_core/testing/data/rule_qa.json" in names
    assert "mipro_core/testing/data/multihop_qa.json" in names


def test_voting_program_takes_the_majority_answer() -> None:
    from mipro_core.testing._tasks import _vote_forward

    class Voter:
        def __init__(self, answer: str) -> None:
            self.answer = answer

        def __call__(self, **inputs: str) -> dict[str, str]:
            return {"answer": self.answer}

    stages = {"vote_1": Voter("a"), "vote_2": Voter("b"), "vote_3": Voter("b")}
    assert _vote_forward(stages, {"question": "q"})["answer"] == "b"  # type: ignore[arg-type]
    stages = {"vote_1": Voter("a"), "vote_2": Voter("b"), "vote_3": Voter("c")}
    assert _vote_forward(stages, {"question": "q"})["answer"] == "a"  # type: ignore[arg-type]
