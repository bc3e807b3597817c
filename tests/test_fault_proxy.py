"""Faults from a real HTTP client: the openai SDK behind a fault-injecting proxy.

The proxy (``mipro_core.testing.FaultProxy``) sits in front of ``serve_openai_compatible`` and
counts every request it receives, which is what a provider bills: ``result.lm_calls`` must
equal it, also under faults and under a call cap.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core import Message
from mipro_core.testing import (
    FaultProxy,
    OpenAICompatibleServer,
    SimulatedLM,
    load_task,
    serve_openai_compatible,
)
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

openai = pytest.importorskip("openai", reason="the proxy tests drive the real openai client")

TRAIN, VAL = toy_data(10), toy_data(12, offset=100)
SEARCH = mc.SearchConfig(minibatch_size=6, retry_base_delay=0.01, retry_max_delay=0.05)


class OpenAIClientLM:
    """An ``LM`` on the openai SDK with its own retries off (mipro's retries are under test)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.client = openai.OpenAI(
            base_url=base_url, api_key="test", max_retries=0, timeout=timeout
        )

    def __call__(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0
    ) -> list[str]:
        reply = self.client.chat.completions.create(
            model="toy",
            messages=list(messages),
            n=n,
            temperature=temperature,  # type: ignore[arg-type]
        )
        return [choice.message.content or "" for choice in reply.choices]


def run(base_url: str, **options: Any) -> mc.OptimizationResult:
    search = options.pop("search", SEARCH)
    proposer_lm = options.pop("proposer_lm", None)
    stages = options.pop("stages", 1)
    budget = mc.Budget(max_trials=4, num_candidates=2, **options.pop("budget", {}))
    optimizer = mc.MIPRO(budget=budget, search=search, seed=1, num_threads=2)
    program = toy_program(OpenAIClientLM(base_url, **options), stages=stages)
    return optimizer.optimize(program, TRAIN, toy_metric, valset=VAL, proposer_lm=proposer_lm)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(ToyLM()) as running:
        yield running


@pytest.fixture(scope="module")
def clean(server: OpenAICompatibleServer) -> mc.OptimizationResult:
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        result = run(proxy.base_url)
        assert result.lm_calls == proxy.requests
    return result


def test_twenty_percent_mixed_http_faults_end_with_the_clean_prompts(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    kinds = ("429", "500", "hang", "truncated")
    with FaultProxy(server.base_url, rate=0.2, kinds=kinds, seed=1, hang_seconds=1.0) as proxy:
        faulty = run(proxy.base_url, timeout=0.3)
        received = proxy.requests
        assert set(proxy.faults) == set(kinds)
    assert faulty.state == clean.state
    assert [t.log_entry() for t in faulty.trials] == [t.log_entry() for t in clean.trials]
    assert faulty.errors == 0
    assert faulty.lm_calls == received  # every attempt the provider received is counted


def test_every_request_failing_stops_on_the_error_budget_and_the_journal_resumes(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult, tmp_path: Path
) -> None:
    journal = tmp_path / "run.sqlite"
    search = mc.SearchConfig(
        minibatch_size=6, max_errors=2, max_retries=2, retry_base_delay=0.01, retry_max_delay=0.05
    )
    with FaultProxy(server.base_url, rate=1.0, kinds=("429", "500")) as proxy:
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_trials=4, num_candidates=2), search=search, seed=1, num_threads=2
        )
        program = toy_program(OpenAIClientLM(proxy.base_url))
        with pytest.raises(mc.ErrorBudgetExceededError, match="max_errors=2"):
            optimizer.optimize(program, TRAIN, toy_metric, valset=VAL, journal=journal)
        # it stopped quickly: a few runs (those in flight), each tried max_retries + 1 times
        assert proxy.requests <= (2 + 1 + 2) * (2 + 1)
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        resumed = mc.resume(journal, toy_program(OpenAIClientLM(proxy.base_url)), toy_metric)
    assert resumed.state == clean.state


