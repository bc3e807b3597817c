"""Recognise an empty completion, and give up on it after one retry.

A provider's empty reply can be a glitch (an overloaded endpoint, a dropped stream): one retry
usually gets an answer. But at temperature 0 a small local model can answer ``""`` every time
for some prompts (SmolLM2 on llama.cpp did whenever demos were in the prompt): retrying again
and again, then counting each such run toward ``max_errors``, stopped whole runs. After one retry
the empty reply is taken as this configuration's answer: the run is scored as a failed
(malformed) run, like a prompt over the context window (:mod:`mipro_core._overflow`), never as an
error.
"""

from __future__ import annotations

from ._errors import EmptyCompletionError
from ._transient import exception_chain

EMPTY_RETRIES = 1
"""How many times a program run whose reply was empty is tried again before it fails."""


def is_empty_completion(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is an empty completion."""
    return any(isinstance(link, EmptyCompletionError) for link in exception_chain(exc))


class EmptyAgain(Exception):
    """Raised in place of an empty completion that came back after :data:`EMPTY_RETRIES`
    retries, so that no retry policy tries it again; carries the LM calls the run made."""

    transient = False  # decides ``is_transient`` before the cause chain is read

    def __init__(self, failure: BaseException, lm_calls: int) -> None:
        super().__init__(f"{type(failure).__name__}: {failure}")
        self.failure = failure
        self.mipro_lm_calls = lm_calls
