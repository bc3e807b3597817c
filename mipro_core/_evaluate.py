"""Parallel evaluation of program states on examples: the :class:`Evaluator`.

Follows the concurrency model described under "Parallelism" in docs/design.md: a job applies
one state to one program replica and then runs all its examples with many in flight at once on
the executor. Several jobs run at the same time only on distinct replicas. Every (state,
example) result is kept in the memo, so the same pair is never paid for twice in a run (nor
after a resume).

One job per module: the records, scores, jobs and outcomes are in ``_eval_records``, the call
accounting in ``_call_budget``, one run with its retries in ``_eval_run`` and the collection of
finished runs in ``_eval_collect``; their names are re-exported here.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
from collections.abc import Callable, Sequence
from typing import Any

from ._call_budget import CallBudget
from ._cpu_watch import CpuWatch
from ._empty_reply import EmptyReplies
from ._errors import ErrorBudgetExceededError
from ._eval_collect import Pending, collect
from ._eval_records import (
    NO_CALLS_LEFT,
    OVER_TIME,
    SKIPPED,
    EvalJob,
    EvalOutcome,
    RunRecord,
    RunTicket,
    cached_record,
    calls_made,
    feedback_of,
    score_value,
)
from ._eval_run import RunExecutor
from ._memo import Memo
from ._protocols import Metric, Program
from ._retry import Backoff, RetryPolicy
from ._types import Example, Trace

__all__ = [
    "NO_CALLS_LEFT",
    "OVER_TIME",
    "SKIPPED",
    "CallBudget",
    "EvalJob",
    "EvalOutcome",
    "Evaluator",
    "RunRecord",
    "calls_made",
    "feedback_of",
    "score_value",
]


class Evaluator:
    """Runs evaluation jobs over an executor, with caching, an error budget and a call budget."""

    def __init__(
        self,
        replicas: Sequence[Program],
        metric: Metric,
        executor: cf.Executor,
        memo: Memo,
        budget: CallBudget,
        *,
        max_errors: int,
        timeout: float | None = None,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        run_once: Callable[[Program, Example], tuple[Any, Trace]] | None = None,
        input_fields: frozenset[str] = frozenset(),
        deadline: float | None = None,
        threads: int = 1,
    ) -> None:
        self.replicas = list(replicas)
        self.cpu_watch = CpuWatch(threads)
        """Whether the runs' own CPU work bounds their progress (warned once per run)."""
        self.executor = executor
        self.memo = memo
        self.budget = budget
        self.max_errors = max_errors
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.policy = RetryPolicy(max_retries=max_retries, backoff=self.backoff, deadline=deadline)
        self.errors = 0
        self.malformed = 0
        self.last_error: str | None = None
        self.runner = RunExecutor(
            metric,
            memo,
            budget,
            self.policy,
            max_errors=max_errors,
            run_once=run_once or (lambda program, ex: program.run(dict(ex.inputs))),
            input_fields=input_fields,
            deadline=deadline,
            cpu_watch=self.cpu_watch,
        )
        """Runs one example (in a worker thread), with its retries."""
        # what the evaluation in progress was asked for (see evaluate(); it is not reentrant)
        self._on_first_success: Callable[[], None] | None = None
        self._succeeded = False
        self._submitting = False
        self._applied: list[str | None] = [None] * len(self.replicas)
        self._calls_per_run = max(1, len(self.replicas[0].modules))

    @property
    def empty(self) -> EmptyReplies:
        """What the runs have seen of empty replies: runs scored 0 on them, runs errored."""
        return self.runner.empty

    @property
    def retries(self) -> int:
        """Retried attempts of program runs."""
        return self.runner.retries

    def evaluate(
        self,
        jobs: Sequence[EvalJob],
        *,
        kind: str = "run",
        keep_failures: bool = False,
        on_first_success: Callable[[], None] | None = None,
    ) -> list[EvalOutcome]:
        """Run every job (each on its own replica); results keep the examples' order.

        Stops submitting new runs when the call budget refuses a reservation (the outcome is then
        ``complete=False``).

        Args:
            jobs: at most one job per program replica.
            kind: the memo namespace of the runs (``"run"``, ``"bootstrap"``).
            keep_failures: keep the trace, prediction and feedback of runs scoring below 1.0
                (for a proposer to read).
            on_first_success: called once, after the first run that succeeds, and only once
                this evaluation has reserved all its runs: work it starts (the proposer's
                grounding) then spends only what the evaluation left of a call cap.

        Returns:
            One outcome per job, in order.

        Raises:
            ErrorBudgetExceededError: more than ``max_errors`` runs have failed (raised after
                the runs in flight have finished).
            MetricError: the metric raised.
        """
        if len(jobs) > len(self.replicas):
            raise ValueError("more concurrent jobs than program replicas")
        self.runner.keep_failures, self._on_first_success = keep_failures, on_first_success
        try:
            return self._evaluate(jobs, kind)
        finally:
            self.runner.keep_failures, self._on_first_success = False, None

    def _evaluate(self, jobs: Sequence[EvalJob], kind: str) -> list[EvalOutcome]:
        results: list[dict[str, RunRecord]] = [{} for _ in jobs]
        pending: Pending = {}
        # finished runs arrive here (put by the future's done-callback; see _eval_collect)
        finished: queue.SimpleQueue[cf.Future[RunRecord]] = queue.SimpleQueue()
        complete = [True] * len(jobs)
        estimate = self.budget.per_run_estimate(self._calls_per_run)
        mark = self.cpu_watch.start()
        self._submitting = True
        try:
            self._submit(jobs, kind, estimate, results, complete, pending, finished)
        finally:
            self._submitting = False
        self._first_success_callback()
        self._collect(pending, finished, results)
        self.cpu_watch.finish(mark)
        outcomes = []
        for j, job in enumerate(jobs):
            records = tuple(results[j][ex.id] for ex in job.examples if ex.id in results[j])
            outcomes.append(EvalOutcome(records, complete[j] and len(records) == len(job.examples)))
        return outcomes

    def _submit(
        self,
        jobs: Sequence[EvalJob],
        kind: str,
        estimate: int,
        results: list[dict[str, RunRecord]],
        complete: list[bool],
        pending: Pending,
        finished: queue.SimpleQueue[cf.Future[RunRecord]],
    ) -> None:
        """Serve cached runs and submit the others, reserving each one's calls."""
        for j, job in enumerate(jobs):
            todo = []
            for example in job.examples:
                key = f"{kind}:{job.key}:{example.id}"
                cached = self.memo.get(kind, f"{job.key}:{example.id}")
                if cached is not None:
                    record = cached_record(cached, key)
                    self.budget.count_replayed(
                        key,
                        record.lm_calls,
                        record.prompt_tokens,
                        record.completion_tokens,
                        succeeded=record.error is None,
                        retried=record.retried_calls,
                    )
                    results[j][example.id] = record
                else:
                    todo.append(example)
            if not todo:
                continue
            program = self.replicas[j]
            if self._applied[j] != job.key:
                program.apply(job.state)
                self._applied[j] = job.key
            if len(todo) > 1 and self.budget.needs_pilot():
                # under a call cap, before any run has finished, a run's calls are unknown (one
                # per module is a guess: a multi-hop writer is called twice): run one example
                # alone, so the reservations for the rest use what a run really costs
                first, todo = todo[0], todo[1:]
                if not self._run_alone(jobs, j, first, estimate, kind, results):
                    complete[j] = False
                    continue
                estimate = self.budget.per_run_estimate(self._calls_per_run)
            for example in todo:
                if not self.budget.reserve(estimate):
                    complete[j] = False
                    break
                ticket = RunTicket(estimate)
                future = self.executor.submit(
                    self.runner.execute_and_keep, program, example, kind, job.key, ticket
                )
                pending[future] = (j, example, estimate, ticket)
                future.add_done_callback(finished.put)

    def _run_alone(
        self,
        jobs: Sequence[EvalJob],
        j: int,
        example: Example,
        estimate: int,
        kind: str,
        results: list[dict[str, RunRecord]],
    ) -> bool:
        """Run one example of ``jobs[j]`` and wait for it; False if the budget refused it."""
        if not self.budget.reserve(estimate):
            return False
        finished: queue.SimpleQueue[cf.Future[RunRecord]] = queue.SimpleQueue()
        ticket = RunTicket(estimate)
        future = self.executor.submit(
            self.runner.execute_and_keep, self.replicas[j], example, kind, jobs[j].key, ticket
        )
        future.add_done_callback(finished.put)
        self._collect({future: (j, example, estimate, ticket)}, finished, results)
        return True

    def _collect(
        self,
        pending: Pending,
        finished: queue.SimpleQueue[cf.Future[RunRecord]],
        results: list[dict[str, RunRecord]],
    ) -> None:
        """Wait for the submitted runs and record them; raise once they have finished if one
        failed the evaluation (see :func:`collect`) or the error budget is spent."""

        def record(j: int, example: Example, run: RunRecord, reserved: int) -> None:
            self._record(example, run, reserved, results[j])

        collect(
            pending,
            finished,
            budget=self.budget,
            timeout=self.timeout,
            record=record,
            stop=self.runner.stop,
        )
        if self.runner.refused is not None:  # also one from a run abandoned at its timeout
            raise self.runner.refused
        if self.errors > self.max_errors:
            raise ErrorBudgetExceededError(
                f"{self.errors} program runs failed (max_errors={self.max_errors}); "
                f"last error: {self.last_error}. Fix the cause or raise max_errors."
            )

    def _record(
        self, example: Example, record: RunRecord, reserved: int, into: dict[str, RunRecord]
    ) -> None:
        self.budget.settle_run(reserved, record)
        if record.error in (SKIPPED, OVER_TIME, NO_CALLS_LEFT):
            return
        into[example.id] = record
        if record.error is not None:
            self.errors += 1
            self.last_error = record.error
            return
        if record.malformed:
            self.malformed += 1
        self._succeeded = True
        if not self._submitting:  # a pilot run succeeds while its evaluation still submits
            self._first_success_callback()

    def _first_success_callback(self) -> None:
        if self._succeeded and self._on_first_success is not None:
            callback, self._on_first_success = self._on_first_success, None
            callback()