def test_the_call_cap_holds_under_faults_and_lm_calls_is_what_the_provider_received(
    server: OpenAICompatibleServer,
) -> None:
    cap = 60
    with FaultProxy(server.base_url, rate=0.3, kinds=("500", "429"), seed=3) as proxy:
        result = run(proxy.base_url, budget={"max_lm_calls": cap}, stages=3)
        received = proxy.requests
        assert sum(proxy.faults.values()) > 0
    assert result.lm_calls == received
    assert received <= cap + 2  # overshoot: at most the calls in flight (num_threads=2)


def test_empty_completions_are_retried_then_errors_with_one_warning(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult
) -> None:
    with (
        FaultProxy(server.base_url, rate=0.2, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        retried = run(proxy.base_url)
        assert proxy.faults["empty"] > 0
    assert retried.state == clean.state  # retried: an empty reply never became a 0 score
    assert not [w for w in caught if "empty completion" in str(w.message)]
    search = mc.SearchConfig(
        minibatch_size=6, max_errors=100, max_retries=0, retry_base_delay=0.0, retry_max_delay=0.0
    )
    with (
        FaultProxy(server.base_url, rate=0.3, kinds=("empty",), seed=5) as proxy,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        failed = run(proxy.base_url, search=search, proposer_lm=ToyLM())
    empty = [w for w in caught if "empty completion" in str(w.message)]
    assert failed.errors > 0  # scored as errors, never as 0 scores
    assert len(empty) == 1 and f"{failed.errors} program run(s)" in str(empty[0].message)


def test_a_retry_refused_by_the_deadline_is_reported_as_max_seconds_and_ends_in_time(
    server: OpenAICompatibleServer,
) -> None:
    # every other request fails and each retry would wait 2.5-5 s: past the 2 s deadline,
    # so the retry is refused before the deadline itself has passed (no call cap is set)
    deadline, client_timeout = 2.0, 1.0
    search = mc.SearchConfig(
        minibatch_size=6, max_errors=1000, retry_base_delay=5.0, retry_max_delay=5.0
    )
    started = time.monotonic()
    with FaultProxy(server.base_url, rate=0.5, kinds=("500",), seed=3) as proxy:
        try:
            result = run(
                proxy.base_url,
                search=search,
                budget={"max_seconds": deadline},
                timeout=client_timeout,
            )
        except mc.BudgetExhaustedError as exc:
            assert "max_seconds ran out while scoring the baseline" in str(exc)
            assert "max_lm_calls" not in str(exc)
        else:
            assert result.stopped_reason == "max_seconds"
            assert result.lm_calls == proxy.requests
        assert proxy.faults["500"] > 0
    # the one timing assertion: generous slack (old code overran a 4 s deadline by 20-30 s)
    assert time.monotonic() - started < deadline + client_timeout + 3 * deadline


def test_the_call_cap_counts_every_request_of_a_program_with_distinct_stage_prompts() -> None:
    # rule_qa_vote's stages send different prompts, so no response cache or deduplication can
    # hide a miscounted call: task_lm_calls must be exactly what the provider received
    task = load_task("rule_qa_vote")
    cap = 80
    with (
        serve_openai_compatible(SimulatedLM(seed=0)) as simulated,
        FaultProxy(simulated.base_url, rate=0.3, kinds=("500", "429"), seed=3) as proxy,
    ):
        optimizer = mc.MIPRO(
            budget=mc.Budget(max_lm_calls=cap, max_trials=6, num_candidates=2),
            search=mc.SearchConfig(
                minibatch_size=6, max_errors=1000, retry_base_delay=0.01, retry_max_delay=0.05
            ),
            seed=1,
            num_threads=2,
        )
        result = optimizer.optimize(
            task.make_program(OpenAIClientLM(proxy.base_url)),
            list(task.trainset)[:20],
            task.metric,
            valset=list(task.valset)[:12],
            proposer_lm=SimulatedLM(seed=0),  # local: the proxy sees only program calls
        )
        received = proxy.requests
        assert sum(proxy.faults.values()) > 0
    assert result.stopped_reason == "max_lm_calls"
    assert result.task_lm_calls == received
    assert result.lm_calls == received + result.proposer_lm_calls
    assert result.lm_calls <= cap + 2  # overshoot: at most the calls in flight (num_threads=2)
