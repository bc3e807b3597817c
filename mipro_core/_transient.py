"""Which failures are worth retrying (:func:`is_transient`) and how long the provider asked to
wait (:func:`retry_after`).

Imports nothing from mipro: :class:`~mipro_core.LMError` classifies provider failures with these
functions, and says its own verdict through ``_transient_verdict()`` (so this module needs no
exception types of ours and there is no import cycle).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone

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


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` then the exceptions it was raised from or during (``__cause__``, else
    ``__context__`` unless suppressed; tenacity's ``RetryError`` yields its last attempt's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        last = getattr(current, "last_attempt", None)  # tenacity.RetryError
        inner = getattr(last, "exception", None)
        own = hasattr(current, "_transient_verdict")  # a mipro LMError
        nested = inner() if callable(inner) and not own else None
        if isinstance(nested, BaseException):
            current = nested
        elif current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status ``exc`` carries (on itself or its ``response``), if any."""
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
    own = getattr(exc, "_transient_verdict", None)  # mipro's LMError / TransientLMError
    if callable(own):
        verdict = own()
        return verdict if isinstance(verdict, bool) or verdict is None else None
    marked = getattr(exc, "transient", None)  # any exception may say so itself
    if isinstance(marked, bool):
        return marked
    if isinstance(exc, (TimeoutError, ConnectionError, json.JSONDecodeError)):
        return True  # a JSON decode error in a provider call: the reply body was truncated
    if is_quota_exhausted(exc):
        return False  # a 429 that no wait fixes: the account is out of credit
    status = http_status(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS or status >= 500
    names = [cls.__name__.lower() for cls in type(exc).__mro__]
    if any(tag in name for name in names for tag in _TRANSIENT_NAMES):
        return True
    return None


_QUOTA = re.compile(r"insufficient_quota|exceeded your current quota|credit balance is too low")


def is_quota_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` itself says the account's quota or credit is spent (OpenAI's
    ``insufficient_quota`` 429, Anthropic's "credit balance is too low"): no retry helps."""
    for attr in ("code", "type"):
        if getattr(exc, attr, None) == "insufficient_quota":
            return True
    return http_status(exc) in (400, 402, 403, 429) and bool(_QUOTA.search(str(exc)))


def is_transient(exc: BaseException) -> bool:
    """True for timeouts, rate limits, overloads, 5xx replies, connection resets and truncated
    reply bodies; False for bad requests (400 context length, 401, 404, 422...) and unknown errors.

    Walks the ``__cause__`` / ``__context__`` chain and takes the first exception that decides:
    a :class:`~mipro_core.TransientLMError`, a boolean ``transient`` attribute, a
    ``TimeoutError`` / ``ConnectionError``, an HTTP
    status (``status_code`` / ``status`` / ``http_status`` or ``response.status_code``: 408,
    409, 425, 429 and 5xx are transient, other codes permanent; a 429 whose quota is spent,
    :func:`is_quota_exhausted`, is permanent), or a provider SDK's class name
    (``RateLimitError``, ``APIConnectionError``, ``APITimeoutError``, httpx's ``ConnectError`` /
    ``RemoteProtocolError``, requests' ``ChunkedEncodingError``...).
    """
    for link in exception_chain(exc):
        verdict = _verdict(link)
        if verdict is not None:
            return verdict
    return False


_PROVIDER_SDKS = (
    "openai",
    "anthropic",
    "groq",
    "mistralai",
    "cohere",
    "google.genai",
    "google.generativeai",
    "litellm",
    "together",
    "fireworks",
    "ollama",
    "ai21",
)
"""Modules of model providers' SDKs: an exception of theirs came from a model call (a bare
``requests`` / ``httpx`` error may come from any tool, retriever or web page)."""


def from_provider_sdk(exc: BaseException) -> bool:
    """Whether ``exc`` is a model provider SDK's exception (a class of one of
    :data:`_PROVIDER_SDKS`, or a subclass of one)."""
    for cls in type(exc).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if any(module == sdk or module.startswith(sdk + ".") for sdk in _PROVIDER_SDKS):
            return True
    return False


def model_call_links(exc: BaseException, *, lm_call: bool = False) -> Iterator[BaseException]:
    """The exceptions of ``exc``'s chain (:func:`exception_chain`) that a model call raised: the
    first provider SDK exception or mipro :class:`~mipro_core.LMError` (what an adapter's or a
    user's LM raises for a failed call) and those it was raised from. ``lm_call``: ``exc``
    itself came from a model call (the proposer's), so every link did."""
    inside = lm_call
    for link in exception_chain(exc):
        inside = inside or hasattr(link, "_transient_verdict") or from_provider_sdk(link)
        if inside:
            yield link


_NEVER_SENT = frozenset({"PoolTimeout", "ConnectTimeout", "ConnectError"})
"""httpx's (and requests' ``ConnectTimeout``) names for a request that never reached the
provider: no free connection in the client's pool, or no connection at all."""


def never_sent(exc: BaseException, *, lm_call: bool = False) -> bool:
    """Whether the model call that raised ``exc`` never reached the provider (so was not
    billed): an httpx ``PoolTimeout``, ``ConnectTimeout`` or ``ConnectError`` raised by the model
    call (:func:`model_call_links`: inside openai's ``APITimeoutError`` /
    ``APIConnectionError``, or an adapter's ``LMError``). A tool's own ``ConnectError`` says
    nothing about the model calls its run made."""
    links = model_call_links(exc, lm_call=lm_call)
    return any(type(link).__name__ in _NEVER_SENT for link in links)


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
    for link in exception_chain(exc):
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
