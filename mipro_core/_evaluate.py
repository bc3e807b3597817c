"""Parallel evaluation of program states on examples.

Follows the concurrency model of DESIGN.md: a job applies one state to one program replica and
then runs all its examples with many in flight at once on the executor. Several jobs run at the
same time only on distinct replicas. Every (state, example) result is kept in the memo, so the
same pair is never paid for twice in a run (nor after a resume).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ._errors import (
    ErrorBudgetExceededError,
    InvalidInputError,
    JournalError,
    MetricError,
    ParseError,
)
from ._memo import Memo
from ._overflow import is_context_overflow
from ._protocols import Metric, Program
from ._retry import Backoff, is_transient
from ._types import Example, ProgramState, Trace

logger = logging.getLogger("mipro_core.evaluate")

SKIPPED = "skipped: the error budget was already spent"
OVER_TIME = "skipped: max_seconds had passed"


@attrs.frozen
class RunRecord:
    """The outcome of running one state on one example.

    ``score`` is ``None`` when the run raised (``error`` says why); a malformed model answer is
    a scored failure (``score == 0.0`` and ``malformed``), not an error.
    """

    example_id: str
    score: float | None
    error: str | None = None
    malformed: bool = False
    lm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    trace: Trace | None = None
    prediction: str | None = None
    feedback: str | None = None
    modules: tuple[str, ...] | None = None
    """The modules whose calls the run's trace holds (sorted); ``None`` when the run has no
    trace (it failed or its answer did not parse) or was read from an older journal."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "example_id": self.example_id,
            "score": self.score,
            "error": self.error,
            "malformed": self.malformed,
            "lm_calls": self.lm_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }
        if self.trace is not None:
            data["trace"] = self.trace.to_dict()
        if self.prediction is not None:
            data["prediction"] = self.prediction
        if self.feedback is not None:
            data["feedback"] = self.feedback
        if self.modules is not None:
            data["modules"] = list(self.modules)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        trace = data.get("trace")
        return cls(
            example_id=str(data["example_id"]),
            score=None if data["score"] is None else float(data["score"]),
            error=data.get("error"),
            malformed=bool(data.get("malformed", False)),
            lm_calls=int(data.get("lm_calls", 0)),
            prompt_tokens=int(data.get("prompt_tokens", 0)),
            completion_tokens=int(data.get("completion_tokens", 0)),
            trace=Trace.from_dict(trace) if trace is not None else None,
            prediction=data.get("prediction"),
            feedback=data.get("feedback"),
            modules=None if data.get("modules") is None else tuple(str(m) for m in data["modules"]),
        )


