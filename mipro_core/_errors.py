"""Exception types. Every error the library raises on purpose derives from :class:`MiproError`."""

from __future__ import annotations

from . import _transient


class MiproError(Exception):
    """Base class of every exception raised on purpose by mipro."""


class InvalidInputError(MiproError, ValueError):
    """A public entry point received input it cannot work with (the message names the fix)."""


class NoAdapterError(MiproError, TypeError):
    """No installed adapter accepts the object passed to :func:`mipro_core.adapt`."""


class ArtifactError(MiproError):
    """An artifact file is unreadable, corrupt, of another schema version, or does not fit."""


class JournalError(MiproError):
    """A journal is corrupt, of another schema version, or written for another program."""


class MetricError(MiproError):
    """The metric raised, or returned something that is not a finite number or bool."""


class LMError(MiproError):
    """A language model call failed for good (after retries) or returned unusable output.

    Adapters wrap provider failures with :meth:`from_provider`, which keeps whether the failure
    is worth retrying: a :class:`TransientLMError` is retried with backoff, a plain ``LMError``
    is not (unless its ``__cause__`` chain holds a transient provider error).
    """

    transient: bool = False
    """Whether retrying the same call may succeed (see :class:`TransientLMError`)."""
    retry_after: float | None = None
    """Seconds the provider asked to wait before the next attempt (``Retry-After``), if any."""

    @classmethod
    def from_provider(cls, exc: BaseException, message: str) -> LMError:
        """The mipro error to raise ``from exc`` for a failed provider call.

        Classification (:func:`~mipro_core._transient.is_transient`) reads HTTP status codes,
        ``Retry-After`` headers and the exception types of the openai, anthropic, httpx and
        requests SDKs, along ``exc``'s ``__cause__`` / ``__context__`` chain.

        Args:
            exc: the provider's exception.
            message: the message of the returned error.

        Returns:
            A :class:`TransientLMError` (carrying the provider's ``retry_after`` hint, if any)
            when the failure is transient (rate limit, 5xx, timeout, connection reset, truncated
            reply), else a plain :class:`LMError`.
        """
        if _transient.is_transient(exc):
            return TransientLMError(message, retry_after=_transient.retry_after(exc))
        return LMError(message)

    def _transient_verdict(self) -> bool | None:
        """This error's own say in :func:`~mipro_core._transient.is_transient`: a plain
        ``LMError`` decides (permanent) only when it wraps nothing; otherwise its cause does."""
        return None if self.__cause__ is not None else False


class TransientLMError(LMError):
    """A language model call failed in a way worth retrying (rate limit, overload, 5xx, timeout,
    connection reset, truncated or empty reply). The optimizer retries it with backoff, waiting
    at least ``retry_after`` seconds when the provider said so."""

    transient = True

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def _transient_verdict(self) -> bool | None:
        return True


class EmptyCompletionError(TransientLMError):
    """The model returned an empty completion. In a program run it is retried (a glitch of the
    provider); empty on every retry while the model answers other prompts, that run is scored
    as a failed (malformed) run of its configuration, like a prompt over the context window,
    never counted toward ``max_errors`` (see ``mipro_core._empty_reply``). From the proposer it
    is retried like any transient fault."""


class ParseError(LMError):
    """A model answer could not be parsed into the fields a module's signature needs: a scored
    failure of that configuration, never retried (whatever parser error it was raised from)."""

    def _transient_verdict(self) -> bool | None:
        return False  # the model answered; a JSONDecodeError below is the parser's, not the wire's


class BudgetExhaustedError(MiproError):
    """A hard budget (LM calls, trials, seconds) ran out before the step could run."""


class ErrorBudgetExceededError(MiproError):
    """More program runs failed with exceptions than ``max_errors`` allows."""
