"""One program run on one example: its retries, its score and its record in the memo.

The evaluator (``_evaluate``) submits :meth:`RunExecutor.execute_and_keep` to its executor, one
call per (state, example) run; see docs/design.md, "Parallelism".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ._call_budget import CallBudget
from ._cpu_watch import CpuWatch
from ._empty_reply import EmptyAgain, EmptyReplies, is_empty_completion
from ._errors import InvalidInputError, LMError, MetricError, ParseError
from ._eval_records import (
    NO_CALLS_LEFT,
    OVER_TIME,
    SKIPPED,
    RunRecord,
    RunTicket,
    calls_made,
    feedback_of,
    score_value,
)
from ._memo import Memo
from ._overflow import ContextOverflow, is_context_overflow
from ._prediction_text import prediction_text
from ._protocols import Metric, Program
from ._refusal import Refused, refusal
from ._retry import RetryPolicy, RetryStopped
from ._types import Example, Trace

logger = logging.getLogger("mipro_core.evaluate")


class RunExecutor:
    """Runs one example on a program replica in a worker thread, retrying transient faults
    within the error and call budgets, and commits a successful run to the memo."""

    def __init__(
        self,
        metric: Metric,
        memo: Memo,
        budget: CallBudget,
        policy: RetryPolicy,
        *,
        max_errors: int,
        run_once: Callable[[Program, Example], tuple[Any, Trace]],
        input_fields: frozenset[str],
        deadline: float | None,
        cpu_watch: CpuWatch,
    ) -> None:
        self.metric = metric
        self.cpu_watch = cpu_watch
        self.memo = memo
        self.budget = budget
        self.policy = policy
        self.max_errors = max_errors
        self.input_fields = input_fields
        self.deadline = deadline
        self.keep_failures = False
        """Keep the trace, prediction and feedback of runs scoring below 1.0 (set per
        evaluation by the evaluator)."""
        self.stopping = False
        """Set on Ctrl-C: no run starts another attempt."""
        self.empty = EmptyReplies()
        """What the runs have seen of empty replies (see :mod:`mipro_core._empty_reply`)."""
        self.overflows = 0
        """Runs whose prompt exceeded the model's context window (scored 0, not errors)."""
        self.retries = 0
        self.failed = 0
        self.refused: LMError | None = None
        """The first provider refusal (see ``_refusal``): no later run can succeed."""
        self._lock = threading.Lock()
        self._run_once = run_once

    def execute_and_keep(
        self, program: Program, example: Example, kind: str, key: str, ticket: RunTicket
    ) -> RunRecord:
        """Run in a worker thread; the result is committed to the memo before returning.

        Sets ``ticket.started`` when the run actually starts (the per-run timeout counts from
        there, not from the time the run was queued) and adds the calls reserved for its
        retries to ``ticket.retry_calls``. A run the collector abandoned (past ``timeout``)
        keeps nothing: its error was recorded then, and a late result in the memo would make
        a resumed run differ from this one."""
        ticket.started = time.monotonic()
        if self.stopping or self.failed > self.max_errors:  # stopping: don't start new runs
            return RunRecord(example.id, None, error=SKIPPED)
        if self.deadline is not None and ticket.started >= self.deadline:
            return RunRecord(example.id, None, error=OVER_TIME)
        cpu = self.cpu_watch.clock()
        try:
            record = self._execute(program, example, kind == "bootstrap", ticket)
        finally:
            self.cpu_watch.add(self.cpu_watch.clock() - cpu)
        with ticket.lock:
            abandoned = ticket.abandoned
            ticket.finished = True
            if not abandoned and record.error is None:
                self.budget.count_replayed(f"{kind}:{key}:{example.id}", 0, 0, 0)  # paid here
                self.memo.put(kind, f"{key}:{example.id}", record.to_dict())
        if abandoned or record.error not in (None, SKIPPED, OVER_TIME, NO_CALLS_LEFT):
            with self._lock:
                self.failed += 1  # an abandoned run was recorded as an error at its timeout
                spent = self.failed > self.max_errors
            if spent:  # the run stops: retries waiting out their backoff are refused now
                self.policy.wake()
        return record

    def stop(self) -> None:
        """Start no other attempt (Ctrl-C, or a refusal): retries waiting out their backoff
        wake up and are refused."""
        self.stopping = True
        self.policy.wake()

    def _admit_retry(self, ticket: RunTicket) -> str | None:
        """Reserve the calls of one more attempt of a run, or say why it may not start."""
        if self.stopping or self.failed > self.max_errors:
            return "stopping"
        with ticket.lock:
            if ticket.abandoned:
                return "stopping"  # past its timeout: nobody waits for this run any more
            if not self.budget.reserve(ticket.attempt_calls):
                return "max_lm_calls"
            ticket.retry_calls += ticket.attempt_calls
        with self._lock:
            self.retries += 1
        return None

    def _execute(
        self, program: Program, example: Example, with_trace: bool, ticket: RunTicket
    ) -> RunRecord:
        failed_calls = [0]  # provider calls made by the attempts that failed
        empty = [0]  # attempts whose reply was empty

        def count(exc: BaseException) -> None:
            failed_calls[0] += calls_made(exc)

        def attempt() -> tuple[Any, Trace]:
            try:
                return self._run_once(program, example)
            except Exception as exc:
                if is_context_overflow(exc):  # a property of the prompt: never retried
                    raise ContextOverflow(exc, calls_made(exc)) from exc
                refused = refusal(exc)  # a bad key, no such model, no quota: no run can succeed
                if refused is not None:
                    raise Refused(exc, refused, calls_made(exc)) from exc
                if is_empty_completion(exc):  # a glitch, retried, or the model's answer
                    empty[0] += 1
                    limit = self.empty.retry_limit()
                    if limit is not None and empty[0] > limit:
                        raise EmptyAgain(exc, calls_made(exc)) from exc
                raise

        try:
            prediction, trace = self.policy.call(
                attempt,
                admit=lambda exc: self._admit_retry(ticket),
                on_failure=count,
            )
        except ParseError:  # a malformed answer: a scored failure, not an error
            return RunRecord(example.id, 0.0, malformed=True, lm_calls=failed_calls[0])
        except ContextOverflow as overflow:  # this configuration's prompt cannot fit: it fails
            self._note_overflow(overflow)
            return RunRecord(example.id, 0.0, malformed=True, lm_calls=failed_calls[0])
        except EmptyAgain:  # the model answers nothing to this configuration's prompt: it fails
            self.empty.settle(empty[0])
            return RunRecord(example.id, 0.0, malformed=True, lm_calls=failed_calls[0])
        except InvalidInputError:
            raise  # a usage problem (e.g. an example lacks a field a stage needs): fail fast
        except Refused as refused:  # every run would fail the same way: stop the run now
            self.stop()
            error = LMError(
                f"the model provider refused a program run: {refused.reason} "
                f"({type(refused.failure).__name__}: {refused.failure})"
            )
            error.mipro_lm_calls = failed_calls[0]  # type: ignore[attr-defined]  # paid
            with self._lock:  # raised by the evaluation even when this run was abandoned
                self.refused = self.refused or error
            raise error from refused.failure
        except RetryStopped as stop:
            if stop.reason != "stopping":
                sentinel = OVER_TIME if stop.reason == "max_seconds" else NO_CALLS_LEFT
                return RunRecord(example.id, None, error=sentinel, lm_calls=failed_calls[0])
            return self._failed_record(example, stop.failure, failed_calls[0])
        except Exception as exc:  # recorded as an error, never as a 0 score
            _raise_if_missing_input(exc, example, self.input_fields)
            if is_empty_completion(exc) and self.empty.settle(empty[0]):  # every retry empty
                return RunRecord(example.id, 0.0, malformed=True, lm_calls=failed_calls[0])
            return self._failed_record(example, exc, failed_calls[0])
        self.empty.answered()
        return self._scored(example, prediction, trace, with_trace, failed_calls[0])

    def _scored(
        self, example: Example, prediction: Any, trace: Trace, with_trace: bool, extra_calls: int
    ) -> RunRecord:
        """The record of a run that answered: the metric's score of its prediction."""
        try:
            raw = self.metric(example, prediction, trace if with_trace else None)
        except MetricError:
            raise
        except Exception as exc:
            raise MetricError(
                f"metric raised {type(exc).__name__}: {exc} on example {example.id}"
            ) from exc
        usage = [c.usage for c in trace.calls]
        score = score_value(raw, example)
        failed = self.keep_failures and score < 1.0
        return RunRecord(
            example.id,
            score,
            lm_calls=trace.lm_calls + extra_calls,
            retried_calls=_beyond_one_attempt(trace, extra_calls),
            prompt_tokens=sum(u.get("prompt_tokens", 0) for u in usage),
            completion_tokens=sum(u.get("completion_tokens", 0) for u in usage),
            trace=trace if with_trace or failed else None,
            prediction=prediction_text(prediction) if failed else None,
            feedback=feedback_of(raw) if failed else None,
            modules=tuple(sorted({c.module for c in trace.calls})),
        )

    def _note_overflow(self, overflow: ContextOverflow) -> None:
        with self._lock:
            self.overflows += 1
            first = self.overflows == 1
        if first:
            logger.warning(
                "a prompt exceeded the model's context window (%s): such runs score 0, so the "
                "configuration that wrote it loses; with a small window, lower "
                "max_bootstrapped_demos / max_labeled_demos",
                str(overflow)[:200],
            )

    def _failed_record(self, example: Example, exc: BaseException, calls: int) -> RunRecord:
        return RunRecord(example.id, None, error=f"{type(exc).__name__}: {exc}", lm_calls=calls)


def _beyond_one_attempt(trace: Trace, failed_calls: int) -> int:
    """The calls a retried run made beyond what one attempt costs: its failed attempts' calls,
    less the successful attempt's prompts a cache answered (they were paid by those attempts)."""
    if not failed_calls:
        return 0
    one_attempt = len(trace.calls) + trace.unattributed_calls
    return max(0, trace.lm_calls + failed_calls - one_attempt)


def _raise_if_missing_input(exc: Exception, example: Example, fields: frozenset[str]) -> None:
    """A ``KeyError`` for an input field other examples have but this one lacks is bad input
    (``inputs["question"]`` in a program's forward), not a model fault: fail fast."""
    key = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else None
    if isinstance(key, str) and key in fields and key not in example.inputs:
        raise InvalidInputError(
            f"example {example.id} has no input {key!r}, which the program reads (its inputs: "
            f"{sorted(example.inputs)}); give every example the same input fields"
        ) from exc
