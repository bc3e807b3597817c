"""A fault-injecting HTTP proxy (loopback only) in front of an OpenAI-compatible server.

Real provider clients (``langchain_openai.ChatOpenAI``, LlamaIndex's ``OpenAILike``, the
``openai`` SDK) pointed at :attr:`FaultProxy.base_url` see the faults a flaky or misconfigured
provider produces (the catalogue is :mod:`._proxy_faults`): ``429`` with ``Retry-After``, 5xx
replies (JSON or a gateway's HTML page), ``401``/``403``/``404``, an exhausted quota, a prompt
over the context window, a hang past the client's timeout, a reply body cut off mid-way, reset,
or dripped byte by byte, a ``200`` that is no JSON, and good replies rewritten (empty, no
choices, ``null`` content, a tool call only, cut at ``max_tokens``, filtered). Which requests
fault is a deterministic function of the seed, the request body and how many times that body was
sent before, so a retried request can get through and a run is reproducible whatever the thread
timing.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import socket
import struct
import threading
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any

from .._errors import InvalidInputError
from ._http import LocalHTTPService
from ._proxy_faults import ERROR_REPLIES, FAULT_KINDS, REWRITES, rewritten

logger = logging.getLogger(__name__)

__all__ = ["FAULT_KINDS", "FaultProxy"]


class FaultProxy(LocalHTTPService):
    """Forwards ``upstream`` (an ``http://127.0.0.1:PORT/v1`` base URL) and injects faults.

    ``rate`` is the fraction of POST requests that fault; ``kinds`` chooses among
    :data:`FAULT_KINDS`: ``"429"`` (with ``Retry-After: retry_after``, seconds or an HTTP-date),
    ``"500"``, ``"502-html"``/``"503-html"``/``"504-html"`` (a gateway's HTML page), ``"401"``,
    ``"403"``, ``"404"`` (model not found), ``"quota"`` (OpenAI's ``insufficient_quota`` 429),
    ``"context"`` (the 400 of a prompt over the context window), ``"hang"`` (no answer for
    ``hang_seconds``, then the connection is closed: set the client's timeout below it),
    ``"truncated"`` (the upstream reply with its full ``Content-Length`` but only half the body,
    then the connection closes), ``"reset"`` (the headers, then a TCP reset), ``"drip"`` (the
    upstream reply a few bytes every ``drip_seconds``: no read ever times out), ``"not-json"``
    (a ``200`` HTML page), and the rewrites of a good reply ``"empty"``, ``"no-choices"``,
    ``"null-content"``, ``"tool-calls"``, ``"length"`` and ``"content-filter"``.
    Only requests whose body contains ``only`` (any request if None) and that come after the
    first ``after`` requests may fault. ``requests`` counts the POST requests received (every
    attempt a provider would bill or rate-limit); ``faults`` counts the injected faults by kind.
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
        drip_seconds: float = 0.2,
        only: str | None = None,
        after: int = 0,
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
        self.drip_seconds = drip_seconds
        self.only = None if only is None else only.encode()
        self.after = after
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
            number = self.requests
            attempt = self._attempts[key]
            self._attempts[key] += 1
        if number <= self.after or (self.only is not None and self.only not in body):
            return None
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
        if fault in ERROR_REPLIES:
            status, data, kind = ERROR_REPLIES[fault]
            retry = {"Retry-After": self.owner.retry_after} if fault == "429" else {}
            self._send(status, data, kind, retry)
            return
        if fault == "not-json":
            self._send(200, ERROR_REPLIES["502-html"][1], "text/html")
            return
        status, data, kind = self.owner.forward("POST", self.path, body)
        if fault in REWRITES and status == 200:
            data = rewritten(fault, data)
        elif fault in ("truncated", "reset", "drip") and status == 200:
            self._send_broken(fault, data, kind)
            return
        self._send(status, data, kind)

    def _send_broken(self, fault: str, data: bytes, kind: str) -> None:
        """The headers of a good reply, then half its body (``truncated``), a reset, or the
        body a few bytes at a time (``drip``)."""
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.close_connection = True
        if fault in ("truncated", "reset"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
        if fault == "reset":  # closed with SO_LINGER 0: a TCP reset (RST), no orderly FIN
            raw = socket.socket(fileno=self.connection.detach())
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raw.close()
            return
        if fault == "drip":
            for start in range(0, len(data), 16):
                if self.owner._closing.wait(self.owner.drip_seconds):
                    return
                self.wfile.write(data[start : start + 16])
                self.wfile.flush()

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
