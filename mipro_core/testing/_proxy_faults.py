"""The faults :class:`~mipro_core.testing.FaultProxy` injects: error replies a provider (or the
gateway in front of it) sends, and rewrites of a good reply's JSON.

Each error reply is worded like the real one (OpenAI's error bodies, a gateway's HTML page), so a
client's exception type, status and message are what it would see in production.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_HTML = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"


def _error(message: str, kind: str, code: str | None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


ERROR_REPLIES: dict[str, tuple[int, bytes, str]] = {
    "429": (429, _error("rate limited", "server_error", None), "application/json"),
    "500": (500, _error("injected server error", "server_error", None), "application/json"),
    "502-html": (502, _HTML.format("502 Bad Gateway").encode(), "text/html"),
    "503-html": (503, _HTML.format("503 Service Temporarily Unavailable").encode(), "text/html"),
    "504-html": (504, _HTML.format("504 Gateway Time-out").encode(), "text/html"),
    "401": (
        401,
        _error(
            "Incorrect API key provided: test. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        "application/json",
    ),
    "403": (
        403,
        _error("Project does not have access to model `toy`", "invalid_request_error", None),
        "application/json",
    ),
    "404": (
        404,
        _error(
            "The model `toy` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        "application/json",
    ),
    "quota": (
        429,
        _error(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        "application/json",
    ),
    "context": (
        400,
        _error(
            "This model's maximum context length is 2048 tokens. However, your messages "
            "resulted in 2243 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        ),
        "application/json",
    ),
}
"""Faults answered by the proxy itself (the upstream never sees the request): status, body and
content type. ``429`` carries ``Retry-After``; ``quota`` is OpenAI's ``insufficient_quota`` 429
(a billing problem, not a rate limit); ``context`` is the 400 of a prompt over the window."""


def _choices(payload: Any) -> list[dict[str, Any]]:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    return [c for c in choices or () if isinstance(c, dict)]


def _set_content(payload: Any, text: str | None, finish: str | None = None) -> None:
    for choice in _choices(payload):
        if isinstance(choice.get("message"), dict):
            choice["message"]["content"] = text
        if "text" in choice:
            choice["text"] = text or ""
        if finish is not None:
            choice["finish_reason"] = finish


def _emptied(payload: Any) -> None:
    _set_content(payload, "")


def _no_choices(payload: Any) -> None:
    payload["choices"] = []


def _null_content(payload: Any) -> None:
    _set_content(payload, None)


def _tool_calls(payload: Any) -> None:
    _set_content(payload, None, "tool_calls")
    for choice in _choices(payload):
        if isinstance(choice.get("message"), dict):
            call = {"name": "lookup", "arguments": '{"query": "answer"}'}
            tool = {"id": "call_0", "type": "function", "function": call}
            choice["message"]["tool_calls"] = [tool]


def _length(payload: Any) -> None:
    """The completion cut at ``max_tokens``: its first half, ``finish_reason: "length"``."""
    for choice in _choices(payload):
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else choice.get("text")
        if isinstance(text, str):
            _set_content({"choices": [choice]}, text[: len(text) // 2], "length")


def _content_filter(payload: Any) -> None:
    _set_content(payload, "", "content_filter")


REWRITES: dict[str, Callable[[Any], None]] = {
    "empty": _emptied,
    "no-choices": _no_choices,
    "null-content": _null_content,
    "tool-calls": _tool_calls,
    "length": _length,
    "content-filter": _content_filter,
}
"""Faults that change a good upstream reply (still ``200``): every completion text emptied,
no ``choices`` at all, ``content: null``, only a tool call, the text cut at ``max_tokens``
(``finish_reason: "length"``), or withheld by a content filter."""


def rewritten(kind: str, data: bytes) -> bytes:
    """The upstream reply ``data`` with fault ``kind`` applied (unchanged if it is no JSON)."""
    try:
        payload: Any = json.loads(data)
    except ValueError:
        return data
    if isinstance(payload, dict):
        REWRITES[kind](payload)
    return json.dumps(payload).encode()


WIRE_FAULTS = ("hang", "truncated", "not-json", "reset", "drip")
"""Faults of the connection: no answer (``hang``), the body cut half-way (``truncated``), a
``200`` whose body is an HTML page (``not-json``), the connection reset after the headers
(``reset``), or the body sent a few bytes at a time (``drip``)."""

FAULT_KINDS = (*ERROR_REPLIES, *REWRITES, *WIRE_FAULTS)
