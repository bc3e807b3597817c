"""Stage 1: candidate demo sets per module.

Runs the program on training inputs (in parallel, through the evaluator), keeps the traces of
runs whose final output passes the metric (preferring traces whose earlier stages did their own
job, and higher scores), and turns each module's last call in those traces into a bootstrapped
demo for that module. Labeled demos come from examples whose gold fields cover a
module's signature. From these pools it builds, per module: the module's current demos, an empty
set, a labeled-only set, and bootstrapped sets of varied size and order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence

import attrs
import numpy as np

from ._errors import InvalidInputError
from ._eval_records import EvalJob
from ._evaluate import Evaluator
from ._protocols import Module
from ._types import Demo, Example, ProgramState, Signature, Trace, stable_hash

logger = logging.getLogger("mipro_core.bootstrap")


@attrs.frozen
class DemoPools:
    """Per module: demos bootstrapped from successful traces and demos built from labels."""

    bootstrapped: Mapping[str, tuple[Demo, ...]]
    labeled: Mapping[str, tuple[Demo, ...]]
    runs: int
    successes: int
    pinned: Mapping[str, tuple[Demo, ...]] = attrs.field(factory=dict)
    """Demos of the examples the user pinned, per module: part of every set built from pools."""


def labeled_demo(
    signature: Signature, example: Example, gold: Mapping[str, str] | None = None
) -> Demo | None:
    """A demo from an example's gold fields, if they cover the module's signature.

    ``gold`` maps an output field to the gold field holding it when their names differ.
    """
    inputs, outputs = example.inputs, example.outputs
    gold = gold or {}
    sources = {f: gold.get(f, f) for f in signature.outputs}
    if not signature.outputs or not all(s in outputs for s in sources.values()):
        return None
    fields = {**inputs, **outputs}
    if not all(f in fields for f in signature.inputs):
        return None
    return Demo(
        {f: fields[f] for f in signature.inputs},
        {f: outputs[s] for f, s in sources.items()},
        source="labeled",
    )


MIN_BATCH = 16
"""Bootstrap batches are never cut below this many runs (nor above ``batch_size``)."""


def _batch_size(limit: int, still_wanted: int, runs: int, successes: int) -> int:
    """The next batch: at most ``limit`` runs and, above :data:`MIN_BATCH`, no more than the
    runs expected to yield the passing traces still wanted at the success rate so far (every
    run passing before any has run). Used under a call cap: many threads then fill their slots
    without spending the cap's share on traces nobody needs; up to 8 threads (``limit`` <= 16)
    nothing changes.
    """
    if successes:
        expected = math.ceil(max(0, still_wanted) * runs / successes)
    else:
        expected = limit if runs else still_wanted
    return max(1, min(limit, max(MIN_BATCH, expected)))


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
    screen: bool = True,
    exclude: Collection[str] = (),
    pin: Sequence[str] = (),
    keep_failures: bool = False,
    gold_fields: Mapping[str, Mapping[str, str]] | None = None,
) -> DemoPools:
    """Run ``state`` on shuffled training examples until ``wanted`` clean runs passed,
    ``max_runs`` runs were made, or the data ran out.

    With ``screen``, a passing trace in which an earlier stage already wrote the gold answer (a
    rewrite step that answered instead of rewriting) is suspicious: it does not count toward
    ``wanted``, and its demos only fill the pool when too few clean traces passed. Clean traces
    come first, the ones that passed with the higher score first. Examples whose id is in
    ``exclude`` never become demos; those in ``pin`` run first and their demos (bootstrapped, else
    labeled) go into every candidate set built from the pools. With ``keep_failures``, failing
    runs keep what a proposer reads (see :meth:`Evaluator.evaluate`). ``gold_fields``: per
    module, the gold field of each output named differently (see ``_gold.resolve_outputs``).
    """
    gold_fields = gold_fields or {}
    excluded = set(exclude)
    usable = [ex for ex in trainset if ex.id not in excluded]
    labeled = {
        name: tuple(
            d
            for ex in usable
            if (d := labeled_demo(m.signature, ex, gold_fields.get(name))) is not None
        )
        for name, m in modules.items()
    }
    pinned_ids = [i for i in dict.fromkeys(pin) if i not in excluded]
    by_id = {ex.id: ex for ex in usable}
    unknown = [i for i in pinned_ids if i not in by_id]
    if unknown:
        raise InvalidInputError(f"pin_demos names unknown training example id(s) {unknown}")
    order = [usable[i] for i in rng.permutation(len(usable))] if wanted > 0 else []
    if max_runs is not None:
        order = order[:max_runs]
    if pinned_ids:
        pinned_set = set(pinned_ids)
        order = [by_id[i] for i in pinned_ids] + [ex for ex in order if ex.id not in pinned_set]
    key = "bootstrap-" + stable_hash(state.to_dict())
    found: list[_Passing] = []
    runs = successes = 0
    pinned_found: dict[str, dict[str, Demo]] = {name: {} for name in modules}
    traced: dict[str, list[Demo]] = {name: [] for name in modules}
    start = 0
    while start < len(order):
        if successes >= wanted and start >= len(pinned_ids):
            break
        size = batch_size
        if max_runs is not None:  # under a call cap, calls not spent here go to the search
            size = _batch_size(batch_size, wanted - successes, runs, successes)
        batch = tuple(order[start : start + size])
        start += size
        examples = {ex.id: ex for ex in batch}
        outcome = evaluator.evaluate(
            [EvalJob(key, state, batch)], kind="bootstrap", keep_failures=keep_failures
        )[0]
        runs += len(outcome.records)
        for record in outcome.records:  # in training order: the pools don't depend on batching
            is_pinned = record.example_id in pinned_ids
            if successes >= wanted and not is_pinned:
                continue
            example = examples[record.example_id]
            if record.trace is not None and record.example_id not in excluded:
                for name, demo in _traced_labels(record.trace, example, modules, gold_fields):
                    traced[name].append(demo)
            if record.score is None or record.trace is None or not _passes(record.score, threshold):
                continue
            clean = not screen or not _answers_early(record.trace, example)
            demos = _demos_of(record.trace, modules)
            if is_pinned:
                for name, demo in demos.items():
                    pinned_found[name][example.id] = demo
                continue
            successes += clean
            found.append(_Passing(clean, record.score, len(found), demos))
        if not outcome.complete:
            break
    found.sort(key=lambda p: (not p.clean, -p.score, p.order))
    kept = [p for p in found if p.clean]
    if len(kept) < wanted:  # too few clean traces: the suspicious ones fill up (after them)
        kept = found[: max(wanted, len(kept))]
    suspicious = sum(not p.clean for p in found)
    logger.info(
        "bootstrapped %d successful traces from %d runs (%d more passed but an earlier stage "
        "already gave the answer)",
        successes,
        runs,
        suspicious,
    )
    pools: dict[str, list[Demo]] = {name: [] for name in modules}
    for passing in kept:
        for name, demo in passing.demos.items():
            pools[name].append(demo)
    return DemoPools(
        bootstrapped={n: tuple(dict.fromkeys(p)) for n, p in pools.items()},
        labeled={n: tuple(dict.fromkeys((*labeled[n], *traced[n]))) for n in modules},
        runs=runs,
        successes=successes,
        pinned=_pinned(pinned_ids, pinned_found, modules, by_id, gold_fields),
    )


@attrs.frozen
class _Passing:
    clean: bool
    score: float
    order: int
    demos: Mapping[str, Demo]


def _demos_of(trace: Trace, modules: Mapping[str, Module]) -> dict[str, Demo]:
    """One demo per module of a passing trace: the module's last call, whose inputs carry
    everything earlier calls gathered (the second hop's query sees the first hop's passages) and
    whose output fed the final answer most directly."""
    demos = {}
    for name in modules:
        calls = trace.for_module(name)
        if calls:
            call = calls[-1]
            demos[name] = Demo(call.inputs, call.outputs, source="bootstrapped")
    return demos


def _traced_labels(
    trace: Trace,
    example: Example,
    modules: Mapping[str, Module],
    gold_fields: Mapping[str, Mapping[str, str]],
) -> list[tuple[str, Demo]]:
    """Labeled demos for modules whose inputs are computed inside the program (a final stage
    reading an earlier stage's summary): the inputs of the module's last call in the trace of any
    run, passing or not, with the outputs from the example's gold fields. Only for modules whose
    outputs ``gold_fields`` maps completely and whose inputs the example itself lacks."""
    found = []
    for name, mapping in gold_fields.items():
        module = modules.get(name)
        if module is None or set(mapping) != set(module.signature.outputs):
            continue
        if labeled_demo(module.signature, example, mapping) is not None:
            continue  # the example's own fields make the demo
        if not all(g in example.outputs for g in mapping.values()):
            continue
        calls = trace.for_module(name)
        if calls:
            outputs = {f: example.outputs[g] for f, g in mapping.items()}
            found.append((name, Demo(calls[-1].inputs, outputs, source="labeled")))
    return found


def _answers_early(trace: Trace, example: Example) -> bool:
    """Whether a call before the final one wrote a gold answer into a field that is not an
    answer field (``rewritten: 49`` when the gold answer is 49): a trace that passed by luck."""
    gold = {_norm(v) for v in example.outputs.values() if isinstance(v, str) and _norm(v)}
    if not gold:
        return False
    answer_fields = set(example.outputs)
    for call in trace.calls[:-1]:
        for field, value in call.outputs.items():
            if field not in answer_fields and isinstance(value, str) and _norm(value) in gold:
                return True
    return False


def _norm(text: str) -> str:
    return " ".join(text.lower().strip(" \t\n.,;:!?\"'").split())


def _pinned(
    ids: Sequence[str],
    found: Mapping[str, Mapping[str, Demo]],
    modules: Mapping[str, Module],
    examples: Mapping[str, Example],
    gold_fields: Mapping[str, Mapping[str, str]],
) -> dict[str, tuple[Demo, ...]]:
    """Per module, the pinned examples' demos: from their passing trace, else their labels."""
    result: dict[str, tuple[Demo, ...]] = {}
    for name, module in modules.items():
        demos = []
        for example_id in ids:
            demo = found[name].get(example_id) or labeled_demo(
                module.signature, examples[example_id], gold_fields.get(name)
            )
            if demo is None:
                logger.warning(
                    "pinned example %s gives module %s no demo (its run did not pass and its "
                    "labels do not cover the module's fields)",
                    example_id,
                    name,
                )
            else:
                demos.append(demo)
        result[name] = tuple(demos)
    return result


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

        pinned = tuple(pools.pinned.get(name, ()))
        boot = [d for d in boot if d not in pinned]
        lab = [d for d in lab if d not in pinned]

        def add(
            candidate: tuple[Demo, ...],
            sets: list[tuple[Demo, ...]] = sets,
            pinned: tuple[Demo, ...] = pinned,
        ) -> None:
            if candidate and pinned:
                candidate = pinned + tuple(d for d in candidate if d not in pinned)
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
