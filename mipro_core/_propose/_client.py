"""The proposer's calls to its LM: rendered from template files, memoized, budgeted."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from importlib import resources

from .._call_budget import CallBudget
from .._chat_format import parse_fields, render_messages
from .._errors import (
    BudgetExhaustedError,
    EmptyCompletionError,
    JournalError,
    LMError,
    ParseError,
)
from .._memo import Memo
from .._overflow import is_context_overflow
from .._protocols import LM, Message
from .._refusal import refusal
from .._retry import Backoff, RetryPolicy, RetryStopped
from .._transient import never_sent
from .._types import Signature, stable_hash

logger = logging.getLogger("mipro_core.propose")

OVERFLOW_REPLY = "[[ ## no reply: the prompt exceeded the model's context window ## ]]"
"""What a proposer call whose prompt did not fit returns: never an instruction (rejected)."""


def unless_overflow(text: str) -> str:
    """``text`` stripped, or ``""`` for :data:`OVERFLOW_REPLY`: a grounding part whose prompt
    exceeded the context window is left out of the proposals, never shown as text."""
    text = text.strip()
    return "" if text == OVERFLOW_REPLY else text


@functools.cache
def load_template(name: str) -> str:
    """The text of ``prompts/<name>.txt`` shipped in the package."""
    path = resources.files("mipro_core._propose").joinpath("prompts").joinpath(f"{name}.txt")
    return path.read_text(encoding="utf-8").strip()


class ProposerClient:
    """Calls the proposer LM with one template and returns the parsed output fields."""

    def __init__(
        self,
        lm: LM,
        memo: Memo,
        budget: CallBudget,
        *,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        deadline: float | None = None,
    ) -> None:
        self.lm = lm
        self.memo = memo
        self.budget = budget
        self.deadline = deadline
        """``time.monotonic()`` after which no new call is made (``max_seconds``)."""
        self.policy = RetryPolicy(
            max_retries=max_retries, backoff=backoff or Backoff(), deadline=deadline
        )
        self.rejected: dict[str, int] = {}
        """Per module: proposals whose reply held no usable instruction."""
        self.rejected_examples: dict[str, str] = {}
        self._lock = threading.Lock()
        self._halted = False  # after Ctrl-C: no new call
        self._abandoned = False  # after a second Ctrl-C: nothing a call in flight returns counts
        self._commit_lock = threading.RLock()  # a round's gated memo writes nest in it

    def halt(self) -> None:
        """The run was interrupted: no new call starts (the next :meth:`ask` raises
        ``KeyboardInterrupt``); a call in flight completes, counted and memoized as usual."""
        self._halted = True
        self.policy.wake()  # a retry waiting out its backoff is refused now, not after it

    def abandon(self) -> None:
        """:meth:`halt`, and drop whatever a call still in flight returns: neither counted nor
        memoized (the provider may still bill it). Returns once no :meth:`committing` block
        is under way, so nothing from this client is counted or written after it."""
        with self._commit_lock:
            self._halted = self._abandoned = True
        self.policy.wake()

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """Held while what a call returned is counted and written (the repair round beside a
        full evaluation writes its records through it too).

        Raises:
            KeyboardInterrupt: the client was abandoned; nothing is to be counted or written.
        """
        with self._commit_lock:
            if self._abandoned:
                raise KeyboardInterrupt("interrupted: a proposer call's result was dropped")
            yield

    def _admit_retry(self) -> str | None:
        """Why no retry may start (``None``: it may): a Ctrl-C, or the call cap."""
        if self._halted:
            return "interrupted"
        return None if self.budget.reserve(1) else "max_lm_calls"

    def _settle_failed(self, exc: BaseException) -> None:
        """Count a failed attempt (paid unless it never reached the provider), unless the
        client was abandoned."""
        with self._commit_lock:
            if not self._abandoned:
                self.budget.settle_proposer_call(1, calls=0 if never_sent(exc, lm_call=True) else 1)

    def reject(self, module: str, reply: str) -> None:
        """Count a proposal for ``module`` whose ``reply`` was not an instruction."""
        with self._lock:
            self.rejected[module] = self.rejected.get(module, 0) + 1
            self.rejected_examples.setdefault(module, reply)

    def _call(self, template: str, messages: list[Message], temperature: float) -> str:
        """One proposer call; transient failures (and empty replies) are retried with backoff
        while the deadline and the call budget allow (each attempt is a paid call). A prompt
        that exceeds the model's context window is never retried: the call returns
        :data:`OVERFLOW_REPLY`, which no proposal accepts."""

        def attempt() -> str:
            try:
                texts = self.lm(messages, n=1, temperature=temperature)
            except Exception as exc:
                if not is_context_overflow(exc):
                    raise
                logger.warning(
                    "the proposer prompt %r exceeded the model's context window (%s): it gets "
                    "no reply; a proposer_lm with a larger window avoids this",
                    template,
                    str(exc)[:200],
                )
                return OVERFLOW_REPLY
            text = texts[0] if texts else ""
            if not isinstance(text, str):
                raise LMError(f"proposer LM returned {type(text).__name__}, expected text")
            if not text.strip():
                raise EmptyCompletionError("proposer LM returned an empty completion")
            return text

        try:
            return self.policy.call(
                attempt,
                admit=lambda exc: self._admit_retry(),
                on_failure=self._settle_failed,
            )
        except RetryStopped as stop:
            if stop.reason == "interrupted":
                raise KeyboardInterrupt(
                    f"interrupted: no retry of the proposer on {template!r}"
                ) from stop.failure
            raise BudgetExhaustedError(
                f"{stop.reason} reached while retrying the proposer on {template!r} "
                f"({type(stop.failure).__name__}: {stop.failure})"
            ) from stop.failure
        except Exception as exc:
            # a bad key, no such model, no quota: say what to fix
            refused = refusal(exc, lm_call=True)
            why = f"the model provider refused it: {refused}; " if refused else ""
            raise LMError(
                f"proposer LM failed on {template!r}: {why}{type(exc).__name__}: {exc}"
            ) from exc

    def ask(
        self,
        template: str,
        signature: Signature,
        inputs: Mapping[str, str],
        *,
        temperature: float,
        salt: str = "",
    ) -> dict[str, str]:
        if self._halted:
            raise KeyboardInterrupt("interrupted: no new proposer call")
        messages = render_messages(signature, load_template(template), (), inputs)
        key = stable_hash({"messages": messages, "temperature": temperature, "salt": salt})
        cached = self.memo.get("proposer", key)
        if cached is not None:
            try:
                usage, fields = tuple(cached.get("usage", (0, 0))), dict(cached["fields"])
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise JournalError(
                    f"the journal's record of a {template!r} proposer call is malformed ({exc!r})"
                ) from exc
            self.budget.count_replayed(key, 1, *usage)
            return fields
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise BudgetExhaustedError("max_seconds reached during instruction proposal")
        if not self.budget.reserve(1):
            raise BudgetExhaustedError("max_lm_calls reached during instruction proposal")
        try:
            text = self._call(template, messages, temperature)
        except Exception:
            with self.committing():  # abandoned: not a failure for the caller to record
                pass
            raise
        usage = (sum(len(m["content"]) for m in messages) // 4, len(text) // 4)
        try:
            fields = parse_fields(text, signature.outputs)
        except ParseError:
            fields = {f: "" for f in signature.outputs}
            fields[signature.outputs[-1]] = text.strip()
        with self.committing():
            self.budget.settle_proposer_call(1, *usage)
            self.budget.count_replayed(key, 0, 0, 0)  # paid in this process: never again
            self.memo.put("proposer", key, {"fields": fields, "usage": list(usage)})
        return fields
