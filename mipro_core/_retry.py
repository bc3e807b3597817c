"""Which failures are worth retrying, how long to wait, and the one retry loop both the
evaluator (task calls) and the proposer client use."""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TypeVar

from ._errors import LMError, TransientLMError

T = TypeVar("T")

_TRANSIENT_NAMES = (
    "timeout",
    "ratelimit",
    "rate_limit",
    "toomanyrequests",
    "serviceunavailable",
    "internalserver",
    "badgateway",
    "apiconnection",
    "connection",
    "connecterror",
    "remoteprotocol",
    "incompleteread",
    "chunkedencoding",
    "readerror",
    "overloaded",
    "temporar",
    "transient",
)
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` then the exceptions it was raised from or during (``__cause__``, else
    ``__context__`` unless suppressed; tenacity's ``RetryError`` yields its last attempt's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        last = getattr(current, "last_attempt", None)  # tenacity.RetryError
        inner = getattr(last, "exception", None)
        nested = inner() if callable(inner) and not isinstance(current, LMError) else None
        if isinstance(nested, BaseException):
            current = nested
        elif current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "http_status"):
        status = getattr(exc, attr, None)
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status < 600:
            return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status < 600:
        return status
    return None


def _verdict(exc: BaseException) -> bool | None:
    """True (transient), False (permanent) or None (this exception alone does not say)."""
    if isinstance(exc, TransientLMError):
        return True
    if isinstance(exc, LMError):  # a plain LMError decides only when it wraps nothing
        return None if exc.__cause__ is not None else False
    marked = getattr(exc, "transient", None)  # any exception may say so itself
    if isinstance(marked, bool):
        return marked
    if isinstance(exc, (TimeoutError, ConnectionError, json.JSONDecodeError)):
        return True  # a JSON decode error in a provider call: the reply body was truncated
    status = _status(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS or status >= 500
    names = [cls.__name__.lower() for cls in type(exc).__mro__]
    if any(tag in name for name in names for tag in _TRANSIENT_NAMES):
        return True
    return None


def is_transient(exc: BaseException) -> bool:
    """True for timeouts, rate limits, overloads, 5xx replies, connection resets and truncated
    reply bodies; False for bad requests (400 context length, 401, 404, 422...) and unknown errors.

    Walks the ``__cause__`` / ``__context__`` chain and takes the first exception that decides:
    a :class:`~mipro_core.TransientLMError`, a boolean ``transient`` attribute, a
    ``TimeoutError`` / ``ConnectionError``, an HTTP
    status (``status_code`` / ``status`` / ``http_status`` or ``response.status_code``: 408,
    409, 425, 429 and 5xx are transient, other codes permanent), or a provider SDK's class name
    (``RateLimitError``, ``APIConnectionError``, ``APITimeoutError``, httpx's ``ConnectError`` /
    ``RemoteProtocolError``, requests' ``ChunkedEncodingError``...).
    """
    for link in _chain(exc):
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
    return False


def _seconds(value: object) -> float | None:
    """A ``Retry-After`` value: seconds, or an HTTP-date (seconds from now)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None


def retry_after(exc: BaseException) -> float | None:
    """A retry-after hint in seconds carried by ``exc`` or an exception in its chain: a
    ``retry_after`` attribute, or the ``Retry-After`` (seconds or HTTP-date) /
    ``retry-after-ms`` header of its ``response``."""
    for link in _chain(exc):
        for attr in ("retry_after", "retry_after_seconds"):
            hint = _seconds(getattr(link, attr, None))
            if hint is not None:
                return hint
        headers = getattr(getattr(link, "response", None), "headers", None)
        get = getattr(headers, "get", None)
        if not callable(get):
            continue
        try:
            millis = _seconds(get("retry-after-ms"))
            hint = _seconds(get("retry-after"))
        except Exception:  # an odd headers object: no hint
            continue
        if millis is not None:
            return millis / 1000.0
        if hint is not None:
            return hint
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


class RetryStopped(Exception):
    """A transient failure was not retried: ``reason`` is ``"max_seconds"`` (the retry could
    not start before the deadline) or what ``admit`` refused it for (``"max_lm_calls"``: no
    call left). Raised ``from`` the failure."""

    def __init__(self, reason: str, failure: BaseException) -> None:
        super().__init__(f"{reason} reached while retrying ({type(failure).__name__}: {failure})")
        self.reason = reason
        self.failure = failure


class RetryPolicy:
    """The retry loop of every LM-calling step: transient failures are retried up to
    ``max_retries`` times with :class:`Backoff`; no attempt starts after ``deadline``
    (a ``clock()`` value) and a wait is cut at the deadline.

    ``clock`` and ``sleep`` are injectable so the deadline logic is testable without waiting.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        backoff: Backoff,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep

    def past_deadline(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def call(
        self,
        attempt_once: Callable[[], T],
        *,
        admit: Callable[[BaseException], str | None] = lambda exc: None,
        on_failure: Callable[[BaseException], None] = lambda exc: None,
    ) -> T:
        """``attempt_once()``, retried while its failures are transient.

        ``on_failure(exc)`` runs after every failed attempt (to count it); ``admit(exc)`` is
        asked just before each retry starts (after the wait) and reserves what it costs, or
        returns the reason not to retry (e.g. ``"max_lm_calls"``), raised as
        :class:`RetryStopped`. A permanent failure, or the last transient one, is re-raised
        unchanged.
        """
        attempt = 0
        while True:
            try:
                return attempt_once()
            except Exception as exc:
                on_failure(exc)
                if attempt >= self.max_retries or not is_transient(exc):
                    raise
                self.wait(self.backoff.delay(attempt, exc), exc)
                refused = admit(exc)
                if refused is not None:
                    raise RetryStopped(refused, exc) from exc
                attempt += 1

    def wait(self, seconds: float, failure: BaseException) -> None:
        """Sleep ``seconds`` before a retry; when the retry could not start before the deadline,
        raise :class:`RetryStopped` at once instead of waiting past (or up to) the deadline."""
        if self.deadline is not None and seconds >= self.deadline - self.clock():
            raise RetryStopped("max_seconds", failure) from failure
        self.sleep(seconds)
