"""Recognise a provider's refusal: a failure that no retry and no other prompt can fix.

A wrong or revoked API key (HTTP 401), a key without access to the model (403), a model that
does not exist (404 naming a model), an account out of quota or credit (OpenAI's
``insufficient_quota`` 429, 402): every later call fails the same way. Counting such failures
toward ``max_errors`` only delays the stop by a dozen runs (and by their backoff, for a quota
429), so a program run or a proposer call that gets one stops the run at once with an
:class:`~mipro_core.LMError` saying what to fix. Everything computed before is in the journal,
which resumes once the cause is fixed.

Only a model call's failure is a refusal: a tool's or a retriever's 401, 403 or 404 (a
``requests`` / ``httpx`` ``raise_for_status()``) is that run's failure.
"""

from __future__ import annotations

import re
from typing import Any

from ._transient import http_status, is_quota_exhausted, model_call_links

_STATUS = {
    401: "authentication failed (HTTP 401): check the API key",
    402: "payment required (HTTP 402): check the account's credit",
    403: "permission denied (HTTP 403): check that the key may use this model",
    407: "proxy authentication required (HTTP 407): check the proxy's credentials",
}
_QUOTA = "the account's quota is exhausted (insufficient_quota): check the plan and billing"
_MISSING = "the model does not exist (HTTP 404): check the model name and the base URL"
_REFUSAL_CODES = {
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "model_not_found": 404,
}
"""Error codes / types of providers' reply bodies that refuse every call (OpenAI's ``code``,
Anthropic's ``error.type``), with the status they come with."""
_NAMES_MODEL = re.compile(r"\bmodel\b", re.IGNORECASE)


def _codes(link: BaseException) -> set[str]:
    """The error codes and types ``link`` carries: its own ``code`` / ``type`` and those of its
    ``body`` (``{"code": ...}``, or ``{"error": {"type": ...}}`` as Anthropic sends)."""
    found: set[str] = set()
    body: Any = getattr(link, "body", None)
    sources: list[Any] = [link]
    if isinstance(body, dict):
        sources += [body, body.get("error")]
    for source in sources:
        for key in ("code", "type"):
            value = source.get(key) if isinstance(source, dict) else getattr(source, key, None)
            if isinstance(value, str):
                found.add(value)
    return found


def refusal(exc: BaseException, *, lm_call: bool = False) -> str | None:
    """What the provider refused, if a model call raised ``exc`` (or an exception it was raised
    from) to refuse every call (see the module docstring); else None.

    Only the model call's exceptions count (:func:`~mipro_core._transient.model_call_links`: a
    provider SDK's, or what an adapter's ``LMError`` was raised from; ``lm_call``: ``exc``
    came from a model call, as the proposer's do): a ``requests`` / ``httpx`` 401, 403 or 404
    of a tool or a retriever is that run's failure. A 404 counts only with a provider's
    ``model_not_found`` code (or a ``not_found_error`` naming a model, as Anthropic sends)."""
    for link in model_call_links(exc, lm_call=lm_call):
        if is_quota_exhausted(link):
            return _QUOTA
        status = http_status(link)
        codes = _codes(link)
        if status in _STATUS:
            return _STATUS[status]
        if "model_not_found" in codes or (
            status == 404 and "not_found_error" in codes and _NAMES_MODEL.search(str(link))
        ):
            return _MISSING
        for code in codes:
            if _REFUSAL_CODES.get(code) in _STATUS:
                return _STATUS[_REFUSAL_CODES[code]]
    return None


class Refused(Exception):
    """Raised in place of a refused provider call, so that no retry policy tries it again;
    carries what was refused and the LM calls the failed run made."""

    transient = False  # decides ``is_transient`` before the cause chain is read

    def __init__(self, failure: BaseException, reason: str, lm_calls: int) -> None:
        super().__init__(f"{reason}: {type(failure).__name__}: {failure}")
        self.failure = failure
        self.reason = reason
        self.mipro_lm_calls = lm_calls
