"""Which failures are worth retrying, and how long to wait before the next attempt."""

from __future__ import annotations

import random
import threading

_TRANSIENT_NAMES = (
    "timeout",
    "ratelimit",
    "rate_limit",
    "toomanyrequests",
    "serviceunavailable",
    "apiconnection",
    "connection",
    "overloaded",
    "temporar",
    "transient",
)
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def is_transient(exc: BaseException) -> bool:
    """True for timeouts, rate limits, connection resets and 5xx-like provider errors.

    Recognised by type (``TimeoutError``, ``ConnectionError``), by an HTTP status attribute
    (``status_code`` / ``status`` / ``http_status``), or by the exception class name (the way
    provider SDKs name them: ``RateLimitError``, ``APIConnectionError``, ``ServiceUnavailable``...).
    """
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    for attr in ("status_code", "status", "http_status"):
        status = getattr(exc, attr, None)
        if isinstance(status, int) and status in _TRANSIENT_STATUS:
            return True
    names = [cls.__name__.lower() for cls in type(exc).__mro__]
    return any(tag in name for name in names for tag in _TRANSIENT_NAMES)


def retry_after(exc: BaseException) -> float | None:
    """A retry-after hint in seconds carried by the exception, if any."""
    for attr in ("retry_after", "retry_after_seconds"):
        value = getattr(exc, attr, None)
        if isinstance(value, (int, float)) and value >= 0:
            return float(value)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            value = headers.get("retry-after")
            return float(value) if value is not None else None
        except (TypeError, ValueError, AttributeError):
            return None
    return None


class Backoff:
    """Jittered exponential backoff honoring retry-after hints.

    The jitter has its own RNG: waiting never touches the run's seeded random streams, so
    retries cannot change which configurations are tried.
    """

    def __init__(self, base: float = 0.5, maximum: float = 20.0) -> None:
        self.base = base
        self.maximum = maximum
        self._rng = random.Random()
        self._lock = threading.Lock()

    def delay(self, attempt: int, exc: BaseException) -> float:
        hint = retry_after(exc)
        if hint is not None:
            return min(hint, self.maximum)
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        return float(min(self.maximum, self.base * (2**attempt)) * jitter)
