"""A tiny OpenAI-compatible HTTP server around any LM (for tests and demos; loopback only).

Serves ``POST /v1/chat/completions`` (``stream`` true or false), ``POST /v1/completions``,
``GET /v1/models`` and ``GET /v1/models/{id}`` from a :class:`ThreadingHTTPServer` in a daemon
thread. Request fields other than ``model``, ``messages``/``prompt``, ``n``, ``temperature``,
``stream``, ``stream_options`` and ``tools`` are accepted and ignored (``max_tokens``, ``top_p``,
...). ``tools`` are answered by the LM's ``chat(messages, tools=...)`` method when it has one
(``SimulatedLM`` does), else refused.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .._errors import InvalidInputError
from .._protocols import LM, Message
from ._http import CLIENT_GONE, LocalHTTPService
from ._prompt import content_text
from ._text import approx_tokens

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MAX_BODY = 32 * 1024 * 1024
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class _RequestError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class OpenAICompatibleServer(LocalHTTPService):
    """A running server; use as a context manager or call :meth:`close`.

    ``base_url`` (``"http://127.0.0.1:PORT/v1"``) is what OpenAI clients take as ``base_url``.
    """

    def __init__(self, lm: LM, host: str, port: int, model: str) -> None:
        self.lm = lm
        self.model = model
        self.host = host
        self._serve(host, port, _Handler, "mipro-sim-server")
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{self.port}/v1"

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"OpenAICompatibleServer({self.base_url!r}, {state})"


def serve_openai_compatible(
    lm: LM, host: str = "127.0.0.1", port: int = 0, *, model: str = "simulated"
) -> OpenAICompatibleServer:
    """Serve ``lm`` as an OpenAI-compatible endpoint on a loopback address.

    ``port=0`` picks a free port (read it from ``.port`` / ``.base_url``). Only loopback hosts
    are accepted: this is a test double, never a public service.
    """
    if host not in _LOOPBACK:
        raise InvalidInputError(f"host must be a loopback address {_LOOPBACK}, got {host!r}")
    if not callable(lm):
        raise InvalidInputError("lm must be callable like mipro_core.LM")
    return OpenAICompatibleServer(lm, host, port, model)


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise _RequestError(400, "'messages' must be a non-empty array")
    out: list[Message] = []
    for i, message in enumerate(raw):
        if not isinstance(message, Mapping) or "role" not in message:
            raise _RequestError(400, f"messages[{i}] must be an object with a 'role'")
        role = _ROLES.get(str(message["role"]), "user")
        out.append({"role": role, "content": content_text(message.get("content"))})  # type: ignore[typeddict-item]
    return out


def _sampling(body: Mapping[str, Any]) -> tuple[int, float]:
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128:
        raise _RequestError(400, "'n' must be an integer between 1 and 128")
    temperature = body.get("temperature", 1.0)
    if temperature is None:
        temperature = 1.0
    if (
        not isinstance(temperature, (int, float))
        or isinstance(temperature, bool)
        or not (0 <= temperature <= 2)
    ):
        raise _RequestError(400, "'temperature' must be a number between 0 and 2")
    return n, float(temperature)


def _usage(prompt_texts: Sequence[str], outputs: Sequence[str]) -> dict[str, int]:
    prompt = sum(approx_tokens(t) for t in prompt_texts)
    completion = sum(approx_tokens(t) for t in outputs)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # avoid the ~40 ms Nagle/delayed-ACK stall per request
    protocol_version = "HTTP/1.1"
    server_version = "mipro-simulated/1"

    @property
    def owner(self) -> OpenAICompatibleServer:
        return self.server.owner  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # ------------------------------------------------------------------ routing

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "mipro"}
        if path == "/v1/models":
            self._json(200, {"object": "list", "data": [model]})
        elif path == f"/v1/models/{self.owner.model}":
            self._json(200, model)
        else:
            self._error(404, f"no route GET {path}", "not_found_error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._read_body()
            if path == "/v1/chat/completions":
                self._chat(body)
            elif path == "/v1/completions":
                self._completion(body)
            else:
                raise _RequestError(404, f"no route POST {path}", "not_found_error")
        except _RequestError as exc:
            self._error(exc.status, str(exc), exc.kind)
        except CLIENT_GONE:
            raise  # the client left before its answer was written (see _http.handle_error)
        except Exception as exc:  # the LM failed: report it like an API would
            logger.exception("simulated server: LM call failed")
            self._error(500, f"{type(exc).__name__}: {exc}", "server_error")

    # ------------------------------------------------------------------ endpoints

    def _chat(self, body: Mapping[str, Any]) -> None:
        messages = _messages(body.get("messages"))
        n, temperature = _sampling(body)
        if body.get("tools"):
            self._chat_with_tools(body, messages, n, temperature)
            return
        outputs = self.owner.lm(messages, n=n, temperature=temperature)
        usage = _usage([m["content"] for m in messages], outputs)
        ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        model = str(body.get("model") or self.owner.model)
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._stream_chat(ident, model, created, outputs, usage if include_usage else None)
            return
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
            for i, text in enumerate(outputs)
        ]
        self._json(
            200,
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": choices,
                "usage": usage,
                "system_fingerprint": None,
            },
        )

    def _chat_with_tools(
        self, body: Mapping[str, Any], messages: list[Message], n: int, temperature: float
    ) -> None:
        """``tools`` offered: the LM's ``chat(messages, tools=...)`` answers (one choice, no
        streaming); the raw messages go through, so assistant ``tool_calls`` and ``tool``
        results reach it."""
        chat = getattr(self.owner.lm, "chat", None)
        if not callable(chat):
            raise _RequestError(400, "this model does not support 'tools' (its LM has no chat())")
        if body.get("stream") or n != 1:
            raise _RequestError(400, "with 'tools', only n=1 without streaming is supported")
        try:
            message = dict(chat(body["messages"], tools=body["tools"], temperature=temperature))
        except InvalidInputError as exc:
            raise _RequestError(400, str(exc)) from exc
        message.setdefault("refusal", None)
        completion = str(message.get("content") or "") + json.dumps(message.get("tool_calls", ""))
        self._json(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": str(body.get("model") or self.owner.model),
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": _usage([m["content"] for m in messages], [completion]),
                "system_fingerprint": None,
            },
        )

    def _completion(self, body: Mapping[str, Any]) -> None:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if (
            not isinstance(prompts, list)
            or not prompts
            or not all(isinstance(p, str) for p in prompts)
        ):
            raise _RequestError(400, "'prompt' must be a string or an array of strings")
        if body.get("stream"):
            raise _RequestError(400, "streaming is supported for chat completions only")
        n, temperature = _sampling(body)
        choices: list[dict[str, Any]] = []
        outputs: list[str] = []
        for text in prompts:
            for out in self.owner.lm(
                [{"role": "user", "content": text}], n=n, temperature=temperature
            ):
                choices.append(
                    {"index": len(choices), "text": out, "logprobs": None, "finish_reason": "stop"}
                )
                outputs.append(out)
        self._json(
            200,
            {
                "id": f"cmpl-{uuid.uuid4().hex[:24]}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": str(body.get("model") or self.owner.model),
                "choices": choices,
                "usage": _usage(prompts, outputs),
            },
        )

    def _stream_chat(
        self,
        ident: str,
        model: str,
        created: int,
        outputs: Sequence[str],
        usage: dict[str, int] | None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            payload: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            payload.update(extra or {})
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())

        for i, text in enumerate(outputs):
            chunk(
                [{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
            words = text.split(" ")
            for j, word in enumerate(words):
                piece = word if j == 0 else " " + word
                chunk([{"index": i, "delta": {"content": piece}, "finish_reason": None}])
            chunk([{"index": i, "delta": {}, "finish_reason": "stop"}])
        if usage is not None:
            chunk([], {"usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _RequestError(400, "invalid Content-Length header") from None
        if length <= 0:
            raise _RequestError(400, "request body is empty; expected a JSON object")
        if length > _MAX_BODY:
            raise _RequestError(413, "request body too large")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _RequestError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _RequestError(400, "request body must be a JSON object")
        return body

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status >= 400:  # the request body may be unread: do not reuse the connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str) -> None:
        self._json(
            status, {"error": {"message": message, "type": kind, "param": None, "code": None}}
        )
