"""What an optimization run returns: trials, the winning state, the credit report."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from ._types import ProgramState
from ._variables import VariableKey

TrialKind = Literal["minibatch", "full"]


@attrs.frozen
class Trial:
    """One scored configuration: on a random minibatch, or on the full validation set.

    ``params`` maps each search variable (``"<module>.instruction"``, ``"<module>.demos"``) to the
    chosen candidate index. ``score`` is the mean metric over the examples that ran without error
    (``None`` if none did); ``complete`` is false when a budget cut the evaluation short. Trial 0
    is the baseline: the unmodified program (empty ``params``) scored on the full validation set.

    The last three fields are the run's progress when the trial was recorded (for trackers and
    plots): ``best_score`` is the best complete full-evaluation score so far, this trial included
    (so never ``None`` after trial 0); ``total_lm_calls`` the LM calls the run had spent, task and
    proposer, journaled calls included on resume (trials scored together in parallel share one
    count); ``elapsed`` the seconds since the run (this process's part of it) started.
    """

    number: int
    kind: TrialKind
    params: Mapping[str, int]
    score: float | None
    example_ids: tuple[str, ...]
    errors: int = 0
    malformed: int = 0
    lm_calls: int = 0
    seconds: float = 0.0
    complete: bool = True
    best_score: float | None = None
    total_lm_calls: int = 0
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "kind": self.kind,
            "params": dict(self.params),
            "score": self.score,
            "example_ids": list(self.example_ids),
            "errors": self.errors,
            "malformed": self.malformed,
            "lm_calls": self.lm_calls,
            "seconds": round(self.seconds, 6),
            "complete": self.complete,
            "best_score": self.best_score,
            "total_lm_calls": self.total_lm_calls,
            "elapsed": round(self.elapsed, 6),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Trial:
        """A trial from its :meth:`to_dict` form (as a journal stores it), checked: the inverse of
        :meth:`to_dict`, for untrusted data (a journal is read through it).

        Args:
            data: a decoded JSON value (untrusted).

        Returns:
            The trial.

        Raises:
            KeyError: a required field is missing.
            TypeError: a field has the wrong type.
            ValueError: a field has an impossible value (e.g. an unknown kind).
        """
        if not isinstance(data, dict):
            raise TypeError("not an object")
        params = data["params"]
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and type(v) is int for k, v in params.items()
        ):
            raise TypeError("params must map variable names to integers")
        kind = data["kind"]
        if kind not in ("minibatch", "full"):
            raise ValueError(f"unknown kind {kind!r}")
        score = data["score"]
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise TypeError("score must be a number or null")
        if score is not None and not math.isfinite(score):  # a mean of finite run scores
            raise ValueError(f"score must be a finite number, got {score}")
        seconds = float(data.get("seconds", 0.0))
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        ids = data["example_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError("example_ids must be a list of strings")
        return cls(
            number=_int(data["number"]),
            kind=kind,
            params=dict(params),
            score=None if score is None else float(score),
            example_ids=tuple(ids),
            errors=_int(data.get("errors", 0)),
            malformed=_int(data.get("malformed", 0)),
            lm_calls=_int(data.get("lm_calls", 0)),
            seconds=seconds,
            complete=bool(data.get("complete", True)),
            best_score=_optional_float(data.get("best_score")),
            total_lm_calls=_int(data.get("total_lm_calls", 0)),
            elapsed=float(_optional_float(data.get("elapsed")) or 0.0),
        )

    def log_entry(self) -> tuple[Any, ...]:
        """The reproducible part of the trial (everything but timing)."""
        return (
            self.number,
            self.kind,
            tuple(sorted(self.params.items())),
            self.score,
            self.example_ids,
            self.errors,
            self.malformed,
            self.complete,
        )


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {value!r}")
    if value < 0:  # numbers and counts
        raise ValueError(f"expected a count, got {value}")
    return value


@attrs.frozen
class ModuleCredit:
    """How much one module's choices moved the score, and what it ended with.

    ``instruction_share`` / ``demos_share`` are the fractions of the minibatch-score variance
    explained by the module's instruction / demo-set choice (eta squared over the trials).
    """

    module: str
    instruction_share: float
    demos_share: float
    original_instruction: str
    best_instruction: str
    best_demos: int
    instruction_index: int
    demo_set_index: int


@attrs.frozen
class CostEstimate:
    """LM calls a run expects to make, computed before spending anything.

    It assumes one LM call per module per program run (a module called twice in a run, like a
    multi-hop query stage, makes the real count higher) and that bootstrapping reads up to
    ``4 x candidates x max_bootstrapped_demos`` training examples.
    """

    bootstrap_runs: int
    proposer_calls: int
    trials: int
    minibatch_size: int
    full_evals: int
    val_size: int
    calls_per_run: int

    @property
    def program_runs(self) -> int:
        return (
            self.bootstrap_runs
            + self.trials * self.minibatch_size
            + self.full_evals * self.val_size
        )

    @property
    def task_lm_calls(self) -> int:
        return self.program_runs * self.calls_per_run

    @property
    def total_lm_calls(self) -> int:
        return self.task_lm_calls + self.proposer_calls

    @property
    def breakdown(self) -> str:
        """Where the calls go: ``2340 task calls in 1170 program runs: ...; 20 proposer calls``."""
        return (
            f"{self.task_lm_calls} task calls in {self.program_runs} program runs: "
            f"{self.bootstrap_runs} bootstrap, {self.trials} trials x {self.minibatch_size}, "
            f"{self.full_evals} full evals x {self.val_size}; {self.proposer_calls} proposer calls"
        )

    def __str__(self) -> str:
        return f"estimated LM calls: about {self.total_lm_calls} ({self.breakdown})"


@attrs.frozen
class OptimizationResult:
    """The outcome of :func:`mipro_core.optimize`.

    The program passed to ``optimize`` already carries ``state``; ``save(path)`` writes it as a
    versioned JSON artifact that :func:`mipro_core.apply` re-applies to a freshly built program.
    """

    baseline_score: float
    best_score: float
    state: ProgramState
    initial_state: ProgramState
    trials: tuple[Trial, ...]
    best_params: Mapping[str, int]
    instruction_candidates: Mapping[str, tuple[str, ...]]
    demo_set_sizes: Mapping[str, tuple[int, ...]]
    lm_calls: int
    task_lm_calls: int
    proposer_lm_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    stopped_reason: str
    """Why the search ended: ``"completed"`` (every trial run), ``"max_lm_calls"``,
    ``"max_seconds"``, ``"interrupted"``, ``"every configuration fully evaluated"``, ``"search
    exhausted"`` (30 trials in a row were answered entirely from the cache: the sampler only
    revisits what is already scored), ``"nothing to search"`` or ``"no signal"`` (no trial
    scored above 0, also after the rescue rounds)."""
    seed: int
    strategy: str
    estimate: CostEstimate | None = None
    errors: int = 0
    malformed: int = 0
    cost: float | None = None
    """Spend in currency units, when a :class:`~mipro_core.Pricing` table was given."""
    repair_candidates: Mapping[str, tuple[int, ...]] = attrs.field(factory=dict)
    """Per module: the instruction candidates the repair round and the rescue rounds of a
    search without signal wrote, in the order they were written (absent: none)."""
    rejected_proposals: Mapping[str, int] = attrs.field(factory=dict)
    """Per module: instruction proposals rejected because the proposer's reply held no usable
    instruction (code, an echo of its prompt, a fragment); absent: none."""

    @property
    def credit(self) -> tuple[ModuleCredit, ...]:
        return credit_report(self)

    @property
    def improvement(self) -> float:
        return self.best_score - self.baseline_score

    def save(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None) -> Path:
        """Write the winning state as a versioned JSON artifact; returns the path.

        ``metadata`` is added to the artifact's own (score, seed, ...); the CLI adds the
        journal's ``run_id`` so that a resume recognises the artifact of its run."""
        from ._artifact import save_state

        document = {
            "score": _finite_or_none(self.best_score),
            "baseline_score": _finite_or_none(self.baseline_score),
            "seed": self.seed,
            "strategy": self.strategy,
            "trials": len(self.trials),
            "lm_calls": self.lm_calls,
            **(metadata or {}),
        }
        return Path(save_state(path, self.state, document))

    def summary(self) -> str:
        """A human-readable report: scores, spend, and per-module changes and credit."""
        if self.stopped_reason == "dry run" and self.estimate is not None:
            return (
                f"strategy: {self.strategy}  seed: {self.seed}  stopped: {self.stopped_reason}\n"
                f"dry run: about {self.estimate.total_lm_calls} LM calls "
                f"({self.estimate.breakdown}); nothing was called or changed"
            )
        lines = [
            f"strategy: {self.strategy}  seed: {self.seed}  stopped: {self.stopped_reason}",
            f"validation score: baseline {self.baseline_score:.3f} -> best {self.best_score:.3f}",
            f"trials: {len(self.trials)} ({trial_kinds(self.trials)})  LM calls: {self.lm_calls} "
            f"(task {self.task_lm_calls}, proposer {self.proposer_lm_calls})  "
            f"tokens: ~{self.prompt_tokens + self.completion_tokens}  time: {self.seconds:.1f}s"
            + ("" if self.cost is None else f"  cost: {self.cost:.4f}"),
        ]
        basis, measured = credit_trials(self.trials)
        for credit in self.credit:
            lines.append(f"module {credit.module}:")
            if len(measured) < 2:
                lines.append("  credit: not measured (fewer than two scored trials)")
            else:
                lines.append(
                    f"  credit: instruction {credit.instruction_share:.0%}, "
                    f"demos {credit.demos_share:.0%} of score variance"
                    + ("" if basis == "minibatch" else " (over the full evaluations)")
                )
            if credit.best_instruction != credit.original_instruction:
                lines.append(f"  original instruction: {_short(credit.original_instruction)}")
                lines.append(f"  winning instruction:  {_short(credit.best_instruction)}")
            else:
                lines.append("  instruction: unchanged")
            rejected = self.rejected_proposals.get(credit.module, 0)
            if rejected:
                lines.append(f"  proposals rejected: {rejected} (not a usable instruction)")
            lines.append(f"  demos: {credit.best_demos} (demo set #{credit.demo_set_index})")
        return "\n".join(lines)


