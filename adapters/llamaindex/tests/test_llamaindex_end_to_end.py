"""End to end, offline: optimize a VectorStoreIndex RAG query engine in place, then ship it.

``mipro_core.optimize(query_engine, trainset, metric, budget="light")`` on a RAG pipeline driven
by the SimulatedLM raises the held-out test score clearly above the un-optimized pipeline, and
the saved artifact reproduces the same prompts and answers in a fresh process.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import statistics
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mipro_llamaindex import LlamaIndexProgram

from mipro_core import Example, OptimizationResult, current_state, optimize
from mipro_core.testing import load_task

HERE = Path(__file__).with_name("rag_pipeline.py")


def _load_pipeline_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mipro_li_rag_pipeline", HERE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rag = _load_pipeline_module()
METRIC = load_task("rule_qa").metric


def test_score(program: LlamaIndexProgram, examples: list[Example]) -> float:
    with cf.ThreadPoolExecutor(8) as pool:
        predictions = list(pool.map(lambda e: program.run(dict(e.inputs))[0], examples))
    return statistics.fmean(METRIC(e, p) for e, p in zip(examples, predictions, strict=True))


test_score.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def optimized() -> dict[str, Any]:
    engine = rag.build_engine(rag.build_index())
    train, val, test = rag.splits()
    original = engine.get_prompts()["response_synthesizer:text_qa_template"]
    watcher = LlamaIndexProgram(engine)  # a second program on the same engine, for scoring
    baseline = test_score(watcher, test[:100])
    result = optimize(engine, train[:40], METRIC, valset=val[:40], budget="light", seed=0)
    return {
        "engine": engine,
        "watcher": watcher,
        "baseline": baseline,
        "optimized": test_score(watcher, test[:100]),
        "result": result,
        "test": test,
        "original": original,
    }


def test_optimize_raises_the_test_score_clearly(optimized: dict[str, Any]) -> None:
    baseline, score = optimized["baseline"], optimized["optimized"]
    result: OptimizationResult = optimized["result"]
    assert baseline < 0.3
    assert score >= baseline + 0.2, (baseline, score)
    assert result.best_score > result.baseline_score
    # The winning prompt lives in the user's own engine: the QA prompt carries an instruction.
    state = result.state[rag.QA]
    assert state.instruction or state.demos
    installed = optimized["engine"].get_prompts()["response_synthesizer:text_qa_template"]
    original = optimized["original"]
    assert installed.get_template() != original.get_template()
    assert sorted(installed.template_vars) == sorted(original.template_vars)
    assert current_state(optimized["watcher"]) == result.state


def test_artifact_reproduces_prompts_in_a_fresh_process(
    optimized: dict[str, Any], tmp_path: Path
) -> None:
    result: OptimizationResult = optimized["result"]
    path = tmp_path / "rag.json"
    result.save(path)
    engine = optimized["engine"]
    expected_template = engine.get_prompts()["response_synthesizer:text_qa_template"].get_template()
    expected_answers = [str(engine.query(e.inputs["query"])) for e in optimized["test"][:8]]
    run = subprocess.run(
        [sys.executable, str(HERE), str(path)], capture_output=True, text=True, check=True
    )
    fresh = json.loads(run.stdout.strip().splitlines()[-1])
    assert fresh["template"] == expected_template
    assert fresh["answers"] == expected_answers
