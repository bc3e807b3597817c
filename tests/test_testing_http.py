"""The test servers take many clients at once (64 threads connecting together)."""

from __future__ import annotations

import json
import threading
import urllib.request

from mipro_core.testing import FaultProxy, SimulatedLM, serve_openai_compatible

CLIENTS = 64


def _post(url: str, answers: list[int], start: threading.Barrier) -> None:
    body = {"model": "simulated", "messages": [{"role": "user", "content": "question: hi"}]}
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    start.wait()
    with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
        answers.append(response.status)


def test_64_clients_connecting_at_once_are_all_served() -> None:
    # the standard library's backlog of 5 connections reset some of them: spurious retries and
    # a proxy count that missed requests
    with (
        serve_openai_compatible(SimulatedLM(seed=0, latency=0.2)) as server,
        FaultProxy(server.base_url, rate=0.0) as proxy,
    ):
        answers: list[int] = []
        start = threading.Barrier(CLIENTS)
        threads = [
            threading.Thread(target=_post, args=(proxy.base_url, answers, start))
            for _ in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert answers == [200] * CLIENTS
        assert proxy.requests == CLIENTS
