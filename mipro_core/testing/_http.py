"""A local HTTP service: a threading server on a loopback port, served from a daemon thread."""

from __future__ import annotations

import logging
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

_Service = TypeVar("_Service", bound="LocalHTTPService")

BACKLOG = 128
"""Connections waiting to be accepted; the standard library's 5 reset clients of a 64-thread run."""


CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
"""What reading a request or writing an answer raises once the client left (past its timeout)."""


class _Server(ThreadingHTTPServer):
    request_queue_size = BACKLOG

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that left (its timeout, a retry elsewhere) is expected here: logged at
        DEBUG, not printed as a traceback like any other failure of a request."""
        if isinstance(sys.exc_info()[1], CLIENT_GONE):
            logger.debug("client %s left before its answer was written", client_address)
            return
        super().handle_error(request, client_address)


class LocalHTTPService:
    """Base of the test servers: start with :meth:`_serve`, stop with :meth:`close` (or ``with``).

    The handler reaches the service as ``self.server.owner``.
    """

    port: int

    def _serve(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], name: str
    ) -> None:
        self._httpd = _Server((host, port), handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"{name}-{self.port}", daemon=True
        )
        self._closed = False
        self._thread.start()

    def _before_close(self) -> None:
        """Release what requests in flight wait for (e.g. hanging responses) before shutdown."""

    def close(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._before_close()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self: _Service) -> _Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
