"""Stage 1: candidate demo sets per module.

Runs the program on training inputs (in parallel, through the evaluator), keeps the traces of
runs whose final output passes the metric, and turns each module's last call in those traces
into a bootstrapped demo for that module. Labeled demos come from examples whose gold fields cover a
module's signature. From these pools it builds, per module: the module's current demos, an empty
set, a labeled-only set, and bootstrapped sets of varied size and order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from ._evaluate import EvalJob, Evaluator
from ._protocols import Module
from ._types import Demo, Example, ProgramState, Signature, stable_hash

logger = logging.getLogger("mipro_core.bootstrap")


@attrs.frozen
class DemoPools:
    """Per module: demos bootstrapped from successful traces and demos built from labels."""

    bootstrapped: Mapping[str, tuple[Demo, ...]]
    labeled: Mapping[str, tuple[Demo, ...]]
    runs: int
    successes: int


def labeled_demo(signature: Signature, example: Example) -> Demo | None:
    """A demo from an example's gold fields, if they cover the module's signature."""
    fields = {**example.inputs, **example.outputs}
    if not signature.outputs or not all(
        f in fields for f in (*signature.inputs, *signature.outputs)
    ):
        return None
    if not all(f in example.outputs for f in signature.outputs):
        return None
    return Demo(
        {f: fields[f] for f in signature.inputs},
        {f: fields[f] for f in signature.outputs},
        source="labeled",
    )


def bootstrap_pools(
    evaluator: Evaluator,
    state: ProgramState,
    modules: Mapping[str, Module],
    trainset: Sequence[Example],
    *,
    wanted: int,
    threshold: float | None,
    rng: np.random.Generator,
    batch_size: int,
    max_runs: int | None = None,
) -> DemoPools:
    """Run ``state`` on shuffled training examples until ``wanted`` runs passed, ``max_runs``
    runs were made, or the data ran out."""
    labeled = {
        name: tuple(d for ex in trainset if (d := labeled_demo(m.signature, ex)) is not None)
        for name, m in modules.items()
    }
    pools: dict[str, list[Demo]] = {name: [] for name in modules}
    order = [trainset[i] for i in rng.permutation(len(trainset))] if wanted > 0 else []
    if max_runs is not None:
        order = order[:max_runs]
    key = "bootstrap-" + stable_hash(state.to_dict())
    runs = successes = 0
    for start in range(0, len(order), batch_size):
        if successes >= wanted:
            break
        batch = tuple(order[start : start + batch_size])
        outcome = evaluator.evaluate([EvalJob(key, state, batch)], kind="bootstrap")[0]
        runs += len(outcome.records)
        for record in outcome.records:  # in training order: the pools don't depend on batching
            if successes >= wanted:
                break
            if record.score is None or record.trace is None or not _passes(record.score, threshold):
                continue
            successes += 1
            for name in modules:
                calls = record.trace.for_module(name)
                if calls:
                    # one demo per module and trace: the module's last call, whose inputs carry
                    # everything earlier calls gathered (the second hop's query sees the first
                    # hop's passages) and whose output fed the final answer most directly
                    call = calls[-1]
                    pools[name].append(Demo(call.inputs, call.outputs, source="bootstrapped"))
        if not outcome.complete:
            break
    logger.info("bootstrapped %d successful traces from %d runs", successes, runs)
    return DemoPools(
        bootstrapped={n: tuple(dict.fromkeys(p)) for n, p in pools.items()},
        labeled=labeled,
        runs=runs,
        successes=successes,
    )


def _passes(score: float, threshold: float | None) -> bool:
    return score >= threshold if threshold is not None else score > 0


def build_demo_sets(
    pools: DemoPools,
    original: Mapping[str, tuple[Demo, ...]],
    *,
    num_sets: int,
    max_bootstrapped: int,
    max_labeled: int,
    rng: np.random.Generator,
) -> dict[str, tuple[tuple[Demo, ...], ...]]:
    """Up to ``num_sets`` distinct demo sets per module; set 0 is always the module's current demos."""
    result: dict[str, tuple[tuple[Demo, ...], ...]] = {}
    for name, current in original.items():
        sets: list[tuple[Demo, ...]] = [tuple(current)]
        boot = list(pools.bootstrapped.get(name, ()))
        lab = list(pools.labeled.get(name, ()))

        def add(candidate: tuple[Demo, ...], sets: list[tuple[Demo, ...]] = sets) -> None:
            if candidate not in sets and len(sets) < num_sets:
                sets.append(candidate)

        add(())
        if max_labeled > 0 and lab:
            add(_sample(lab, min(max_labeled, len(lab)), rng))
        attempts = 0
        while len(sets) < num_sets and attempts < 4 * num_sets:
            attempts += 1
            if max_bootstrapped > 0 and boot:
                largest = min(max_bootstrapped, len(boot))
                # the first bootstrapped set is a full one (as DSPy's unshuffled set), the
                # others have random sizes
                full = attempts == 1
                size = largest if full else int(rng.integers(1, largest + 1))
                chosen = _sample(boot, size, rng)
                fill = max(0, max_labeled - size)
                extra = _sample(lab, min(fill, len(lab)), rng) if fill and lab else ()
                add(chosen + extra)
            elif max_labeled > 0 and lab:
                size = int(rng.integers(1, min(max_labeled, len(lab)) + 1))
                add(_sample(lab, size, rng))
            else:
                break
        result[name] = tuple(sets)
    return result


def _sample(pool: Sequence[Demo], k: int, rng: np.random.Generator) -> tuple[Demo, ...]:
    if k <= 0:
        return ()
    idx = rng.choice(len(pool), size=k, replace=False)
    return tuple(pool[int(i)] for i in idx)
