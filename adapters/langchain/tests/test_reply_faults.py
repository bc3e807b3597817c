"""A real ChatOpenAI behind the fault proxy, answered with replies that are no answer: a reply
without choices, ``content: null``, a gateway's HTML 503, a connection reset half-way. On a
fifth of the requests, of the task model and the proposer alike, each is retried and the run
ends as a clean one, counting every request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mipro_core as mc
from mipro_core.testing import FaultProxy, OpenAICompatibleServer, serve_openai_compatible

pytest.importorskip("langchain_openai", reason="needs langchain-openai")
from test_provider_faults import optimize, toy_lm


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(toy_lm) as running:
        yield running


@pytest.fixture(scope="module")
def clean(server: OpenAICompatibleServer) -> mc.OptimizationResult:
    with FaultProxy(server.base_url, rate=0.0) as proxy:
        return optimize(proxy.base_url, timeout=5.0)


# "no-choices" raised an IndexError: a failed run (an error) in the task model, and the end of
# the whole run in the proposer (a permanent LMError)
@pytest.mark.parametrize("kind", ["no-choices", "null-content", "503-html", "reset"])
def test_a_fifth_of_replies_being_no_answer_ends_as_the_clean_run(
    server: OpenAICompatibleServer, clean: mc.OptimizationResult, kind: str
) -> None:
    with FaultProxy(server.base_url, rate=0.2, kinds=(kind,), seed=3) as proxy:
        faulty = optimize(proxy.base_url, timeout=5.0)  # the proposer is the chain's model
        received = proxy.requests
        assert proxy.faults[kind] > 0
    assert faulty.state == clean.state
    assert faulty.errors == 0
    assert faulty.lm_calls == received