class CallBudget:
    """Thread-safe accounting of LM calls and tokens with an optional hard cap.

    Before a program run starts, the evaluator reserves the calls it expects the run to make; a
    reservation that would cross the cap is refused, so the cap is exceeded at most by the
    difference between estimated and actual calls of runs already in flight.
    """

    def __init__(self, max_lm_calls: int | None = None) -> None:
        self.max_lm_calls = max_lm_calls
        self._lock = threading.Lock()
        self.task_calls = 0
        self.proposer_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._reserved = 0
        self._runs = 0
        self._run_calls = 0
        self._counted: set[str] = set()

    @property
    def used(self) -> int:
        return self.task_calls + self.proposer_calls

    def per_run_estimate(self, default: int) -> int:
        with self._lock:
            if self._runs == 0:
                return max(1, default)
            return max(1, math.ceil(self._run_calls / self._runs))

    def needs_pilot(self) -> bool:
        """Whether a cap is set and no run has finished yet (so a run's cost is unknown)."""
        with self._lock:
            return self.max_lm_calls is not None and self._runs == 0

    def reserve(self, calls: int) -> bool:
        with self._lock:
            if self.max_lm_calls is not None and (
                self.used + self._reserved + calls > self.max_lm_calls
            ):
                return False
            self._reserved += calls
            return True

    def remaining(self) -> int | None:
        with self._lock:
            if self.max_lm_calls is None:
                return None
            return max(0, self.max_lm_calls - self.used - self._reserved)

    def settle_run(self, reserved: int, record: RunRecord) -> None:
        with self._lock:
            self._reserved -= reserved
            self.task_calls += record.lm_calls
            self.prompt_tokens += record.prompt_tokens
            self.completion_tokens += record.completion_tokens
            if record.error is None:
                self._runs += 1
                self._run_calls += record.lm_calls

    def count_replayed(
        self,
        key: str,
        calls: int,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        succeeded: bool = False,
    ) -> None:
        """Count, once per run, a result served from a journal written by an earlier process.

        Its calls were paid before the resume; counting them keeps ``max_lm_calls`` and the
        reported spend about the whole run, and a replayed run that ``succeeded`` informs
        :meth:`per_run_estimate` as it did when it ran (so a resumed run reserves, and decides
        what it can afford, like the original). Results produced in this process are
        registered with zero calls, so a cache hit on them costs nothing.
        """
        with self._lock:
            if key in self._counted:
                return
            self._counted.add(key)
            if key.startswith(("run:", "bootstrap:")):
                self.task_calls += calls
                if succeeded and calls:
                    self._runs += 1
                    self._run_calls += calls
            else:
                self.proposer_calls += calls
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def settle_proposer_call(
        self, reserved: int, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        with self._lock:
            self._reserved -= reserved
            self.proposer_calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens


def feedback_of(raw: Any) -> str | None:
    """Feedback text a metric returned: ``(score, feedback)`` or an object with ``.feedback``."""
    if isinstance(raw, tuple) and len(raw) == 2:
        return None if raw[1] is None else str(raw[1])
    feedback = getattr(raw, "feedback", None)
    return None if feedback is None else str(feedback)


def _raise_if_missing_input(exc: Exception, example: Example, fields: frozenset[str]) -> None:
    """A ``KeyError`` for an input field other examples have but this one lacks is bad input
    (``inputs["question"]`` in a program's forward), not a model fault: fail fast."""
    key = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else None
    if isinstance(key, str) and key in fields and key not in example.inputs:
        raise InvalidInputError(
            f"example {example.id} has no input {key!r}, which the program reads (its inputs: "
            f"{sorted(example.inputs)}); give every example the same input fields"
        ) from exc


def _cached_record(data: Any, key: str) -> RunRecord:
    """A run record read back from the memo (journal); a malformed one is a JournalError."""
    try:
        return RunRecord.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise JournalError(
            f"the journal's record of run {key} is malformed ({type(exc).__name__}: {exc})"
        ) from exc


def _prediction_text(prediction: Any, limit: int = 500) -> str:
    text = prediction if isinstance(prediction, str) else repr(prediction)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def score_value(raw: Any, example: Example) -> float:
    """Turn a metric's return value into a float, or raise :class:`MetricError`."""
    if isinstance(raw, tuple) and len(raw) == 2:  # (score, feedback)
        raw = raw[0]
    if hasattr(raw, "score") and not isinstance(raw, (int, float)):
        raw = raw.score
    if type(raw).__module__ == "numpy" and callable(getattr(raw, "item", None)):
        raw = raw.item()  # a numpy scalar (np.bool_, np.float32, ...): its Python value
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)):
        value = float(raw)
        if math.isfinite(value):
            return value
    raise MetricError(
        f"metric returned {raw!r} ({type(raw).__name__}) for example {example.id}; "
        "it must return a finite number or a bool"
    )


@attrs.frozen
class EvalJob:
    """Score ``state`` (identified by ``key``) on ``examples``."""

    key: str
    state: ProgramState
    examples: tuple[Example, ...]


