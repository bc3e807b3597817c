"""Proposal rounds during the search: MIPRO++'s meta round and the repair round.

Each round grows the instruction pools and returns ``(space, forced_configs)``: the grown space
and the configurations the search must try next.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
from .space import SearchSpace

logger = logging.getLogger("mipro_core.engine")

RoundResult = tuple[SearchSpace, list[dict[str, int]]]


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
        for name in self.searched:
            params = ctx.settings.sampler.sample(pspace, history, ctx.rng["meta"])
            params = {k: params[k] for k in pspace}
            index = len(instructions[name])
            spec = spec_from_params(name, index, params, len(space.demo_sets[name]))
            feedback = ModuleFeedback(
                history=history_text(
                    instructions[name], instruction_scores(trials, name), config.max_history
                ),
                failures=failures_text(name, self.ledger.failures[::-1], config.max_failures),
            )
            text = propose_one(
                self.client,
                spec,
                ctx.modules[name].signature,
                ctx.initial_state[name].instruction,
                space.demo_sets[name],
                self.grounding,
                config,
                feedback,
            )
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
        added = 0
        for name in self.searched:
            failures = sample_failures(
                [*self.ledger.failures, *(self.ledger.full_failures if with_full else ())],
                name,
                config.max_failures,
                ctx.rng["repair"],
            )
            if not failures or ctx.memo.get("repair-error", name) is not None:
                continue
            index = len(instructions[name])
            try:
                text = propose_repair(
                    self.client,
                    name,
                    index,
                    ctx.modules[name].signature,
                    ctx.initial_state[name].instruction,
                    failures,
                    self.grounding,
                    config,
                )
            except LMError as exc:  # an extra candidate is not worth the trials already run
                logger.warning("repair round: no instruction for module %r (%s)", name, exc)
                # journaled, so a resumed run skips this module too instead of trying again
                ctx.memo.put("repair-error", name, str(exc))
                continue
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

    def _grown(self, space: SearchSpace, instructions: dict[str, tuple[str, ...]]) -> SearchSpace:
        """``space`` with the grown instruction pools (journaled for resume)."""
        self.ctx.memo.put("space", "instructions", {n: list(v) for n, v in instructions.items()})
        return space.grow(instructions, self.searched, self.ctx.settings.search)
