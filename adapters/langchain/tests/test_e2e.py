"""End to end on real LangChain objects: optimize a two-hop retrieval QA chain in place.

7a: the chain on a custom ``BaseChatModel`` wrapping the core's ``SimulatedLM``; MIPRO raises
its held-out test score well above the baseline. 7b: the same chain through ``langchain-openai``'s
``ChatOpenAI`` against ``serve_openai_compatible`` (the real client path). Plus: artifacts travel
to a fresh process, the optimized prompts survive ``dumps``/``loads``, ``freeze`` pins modules,
and async-only chains optimize through ``ainvoke``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.load import dumps, loads
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from mipro_langchain import LangChainProgram, UnattributedCallWarning
from mipro_langchain.testing import LMChatModel
from multihop_chain import build_chain, build_simulated_chain, format_passages

import mipro_core
from mipro_core import ArtifactError, Example, OptimizationResult, ProgramState
from mipro_core.testing import SimulatedLM, load_task, serve_openai_compatible

TASK = load_task("multihop_qa")
QUERY = "steps[1].query.steps[0]"
ANSWER = "steps[5]"
TESTS_DIR = Path(__file__).parent


def score(program: LangChainProgram, examples: Sequence[Example]) -> float:
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        predictions = list(pool.map(lambda ex: program.run(ex.inputs)[0], examples))
    return sum(TASK.metric(ex, p) for ex, p in zip(examples, predictions, strict=True)) / len(
        examples
    )


def prompt_dumps(chain: Any) -> dict[str, str]:
    return {name: dumps(m.prompt) for name, m in LangChainProgram(chain).modules.items()}


@pytest.fixture(scope="module")
def optimized() -> tuple[Any, OptimizationResult, float]:
    chain = build_simulated_chain()
    baseline = score(LangChainProgram(chain), TASK.testset)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnattributedCallWarning)
        result = mipro_core.optimize(
            chain,
            trainset=TASK.trainset,
            valset=TASK.valset,
            metric=TASK.metric,
            budget="light",
            seed=0,
            progress=False,
        )
    return chain, result, baseline


def test_7a_optimization_raises_the_test_score(optimized: Any) -> None:
    chain, result, baseline = optimized
    assert set(result.state) == {QUERY, ANSWER}
    after = score(LangChainProgram(chain), TASK.testset)  # the chain itself carries the prompts
    assert baseline < 0.3
    assert after >= baseline + 0.2, (baseline, after)
    assert result.best_score > result.baseline_score


def test_7a_chain_carries_the_winning_state(optimized: Any) -> None:
    chain, result, _ = optimized
    fresh = build_simulated_chain()
    assert prompt_dumps(fresh) != prompt_dumps(chain)
    mipro_core.apply(fresh, result.state)
    assert prompt_dumps(fresh) == prompt_dumps(chain)


def test_optimized_prompts_survive_dumps_and_loads(optimized: Any) -> None:
    chain, _, _ = optimized
    values = {"question": "Who founded X?", "context": "[1] {braces} stay"}
    for module in LangChainProgram(chain).modules.values():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = loads(dumps(module.prompt), allowed_objects="core")
        assert loaded.format_messages(**values) == module.prompt.format_messages(**values)
        assert loaded.metadata["mipro_module"] == module.name


def test_artifact_travels_to_a_fresh_process(optimized: Any, tmp_path: Path) -> None:
    chain, result, _ = optimized
    path = result.save(tmp_path / "chain.mipro.json")
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(TESTS_DIR)!r})\n"
        "import mipro_core\n"
        "from langchain_core.load import dumps\n"
        "from multihop_chain import build_simulated_chain\n"
        "chain = build_simulated_chain()\n"
        f"program = mipro_core.apply(chain, {str(path)!r})\n"
        "print(json.dumps({n: dumps(m.prompt) for n, m in program.modules.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == prompt_dumps(chain)


def test_artifact_for_another_chain_names_the_mismatch(optimized: Any, tmp_path: Path) -> None:
    _, result, _ = optimized
    path = result.save(tmp_path / "chain.mipro.json")
    other = ChatPromptTemplate.from_messages([("human", "{question}")]) | LMChatModel(
        lm=SimulatedLM(0)
    )
    with pytest.raises(ArtifactError) as info:
        mipro_core.apply(other, path)
    message = str(info.value)
    assert "steps[0]" in message and QUERY in message and ANSWER in message


def test_freeze_pins_a_module(optimized: Any) -> None:
    chain = build_simulated_chain()
    program = LangChainProgram(chain)
    query_prompt = program.modules[QUERY].prompt
    entries = list(query_prompt.messages)  # type: ignore[attr-defined]
    result = mipro_core.optimize(
        chain,
        trainset=TASK.trainset[:40],
        valset=TASK.valset[:30],
        metric=TASK.metric,
        max_trials=4,
        num_candidates=3,
        freeze=[QUERY],
        seed=1,
        progress=False,
    )
    assert result.state[QUERY] == program.modules[QUERY].original_state
    assert all(a is b for a, b in zip(query_prompt.messages, entries, strict=True))  # type: ignore[attr-defined]
    searched = {name for trial in result.trials for name, index in trial.params.items() if index}
    assert searched and all(name.startswith(f"{ANSWER}.") for name in searched)


def test_async_only_chain_is_optimized_through_ainvoke() -> None:
    search = TASK.search
    assert search is not None
    llm = LMChatModel(lm=SimulatedLM(0))
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )

    async def retrieve(inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {
            "question": inputs["question"],
            "context": format_passages(search(inputs["question"], k=5)),
        }

    chain = RunnableLambda(retrieve) | prompt | llm | StrOutputParser()
    program = LangChainProgram(chain)
    assert program.use_async
    result = mipro_core.optimize(
        program,
        trainset=TASK.trainset[:30],
        valset=TASK.valset[:20],
        metric=TASK.metric,
        max_trials=3,
        num_candidates=2,
        seed=0,
        progress=False,
    )
    assert len(result.trials) >= 1
    assert program.modules["steps[1]"].state == result.state["steps[1]"]
    _, trace = program.run(TASK.testset[0].inputs)
    assert [c.module for c in trace] == ["steps[1]"]


# --- 7b: the real OpenAI client path ------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with serve_openai_compatible(SimulatedLM(0)) as running:
        yield running


def openai_model(server: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=server.base_url, api_key="x", model="sim", temperature=0, max_retries=0
    )


def test_7b_optimize_through_chat_openai(server: Any) -> None:
    assert TASK.search is not None
    chain = build_chain(openai_model(server), TASK.search)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnattributedCallWarning)
        result = mipro_core.optimize(
            chain,
            trainset=TASK.trainset[:20],
            valset=TASK.valset[:16],
            metric=TASK.metric,
            max_trials=3,
            num_candidates=2,
            minibatch_size=8,
            seed=0,
            progress=False,
        )
    program = LangChainProgram(chain)
    fresh = build_chain(openai_model(server), TASK.search)
    mipro_core.apply(fresh, result.state)
    assert prompt_dumps(fresh) == prompt_dumps(chain)
    _, trace = program.run(TASK.testset[0].inputs)
    assert [c.module for c in trace] == [QUERY, QUERY, ANSWER]
    assert all(c.usage.get("prompt_tokens", 0) > 0 for c in trace)  # usage reported by the server


def test_7b_client_path_matches_in_process_model_and_keeps_the_gain(
    optimized: Any, server: Any
) -> None:
    _, result, _ = optimized
    assert TASK.search is not None
    examples = TASK.testset[:48]
    http = LangChainProgram(build_chain(openai_model(server), TASK.search))
    local = LangChainProgram(build_simulated_chain())
    before = score(http, examples)
    for program in (http, local):
        program.apply(ProgramState(dict(result.state.modules)))
    for example in examples[:8]:
        assert http.run(example.inputs)[0] == local.run(example.inputs)[0]
    after = score(http, examples)
    assert after >= before + 0.2, (before, after)


def test_7b_serializable_chain_round_trips_and_runs(optimized: Any, server: Any) -> None:
    _, result, _ = optimized
    from langchain_openai import ChatOpenAI

    answer_prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question."),
            ("human", "Context:\n{context}\n\nQuestion: {question}"),
        ]
    )
    chain = answer_prompt | openai_model(server) | StrOutputParser()
    program = LangChainProgram(chain)
    program.apply(ProgramState({"steps[0]": result.state[ANSWER]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored = loads(
            dumps(chain),
            secrets_map={"OPENAI_API_KEY": "x"},
            valid_namespaces=["langchain_openai"],
            allowed_objects="all",
        )
    assert isinstance(restored.steps[1], ChatOpenAI)
    inputs = {"question": "Who?", "context": "[1] {not a variable}"}
    assert restored.invoke(inputs) == chain.invoke(inputs)
    assert restored.steps[0].format_messages(**inputs) == answer_prompt.format_messages(**inputs)
