"""SimulatedLM: the LM protocol, determinism, sampling, counters, validation, robustness."""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipro_core import LM, InvalidInputError
from mipro_core.testing import SimulatedLM, load_task

QUESTION = load_task("rule_qa").valset[0].inputs["question"]
PROPOSER = [
    {
        "role": "system",
        "content": "Propose an instruction.\n\nReply with exactly these lines:\n"
        "proposed_instruction: <proposed_instruction>",
    },
    {"role": "user", "content": "task_demos: No task demos provided."},
]

roles = st.sampled_from(["system", "user", "assistant"])
messages_strategy = st.lists(
    st.fixed_dictionaries({"role": roles, "content": st.text(max_size=300)}), min_size=1, max_size=6
)


def test_implements_the_lm_protocol() -> None:
    lm = SimulatedLM()
    assert isinstance(lm, LM)
    out = lm([{"role": "user", "content": QUESTION}])
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], str) and out[0]


@settings(max_examples=60, deadline=None)
@given(
    messages=messages_strategy,
    seed=st.integers(0, 2**31),
    temperature=st.sampled_from([0.0, 0.7, 1.5]),
)
def test_output_is_a_pure_function_of_seed_prompt_temperature(
    messages: list[dict[str, str]], seed: int, temperature: float
) -> None:
    first = SimulatedLM(seed)(messages, n=3, temperature=temperature)  # type: ignore[arg-type]
    second = SimulatedLM(seed)(messages, n=3, temperature=temperature)  # type: ignore[arg-type]
    assert first == second
    assert all(isinstance(t, str) for t in first)


@settings(max_examples=40, deadline=None)
@given(messages=messages_strategy, seed=st.integers(0, 1000))
def test_sample_i_does_not_depend_on_n(messages: list[dict[str, str]], seed: int) -> None:
    lm = SimulatedLM(seed)
    three = lm(messages, n=3, temperature=1.0)  # type: ignore[arg-type]
    two = lm(messages, n=2, temperature=1.0)  # type: ignore[arg-type]
    assert three[:2] == two


def test_temperature_zero_gives_identical_samples_and_positive_temperature_varies() -> None:
    lm = SimulatedLM(3)
    assert len(set(lm(PROPOSER, n=8, temperature=0.0))) == 1  # type: ignore[arg-type]
    assert len(set(lm(PROPOSER, n=8, temperature=1.0))) > 1  # type: ignore[arg-type]


def test_different_seeds_give_different_outputs() -> None:
    task = load_task("rule_qa")
    prompts = [[{"role": "user", "content": ex.inputs["question"]}] for ex in task.valset[:40]]
    a = [SimulatedLM(0)(p)[0] for p in prompts]  # type: ignore[arg-type]
    b = [SimulatedLM(1)(p)[0] for p in prompts]  # type: ignore[arg-type]
    assert a != b
    assert a == [SimulatedLM(0)(p)[0] for p in prompts]  # type: ignore[arg-type]


def test_complete_reads_the_prompt_as_one_user_message() -> None:
    lm = SimulatedLM(5)
    assert lm.complete(QUESTION) == lm([{"role": "user", "content": QUESTION}])[0]
    assert lm.complete(QUESTION, temperature=0.9) == lm.complete(QUESTION, temperature=0.9)


def test_counters_count_calls_not_samples_and_approximate_tokens() -> None:
    lm = SimulatedLM()
    lm([{"role": "user", "content": "x" * 400}], n=5, temperature=1.0)
    lm.complete("hello there")
    assert lm.calls == 2
    assert lm.prompt_tokens >= 100
    assert lm.completion_tokens >= 5
    lm.reset_counters()
    assert (lm.calls, lm.prompt_tokens, lm.completion_tokens) == (0, 0, 0)


def test_counters_are_thread_safe_and_outputs_match_sequential_ones() -> None:
    lm = SimulatedLM(9)
    task = load_task("rule_qa")
    prompts = [[{"role": "user", "content": ex.inputs["question"]}] for ex in task.valset]
    sequential = [SimulatedLM(9)(p)[0] for p in prompts]  # type: ignore[arg-type]
    barrier = threading.Barrier(8)

    def work(chunk: list[list[dict[str, str]]]) -> list[str]:
        barrier.wait()
        return [lm(p)[0] for p in chunk]  # type: ignore[arg-type]

    chunks = [prompts[i::8] for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, chunks))
    assert lm.calls == len(prompts)
    for i, chunk_result in enumerate(results):
        assert chunk_result == sequential[i::8]


def test_latency_is_accepted_and_validated() -> None:
    assert SimulatedLM(latency=0.001).complete("hi")
    with pytest.raises(InvalidInputError):
        SimulatedLM(latency=-1)


@pytest.mark.parametrize(
    "bad",
    [
        {"messages": "just a string"},
        {"messages": []},
        {"messages": [42]},
        {"messages": [{"role": "user", "content": "hi"}], "n": 0},
        {"messages": [{"role": "user", "content": "hi"}], "temperature": -0.5},
        {"messages": [{"role": "user", "content": "hi"}], "n": True},
    ],
)
def test_bad_arguments_raise_invalid_input(bad: dict[str, object]) -> None:
    lm = SimulatedLM()
    with pytest.raises(InvalidInputError):
        lm(bad.pop("messages"), **bad)  # type: ignore[arg-type]


def test_content_parts_and_unknown_roles_are_accepted() -> None:
    lm = SimulatedLM()
    parts = [{"role": "human", "content": [{"type": "text", "text": QUESTION}]}]
    assert lm(parts) == lm([{"role": "user", "content": QUESTION}])  # type: ignore[arg-type]
    assert lm([{"role": "tool", "content": None}])[0]  # type: ignore[list-item]


@settings(max_examples=80, deadline=None)
@given(messages=messages_strategy)
def test_never_crashes_on_arbitrary_text(messages: list[dict[str, str]]) -> None:
    out = SimulatedLM()(messages, n=2, temperature=0.5)  # type: ignore[arg-type]
    assert len(out) == 2 and all(isinstance(t, str) and t for t in out)


@settings(max_examples=40, deadline=None)
@given(
    noise=st.text(max_size=200),
    fields=st.lists(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True), min_size=1, max_size=3, unique=True
    ),
)
def test_native_format_replies_with_exactly_the_requested_fields(
    noise: str, fields: list[str]
) -> None:
    system = "Do the task.\n\nReply with exactly these lines:\n" + "\n".join(
        f"{f}: <{f}>" for f in fields
    )
    out = SimulatedLM()(
        [{"role": "system", "content": system}, {"role": "user", "content": noise + QUESTION}]
    )[0]
    labels = [line.split(":", 1)[0] for line in out.splitlines()]
    assert labels == fields


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_correlated_draws_keep_their_marginal_probability(p: float) -> None:
    from mipro_core.testing._rng import Draws

    hits = sum(
        Draws(0, f"prompt{i}", 0.0, 0, 0.4).chance("decision", p, item=f"q{i % 50}")
        for i in range(4000)
    )
    assert abs(hits / 4000 - p) < 0.03


def test_per_question_latent_makes_outcomes_correlated_across_prompts() -> None:
    from mipro_core.testing._rng import Draws

    def outcomes(prompt: str) -> list[bool]:
        return [Draws(0, prompt, 0.0, 0, 0.4).chance("d", 0.5, item=f"q{j}") for j in range(2000)]

    a, b = outcomes("one"), outcomes("two")
    agree = sum(x == y for x, y in zip(a, b, strict=True)) / 2000
    assert agree > 0.55  # independent draws would agree half the time