@attrs.frozen
class EvalOutcome:
    records: tuple[RunRecord, ...]
    complete: bool

    @property
    def scored(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.records if r.score is not None)

    @property
    def mean(self) -> float | None:
        scored = [r.score for r in self.records if r.score is not None]
        return math.fsum(v / len(scored) for v in scored) if scored else None


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
        keep_failures: bool = False,
        run_once: Callable[[Program, Example], tuple[Any, Trace]] | None = None,
        input_fields: frozenset[str] = frozenset(),
        deadline: float | None = None,
    ) -> None:
        self.replicas = list(replicas)
        self.metric = metric
        self.executor = executor
        self.memo = memo
        self.budget = budget
        self.max_errors = max_errors
        self.timeout = timeout
        self.max_retries = max_retries
        self.keep_failures = keep_failures
        self.input_fields = input_fields
        """The input fields of the dataset's examples (a run failing on one of them missing
        from its example is bad input)."""
        self.deadline = deadline
        """``time.monotonic()`` after which queued runs are not started (``max_seconds``)."""
        self.backoff = backoff or Backoff()
        self.errors = 0
        self.malformed = 0
        self.retries = 0
        self.overflows = 0
        """Runs whose prompt exceeded the model's context window (scored 0, not errors)."""
        self._stopping = False
        self.last_error: str | None = None
        self.on_first_success: Callable[[], None] | None = None
        """Called once, after the first run that succeeds, and only once the evaluation that
        ran it has reserved all its runs: work it starts (the proposer's grounding) then spends
        only what the evaluation left of a call cap, never the calls the evaluation needs."""
        self._succeeded = False
        self._submitting = False
        self._failed = 0
        self._failed_lock = threading.Lock()
        self._applied: list[str | None] = [None] * len(self.replicas)
        self._run_once = run_once or (lambda program, ex: program.run(dict(ex.inputs)))
        self._calls_per_run = max(1, len(self.replicas[0].modules))

    def _execute_and_keep(
        self, program: Program, example: Example, kind: str, key: str, started: list[float]
    ) -> RunRecord:
        """Run in a worker thread; the result is committed to the memo before returning.

        ``started[0]`` is set when the run actually starts (the per-run timeout counts from
        there, not from the time the run was queued)."""
        started[0] = time.monotonic()
        if self._failed > self.max_errors:  # the error budget is spent: don't start new runs
            return RunRecord(example.id, None, error=SKIPPED)
        if self.deadline is not None and started[0] >= self.deadline:
            return RunRecord(example.id, None, error=OVER_TIME)
        record = self._execute(program, example, kind == "bootstrap")
        if record.error is None:
            self.budget.count_replayed(f"{kind}:{key}:{example.id}", 0, 0, 0)  # paid here
            self.memo.put(kind, f"{key}:{example.id}", record.to_dict())
        else:
            with self._failed_lock:
                self._failed += 1
        return record

    def _execute(self, program: Program, example: Example, with_trace: bool) -> RunRecord:
        attempt = 0
        extra_calls = 0
        while True:
            try:
                prediction, trace = self._run_once(program, example)
                break
            except ParseError:
                return RunRecord(example.id, 0.0, malformed=True, lm_calls=1 + extra_calls)
            except InvalidInputError:
                raise  # a usage problem (e.g. an example lacks a field a stage needs): fail fast
            except Exception as exc:  # recorded as an error, never as a 0 score
                _raise_if_missing_input(exc, example, self.input_fields)
                if is_context_overflow(exc):  # this configuration's prompt cannot fit
                    self._note_overflow(exc)
                    return RunRecord(example.id, 0.0, malformed=True, lm_calls=1 + extra_calls)
                if attempt < self.max_retries and is_transient(exc) and not self._stopping:
                    time.sleep(self.backoff.delay(attempt, exc))
                    attempt += 1
                    extra_calls += 1
                    self.retries += 1
                    continue
                return RunRecord(
                    example.id,
                    None,
                    error=f"{type(exc).__name__}: {exc}",
                    lm_calls=1 + extra_calls,
                )
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
            prompt_tokens=sum(u.get("prompt_tokens", 0) for u in usage),
            completion_tokens=sum(u.get("completion_tokens", 0) for u in usage),
            trace=trace if with_trace or failed else None,
            prediction=_prediction_text(prediction) if failed else None,
            feedback=feedback_of(raw) if failed else None,
            modules=tuple(sorted({c.module for c in trace.calls})),
        )

    def _note_overflow(self, exc: BaseException) -> None:
        with self._failed_lock:
            self.overflows += 1
            first = self.overflows == 1
        if first:
            logger.warning(
                "a prompt exceeded the model's context window (%s): such runs score 0, so the "
                "configuration that wrote it loses; with a small window, lower "
                "max_bootstrapped_demos / max_labeled_demos",
                f"{type(exc).__name__}: {str(exc)[:200]}",
            )

    def evaluate(self, jobs: Sequence[EvalJob], *, kind: str = "run") -> list[EvalOutcome]:
        """Run every job (each on its own replica); results keep the examples' order.

        Stops submitting new runs when the call budget refuses a reservation (the outcome is then
        ``complete=False``); raises :class:`ErrorBudgetExceededError` once more than
        ``max_errors`` runs have failed, after the runs in flight have finished.
        """
        if len(jobs) > len(self.replicas):
            raise ValueError("more concurrent jobs than program replicas")
        results: list[dict[str, RunRecord]] = [{} for _ in jobs]
        pending: dict[cf.Future[RunRecord], tuple[int, Example, int, list[float]]] = {}
        # finished runs arrive here (put by the future's done-callback): the collecting thread
        # then pays O(1) per run, where cf.wait(FIRST_COMPLETED) re-arms every pending future
        finished: queue.SimpleQueue[cf.Future[RunRecord]] = queue.SimpleQueue()
        complete = [True] * len(jobs)
        estimate = self.budget.per_run_estimate(self._calls_per_run)
        self._submitting = True
        try:
            self._submit(jobs, kind, estimate, results, complete, pending, finished)
        finally:
            self._submitting = False
        self._first_success_callback()
        self._collect(jobs, pending, finished, results, kind)
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
        pending: dict[cf.Future[RunRecord], tuple[int, Example, int, list[float]]],
        finished: queue.SimpleQueue[cf.Future[RunRecord]],
    ) -> None:
        """Serve cached runs and submit the others, reserving each one's calls."""
        for j, job in enumerate(jobs):
            todo = []
            for example in job.examples:
                key = f"{kind}:{job.key}:{example.id}"
                cached = self.memo.get(kind, f"{job.key}:{example.id}")
                if cached is not None:
                    record = _cached_record(cached, key)
                    self.budget.count_replayed(
                        key,
                        record.lm_calls,
                        record.prompt_tokens,
                        record.completion_tokens,
                        succeeded=record.error is None,
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
                started = [math.inf]
                future = self.executor.submit(
                    self._execute_and_keep, program, example, kind, job.key, started
                )
                pending[future] = (j, example, estimate, started)
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
        started = [math.inf]
        future = self.executor.submit(
            self._execute_and_keep, self.replicas[j], example, kind, jobs[j].key, started
        )
        future.add_done_callback(finished.put)
        self._collect(jobs, {future: (j, example, estimate, started)}, finished, results, kind)
        return True

    def _collect(
        self,
        jobs: Sequence[EvalJob],
        pending: dict[cf.Future[RunRecord], tuple[int, Example, int, list[float]]],
        finished: queue.SimpleQueue[cf.Future[RunRecord]],
        results: list[dict[str, RunRecord]],
        kind: str,
    ) -> None:
        failure: BaseException | None = None
        not_done = set(pending)
        while not_done:
            wait_for = None
            if self.timeout is not None:
                oldest = min(pending[f][3][0] for f in not_done)  # inf while all are queued
                wait_for = min(self.timeout, max(0.0, oldest + self.timeout - time.monotonic()))
            try:
                done = _next_finished(finished, wait_for)
            except KeyboardInterrupt as exc:  # Ctrl-C: finish what is in flight, keep it
                if isinstance(failure, KeyboardInterrupt):
                    raise  # a second Ctrl-C: stop waiting for the runs in flight
                self._stopping = True
                for future in not_done:
                    future.cancel()  # cancelled runs arrive in ``finished`` too
                # runs taken off the queue before the interrupt are done(): none is lost
                done = [f for f in not_done if f.done()]
                failure = failure or exc
            done = [f for f in done if f in not_done]
            not_done.difference_update(done)
            if not done and self.timeout is not None:
                now = time.monotonic()
                for future in [f for f in not_done if now - pending[f][3][0] >= self.timeout]:
                    future.cancel()
                    not_done.discard(future)
                    j, example, reserved, _ = pending[future]
                    record = RunRecord(
                        example.id, None, error=f"TimeoutError: run exceeded {self.timeout}s"
                    )
                    self._record(jobs[j], example, record, reserved, results[j], kind)
            for future in done:
                j, example, reserved, _ = pending[future]
                if future.cancelled():
                    self.budget.settle_run(reserved, RunRecord(example.id, None, error="aborted"))
                    continue
                try:
                    record = future.result()
                except BaseException as exc:  # MetricError or interruption: finish in-flight first
                    failure = failure or exc
                    self.budget.settle_run(reserved, RunRecord(example.id, None, error="aborted"))
                    continue
                self._record(jobs[j], example, record, reserved, results[j], kind)
        if failure is not None:
            raise failure
        if self.errors > self.max_errors:
            raise ErrorBudgetExceededError(
                f"{self.errors} program runs failed (max_errors={self.max_errors}); "
                f"last error: {self.last_error}. Fix the cause or raise max_errors."
            )

    def _record(
        self,
        job: EvalJob,
        example: Example,
        record: RunRecord,
        reserved: int,
        into: dict[str, RunRecord],
        kind: str,
    ) -> None:
        self.budget.settle_run(reserved, record)
        if record.error in (SKIPPED, OVER_TIME):
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
        if self._succeeded and self.on_first_success is not None:
            callback, self.on_first_success = self.on_first_success, None
            callback()


def _next_finished(
    finished: queue.SimpleQueue[cf.Future[RunRecord]], timeout: float | None
) -> list[cf.Future[RunRecord]]:
    """The runs finished so far: waits (at most ``timeout``) for one, then takes all that are
    there; an empty list when the wait timed out."""
    done: list[cf.Future[RunRecord]] = []
    try:
        done.append(finished.get(block=timeout != 0.0, timeout=timeout))
        while True:
            done.append(finished.get_nowait())
    except queue.Empty:
        return done
