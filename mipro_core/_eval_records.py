"""What one program run produced: its record, how a metric's value becomes a score, and the
jobs and outcomes of an evaluation (see docs/design.md, "Parallelism")."""

from __future__ import annotations

import math
import threading
from typing import Any

import attrs

from ._errors import JournalError, MetricError
from ._transient import never_sent
from ._types import Example, ProgramState, Trace

SKIPPED = "skipped: the error budget was already spent"
OVER_TIME = "skipped: max_seconds had passed"
NO_CALLS_LEFT = "stopped: max_lm_calls left no call for a retry"


class RunTicket:
    """One submitted run, shared by its worker and the collector (see ``_eval_collect``).

    ``started`` is when the run actually started (``inf`` while queued: the per-run timeout
    counts from there); ``retry_calls`` the calls reserved for its retries; ``attempt_calls``
    what one attempt reserves. Once the collector gives up on the run (past ``timeout``) it is
    ``abandoned``: its worker starts no other attempt and keeps nothing it produces later. A
    run whose worker has already ``finished`` (and kept its record) cannot be abandoned: its
    result is on its way to the collector.
    """

    def __init__(self, attempt_calls: int) -> None:
        self.started = math.inf
        self.retry_calls = 0
        self.attempt_calls = attempt_calls
        self.abandoned = False
        self.finished = False
        self.lock = threading.Lock()

    def abandon(self) -> int | None:
        """Give up on the run; returns the calls reserved for its retries so far, or ``None``
        when the run has finished already (then it is not abandoned)."""
        with self.lock:
            if self.finished:
                return None
            self.abandoned = True
            return self.retry_calls


def calls_made(exc: BaseException) -> int:
    """The LM calls a failed program run made: what the adapter recorded on the exception as
    ``mipro_lm_calls`` (see docs/adapters.md), else 1 (the call that failed); one less when the
    call that failed never reached the provider (:func:`never_sent`: no free connection in the
    client's pool, a refused connection)."""
    calls = getattr(exc, "mipro_lm_calls", None)
    if not (isinstance(calls, int) and not isinstance(calls, bool) and calls >= 0):
        calls = 1
    return max(0, calls - 1) if never_sent(exc) else calls


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
    retried_calls: int = 0
    """The calls of ``lm_calls`` beyond what one attempt of the run costs (its failed attempts'
    calls, less its own prompts a cache then answered): a run's expected cost, which
    reservations use, leaves them out, as each retry reserves its own calls when it starts."""

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
        if self.retried_calls:
            data["retried_calls"] = self.retried_calls
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """The record ``to_dict`` wrote; raises ``ValueError`` / ``TypeError`` / ``KeyError``
        for anything else (a score that is not a finite number, a negative call count, more
        retried calls than calls)."""
        trace = data.get("trace")
        score = data["score"]
        if score is not None and not _finite_number(score):
            raise ValueError(f"score {score!r:.40} is not a finite number")
        counts: dict[str, int] = {}
        for name in ("lm_calls", "prompt_tokens", "completion_tokens"):
            value = data.get(name, 0)
            if not _finite_number(value) or value < 0 or value != int(value):
                raise ValueError(f"{name} {value!r:.40} is not a count")
            counts[name] = int(value)
        retried = data.get("retried_calls", 0)  # the calls of failed attempts: some of lm_calls
        if not (isinstance(retried, int) and not isinstance(retried, bool)) or not (
            0 <= retried <= counts["lm_calls"]
        ):
            raise ValueError(f"retried_calls {retried!r:.40} is not a count within lm_calls")
        return cls(
            example_id=str(data["example_id"]),
            score=None if score is None else float(score),
            error=data.get("error"),
            malformed=bool(data.get("malformed", False)),
            lm_calls=counts["lm_calls"],
            prompt_tokens=counts["prompt_tokens"],
            completion_tokens=counts["completion_tokens"],
            trace=Trace.from_dict(trace) if trace is not None else None,
            prediction=data.get("prediction"),
            feedback=data.get("feedback"),
            modules=None if data.get("modules") is None else tuple(str(m) for m in data["modules"]),
            retried_calls=retried,
        )


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def feedback_of(raw: Any) -> str | None:
    """Feedback text a metric returned: ``(score, feedback)`` or an object with ``.feedback``."""
    if isinstance(raw, tuple) and len(raw) == 2:
        return None if raw[1] is None else str(raw[1])
    feedback = getattr(raw, "feedback", None)
    return None if feedback is None else str(feedback)


def cached_record(data: Any, key: str) -> RunRecord:
    """A run record read back from the memo (journal); a malformed one is a JournalError."""
    try:
        return RunRecord.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise JournalError(
            f"the journal's record of run {key} is malformed ({type(exc).__name__}: {exc})"
        ) from exc


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
