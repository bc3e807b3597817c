"""Whole optimization runs of a LlamaIndex query engine on the real ``OpenAILike`` client behind
a fault-injecting proxy: faults are retried and paid for, and the run ends as a clean one."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.testing import (
    FaultProxy,
    OpenAICompatibleServer,
    SimulatedLM,
    load_task,
    serve_openai_compatible,
)

openai_like = pytest.importorskip(
    "llama_index.llms.openai_like", reason="needs llama-index-llms-openai-like"
)


def _load_pipeline_module() -> ModuleType:
    path = Path(__file__).with_name("rag_pipeline.py")
    spec = importlib.util.spec_from_file_location("mipro_li_proxy_rag_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rag = _load_pipeline_module()
METRIC = load_task("rule_qa").metric
TRAIN, VAL, _ = rag.splits()
TRAIN, VAL = TRAIN[:20], VAL[:16]


@pytest.fixture(scope="module")
def index() -> Any:
    return rag.build_index()


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(SimulatedLM(seed=0)) as running:
        yield running


def optimize(
    index: Any, base_url: str, *, timeout: float = 0.5, **search: Any
) -> mc.OptimizationResult:
    llm = openai_like.OpenAILike(
        api_base=base_url,
        api_key="test",
        model="simulated",
        is_chat_model=True,
        max_retries=0,
        timeout=timeout,
    )
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    config = mc.SearchConfig(
        minibatch_size=8, retry_base_delay=0.01, retry_max_delay=0.05, **search
    )
    optimizer = mc.MIPRO(
        budget=mc.Budget(max_trials=3, num_candidates=2), search=config, seed=1, num_threads=2
    )
    return optimizer.optimize(engine, TRAIN, METRIC, valset=VAL, proposer_lm=SimulatedLM(seed=0))


@pytest.fixture(scope="module")
def clean(index: Any, server: OpenAICompatibleServer) -> mc.OptimizationResult:
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        result = optimize(index, proxy.base_url)
        assert result.task_lm_calls == proxy.requests
    return result


def test_twenty_percent_faults_end_with_the_clean_runs_state(
    index: Any, server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    kinds = ("429", "500", "hang", "truncated")
    with FaultProxy(server.base_url, rate=0.2, kinds=kinds, seed=2, hang_seconds=1.0) as proxy:
        faulty = optimize(index, proxy.base_url)
        received = proxy.requests
        assert sum(proxy.faults.values()) > 0
    assert faulty.state == clean.state
    assert faulty.best_score == clean.best_score
    assert faulty.errors == 0
    assert faulty.task_lm_calls == received  # every attempt the provider received is counted


def test_empty_completions_are_retried_then_errors_with_one_warning(
    index: Any, server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    with (
        FaultProxy(server.base_url, rate=0.2, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        retried = optimize(index, proxy.base_url)
        assert proxy.faults["empty"] > 0
        assert retried.task_lm_calls == proxy.requests
    assert retried.state == clean.state  # retried: an empty reply never became a 0 score
    assert not [w for w in caught if "empty completion" in str(w.message)]
    with (
        FaultProxy(server.base_url, rate=0.3, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        # no hangs here: a client timeout well above a loaded machine's latency, so every
        # error is an empty completion (a 0.5 s timeout under CI load added a timed-out run)
        failed = optimize(index, proxy.base_url, timeout=10.0, max_retries=0, max_errors=100)
    empty = [w for w in caught if "empty completion" in str(w.message)]
    assert failed.errors > 0  # scored as errors, never as 0 scores
    assert len(empty) == 1 and f"{failed.errors} program run(s)" in str(empty[0].message)
