"""The test servers take many clients at once (64 threads connecting together)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import sys
import threading
import urllib.error
import urllib.request

import pytest

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


def _ask(url: str) -> tuple[int, bytes]:
    body = {"model": "simulated", "messages": [{"role": "user", "content": "question: hi"}]}
    request = urllib.request.Request(
        f"{url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_proxy_faults_look_like_the_real_ones() -> None:
    with serve_openai_compatible(SimulatedLM(seed=0)) as server:

        def proxy(kind: str) -> FaultProxy:
            return FaultProxy(server.base_url, rate=1.0, kinds=(kind,), drip_seconds=0.001)

        with proxy("401") as p:
            status, data = _ask(p.base_url)
            assert status == 401 and json.loads(data)["error"]["code"] == "invalid_api_key"
        with proxy("quota") as p:
            status, data = _ask(p.base_url)
            assert status == 429 and json.loads(data)["error"]["code"] == "insufficient_quota"
        with proxy("503-html") as p:
            assert _ask(p.base_url)[0] == 503
        with proxy("no-choices") as p:
            assert json.loads(_ask(p.base_url)[1])["choices"] == []
        with proxy("null-content") as p:
            choice = json.loads(_ask(p.base_url)[1])["choices"][0]
            assert choice["message"]["content"] is None
        with proxy("drip") as p:
            assert json.loads(_ask(p.base_url)[1])["choices"][0]["message"]["content"]
        with proxy("reset") as p, pytest.raises(ConnectionResetError):
            _ask(p.base_url)
        with proxy("truncated") as p, pytest.raises(http.client.IncompleteRead):
            _ask(p.base_url)


def test_a_client_that_gave_up_leaves_no_traceback_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a client past its timeout closes the connection before the answer is written: the
    # server's failed read or write is expected there, and was printed as a traceback
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)  # where socketserver prints a failed request
    body = json.dumps({"model": "simulated", "messages": [{"role": "user", "content": "hi"}]})
    lm = SimulatedLM(seed=0, latency=0.2)
    with serve_openai_compatible(lm) as server:
        for i in range(4):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
            )
            waited = 0
            while lm.calls <= i and waited < 3000:  # the model is answering: the server read it
                threading.Event().wait(0.01)
                waited += 1
            linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            client.close()  # a reset: the server cannot read the body or write the answer
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(timeout=30)
    assert "Traceback" not in stderr.getvalue()