def trial_kinds(trials: Sequence[Trial]) -> str:
    """``20 minibatch, 5 full evaluations``, as the report counts them."""
    minibatches = sum(1 for t in trials if t.kind == "minibatch")
    return f"{minibatches} minibatch, {len(trials) - minibatches} full evaluations"


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    if not text:
        return "(none: the module had no instruction of its own)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def eta_squared(values: Sequence[float], groups: Sequence[int]) -> float:
    """Fraction of the variance of ``values`` explained by the grouping ``groups``."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    total = sum((v - mean) ** 2 for v in values)
    if total <= 0 or math.isclose(total, 0.0):
        return 0.0
    by_group: dict[int, list[float]] = {}
    for v, g in zip(values, groups, strict=False):
        by_group.setdefault(g, []).append(v)
    between = sum(len(vs) * (sum(vs) / len(vs) - mean) ** 2 for vs in by_group.values())
    return between / total


def credit_trials(trials: Sequence[Trial]) -> tuple[str, list[Trial]]:
    """The trials credit is measured on, and their kind: the scored minibatch trials, or the
    complete full evaluations when the run had no minibatch trials (every trial a full
    evaluation, as when the minibatch covers the validation set)."""
    scored = [t for t in trials if t.kind == "minibatch" and t.score is not None]
    if scored:
        return "minibatch", scored
    full = [t for t in trials if t.kind == "full" and t.complete and t.score is not None]
    return "full", full


def module_credit(trials: Sequence[Trial], module: str) -> tuple[float, float]:
    """Shares of the score variance explained by ``module``'s instruction and by its demo-set
    choices (eta squared over the scored minibatch trials, or over the full evaluations when
    there are no minibatch trials; see :func:`credit_trials`).

    Args:
        trials: the run's trials, in any order.
        module: the module's name.

    Returns:
        ``(instruction_share, demos_share)``, each in [0, 1]; 0.0 with fewer than two trials.
    """
    _, scored = credit_trials(trials)
    values = [float(t.score) for t in scored if t.score is not None]
    instruction, demos = VariableKey.instruction(module), VariableKey.demos(module)
    return (
        eta_squared(values, [instruction.index_in(t.params) for t in scored]),
        eta_squared(values, [demos.index_in(t.params) for t in scored]),
    )


def credit_report(result: OptimizationResult) -> tuple[ModuleCredit, ...]:
    report = []
    for module, instruction in result.state.modules.items():
        instruction_share, demos_share = module_credit(result.trials, module)
        report.append(
            ModuleCredit(
                module=module,
                instruction_share=instruction_share,
                demos_share=demos_share,
                original_instruction=result.initial_state[module].instruction,
                best_instruction=instruction.instruction,
                best_demos=len(instruction.demos),
                instruction_index=VariableKey.instruction(module).index_in(result.best_params),
                demo_set_index=VariableKey.demos(module).index_in(result.best_params),
            )
        )
    return tuple(report)
