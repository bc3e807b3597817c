"""The MIPRO run: bootstrap demos, propose instructions, search the joint space.

``Engine.run()`` reads as the list of steps of the algorithm; each step is a short method. Every
expensive result goes through the memo, every random choice comes from a component RNG spawned
from the seed, so the same seed and a deterministic LM give an identical trial log.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ._bootstrap import DemoPools, bootstrap_pools, build_demo_sets
from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._errors import (
    BudgetExhaustedError,
    ErrorBudgetExceededError,
    InvalidInputError,
    LMError,
)
from ._evaluate import CallBudget, EvalJob, EvalOutcome, Evaluator, RunRecord
from ._gold import resolve_outputs
from ._memo import Memo
from ._progress import Progress
from ._propose import (
    Grounding,
    ProposalTargets,
    ProposerClient,
    describe_program,
    observe_stages,
    plan_proposals,
    propose_instructions,
    summarize_data,
)
from ._propose._instructions import ModuleFeedback, ProposalSpec, propose_one
from ._propose._meta import (
    failures_text,
    history_text,
    instruction_scores,
    params_of,
    proposal_observations,
    proposal_space,
    spec_from_params,
)
from ._propose._repair import propose_repair, sample_failures
from ._protocols import LM, Metric, Program, current_state
from ._result import OptimizationResult, Trial
from ._retry import Backoff
from ._search._sampler import Observation, Sampler
from ._types import Demo, Example, ModuleState, ProgramState, stable_hash

logger = logging.getLogger("mipro_core.engine")

_RNG_STREAMS = (
    "split",
    "bootstrap",
    "demo_sets",
    "proposals",
    "sampler",
    "minibatch",
    "meta",
    "repair",
)
_KEPT_FAILURES = 60
_IDLE_TRIALS = 30
"""Stop after this many trials in a row that were answered entirely from the cache."""
EXHAUSTED = "search exhausted"
"""The stop reason when the sampler only revisits configurations already scored."""


@attrs.frozen(kw_only=True)
class EngineSettings:
    strategy: str
    budget: Budget
    proposer: ProposerConfig
    search: SearchConfig
    sampler: Sampler
    seed: int
    freeze: tuple[str, ...] = ()
    parallel_trials: int = 1
    pricing: Pricing | None = None
    num_threads: int = 8

    def initial_candidates(self) -> int:
        """Instruction candidates per module proposed before the search (MIPRO++ proposes
        half of them up front and the rest in rounds during the search)."""
        count = self.budget.num_candidates
        return max(2, count // 2) if self.proposer.meta_optimize else count

    def proposes_instructions(self, searched: Sequence[str]) -> bool:
        """Whether a run searching ``searched`` calls the proposer model."""
        return self.search.search_instructions and self.initial_candidates() >= 2 and bool(searched)

    @property
    def repairs(self) -> bool:
        """Whether the search has a repair round (MIPRO++'s rounds show failures instead)."""
        return self.proposer.repair_round and not self.proposer.meta_optimize

    def keeps_failures(self, searched: Sequence[str]) -> bool:
        """Whether failing runs keep their trace and output for a proposer to read."""
        if not self.proposes_instructions(searched):
            return False
        return self.repairs or (self.proposer.meta_optimize and self.proposer.use_failures)


@attrs.frozen
class SearchSpace:
    """Per module: instruction candidates and demo sets; plus the variables being searched."""

    instructions: Mapping[str, tuple[str, ...]]
    demo_sets: Mapping[str, tuple[tuple[Demo, ...], ...]]
    variables: Mapping[str, int]

    def state_for(self, params: Mapping[str, int]) -> ProgramState:
        return ProgramState(
            {
                name: ModuleState(
                    self.instructions[name][params.get(f"{name}.instruction", 0)],
                    self.demo_sets[name][params.get(f"{name}.demos", 0)],
                )
                for name in self.instructions
            }
        )

    def size(self) -> int:
        return math.prod(self.variables.values()) if self.variables else 1

    def full_params(self, params: Mapping[str, int]) -> dict[str, int]:
        return {v: int(params.get(v, 0)) for v in self.variables}


@attrs.frozen
class _PendingGrounding:
    """The grounding's two chains of proposer calls, running beside the baseline and bootstrap."""

    described: cf.Future[dict[str, Any]]
    data_summary: cf.Future[str]


def config_key(params: Mapping[str, int]) -> str:
    return stable_hash(sorted(params.items()))


def state_key(state: ProgramState) -> str:
    """Cache key of a state: equal prompts share results, however they were reached."""
    return "state-" + stable_hash(state.to_dict())


class Engine:
    """One optimization run of ``program`` on the given data."""

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
        on_trial: Any = None,
    ) -> None:
        self.program = program
        self.trainset = tuple(trainset)
        self.valset = tuple(valset)
        self.metric = metric
        self.settings = settings
        self.proposer_lm = proposer_lm
        self.executor = executor
        self.memo = memo
        self.progress = progress
        self.on_trial = on_trial
        self.budget = CallBudget(settings.budget.max_lm_calls)
        self.initial_state = current_state(program)
        self.modules = dict(program.modules)
        self.searched = [n for n in self.modules if n not in settings.freeze]
        self._described = tuple(self.searched)
        """The modules the grounding describes: fixed before the baseline, which may leave some
        unchanged, because the description is written while the baseline runs."""
        self.started = time.monotonic()
        limit = settings.budget.max_seconds
        self.deadline = None if limit is None else self.started + limit
        """``max_seconds`` as a point in time: runs and proposer calls not started by then are
        not started at all (the ones in flight finish)."""
        seeds = np.random.SeedSequence(settings.seed).spawn(len(_RNG_STREAMS))
        self.rng = {
            name: np.random.default_rng(s) for name, s in zip(_RNG_STREAMS, seeds, strict=False)
        }
        self.evaluator = Evaluator(
            [program, *replicas],
            metric,
            executor,
            memo,
            self.budget,
            max_errors=settings.search.max_errors,
            timeout=settings.search.timeout,
            max_retries=settings.search.max_retries,
            backoff=Backoff(settings.search.retry_base_delay, settings.search.retry_max_delay),
            keep_failures=settings.keeps_failures(self.searched),
            input_fields=frozenset(k for ex in (*trainset, *valset) for k in ex.inputs),
            deadline=self.deadline,
        )
        self.trials: list[Trial] = []
        self.history: list[Observation] = []
        self.full_scores: dict[str, float] = {}
        self.failures: list[tuple[Example, Any]] = []
        self.produced: dict[str, dict[int, dict[str, int]]] = {n: {} for n in self.searched}
        self._client: ProposerClient | None = None
        self._grounding = Grounding()
        self.stopped_reason = "completed"

    # ----------------------------------------------------------------- the algorithm

    def run(self) -> OptimizationResult:
        self._attach_cache(self.memo)
        try:
            return self._run()
        except BaseException:
            # trials apply their candidate in place: a run that fails (a metric error, the
            # error budget) must not leave the user's program holding the last candidate
            with contextlib.suppress(Exception):
                self.program.apply(self.initial_state)
            raise
        finally:
            self._attach_cache(None)

    def _attach_cache(self, cache: Memo | None) -> None:
        """Programs that can answer repeated prompts from a cache (the native program does)
        get the run memo while the run lasts: a prompt paid for once is free afterwards."""
        for program in self.evaluator.replicas:
            attach = getattr(program, "attach_cache", None)
            if callable(attach):
                attach(cache)

    def _run(self) -> OptimizationResult:
        client = self._proposer_client()
        grounding: list[_PendingGrounding] = []
        # The grounding is two chains of sequential proposer calls: the data-summary batches,
        # and the program then module descriptions. Each gets a thread of its own: queued
        # behind the baseline's runs on the shared executor they would only start once those
        # are all done, and would then sit on the critical path of every run with many threads.
        chains = cf.ThreadPoolExecutor(2, thread_name_prefix="mipro-grounding")
        stop_grounding = threading.Event()  # set once the grounding is used or has failed

        def start_grounding() -> None:  # the grounding needs neither scores nor demos
            if client is not None and not grounding:
                grounding.append(
                    _PendingGrounding(
                        chains.submit(self._describe, client),
                        chains.submit(self._summarize_data, client, stop_grounding),
                    )
                )

        # start it as soon as one baseline run has succeeded (bad input fails before that)
        self.evaluator.on_first_success = start_grounding
        try:
            try:
                baseline = self.evaluate_baseline()
            finally:
                self.evaluator.on_first_success = None
            start_grounding()
            try:
                space = self.build_space(client, grounding[0] if grounding else None)
            except KeyboardInterrupt:
                logger.warning("interrupted before the search: keeping the original prompts")
                self.stopped_reason = "interrupted"
                return self.result(self._baseline_space(), baseline)
            except BudgetExhaustedError:
                self.stopped_reason = self._budget_reason()
                logger.warning(
                    "%s reached before the search: keeping the original prompts",
                    self.stopped_reason,
                )
                return self.result(self._baseline_space(), baseline)
        finally:
            stop_grounding.set()  # a summary still running after a failure stops at its next batch
            chains.shutdown(wait=False, cancel_futures=True)
        space = self.search(space, baseline)
        return self.result(space, baseline)

    def _baseline_space(self) -> SearchSpace:
        return SearchSpace(
            {n: (s.instruction,) for n, s in self.initial_state.modules.items()},
            {n: (s.demos,) for n, s in self.initial_state.modules.items()},
            {},
        )

    def build_space(
        self, client: ProposerClient | None, grounding: _PendingGrounding | None
    ) -> SearchSpace:
        search = self.settings.search
        if grounding is not None:
            self.progress.stage("writing the grounding (data summary, program description)")
        pools = self.bootstrap_demos()
        demo_sets = self.build_demo_sets(pools)
        summary = None
        if client is not None and grounding is not None:
            self._client = client
            self._grounding = Grounding(**grounding.described.result())
            summary = grounding.data_summary
        instructions = self.propose(demo_sets, summary)
        if not search.search_demos:
            demo_sets = {n: sets[:1] for n, sets in demo_sets.items()}
        variables: dict[str, int] = {}
        for name in self.searched:
            if search.search_instructions and len(instructions[name]) > 1:
                variables[f"{name}.instruction"] = len(instructions[name])
            if search.search_demos and len(demo_sets[name]) > 1:
                variables[f"{name}.demos"] = len(demo_sets[name])
        space = SearchSpace(instructions, demo_sets, variables)
        self.memo.put("space", "variables", variables)
        self.memo.put("space", "instructions", {n: list(v) for n, v in instructions.items()})
        return space

    # ----------------------------------------------------------------- steps

    def evaluate_baseline(self) -> float:
        self.progress.stage(f"evaluating the baseline on {len(self.valset)} validation examples")
        state = self.initial_state
        try:
            trial, outcome = self._score_outcome("full", {}, state, self.valset, state_key(state))
        except ErrorBudgetExceededError as exc:
            raise ErrorBudgetExceededError(
                f"while scoring the unmodified program: {exc} Check that each example's "
                "inputs carry the fields the program needs and that its model is reachable."
            ) from exc
        if trial.score is None and trial.errors:
            raise ErrorBudgetExceededError(
                f"every run of the unmodified program failed (last error: "
                f"{self.evaluator.last_error}). Check that each example's inputs carry the fields "
                "the program needs and that its model is reachable."
            )
        if trial.score is None or not trial.complete:
            cap = self._budget_reason()
            raise BudgetExhaustedError(
                f"{cap} ran out while scoring the baseline; raise {cap} (the baseline alone "
                f"needs about {len(self.valset)} program runs)"
            )
        self._leave_unused_modules(outcome.records)
        return trial.score

    def _leave_unused_modules(self, records: Sequence[RunRecord]) -> None:
        """Searched modules that no baseline run called are left unchanged: no trial could
        measure a change to them (a fallback that never fires, a branch no example takes).

        Only when every run is known: a run that failed or did not parse has no trace (its
        modules may have run), and one read from an older journal did not record them. When no
        run recorded any call at all, the adapter does not trace: everything stays searched.
        """
        if any(r.modules is None for r in records):
            return
        called = {m for r in records for m in r.modules or ()}
        unused = [n for n in self.searched if n not in called]
        if not called or not unused:
            return
        logger.warning(
            "module(s) %s never ran on the %d validation examples: left unchanged (no trial "
            "could measure a change to them); pass freeze=[...] to say so explicitly",
            unused,
            len(self.valset),
        )
        self.searched = [n for n in self.searched if n in called]

    def bootstrap_demos(self) -> DemoPools:
        search, num_sets = self.settings.search, self.settings.budget.num_candidates
        wants_demos = search.search_demos and search.max_bootstrapped_demos > 0
        grounding_only = not wants_demos and self.settings.proposer.use_demos
        per_set = search.max_bootstrapped_demos if wants_demos else 3
        # enough passing traces to draw varied sets from, not a fresh pool per set
        wanted = per_set * max(2, (num_sets + 1) // 2) if (wants_demos or grounding_only) else 0
        if wanted:
            self.progress.stage(f"bootstrapping demos ({wanted} successful traces wanted)")
        pools = bootstrap_pools(
            self.evaluator,
            self.initial_state,
            {n: self.modules[n] for n in self.searched},
            self.trainset,
            wanted=wanted,
            threshold=search.metric_threshold,
            rng=self.rng["bootstrap"],
            batch_size=max(8, 2 * self.settings.num_threads),
            max_runs=self._bootstrap_run_cap(),
            screen=search.screen_demos,
            exclude=search.exclude_demos,
            pin=search.pin_demos,
            gold_fields=resolve_outputs(self.modules, self.trainset, search.outputs),
        )
        if wanted and pools.successes == 0:
            logger.warning(
                "no training run passed the metric: nothing to bootstrap, the search continues "
                "with labeled demos and instructions only"
            )
        return pools

    def _bootstrap_run_cap(self) -> int | None:
        """Under ``max_lm_calls``, bootstrapping may spend at most a fifth of the cap."""
        cap = self.settings.budget.max_lm_calls
        if cap is None:
            return None
        return max(8, cap // (5 * self.budget.per_run_estimate(len(self.modules))))

    def build_demo_sets(self, pools: DemoPools) -> dict[str, tuple[tuple[Demo, ...], ...]]:
        search = self.settings.search
        originals = {n: self.initial_state[n].demos for n in self.modules}
        sets = build_demo_sets(
            pools,
            {n: originals[n] for n in self.searched},
            num_sets=self.settings.budget.num_candidates,
            max_bootstrapped=search.max_bootstrapped_demos if search.search_demos else 3,
            max_labeled=search.max_labeled_demos if search.search_demos else 0,
            rng=self.rng["demo_sets"],
        )
        for name in self.modules:
            sets.setdefault(name, (originals[name],))
        self.memo.put(
            "space",
            "demo_sets",
            {n: [[d.to_dict() for d in s] for s in v] for n, v in sets.items()},
        )
        return sets

    def _proposer_client(self) -> ProposerClient | None:
        """The proposer's client, or ``None`` when no instruction will be proposed."""
        if not self.settings.proposes_instructions(self.searched):
            return None
        if self.proposer_lm is None:
            raise InvalidInputError(
                "instruction proposal needs a proposer model: pass proposer_lm=... (any LM or a "
                "framework chat model an installed adapter can wrap)"
            )
        return ProposerClient(
            self.proposer_lm,
            self.memo,
            self.budget,
            max_retries=self.settings.search.max_retries,
            backoff=self.evaluator.backoff,
            deadline=self.deadline,
        )

    def _summarize_data(self, client: ProposerClient, stop: threading.Event) -> str:
        """The data summary (computed once per run; abandoned once ``stop`` is set)."""
        config = self.settings.proposer
        if not config.use_data_summary:
            return ""
        return summarize_data(
            client,
            self.trainset,
            batch_size=config.data_batch_size,
            max_batches=config.max_data_batches,
            temperature=config.temperature,
            stop=stop,
        )

    def propose(
        self,
        demo_sets: Mapping[str, tuple[tuple[Demo, ...], ...]],
        data_summary: cf.Future[str] | None = None,
    ) -> dict[str, tuple[str, ...]]:
        """The instruction candidates per module. The proposals' first calls (observing the
        demos) need only the descriptions, so they run while ``data_summary`` is finishing."""
        originals = {n: self.initial_state[n].instruction for n in self.modules}
        result: dict[str, tuple[str, ...]] = {n: (originals[n],) for n in self.modules}
        count = self.settings.initial_candidates()
        if self._client is None:
            return result
        config = self.settings.proposer
        client = self._client
        if config.meta_optimize:  # start the proposal surrogate with varied settings
            specs = self._random_proposal_specs(count, demo_sets)
        else:
            specs = plan_proposals(
                self.searched,
                count,
                {n: len(demo_sets[n]) for n in self.searched},
                config,
                self.rng["proposals"],
            )
        self.progress.stage(
            f"proposing {len(specs)} instructions for {len(self.searched)} module(s): up to "
            f"{count} candidates per module, the original included"
        )
        modules = ProposalTargets(
            {n: self.modules[n].signature for n in self.searched},
            {n: originals[n] for n in self.searched},
            {n: demo_sets[n] for n in self.searched},
        )
        observations = observe_stages(
            client, specs, modules, self._grounding, config, self.executor
        )
        if data_summary is not None:
            self._grounding = attrs.evolve(self._grounding, data_summary=data_summary.result())
        proposed = propose_instructions(
            client, specs, modules, self._grounding, config, self.executor, observations
        )
        pspace = proposal_space(config, self.settings.budget.num_candidates)
        for name, candidates in proposed.items():
            result[name] = tuple(text for text, _ in candidates)
            for index, (_, spec) in enumerate(candidates):
                if spec is not None:
                    self.produced[name][index] = params_of(spec, pspace)
        return result

    def _random_proposal_specs(
        self, count: int, demo_sets: Mapping[str, tuple[tuple[Demo, ...], ...]]
    ) -> list[ProposalSpec]:
        """MIPRO++'s first proposals: settings drawn uniformly from the proposal space, so the
        proposal surrogate has varied evidence to credit from the first rounds on."""
        pspace = proposal_space(self.settings.proposer, self.settings.budget.num_candidates)
        rng = self.rng["proposals"]
        return [
            spec_from_params(
                name,
                index,
                {k: int(rng.integers(n)) for k, n in pspace.items()},
                len(demo_sets[name]),
            )
            for name in self.searched
            for index in range(1, count)
        ]

    def _describe(self, client: ProposerClient) -> dict[str, Any]:
        """The program description and the module roles (computed once per run)."""
        if not self.settings.proposer.use_program_summary:
            return {}
        description, roles = describe_program(
            client,
            self.program.describe(),
            {n: self.modules[n].signature for n in self._described},
            temperature=self.settings.proposer.temperature,
        )
        return {"program_description": description, "module_roles": roles}

    def search(self, space: SearchSpace, baseline: float) -> SearchSpace:
        """Run the trials; returns the final space (MIPRO++ rounds grow the instruction pools)."""
        baseline_params = space.full_params({})
        self.full_scores[config_key(baseline_params)] = baseline
        self.history.append(Observation(baseline_params, baseline, "full"))
        if not space.variables:
            self.stopped_reason = "nothing to search"
            return space
        search = self.settings.search
        total = self.settings.budget.trials_for(len(space.variables))
        minibatch = min(search.minibatch_size, len(self.valset))
        use_minibatch = minibatch < len(self.valset)
        parallel = max(1, min(self.settings.parallel_trials, len(self.evaluator.replicas)))
        self.progress.stage(
            f"searching {len(space.variables)} variables ({space.size()} configurations): "
            f"{total} trials on minibatches of {minibatch}, full evaluation every "
            f"{search.full_eval_every} trials"
        )
        done = 0
        next_full = search.full_eval_every
        meta = self.settings.proposer.meta_optimize and self._client is not None
        next_round = self.settings.proposer.meta_round_every
        repair = self.settings.repairs and self._client is not None and use_minibatch
        idle = 0  # trials in a row answered entirely from the cache
        # runs a full evaluation needs: its configuration has a minibatch in the cache already
        full_eval_runs = len(self.valset) - minibatch
        try:
            while done < total:
                if meta and len(self.full_scores) >= space.size():
                    # every candidate is scored already: MIPRO++ proposes the next round now
                    # rather than stopping before its rounds could add any
                    next_round = done + self.settings.proposer.meta_round_every
                    space = self._proposal_round(space)
                reason = self._stop_reason(space)
                batch = min(parallel, total - done)
                if (
                    not reason
                    and use_minibatch
                    and not self._affordable(batch * minibatch + full_eval_runs)
                ):
                    reason = "max_lm_calls"  # keep what a final full evaluation needs
                if reason:
                    self.stopped_reason = reason
                    break
                forced: list[dict[str, int]] = []
                if (
                    repair
                    and done >= search.full_eval_every
                    and self._affordable(search.full_eval_every * minibatch + full_eval_runs)
                ):
                    repair = False  # one round per run
                    space, forced = self._repair_round(space)
                asked = forced + [self._ask(space) for _ in range(batch - len(forced))]
                spent = self.budget.used
                if use_minibatch:
                    outcomes = self._score_minibatches(space, asked, minibatch)
                else:
                    outcomes = [self._score_full(space, p) for p in asked]
                done += len(outcomes)
                if any(not t.complete for t in outcomes):
                    self.stopped_reason = self._budget_reason()
                    break
                idle = idle + len(outcomes) if self.budget.used == spent else 0
                if idle >= _IDLE_TRIALS:
                    # the sampler keeps choosing what is already scored: nothing new to learn
                    self.stopped_reason = EXHAUSTED
                    break
                if use_minibatch and done >= next_full and done < total:
                    next_full += search.full_eval_every
                    # skip it when the budget leaves no room for trials after it: the final
                    # full evaluation, due right after, scores the same candidate
                    if self._affordable(search.full_eval_every * minibatch + 2 * full_eval_runs):
                        self._full_eval_best(space)
                if meta and done >= next_round and done < total:
                    next_round += self.settings.proposer.meta_round_every
                    space = self._proposal_round(space)
                self.progress.trials(done, total, self.best_full_score(), self.budget.used)
            if use_minibatch and self.stopped_reason in ("completed", "max_lm_calls", EXHAUSTED):
                self._full_eval_best(space)  # the last trials' best gets its full evaluation
        except BudgetExhaustedError:
            self.stopped_reason = self._budget_reason()
        except KeyboardInterrupt:
            self.stopped_reason = "interrupted"
            logger.warning("interrupted: returning the best fully evaluated configuration so far")
        return space

    # ----------------------------------------------------------------- search helpers

    def _proposal_round(self, space: SearchSpace) -> SearchSpace:
        """MIPRO++: one new instruction per module, its proposer settings drawn from a surrogate
        fed with the scores earlier proposals' instructions earned."""
        assert self._client is not None
        config = self.settings.proposer
        pspace = proposal_space(config, self.settings.budget.num_candidates)
        history = proposal_observations(self.produced, self.trials)
        instructions = dict(space.instructions)
        for name in self.searched:
            params = self.settings.sampler.sample(pspace, history, self.rng["meta"])
            params = {k: params[k] for k in pspace}
            index = len(instructions[name])
            spec = spec_from_params(name, index, params, len(space.demo_sets[name]))
            scores = instruction_scores(self.trials, name)
            feedback = ModuleFeedback(
                history=history_text(instructions[name], scores, config.max_history),
                failures=failures_text(name, self.failures[::-1], config.max_failures),
            )
            text = propose_one(
                self._client,
                spec,
                self.modules[name].signature,
                self.initial_state[name].instruction,
                space.demo_sets[name],
                self._grounding,
                config,
                feedback,
            )
            if text and text not in instructions[name]:
                instructions[name] = (*instructions[name], text)
                self.produced[name][index] = params
        return self._grown(space, instructions)

    def _grown(
        self, space: SearchSpace, instructions: Mapping[str, tuple[str, ...]]
    ) -> SearchSpace:
        """``space`` with the instruction pools grown by a round (journaled for resume)."""
        variables = dict(space.variables)
        for name in self.searched:
            if len(instructions[name]) > 1 and self.settings.search.search_instructions:
                variables[f"{name}.instruction"] = len(instructions[name])
        self.memo.put("space", "instructions", {n: list(v) for n, v in instructions.items()})
        return SearchSpace(instructions, space.demo_sets, variables)

    def _repair_round(self, space: SearchSpace) -> tuple[SearchSpace, list[dict[str, int]]]:
        """One instruction per module written from the failures so far (see
        :mod:`._propose._repair`); returns the grown space and the configuration to try next:
        the best one so far by mean minibatch score, with the new instructions."""
        assert self._client is not None
        config = self.settings.proposer
        instructions = dict(space.instructions)
        # the best configuration so far (the baseline's when there is none), to try it with
        best = space.full_params(self._best_by_minibatch(skip_fully_scored=False) or {})
        if not config.meta_optimize:  # nothing reads failing runs after this round
            self.evaluator.keep_failures = False
        added = 0
        for name in self.searched:
            failures = sample_failures(self.failures, name, config.max_failures, self.rng["repair"])
            if not failures or self.memo.get("repair-error", name) is not None:
                continue
            index = len(instructions[name])
            try:
                text = propose_repair(
                    self._client,
                    name,
                    index,
                    self.modules[name].signature,
                    self.initial_state[name].instruction,
                    failures,
                    self._grounding,
                    config,
                )
            except LMError as exc:  # an extra candidate is not worth the trials already run
                logger.warning("repair round: no instruction for module %r (%s)", name, exc)
                # journaled, so a resumed run skips this module too instead of trying again
                self.memo.put("repair-error", name, str(exc))
                continue
            if text and text not in instructions[name]:
                instructions[name] = (*instructions[name], text)
                best[f"{name}.instruction"] = index
                added += 1
        if not added:
            return space, []
        logger.info("repair round: %d instruction(s) written from failing examples", added)
        grown = self._grown(space, instructions)
        return grown, [grown.full_params(best)]

    def _best_by_minibatch(self, *, skip_fully_scored: bool) -> Mapping[str, int] | None:
        """The configuration with the best mean minibatch score (the first tried on ties)."""
        scores: dict[str, list[float]] = {}
        params_of: dict[str, Mapping[str, int]] = {}
        for obs in self.history:
            key = config_key(obs.params)
            if obs.kind != "minibatch" or (skip_fully_scored and key in self.full_scores):
                continue
            scores.setdefault(key, []).append(obs.value)
            params_of[key] = obs.params
        if not scores:
            return None
        order = list(scores)
        best = max(order, key=lambda k: (sum(scores[k]) / len(scores[k]), -order.index(k)))
        return params_of[best]

    def _affordable(self, runs: int) -> bool:
        """Whether ``runs`` more program runs fit in what is left of ``max_lm_calls``."""
        remaining = self.budget.remaining()
        if remaining is None:
            return True
        return remaining >= runs * self.budget.per_run_estimate(len(self.modules))

    def _budget_reason(self) -> str:
        """Which cap stopped something: ``max_seconds`` once it has passed, else the calls."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "max_seconds"
        return "max_lm_calls"

    def _stop_reason(self, space: SearchSpace) -> str | None:
        if self._budget_reason() == "max_seconds":
            return "max_seconds"
        remaining = self.budget.remaining()
        if remaining is not None and remaining <= 0:
            return "max_lm_calls"
        if len(self.full_scores) >= space.size():
            return "every configuration fully evaluated"
        return None

    def _ask(self, space: SearchSpace) -> dict[str, int]:
        params = self.settings.sampler.sample(space.variables, self.history, self.rng["sampler"])
        return space.full_params(params)

    def _score_minibatches(
        self, space: SearchSpace, asked: Sequence[dict[str, int]], size: int
    ) -> list[Trial]:
        jobs = []
        for params in asked:
            idx = self.rng["minibatch"].choice(len(self.valset), size=size, replace=False)
            examples = tuple(self.valset[int(i)] for i in sorted(idx))
            state = space.state_for(params)
            jobs.append(EvalJob(state_key(state), state, examples))
        started = time.monotonic()
        outcomes = self.evaluator.evaluate(jobs)
        seconds = (time.monotonic() - started) / max(1, len(jobs))
        trials = []
        for params, job, outcome in zip(asked, jobs, outcomes, strict=False):
            trial = self._record("minibatch", params, job.examples, outcome, seconds)
            trials.append(trial)
            by_id = {ex.id: ex for ex in job.examples}
            self.failures.extend(
                (by_id[r.example_id], r) for r in outcome.records if r.prediction is not None
            )
        del self.failures[:-_KEPT_FAILURES]
        return trials

    def _score_full(self, space: SearchSpace, params: dict[str, int]) -> Trial:
        state = space.state_for(params)
        return self.score("full", params, state, self.valset, state_key(state))

    def score(
        self,
        kind: str,
        params: Mapping[str, int],
        state: ProgramState,
        examples: Sequence[Example],
        key: str,
    ) -> Trial:
        return self._score_outcome(kind, params, state, examples, key)[0]

    def _score_outcome(
        self,
        kind: str,
        params: Mapping[str, int],
        state: ProgramState,
        examples: Sequence[Example],
        key: str,
    ) -> tuple[Trial, EvalOutcome]:
        started = time.monotonic()
        outcome = self.evaluator.evaluate([EvalJob(key, state, tuple(examples))])[0]
        trial = self._record(kind, params, tuple(examples), outcome, time.monotonic() - started)
        return trial, outcome

    def _record(
        self,
        kind: str,
        params: Mapping[str, int],
        examples: tuple[Example, ...],
        outcome: EvalOutcome,
        seconds: float,
    ) -> Trial:
        score = outcome.mean
        best = self.trials[-1].best_score if self.trials else None
        if kind == "full" and outcome.complete and score is not None:
            best = score if best is None else max(best, score)
        trial = Trial(
            number=len(self.trials),
            kind="full" if kind == "full" else "minibatch",
            params=dict(params),
            score=score,
            example_ids=tuple(ex.id for ex in examples),
            errors=sum(1 for r in outcome.records if r.error is not None),
            malformed=sum(1 for r in outcome.records if r.malformed),
            lm_calls=sum(r.lm_calls for r in outcome.records),
            seconds=seconds,
            complete=outcome.complete,
            best_score=best,
            total_lm_calls=self.budget.used,
            elapsed=time.monotonic() - self.started,
        )
        self.trials.append(trial)
        self.memo.put("trial", f"{trial.number:06d}", trial.to_dict())
        self.memo.put("usage", "totals", self.usage())
        if trial.complete and trial.score is not None and params:
            if trial.kind == "full":
                self.full_scores[config_key(params)] = trial.score
            self.history.append(Observation(params, trial.score, trial.kind))
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def _full_eval_best(self, space: SearchSpace) -> None:
        """Score the untested configuration with the best mean minibatch score on all of val."""
        best = self._best_by_minibatch(skip_fully_scored=True)
        if best is None:
            return
        params = dict(best)
        best_key = config_key(params)
        scored = {
            example_id
            for trial in self.trials
            if trial.kind == "minibatch" and config_key(trial.params) == best_key
            for example_id in trial.example_ids
        }
        if not self._affordable(sum(1 for ex in self.valset if ex.id not in scored)):
            return
        self._score_full(space, params)

    def usage(self) -> dict[str, float | int | None]:
        """LM calls, tokens and (with a price table) cost spent so far."""
        budget, pricing = self.budget, self.settings.pricing
        return {
            "lm_calls": budget.used,
            "task_lm_calls": budget.task_calls,
            "proposer_lm_calls": budget.proposer_calls,
            "prompt_tokens": budget.prompt_tokens,
            "completion_tokens": budget.completion_tokens,
            "cost": None
            if pricing is None
            else pricing.cost(budget.prompt_tokens, budget.completion_tokens),
        }

    def best_full_score(self) -> float | None:
        return max(self.full_scores.values()) if self.full_scores else None

    # ----------------------------------------------------------------- result

    def result(self, space: SearchSpace, baseline: float) -> OptimizationResult:
        best_params: Mapping[str, int] = space.full_params({})
        best = baseline
        for trial in self.trials:
            if (
                trial.kind == "full"
                and trial.complete
                and trial.score is not None
                and trial.score > best
            ):
                best, best_params = trial.score, trial.params
        state = space.state_for(best_params)
        state = ProgramState({n: state[n] for n in self.modules})
        self.program.apply(state)
        return OptimizationResult(
            baseline_score=baseline,
            best_score=best,
            state=state,
            initial_state=self.initial_state,
            trials=tuple(self.trials),
            best_params=dict(best_params),
            instruction_candidates=dict(space.instructions),
            demo_set_sizes={n: tuple(len(s) for s in sets) for n, sets in space.demo_sets.items()},
            lm_calls=self.budget.used,
            task_lm_calls=self.budget.task_calls,
            proposer_lm_calls=self.budget.proposer_calls,
            prompt_tokens=self.budget.prompt_tokens,
            completion_tokens=self.budget.completion_tokens,
            seconds=time.monotonic() - self.started,
            stopped_reason=self.stopped_reason,
            seed=self.settings.seed,
            strategy=self.settings.strategy,
            errors=self.evaluator.errors,
            malformed=self.evaluator.malformed,
            cost=self.usage()["cost"],
        )
