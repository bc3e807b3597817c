"""``LangChainProgram.clone()``: replicas for parallel trials."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from langchain_core.load import dumpd
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from langchain_core.runnables import (
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnableSerializable,
)
from lc_test_support import EchoChatModel, EchoLLM
from mipro_langchain import LangChainProgram
from test_conformance import build_two_stage_chain

from mipro_core import Demo, ModuleState, ProgramState

QUESTIONS = ["Who wrote Hamlet?", "Capital of Peru?", "2+2?", "Largest ocean?"]


def state_for(program: LangChainProgram, word: str) -> ProgramState:
    return ProgramState(
        {
            name: ModuleState(
                f"Instruction {word} for {name}.",
                (Demo({n: f"demo {word}" for n in m.signature.inputs}, {"text": f"ans {word}"}),),
            )
            for name, m in program.modules.items()
        }
    )


def run_all(program: LangChainProgram) -> list[tuple[Any, Any]]:
    return [program.run({"question": q}) for q in QUESTIONS]


def test_rewriting_a_clone_never_changes_the_original() -> None:
    chain = build_two_stage_chain()
    program = LangChainProgram(chain)
    before_chain, before_runs = dumpd(chain), run_all(program)
    replica = program.clone()
    replica.apply(state_for(replica, "alpha"))
    assert dumpd(chain) == before_chain
    assert run_all(program) == before_runs
    assert run_all(replica) != before_runs
    assert {n: m.state for n, m in program.modules.items()} == {
        n: m.original_state for n, m in program.modules.items()
    }
    replica.restore()  # the replica's original is the chain's original
    assert run_all(replica) == before_runs


def test_a_clone_shares_models_and_lambdas_but_no_prompt() -> None:
    llm = EchoLLM()
    helper = RunnableLambda(lambda x: x)
    chain = RunnableParallel(
        a=PromptTemplate.from_template("Be short.\n\nQ: {question}\nA:") | llm,
        b=helper | PromptTemplate.from_template("Be long.\n\nQ: {question}\nA:") | llm,
    )
    program = LangChainProgram(chain)
    replica = program.clone()
    steps = replica.runnable.steps__  # type: ignore[attr-defined]
    assert steps["a"].last is llm and steps["b"].last is llm and steps["b"].first is helper
    for name in program.modules:
        assert replica.modules[name].prompt is not program.modules[name].prompt


def test_a_clone_takes_the_current_state() -> None:
    program = LangChainProgram(build_two_stage_chain())
    program.apply(state_for(program, "beta"))
    replica = program.clone()
    assert ProgramState({n: m.state for n, m in replica.modules.items()}) == state_for(
        program, "beta"
    )
    assert run_all(replica) == run_all(program)
    program.restore()
    assert run_all(replica) != run_all(program)


def test_clones_run_concurrently_give_the_sequential_results() -> None:
    program = LangChainProgram(build_two_stage_chain())
    replicas = [program.clone() for _ in range(3)]
    for i, replica in enumerate(replicas):
        replica.apply(state_for(replica, f"w{i}"))
    programs = [program, *replicas]
    sequential = [run_all(p) for p in programs]
    jobs = [(p, i, q) for p in range(len(programs)) for i, q in enumerate(QUESTIONS)] * 3
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda job: programs[job[0]].run({"question": job[2]}), jobs))
    for (p, i, _), result in zip(jobs, results, strict=True):
        assert result == sequential[p][i]


def test_traces_attribute_each_clone_calls_to_its_own_modules() -> None:
    program = LangChainProgram(build_two_stage_chain())
    one, two = program.clone(), program.clone()
    one.apply(state_for(one, "alpha"))
    two.apply(state_for(two, "beta"))
    for replica, word, other in ((one, "alpha", "beta"), (two, "beta", "alpha")):
        _, trace = replica.run({"question": "Who wrote Hamlet?"})
        assert [c.module for c in trace.calls] == list(program.modules)
        assert trace.unattributed_calls == 0
        for call in trace.calls:
            text = call.outputs["text"]
            assert f"Instruction {word} for {call.module}." in text and other not in text


def test_user_callbacks_see_the_clone_calls() -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    class Count(BaseCallbackHandler):
        calls = 0

        def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
            type(self).calls += 1

    config: RunnableConfig = {"callbacks": [Count()]}
    replica = LangChainProgram(build_two_stage_chain(), config=config).clone()
    replica.run({"question": "x?"})
    assert Count.calls == 2


def test_a_prompt_inside_a_lambda_function_cannot_be_cloned() -> None:
    inner = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    llm = EchoChatModel()

    chain = inner | llm | StrOutputParser()

    def ask(d: dict[str, Any]) -> Any:
        return chain.invoke(d)

    program = LangChainProgram(RunnableLambda(ask))
    with pytest.raises(NotImplementedError, match=r"RunnableLambda.*trials run one after"):
        program.clone()


def test_a_prompt_held_by_a_custom_runnable_cannot_be_cloned() -> None:
    class Holder(RunnableSerializable[Any, Any]):  # a custom runnable with a prompt field
        prompt: Any

        def invoke(self, value: Any, config: RunnableConfig | None = None, **kw: Any) -> Any:
            return self.prompt.invoke(value, config)

    holder = Holder(prompt=PromptTemplate.from_template("Say hi.\n\n{q}"))
    program = LangChainProgram(holder | EchoLLM())
    with pytest.raises(NotImplementedError, match=r"held by a Holder"):
        program.clone()


def test_parallel_trials_on_replicas_are_deterministic_and_touch_only_the_winner() -> None:
    from multihop_chain import build_simulated_chain

    import mipro_core

    task = mipro_core.testing.load_task("multihop_qa")

    def run(threads: int) -> tuple[Any, Any, Any]:
        chain = build_simulated_chain()
        result = mipro_core.optimize(
            chain,
            trainset=task.trainset[:20],
            valset=task.valset[:10],
            metric=task.metric,
            max_trials=4,
            num_candidates=2,
            parallel_trials=2,
            num_threads=threads,
            seed=3,
            progress=False,
        )
        program = LangChainProgram(chain)
        return result, program, [(t.params, t.score) for t in result.trials]

    first, program, trials = run(8)
    second, _, again = run(2)
    assert trials == again and first.state == second.state
    fresh = build_simulated_chain()  # the user's chain carries the winner, as apply() writes it
    mipro_core.apply(fresh, first.state)
    expected = {n: dumpd(m.prompt) for n, m in LangChainProgram(fresh).modules.items()}
    assert {n: dumpd(m.prompt) for n, m in program.modules.items()} == expected


def test_a_chain_with_message_history_is_refused_with_the_reason() -> None:
    import warnings

    from langchain_core.chat_history import InMemoryChatMessageHistory
    from langchain_core.prompts import MessagesPlaceholder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the class is deprecated; apps still use it
        from langchain_core.runnables.history import RunnableWithMessageHistory

        histories: dict[str, InMemoryChatMessageHistory] = {}
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Answer."), MessagesPlaceholder("history"), ("human", "{question}")]
        )
        app = RunnableWithMessageHistory(
            prompt | EchoChatModel() | StrOutputParser(),
            lambda session: histories.setdefault(session, InMemoryChatMessageHistory()),
            input_messages_key="question",
            history_messages_key="history",
        )
    program = LangChainProgram(app, config={"configurable": {"session_id": "s1"}})
    # the wrapper calls the chain from a function it builds: a copy would still call the
    # original prompt, so trials run one at a time
    with pytest.raises(NotImplementedError, match="RunnableLambda"):
        program.clone()
    assert program.run({"question": "q?"})[1].calls


def test_a_chain_that_cannot_be_cloned_runs_one_trial_at_a_time_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from multihop_chain import build_simulated_chain

    import mipro_core

    task = mipro_core.testing.load_task("multihop_qa")
    chain = build_simulated_chain()
    wrapped = RunnableLambda(lambda d: chain.invoke(d))  # prompts behind a function: no clone
    with caplog.at_level(logging.WARNING, logger="mipro_core"):
        result = mipro_core.optimize(
            wrapped,
            trainset=task.trainset[:20],
            valset=task.valset[:10],
            metric=task.metric,
            max_trials=2,
            num_candidates=2,
            parallel_trials=2,
            num_threads=4,
            seed=3,
            progress=False,
        )
    assert result.stopped_reason == "completed"
    assert any("parallel trials are off" in r.getMessage() for r in caplog.records)
