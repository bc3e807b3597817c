"""Exception types. Every error the library raises on purpose derives from :class:`MiproError`."""

from __future__ import annotations


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
    """A language model call failed for good (after retries) or returned unusable output."""


class ParseError(LMError):
    """A model answer could not be parsed into the fields a module's signature needs."""


class BudgetExhaustedError(MiproError):
    """A hard budget (LM calls, trials, seconds) ran out before the step could run."""


class ErrorBudgetExceededError(MiproError):
    """More program runs failed with exceptions than ``max_errors`` allows."""
