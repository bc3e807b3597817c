"""Recognise a provider's refusal: a failure that no retry and no other prompt can fix.

A wrong or revoked API key (HTTP 401), a key without access to the model (403), a model that
does not exist (404 naming a model), an account out of quota or credit (OpenAI's
``insufficient_quota`` 429, 402): every later call fails the same way. Counting such failures
toward ``max_errors`` only delays the stop by a dozen runs (and by their backoff, for a quota
429), so a program run or a proposer call that gets one stops the run at once with an
:class:`~mipro_core.LMError` saying what to fix. Everything computed before is in the journal,
which resumes once the cause is fixed.
"""

from __future__ import annotations

from ._transient import exception_chain, http_status, is_quota_exhausted

_STATUS = {
    401: "authentication failed (HTTP 401): check the API key",
    402: "payment required (HTTP 402): check the account's credit",
    403: "permission denied (HTTP 403): check that the key may use this model",
    407: "proxy authentication required (HTTP 407): check the proxy's credentials",
}
_QUOTA = "the account's quota is exhausted (insufficient_quota): check the plan and billing"
_MISSING = "the model does not exist (HTTP 404): check the model name and the base URL"


def refusal(exc: BaseException) -> str | None:
    """What the provider refused, if ``exc`` (or an exception it was raised from) is a refusal
    of every call (see the module docstring); else None. A 404 counts only when it names a
    model (``model_not_found``): one from a tool or a document store is that run's failure."""
    for link in exception_chain(exc):
        if is_quota_exhausted(link):
            return _QUOTA
        status = http_status(link)
        if status in _STATUS:
            return _STATUS[status]
        if status == 404 and (
            getattr(link, "code", None) == "model_not_found" or "model" in str(link).lower()
        ):
            return _MISSING
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
