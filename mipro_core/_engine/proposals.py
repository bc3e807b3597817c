"""The proposer's part of the preparation: its grounding (program description, data summary)
and the instruction candidates proposed before the search."""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._propose import (
    Grounding,
    ProposalSpec,
    ProposalTargets,
    ProposerClient,
    describe_program,
    observe_stages,
    params_of,
    plan_proposals,
    proposal_space,
    propose_instructions,
    spec_from_params,
    summarize_data,
)
from .context import RunContext
from .settle import SETTLE_SECONDS, settle
from .space import DemoSets

Produced = dict[str, dict[int, dict[str, int]]]
"""Per module and instruction index: the proposal settings that wrote it (MIPRO++'s credit)."""


class GroundingChains:
    """The grounding's two chains of sequential proposer calls, each on a thread of its own.

    Queued behind the baseline's runs on the shared executor they would only start once those
    are all done, and would then sit on the critical path of every run with many threads. Use
    as a context manager: leaving it stops a data summary still running at its next batch.

    Args:
        ctx: the run.
        client: the proposer's client.
        described: the modules the program description covers.
    """

    def __init__(self, ctx: RunContext, client: ProposerClient, described: Sequence[str]) -> None:
        self.ctx = ctx
        self.client = client
        self.described = tuple(described)
        self._threads = cf.ThreadPoolExecutor(2, thread_name_prefix="mipro-grounding")
        self._stop = threading.Event()  # set once the grounding is used or has failed
        self._pending: tuple[cf.Future[dict[str, Any]], cf.Future[str]] | None = None

    def __enter__(self) -> GroundingChains:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self._stop.set()
        # wait for a call in flight (each ends by the deadline plus one client timeout), so a
        # run never returns while a call it will be billed for is still running and uncounted;
        # only Ctrl-C does not wait
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        if interrupted:  # not waited for: nothing they return may be counted or journaled
            self.client.abandon()
        self._threads.shutdown(wait=not interrupted, cancel_futures=True)

    def interrupted(self) -> None:
        """Ctrl-C before the search: no other grounding call starts (a retry waiting out its
        backoff is refused); the calls in flight finish for at most :data:`SETTLE_SECONDS`
        (see :func:`~.settle.settle`), so leaving the chains does not wait for their retries."""
        self._stop.set()
        settle(self.client, self._pending or (), SETTLE_SECONDS)

    def start(self) -> None:
        """Start both chains (once; later calls do nothing)."""
        if self._pending is None:
            self._pending = (
                self._threads.submit(self._describe),
                self._threads.submit(self._summarize_data),
            )

    def described_grounding(self) -> Grounding:
        """The program description and module roles (waits for them; after :meth:`start`).

        Raises:
            LMError: a proposer call of the description failed.
        """
        assert self._pending is not None
        return Grounding(**self._pending[0].result())

    def data_summary(self) -> cf.Future[str]:
        """The data summary, still running."""
        assert self._pending is not None
        return self._pending[1]

    def _describe(self) -> dict[str, Any]:
        """The program description and the module roles (computed once per run)."""
        config = self.ctx.settings.proposer
        if not config.use_program_summary:
            return {}
        description, roles = describe_program(
            self.client,
            self.ctx.program.describe(),
            {n: self.ctx.modules[n].signature for n in self.described},
            temperature=config.temperature,
        )
        return {"program_description": description, "module_roles": roles}

    def _summarize_data(self) -> str:
        """The data summary (computed once per run; abandoned once the chains are closed)."""
        config = self.ctx.settings.proposer
        if not config.use_data_summary:
            return ""
        return summarize_data(
            self.client,
            self.ctx.trainset,
            batch_size=config.data_batch_size,
            max_batches=config.max_data_batches,
            temperature=config.temperature,
            stop=self._stop,
        )


def propose_first(
    ctx: RunContext,
    client: ProposerClient,
    searched: Sequence[str],
    demo_sets: DemoSets,
    grounding: Grounding,
    data_summary: cf.Future[str],
) -> tuple[dict[str, tuple[str, ...]], Grounding, Produced]:
    """The instruction candidates per module before the search.

    The proposals' first calls (observing the demos) need only the descriptions, so they run
    while ``data_summary`` is finishing.

    Returns:
        Every module's candidates (the original first), the grounding with its data summary,
        and the settings that wrote each proposed candidate.
    """
    settings, modules = ctx.settings, ctx.modules
    originals = {n: ctx.initial_state[n].instruction for n in modules}
    result: dict[str, tuple[str, ...]] = {n: (originals[n],) for n in modules}
    produced: Produced = {n: {} for n in searched}
    count = settings.initial_candidates()
    config = settings.proposer
    if config.meta_optimize:  # start the proposal surrogate with varied settings
        specs = _random_specs(ctx, searched, count, demo_sets)
    else:
        num_sets = {n: len(demo_sets[n]) for n in searched}
        specs = plan_proposals(searched, count, num_sets, config, ctx.rng["proposals"])
    ctx.progress.stage(
        f"proposing {len(specs)} instructions for {len(searched)} module(s): up to "
        f"{count} candidates per module, the original included"
    )
    targets = ProposalTargets(
        {n: modules[n].signature for n in searched},
        {n: originals[n] for n in searched},
        {n: demo_sets[n] for n in searched},
    )
    observations = observe_stages(client, specs, targets, grounding, config, ctx.executor)
    grounding = attrs.evolve(grounding, data_summary=data_summary.result())
    proposed = propose_instructions(
        client, specs, targets, grounding, config, ctx.executor, observations
    )
    pspace = proposal_space(config, settings.budget.num_candidates)
    for name, candidates in proposed.items():
        result[name] = tuple(text for text, _ in candidates)
        for index, (_, spec) in enumerate(candidates):
            if spec is not None:
                produced[name][index] = params_of(spec, pspace)
    return result, grounding, produced


def _random_specs(
    ctx: RunContext, searched: Sequence[str], count: int, demo_sets: Mapping[str, Sequence[Any]]
) -> list[ProposalSpec]:
    """MIPRO++'s first proposals: settings drawn uniformly from the proposal space, so the
    proposal surrogate has varied evidence to credit from the first rounds on."""
    pspace = proposal_space(ctx.settings.proposer, ctx.settings.budget.num_candidates)
    rng = ctx.rng["proposals"]
    return [
        spec_from_params(
            name,
            index,
            {k: int(rng.integers(n)) for k, n in pspace.items()},
            len(demo_sets[name]),
        )
        for name in searched
        for index in range(1, count)
    ]
