"""Empty completions in program runs: a provider's glitch, or the model's answer.

A provider's empty reply is usually a glitch (an overloaded endpoint, a dropped stream): it is
retried like any transient fault, and a retry answers. But at temperature 0 a small local model
can answer ``""`` every time to some prompts (say, whenever demos are in them): retrying again
and again, then counting each such run toward ``max_errors``, stops the whole run. So the run
learns which case it is in (:class:`EmptyReplies`):

* a run whose reply stays empty through all its retries, while other runs of the model answer,
  is a failed run of its configuration: scored 0 as malformed (like a prompt over the context
  window, :mod:`mipro_core._overflow`), never an error;
* once :data:`LEARN_AFTER` runs ended that way, an empty reply is retried only
  :data:`RETRIES_ONCE_LEARNED` time(s): the model's empty answers are not paid for seven times;
* when no run has answered at all (a provider that returns nothing to everything), or no retry
  was allowed (``max_retries=0``), an empty reply stays an error, so a broken endpoint still
  stops the run at ``max_errors``.
"""

from __future__ import annotations

import threading

from ._errors import EmptyCompletionError
from ._transient import exception_chain

LEARN_AFTER = 3
"""Runs whose reply stayed empty through every retry before the run retries empties less."""
RETRIES_ONCE_LEARNED = 1
"""How many times an empty reply is retried once the run has learned the model gives them."""


def is_empty_completion(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is an empty completion."""
    return any(isinstance(link, EmptyCompletionError) for link in exception_chain(exc))


class EmptyAgain(Exception):
    """Raised in place of an empty completion that came back after the learned number of
    retries, so that no retry policy tries it again; carries the LM calls the run made."""

    transient = False  # decides ``is_transient`` before the cause chain is read

    def __init__(self, failure: BaseException, lm_calls: int) -> None:
        super().__init__(f"{type(failure).__name__}: {failure}")
        self.failure = failure
        self.mipro_lm_calls = lm_calls


class EmptyReplies:
    """What one evaluation session has seen of empty replies (shared by its worker threads)."""

    def __init__(self) -> None:
        self.model_answers = False
        """Some program run got a prediction: the model and the provider work."""
        self.failed_runs = 0
        """Runs scored 0 because the reply stayed empty through their retries."""
        self.errors = 0
        """Runs recorded as errors on an empty reply (nothing answered yet, or not retried)."""
        self._lock = threading.Lock()

    def retry_limit(self) -> int | None:
        """How many retries an empty reply gets: ``None`` for the retry policy's own limit."""
        return RETRIES_ONCE_LEARNED if self.failed_runs >= LEARN_AFTER else None

    def answered(self) -> None:
        self.model_answers = True

    def settle(self, attempts: int) -> bool:
        """A run's reply was empty on its last of ``attempts``: whether it is the model's answer
        (a failed run, scored 0) rather than an error, counted either way."""
        with self._lock:
            if attempts > 1 and self.model_answers:
                self.failed_runs += 1
                return True
            self.errors += 1
            return False
