"""Proposal rounds during the search: MIPRO++'s meta round and the repair round.

Each round grows the instruction pools and returns ``(space, forced_configs)``: the grown space
and the configurations the search must try next.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from .._errors import LMError
from .._propose import (
    Grounding,
    ModuleFeedback,
    ProposerClient,
    failures_text,
    history_text,
    instruction_scores,
    proposal_observations,
    proposal_space,
    propose_one,
    propose_repair,
    sample_failures,
    spec_from_params,
)
from .._variables import VariableKey
from .context import RunContext
from .ledger import Ledger
from .proposals import Produced
from .settle import SETTLE_SECONDS, settle, wait_settled
from .space import SearchSpace

logger = logging.getLogger("mipro_core.engine")

RoundResult = tuple[SearchSpace, list[dict[str, int]]]

_T = TypeVar("_T")


def each_module(
    propose: Callable[[_T], str], jobs: Sequence[_T], client: ProposerClient
) -> list[str]:
    """``propose`` on every module's job, at once when there are several (a round's modules
    are independent: one proposer call after another would leave every thread idle for as
    many call latencies as there are modules); the replies in the jobs' order.

    The calls run on threads of their own rather than the shared executor, which may be
    busy with a full evaluation's runs that this round runs beside. A Ctrl-C lets the calls
    in flight settle or abandons them (see :mod:`.settle`) before it is raised, so none is
    still running, uncounted, once ``optimize()`` returns.
    """
    if len(jobs) <= 1:
        return [propose(job) for job in jobs]
    pool = cf.ThreadPoolExecutor(len(jobs), thread_name_prefix="mipro-round")
    futures: list[cf.Future[str]] = []
    try:
        try:
            futures.extend(pool.submit(propose, job) for job in jobs)
            wait_settled(futures, None)
        except KeyboardInterrupt:
            settle(client, futures, SETTLE_SECONDS)
            raise
        return [future.result() for future in futures]
    finally:
        # settled calls: their threads end at once, so none outlives optimize(); abandoned
        # ones are not waited for
        pool.shutdown(wait=all(f.done() for f in futures), cancel_futures=True)


class Rounds:
    """Writes new instruction candidates from what the search has learnt.

    Args:
        ctx: the run.
        client: the proposer's client.
        searched: the modules being searched.
        grounding: what the proposer knows about the program and data.
        produced: the proposal settings of each proposed instruction so far (grown here).
        ledger: the trials and failures so far.
    """

    def __init__(
        self,
        ctx: RunContext,
        client: ProposerClient,
        searched: Sequence[str],
        grounding: Grounding,
        produced: Produced,
        ledger: Ledger,
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.searched = tuple(searched)
        self.grounding = grounding
        self.produced: Produced = {n: dict(v) for n, v in produced.items()}
        self.ledger = ledger

    def meta_round(self, space: SearchSpace) -> RoundResult:
        """MIPRO++: one new instruction per module, its proposer settings drawn from a surrogate
        fed with the scores earlier proposals' instructions earned.

        Returns:
            The grown space and no forced configuration.
        """
        ctx, trials = self.ctx, self.ledger.trials
        config = ctx.settings.proposer
        pspace = proposal_space(config, ctx.settings.budget.num_candidates)
        history = proposal_observations(self.produced, trials)
        instructions = dict(space.instructions)
        # every module's settings first, in module order (the stream's draws do not depend on
        # the replies), then the modules' proposals at once
        drawn = []
        for name in self.searched:
            params = ctx.settings.sampler.sample(pspace, history, ctx.rng["meta"])
            drawn.append((name, {k: params[k] for k in pspace}))

        def propose(item: tuple[str, dict[str, int]]) -> str:
            name, params = item
            index = len(instructions[name])
            return propose_one(
                self.client,
                spec_from_params(name, index, params, len(space.demo_sets[name])),
                ctx.modules[name].signature,
                ctx.initial_state[name].instruction,
                space.demo_sets[name],
                self.grounding,
                config,
                ModuleFeedback(
                    history=history_text(
                        instructions[name], instruction_scores(trials, name), config.max_history
                    ),
                    failures=failures_text(name, self.ledger.failures[::-1], config.max_failures),
                ),
            )

        for (name, params), text in zip(
            drawn, each_module(propose, drawn, self.client), strict=True
        ):
            index = len(instructions[name])
            if text and text not in instructions[name]:
                instructions[name] = (*instructions[name], text)
                self.produced[name][index] = params
        return self._grown(space, instructions), []

    def repair_round(self, space: SearchSpace, *, with_full: bool = False) -> RoundResult:
        """One instruction per module written from the failures so far (see
        :func:`propose_repair`): the minibatch trials', and the full evaluations' too with
        ``with_full``.

        Returns:
            The grown space and the configuration to try next: the best one so far by mean
            minibatch score (the baseline's when there is none) with the new instructions; the
            space unchanged and nothing to try when no instruction was written.
        """
        ctx, config = self.ctx, self.ctx.settings.proposer
        instructions = dict(space.instructions)
        best = space.full_params(self.ledger.best_by_minibatch(skip_fully_scored=False) or {})
        jobs: list[tuple[str, int, str]] = []
        for name in self.searched:  # the failure samples in module order (one random stream)
            failures = sample_failures(
                [*self.ledger.failures, *(self.ledger.full_failures if with_full else ())],
                name,
                config.max_failures,
                ctx.rng["repair"],
            )
            if failures and ctx.memo.get("repair-error", name) is None:
                jobs.append((name, len(instructions[name]), failures))
        added = 0
        for (name, index, _), text in zip(
            jobs, each_module(self._repair_one, jobs, self.client), strict=True
        ):
            if text and text not in instructions[name]:
                instructions[name] = (*instructions[name], text)
                best[str(VariableKey.instruction(name))] = index
                ctx.memo.put("repair", name, index)  # the report labels this candidate
                added += 1
        if not added:
            return space, []
        ctx.progress.stage(
            f"repair round: {added} instruction(s) written from failing examples, one more "
            "candidate for each module that had failures"
        )
        grown = self._grown(space, instructions)
        return grown, [grown.full_params(best)]

    def _repair_one(self, job: tuple[str, int, str]) -> str:
        """The repair instruction for one module (``""`` when the proposer failed on it)."""
        name, index, failures = job  # failures: the sampled failing examples, as text
        ctx = self.ctx
        try:
            return propose_repair(
                self.client,
                name,
                index,
                ctx.modules[name].signature,
                ctx.initial_state[name].instruction,
                failures,
                self.grounding,
                ctx.settings.proposer,
            )
        except LMError as exc:  # an extra candidate is not worth the trials already run
            logger.warning("repair round: no instruction for module %r (%s)", name, exc)
            # journaled, so a resumed run skips this module too instead of trying again (not
            # once the client was abandoned after Ctrl-C: then nothing of the call is kept)
            with self.client.committing():
                ctx.memo.put("repair-error", name, str(exc))
            return ""

    def _grown(self, space: SearchSpace, instructions: dict[str, tuple[str, ...]]) -> SearchSpace:
        """``space`` with the grown instruction pools (journaled for resume)."""
        self.ctx.memo.put("space", "instructions", {n: list(v) for n, v in instructions.items()})
        return space.grow(instructions, self.searched, self.ctx.settings.search)
