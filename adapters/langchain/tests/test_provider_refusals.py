"""A real ChatOpenAI behind the fault proxy, refused by the provider (a bad key, no access, no
such model, no quota left): the run stops at its first refused call with an LMError saying what
to fix, never retries it or spends a dozen runs on it, and the journal resumes once fixed. A
Ctrl-C while a retry waits out a long Retry-After is not held up by the wait."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.testing import FaultProxy, OpenAICompatibleServer, serve_openai_compatible

langchain_openai = pytest.importorskip("langchain_openai", reason="needs langchain-openai")
from mipro_langchain import LangChainLM  # noqa: E402
from test_provider_faults import TRAIN, VAL, chain, metric, toy_lm  # noqa: E402

REFUSALS = [
    ("401", "authentication failed \\(HTTP 401\\): check the API key"),
    ("403", "permission denied \\(HTTP 403\\)"),
    ("404", "the model does not exist \\(HTTP 404\\)"),
    ("quota", "the account.s quota is exhausted \\(insufficient_quota\\)"),
]


def optimize(
    base_url: str, proposer_lm: Any, journal: Path | None = None, **search: Any
) -> mc.OptimizationResult:
    config = mc.SearchConfig(
        **{"minibatch_size": 5, "retry_base_delay": 0.01, "retry_max_delay": 0.05, **search}
    )
    optimizer = mc.MIPRO(
        budget=mc.Budget(max_trials=3, num_candidates=2), search=config, seed=2, num_threads=2
    )
    return optimizer.optimize(
        chain(base_url, 5.0), TRAIN, metric, valset=VAL, proposer_lm=proposer_lm, journal=journal
    )


def model(base_url: str) -> LangChainLM:
    return LangChainLM(
        langchain_openai.ChatOpenAI(
            base_url=base_url, api_key="test", model="toy", max_retries=0, timeout=5.0
        )
    )


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(toy_lm) as running:
        yield running


@pytest.mark.parametrize(("kind", "says"), REFUSALS)
def test_a_refusal_of_the_task_model_stops_the_run_at_once(
    server: OpenAICompatibleServer, kind: str, says: str
) -> None:
    with FaultProxy(server.base_url, rate=1.0, kinds=(kind,)) as proxy:
        with pytest.raises(mc.LMError, match=f"refused a program run: {says}"):
            optimize(proxy.base_url, toy_lm)
        # the runs in flight (num_threads=2): none retried, none started after the refusal
        # (it took 10 runs before, and 70 requests for the quota 429, which was retried)
        assert proxy.requests <= 2


@pytest.mark.parametrize(("kind", "says"), [REFUSALS[0], REFUSALS[3]])
def test_a_refusal_of_the_proposer_model_stops_at_its_first_call(
    server: OpenAICompatibleServer, kind: str, says: str
) -> None:
    with (
        FaultProxy(server.base_url, rate=0.0) as task,
        FaultProxy(server.base_url, rate=1.0, kinds=(kind,)) as proposer,
    ):
        with pytest.raises(mc.LMError, match=f"the model provider refused it: {says}"):
            optimize(task.base_url, model(proposer.base_url))
        assert proposer.requests <= 2  # the grounding calls in flight, never retried


def test_a_key_revoked_mid_run_stops_at_once_and_the_journal_resumes(
    server: OpenAICompatibleServer, tmp_path: Path
) -> None:
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        clean = optimize(proxy.base_url, toy_lm)
    journal = tmp_path / "run.sqlite"
    after = clean.task_lm_calls // 2  # mid-search: the baseline and some trials went through
    with FaultProxy(server.base_url, rate=1.0, kinds=("401",), after=after) as proxy:
        with pytest.raises(mc.LMError, match="authentication failed"):
            optimize(proxy.base_url, toy_lm, journal=journal)
        assert 1 <= proxy.faults["401"] <= 2
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        resumed = mc.resume(journal, chain(proxy.base_url, 5.0), metric, proposer_lm=toy_lm)
        assert proxy.requests == clean.task_lm_calls - after  # nothing journaled is paid again
    assert resumed.state == clean.state
    assert [t.log_entry() for t in resumed.trials] == [t.log_entry() for t in clean.trials]


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
@pytest.mark.parametrize("model_of", ["task", "proposer"])
def test_ctrl_c_is_not_held_up_by_a_retry_waiting_out_a_long_retry_after(
    server: OpenAICompatibleServer, model_of: str
) -> None:
    main = threading.main_thread().ident
    assert main is not None
    # every other request of one model is rate limited for 60 s; the backoff honours it
    with (
        FaultProxy(server.base_url, rate=0.5, kinds=("429",), retry_after="60", seed=3) as faulty,
        FaultProxy(server.base_url, rate=0.0) as clean,
    ):
        task, proposer = (faulty, clean) if model_of == "task" else (clean, faulty)

        def interrupt_once_waiting() -> None:
            while not faulty.faults["429"] and not done.is_set():
                time.sleep(0.01)
            time.sleep(0.2)  # the call is in its 60 s wait now
            if not done.is_set():  # a real Ctrl-C, as a terminal sends it
                signal.pthread_kill(main, signal.SIGINT)

        done = threading.Event()

        threading.Thread(target=interrupt_once_waiting, daemon=True).start()
        started = time.monotonic()
        try:
            result = optimize(task.base_url, model(proposer.base_url), retry_max_delay=60.0)
        except KeyboardInterrupt:
            pass  # before the baseline was scored: nothing to return
        else:
            assert result.stopped_reason == "interrupted"
        finally:
            done.set()
    # the one timing assertion, with generous slack: the wait used to run its full 60 s
    assert time.monotonic() - started < 30
