"""The OpenAI-compatible server, exercised with urllib, the openai client and ChatOpenAI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from mipro_core import InvalidInputError
from mipro_core.testing import (
    OpenAICompatibleServer,
    SimulatedLM,
    load_task,
    serve_openai_compatible,
)

QUESTION = load_task("rule_qa").valset[1].inputs["question"]


@pytest.fixture(scope="module")
def lm() -> SimulatedLM:
    return SimulatedLM(0)


@pytest.fixture(scope="module")
def server(lm: SimulatedLM) -> Iterator[OpenAICompatibleServer]:
    with serve_openai_compatible(lm, host="127.0.0.1", port=0) as srv:
        yield srv


def _post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_base_url_and_loopback_only(server: OpenAICompatibleServer) -> None:
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.port > 0
    with pytest.raises(InvalidInputError):
        serve_openai_compatible(SimulatedLM(), host="0.0.0.0")


def test_chat_completion_with_urllib(server: OpenAICompatibleServer, lm: SimulatedLM) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    body = {"model": "simulated", "messages": messages, "n": 2, "temperature": 0, "max_tokens": 5}
    status, data = _post(server.base_url + "/chat/completions", json.dumps(body).encode())
    assert status == 200
    assert data["object"] == "chat.completion"
    assert [c["index"] for c in data["choices"]] == [0, 1]
    expected = lm(messages, n=2, temperature=0.0)  # type: ignore[arg-type]
    assert [c["message"]["content"] for c in data["choices"]] == expected
    assert data["choices"][0]["message"]["role"] == "assistant"
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_models_endpoint(server: OpenAICompatibleServer) -> None:
    with urllib.request.urlopen(server.base_url + "/models", timeout=30) as resp:
        data = json.loads(resp.read())
    assert data["object"] == "list" and data["data"][0]["id"] == "simulated"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"model": "m"}', "messages"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 0}', "'n'"),
        (b'{"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', "temperature"),
    ],
)
def test_bad_requests_get_400_with_an_error_body(
    server: OpenAICompatibleServer, body: bytes, fragment: str
) -> None:
    status, data = _post(server.base_url + "/chat/completions", body)
    assert status == 400
    assert fragment in data["error"]["message"]
    assert data["error"]["type"] == "invalid_request_error"


def test_unknown_route_is_404(server: OpenAICompatibleServer) -> None:
    status, data = _post(server.base_url + "/embeddings", b"{}")
    assert status == 404 and "error" in data


def test_lm_failure_is_a_500_and_the_server_keeps_serving() -> None:
    def broken(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        raise RuntimeError("boom")

    with serve_openai_compatible(broken) as srv:
        status, data = _post(
            srv.base_url + "/chat/completions", b'{"messages": [{"role": "user", "content": "x"}]}'
        )
        assert status == 500 and "boom" in data["error"]["message"]
        status, _ = _post(srv.base_url + "/chat/completions", b"{bad")
        assert status == 400


def test_openai_client(server: OpenAICompatibleServer, lm: SimulatedLM) -> None:
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    resp = client.chat.completions.create(model="simulated", messages=messages, temperature=0)  # type: ignore[arg-type]
    assert resp.choices[0].message.content == lm(messages)[0]  # type: ignore[arg-type]
    assert resp.usage is not None and resp.usage.total_tokens > 0
    stream = client.chat.completions.create(
        model="simulated",
        messages=messages,
        temperature=0,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == lm(messages)[0]  # type: ignore[arg-type]
    assert usage is not None
    assert [m.id for m in client.models.list()] == ["simulated"]
    completion = client.completions.create(model="simulated", prompt=QUESTION, temperature=0)
    assert completion.choices[0].text == lm.complete(QUESTION)


def test_langchain_chat_openai(server: OpenAICompatibleServer, lm: SimulatedLM) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=server.base_url, api_key="x", model="simulated", temperature=0, max_retries=0
    )  # type: ignore[arg-type]
    reply = chat.invoke(QUESTION)
    assert reply.content == lm([{"role": "user", "content": QUESTION}])[0]
    streamed = "".join(str(c.content) for c in chat.stream(QUESTION))
    assert streamed == reply.content


def test_close_is_idempotent_and_frees_the_port() -> None:
    srv = serve_openai_compatible(SimulatedLM())
    url = srv.base_url
    srv.close()
    srv.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/models", timeout=5)
