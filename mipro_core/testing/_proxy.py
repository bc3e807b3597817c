"""A fault-injecting HTTP proxy (loopback only) in front of an OpenAI-compatible server.

Real provider clients (``langchain_openai.ChatOpenAI``, LlamaIndex's ``OpenAILike``, the
``openai`` SDK) pointed at :attr:`FaultProxy.base_url` see the faults a flaky provider produces:
``429`` with ``Retry-After``, ``500``, a hang past the client's timeout, a reply body cut off
mid-way, or an empty completion. Which requests fault is a deterministic function of the seed,
the request body and how many times that body was sent before, so a retried request can get
through and a run is reproducible whatever the thread timing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import threading
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .._errors import InvalidInputError
from ._http import LocalHTTPService

logger = logging.getLogger(__name__)

FAULT_KINDS = ("429", "500", "hang", "truncated", "empty")


class FaultProxy(LocalHTTPService):
    """Forwards ``upstream`` (an ``http://127.0.0.1:PORT/v1`` base URL) and injects faults.

    ``rate`` is the fraction of POST requests that fault; ``kinds`` chooses among
    :data:`FAULT_KINDS`: ``"429"`` (with ``Retry-After: retry_after``), ``"500"``, ``"hang"``
    (no answer for ``hang_seconds``, then the connection is closed: set the client's timeout
    below it), ``"truncated"`` (the upstream reply with its full ``Content-Length`` but only
    half the body, then the connection closes) and ``"empty"`` (the upstream reply with every
    completion text emptied). ``requests`` counts the POST requests received (every attempt a
    provider would bill or rate-limit); ``faults`` counts the injected faults by kind.
    Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        kinds: Sequence[str] = ("429", "500"),
        seed: int = 0,
        retry_after: str = "0",
        hang_seconds: float = 2.0,
        host: str = "127.0.0.1",
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise InvalidInputError(f"rate must be within [0, 1], got {rate}")
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown or not kinds:
            raise InvalidInputError(f"kinds must be among {FAULT_KINDS}; got {list(kinds)}")
        target = urllib.parse.urlsplit(upstream)
        if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise InvalidInputError(f"upstream must be a loopback http URL, got {upstream!r}")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise InvalidInputError(f"host must be a loopback address, got {host!r}")
        self.upstream = (target.hostname, target.port or 80)
        self.rate = rate
        self.kinds = tuple(kinds)
        self.seed = seed
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.requests = 0
        self.faults: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._serve(host, 0, _Handler, "mipro-fault-proxy")
        self.base_url = f"http://{host}:{self.port}{target.path}"

    def _before_close(self) -> None:
        self._closing.set()  # hanging requests are released

    def __repr__(self) -> str:
        return f"FaultProxy({self.base_url!r}, rate={self.rate}, kinds={list(self.kinds)})"

    def _draw(self, text: str) -> float:
        digest = hashlib.sha256(f"{self.seed}\x00{text}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def choose(self, body: bytes) -> str | None:
        """Count one request and pick its fault (``None``: forward it untouched)."""
        key = hashlib.sha256(body).hexdigest()
        with self._lock:
            self.requests += 1
            attempt = self._attempts[key]
            self._attempts[key] += 1
        if self._draw(f"{key}\x00{attempt}") >= self.rate:
            return None
        kind = self.kinds[int(self._draw(f"kind\x00{key}\x00{attempt}") * len(self.kinds))]
        with self._lock:
            self.faults[kind] += 1
        return kind

    def forward(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes, str]:
        """The upstream's status, body and content type for one request."""
        host, port = self.upstream
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            kind = response.getheader("Content-Type", "application/json")
            return response.status, data, kind
        finally:
            connection.close()


def _emptied(data: bytes) -> bytes:
    """An OpenAI reply with every completion text replaced by ``""``."""
    payload: Any = json.loads(data)
    for choice in payload.get("choices", ()):
        if isinstance(choice.get("message"), dict):
            choice["message"]["content"] = ""
        if "text" in choice:
            choice["text"] = ""
    return json.dumps(payload).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def owner(self) -> FaultProxy:
        return self.server.owner  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        status, data, kind = self.owner.forward("GET", self.path, None)
        self._send(status, data, kind)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        fault = self.owner.choose(body)
        if fault == "hang":
            self.owner._closing.wait(self.owner.hang_seconds)
            self.close_connection = True
            return
        if fault in ("429", "500"):
            status = int(fault)
            message = "rate limited" if status == 429 else "injected server error"
            error = {"error": {"message": message, "type": "server_error", "code": None}}
            extra = {"Retry-After": self.owner.retry_after} if status == 429 else {}
            self._send(status, json.dumps(error).encode(), "application/json", extra)
            return
        status, data, kind = self.owner.forward("POST", self.path, body)
        if fault == "empty" and status == 200:
            data = _emptied(data)
        if fault == "truncated" and status == 200:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self._send(status, data, kind)

    def _send(
        self, status: int, data: bytes, kind: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
