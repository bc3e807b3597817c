"""A stub of llama-cpp-python's OpenAI-compatible server as SmolLM2-135M behaved on it.

Reproduces what the real server did (benchmarks/real_lm): a 2,048-token window answered with
HTTP 400 ``context_length_exceeded`` when the prompt does not fit; ``max_tokens`` honoured but
``max_completion_tokens`` ignored; zero-shot answers are chatty sentences cut at the token cap
(``finish_reason: "length"``, counted in ``finish``); with few-shot turns in the prompt the answer
is one word. ``empty_with_demos=True``: a model that answers ``""`` every time demos are in the
prompt (deterministic at temperature 0). ``junk_proposals=True``: instruction proposals answered
as the 135M model did, in turn: a code block, the prompt echoed back, numbered options, or the
``answer`` function's reply (counted in ``junk``). Overflowing request bodies are kept in
``overflowing``. ``delay``: seconds each answer takes. Tokens are counted as 4 characters. Loopback only, port 0.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[list[dict[str, str]]], str]

CODE = "```python\ndef classify(review):\n    return 'positive'\n```"
OPTIONS = (
    "Here are three instructions:\n1. Reply with positive or negative only.\n"
    "2. Classify the review as positive or negative.\n3. Reply with the sentiment of the review."
)
JUNK_KINDS = ("code", "echo", "options", "plain")
"""Instruction proposals are answered in this rotation, in the order they arrive."""


class LlamaStub:
    def __init__(
        self,
        answer: Answer,
        *,
        n_ctx: int = 2048,
        empty_with_demos: bool = False,
        junk_proposals: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.answer, self.n_ctx = answer, n_ctx
        self.empty_with_demos, self.junk_proposals = empty_with_demos, junk_proposals
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.overflows = 0
        self.overflowing: list[str] = []
        self.empties = 0
        self.junk: Counter[str] = Counter()
        self.proposals = 0
        self.finish: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.stub = self  # type: ignore[attr-defined]
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LlamaStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        stub: LlamaStub = self.server.stub  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        stub.requests.append(body)
        messages = body["messages"]
        prompt_tokens = sum(len(str(m["content"])) for m in messages) // 4 + 4 * len(messages)
        cap = body.get("max_tokens")  # max_completion_tokens is ignored, as llama-cpp-python does
        if prompt_tokens + (cap or 16) > stub.n_ctx:
            with stub.lock:
                stub.overflows += 1
                stub.overflowing.append(json.dumps(body, sort_keys=True))
            message = (
                f"This model's maximum context length is {stub.n_ctx} tokens. However, you "
                f"requested {prompt_tokens + (cap or 16)} tokens ({prompt_tokens} in the "
                f"messages, {cap or 16} in the completion). Please reduce the length of the "
                "messages or completion."
            )
            error = {"message": message, "type": "invalid_request_error"}
            self._send(400, {"error": {**error, "code": "context_length_exceeded"}})
            return
        text = self._reply(stub, messages)
        time.sleep(stub.delay)  # a slow local model
        words = list(re.finditer(r"\S+", text))
        finish = "stop"
        if cap is not None and len(words) > cap:  # cut after the cap-th word, as generated
            text, finish = text[: words[cap - 1].end()], "length"
        with stub.lock:
            stub.finish[finish] += 1
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": min(len(words), cap or 10**9)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self._send(
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "smollm2"),
                "choices": [{**choice, "finish_reason": finish}],
                "usage": usage,
            },
        )

    def _reply(self, stub: LlamaStub, messages: list[dict[str, str]]) -> str:
        if stub.empty_with_demos and any(m["role"] == "assistant" for m in messages):
            with stub.lock:
                stub.empties += 1
            return ""
        if stub.junk_proposals and "proposed_instruction" in str(messages[0]["content"]):
            with stub.lock:
                kind = JUNK_KINDS[stub.proposals % len(JUNK_KINDS)]
                stub.proposals += 1
                stub.junk[kind] += 1
            replies = {"code": CODE, "echo": str(messages[-1]["content"]), "options": OPTIONS}
            if kind in replies:
                return replies[kind]
        return stub.answer(messages)
