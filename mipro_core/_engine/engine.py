"""One MIPRO run, as the list of its stages: prepare, search, pick the best, return a result.

Every expensive result goes through the memo, every random choice comes from a component RNG
spawned from the seed, so the same seed and a deterministic LM give an identical trial log.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._call_budget import CallBudget
from .._empty_reply import EmptyReplies
from .._errors import InvalidInputError
from .._evaluate import Evaluator
from .._memo import Memo
from .._progress import Progress
from .._propose import ProposerClient
from .._protocols import LM, Metric, Program, current_state
from .._result import OptimizationResult, Trial
from .._retry import Backoff
from .._types import Example, ProgramState
from .context import RunContext
from .ledger import Ledger
from .loop import SearchLoop
from .prepare import Prepared, prepare
from .rounds import Rounds
from .scoring import Scorer
from .settings import EngineSettings, rng_streams
from .space import SearchSpace
from .stop import StopPolicy, StopReason


class Engine:
    """One optimization run of ``program`` on the given data.

    Args:
        program: the program to optimize (it holds the best prompts after :meth:`run`).
        trainset: training examples (bootstrap, data summary).
        valset: validation examples (baseline, trials).
        metric: scores a prediction.
        settings: the run's settings.
        proposer_lm: the proposer's model; needed when instructions are proposed.
        executor: runs program runs and proposer calls.
        memo: the run's cache and journal.
        progress: the progress reporter.
        replicas: more copies of ``program`` for parallel trials.
        on_trial: called with every trial once it is recorded.

    Raises:
        InvalidInputError: instructions are to be proposed but there is no ``proposer_lm``.
    """

    def __init__(
        self,
        program: Program,
        trainset: Sequence[Example],
        valset: Sequence[Example],
        metric: Metric,
        settings: EngineSettings,
        *,
        proposer_lm: LM | None,
        executor: cf.Executor,
        memo: Memo,
        progress: Progress,
        replicas: Sequence[Program] = (),
        on_trial: Callable[[Trial], Any] | None = None,
    ) -> None:
        started = time.monotonic()
        limit = settings.budget.max_seconds
        budget = CallBudget(settings.budget.max_lm_calls)
        self.ctx = RunContext(
            program=program,
            modules=dict(program.modules),
            initial_state=current_state(program),
            trainset=tuple(trainset),
            valset=tuple(valset),
            settings=settings,
            memo=memo,
            budget=budget,
            progress=progress,
            executor=executor,
            rng=rng_streams(settings.seed),
            deadline=None if limit is None else started + limit,
        )
        self.started = started
        self.searched = tuple(n for n in self.ctx.modules if n not in settings.freeze)
        """The modules to search before the baseline (it may leave some unchanged)."""
        search = settings.search
        backoff = Backoff(search.retry_base_delay, search.retry_max_delay)
        self.evaluator = Evaluator(
            [program, *replicas],
            metric,
            executor,
            memo,
            budget,
            max_errors=search.max_errors,
            timeout=search.timeout,
            max_retries=search.max_retries,
            backoff=backoff,
            input_fields=frozenset(k for ex in (*trainset, *valset) for k in ex.inputs),
            deadline=self.ctx.deadline,
            threads=settings.num_threads,
        )
        self.ledger = Ledger(
            memo, budget, pricing=settings.pricing, started=started, on_trial=on_trial
        )
        self.scorer = Scorer(
            self.evaluator,
            self.ledger,
            self.ctx.valset,
            self.ctx.rng["minibatch"],
            keep_failures=settings.keeps_failures(self.searched),
        )
        self.stop = StopPolicy(budget, self.ctx.deadline, len(self.ctx.modules))
        self._client = self._proposer_client(proposer_lm, backoff)

    def run(self) -> OptimizationResult:
        """Run the optimization and leave the best configuration applied to the program.

        Returns:
            The result.

        Raises:
            ErrorBudgetExceededError: too many program runs failed.
            BudgetExhaustedError: a cap ran out before the baseline was scored.
            MetricError: the metric raised.
        """
        self._attach_cache(self.ctx.memo)
        try:
            prepared = prepare(self.ctx, self.scorer, self.stop, self._client, self.searched)
            if prepared.stopped is not None:
                return self._result(prepared.space, prepared.baseline, prepared.stopped)
            self.ledger.record_baseline(prepared.space.full_params({}), prepared.baseline)
            loop = SearchLoop(
                self.ctx,
                prepared.space,
                self.ledger,
                self.scorer,
                self.stop,
                self._rounds(prepared),
                parallel=max(
                    1, min(self.ctx.settings.parallel_trials, len(self.evaluator.replicas))
                ),
            )
            reason = loop.run()
            return self._result(loop.space, prepared.baseline, reason, loop.repairs.indices)
        except BaseException:
            # trials apply their candidate in place: a run that fails (a metric error, the
            # error budget) must not leave the user's program holding the last candidate
            with contextlib.suppress(Exception):
                self.ctx.program.apply(self.ctx.initial_state)
            raise
        finally:
            self._attach_cache(None)

    def _rounds(self, prepared: Prepared) -> Rounds | None:
        if self._client is None:
            return None
        return Rounds(
            self.ctx,
            self._client,
            prepared.searched,
            prepared.grounding,
            prepared.produced,
            self.ledger,
        )

    def _attach_cache(self, cache: Memo | None) -> None:
        """Programs that can answer repeated prompts from a cache (the native program does)
        get the run memo while the run lasts: a prompt paid for once is free afterwards."""
        for program in self.evaluator.replicas:
            attach = getattr(program, "attach_cache", None)
            if callable(attach):
                attach(cache)

    def _proposer_client(self, lm: LM | None, backoff: Backoff) -> ProposerClient | None:
        """The proposer's client, or ``None`` when no instruction will be proposed."""
        if not self.ctx.settings.proposes_instructions(self.searched):
            return None
        if lm is None:
            raise InvalidInputError(
                "instruction proposal needs a proposer model: pass proposer_lm=... (any LM or a "
                "framework chat model an installed adapter can wrap)"
            )
        return ProposerClient(
            lm,
            self.ctx.memo,
            self.ctx.budget,
            max_retries=self.ctx.settings.search.max_retries,
            backoff=backoff,
            deadline=self.ctx.deadline,
        )

    def _result(
        self,
        space: SearchSpace,
        baseline: float,
        reason: StopReason,
        repairs: Mapping[str, tuple[int, ...]] | None = None,
    ) -> OptimizationResult:
        """Apply the best fully evaluated configuration (the baseline's when none beat it)
        and describe the run (``repairs``: the search's repair candidates, per module)."""
        ctx, budget, evaluator = self.ctx, self.ctx.budget, self.evaluator
        best, best_params = self.ledger.best_full(baseline, space.full_params({}))
        state = space.state_for(best_params)
        state = ProgramState({n: state[n] for n in ctx.modules})
        ctx.program.apply(state)
        _warn_empty(evaluator.empty)
        return OptimizationResult(
            baseline_score=baseline,
            best_score=best,
            state=state,
            initial_state=ctx.initial_state,
            trials=tuple(self.ledger.trials),
            best_params=dict(best_params),
            instruction_candidates=dict(space.instructions),
            demo_set_sizes={n: tuple(len(s) for s in sets) for n, sets in space.demo_sets.items()},
            lm_calls=budget.used,
            task_lm_calls=budget.task_calls,
            proposer_lm_calls=budget.proposer_calls,
            prompt_tokens=budget.prompt_tokens,
            completion_tokens=budget.completion_tokens,
            seconds=time.monotonic() - self.started,
            stopped_reason=reason.value,
            seed=ctx.settings.seed,
            strategy=ctx.settings.strategy,
            errors=evaluator.errors,
            malformed=evaluator.malformed,
            cost=self.ledger.usage()["cost"],
            rejected_proposals={} if self._client is None else dict(self._client.rejected),
            # the search's own record: a resumed run replays its rounds, so it needs no journal
            repair_candidates=dict(repairs or {}),
        )


def _warn_empty(empty: EmptyReplies) -> None:
    """One warning per kind of run an empty reply ended (see mipro_core._empty_reply)."""
    if empty.failed_runs:
        warnings.warn(
            f"{empty.failed_runs} program run(s) got an empty completion on every retry while "
            "the model answered other prompts: each scored 0 as a failed run of its "
            "configuration (malformed, not an error); a model that answers nothing to some "
            "prompts (e.g. with demos) makes those configurations lose",
            RuntimeWarning,
            stacklevel=4,
        )
    if empty.errors:
        warnings.warn(
            f"{empty.errors} program run(s) failed because the model kept returning empty "
            "completions (counted as errors, not scored: no run had answered yet, or retries "
            "were off); check the provider (content filter, max_tokens, an overloaded endpoint)",
            RuntimeWarning,
            stacklevel=4,
        )
