"""Micro-benchmark of the search strategies (not a test).

    python benchmarks/bench_sampler.py            # time per sample
    python benchmarks/bench_sampler.py --quality  # also: trials to the optimum, TPE variants

Timing: one ``sample`` call with a history of N observations (every 6th a full evaluation) over
10 variables of 10 categories, median of several repeats, wall and CPU time.

Quality: a MIPRO-like search on random synthetic objectives (4 variables x 5 categories,
additive effects plus one interaction, Gaussian minibatch noise, the baseline fully evaluated
first and the best-mean untested configuration every 5 trials), reporting the median and mean
number of trials until the optimum is proposed and until it is fully evaluated. Besides the
shipped samplers it runs the two alternatives the TPE module docstring compares against, built
by rewriting the history: DSPy-style pooling (full scores as ordinary trials) and one point per
configuration.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from mipro_core.samplers import Observation, RandomSampler, Sampler, TPESampler


def time_sample(
    sampler: Sampler, n_obs: int, repeats: int = 7, calls: int = 100
) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    space = {f"v{i}": 10 for i in range(10)}
    history = [
        Observation(
            {name: int(rng.integers(10)) for name in space},
            float(rng.random()),
            "full" if i % 6 == 5 else "minibatch",
        )
        for i in range(n_obs)
    ]
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            sampler.sample(space, history, rng)
        walls.append((time.perf_counter() - wall) / calls)
        cpus.append((time.process_time() - cpu) / calls)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


class Pooled:
    """DSPy's way: a full score is one more trial of its configuration; nothing is excluded."""

    def sample(
        self, space: Mapping[str, int], history: Sequence[Observation], rng: np.random.Generator
    ) -> dict[str, int]:
        pooled = [Observation(o.params, o.value, "minibatch") for o in history]
        return TPESampler(consider_full_evals=False).sample(space, pooled, rng)


class PerConfiguration:
    """One point per configuration: its full score if it has one, else its mean minibatch."""

    def sample(
        self, space: Mapping[str, int], history: Sequence[Observation], rng: np.random.Generator
    ) -> dict[str, int]:
        if len(history) < 10:
            return TPESampler().sample(space, history, rng)
        groups: dict[tuple[tuple[str, int], ...], tuple[list[float], list[float]]] = {}
        for o in history:
            minibatch, full = groups.setdefault(tuple(sorted(o.params.items())), ([], []))
            (full if o.kind == "full" else minibatch).append(o.value)
        points = [
            Observation(dict(key), statistics.mean(full or minibatch), "minibatch")
            for key, (minibatch, full) in groups.items()
        ]
        return TPESampler(n_startup_trials=0, consider_full_evals=False).sample(space, points, rng)


Objective = Callable[[tuple[int, ...]], float]


def make_objective(seed: int, d: int = 4, c: int = 5) -> tuple[Objective, tuple[int, ...]]:
    r = np.random.default_rng(seed)
    effects = r.uniform(0, 0.08, size=(d, c))
    i, j = r.choice(d, 2, replace=False)
    ci, cj = r.integers(c, size=2)

    def objective(config: tuple[int, ...]) -> float:
        bonus = 0.1 if config[i] == ci and config[j] == cj else 0.0
        return float(0.3 + effects[np.arange(d), list(config)].sum() + bonus)

    optimum = max(itertools.product(range(c), repeat=d), key=objective)
    return objective, optimum


def search(
    sampler: Sampler, objective: Objective, optimum: tuple[int, ...], seed: int, cap: int
) -> tuple[int, int]:
    names = ("a", "b", "c", "d")
    rng, noise = np.random.default_rng(seed), np.random.default_rng(10_000 + seed)
    baseline = (0, 0, 0, 0)
    history = [Observation(dict(zip(names, baseline, strict=True)), objective(baseline), "full")]
    scores: dict[tuple[int, ...], list[float]] = {}
    done = {baseline}
    proposed = evaluated = cap + 1
    for trial in range(1, cap + 1):
        params = sampler.sample(dict.fromkeys(names, 5), history, rng)
        config = tuple(params[n] for n in names)
        if config == optimum:
            proposed = min(proposed, trial)
        score = objective(config) + noise.normal(0, 0.08)
        history.append(Observation(params, score))
        scores.setdefault(config, []).append(score)
        if trial % 5 == 0:
            untested = [k for k in scores if k not in done]
            if untested:
                best = max(untested, key=lambda k: statistics.mean(scores[k]))
                done.add(best)
                history.append(
                    Observation(dict(zip(names, best, strict=True)), objective(best), "full")
                )
                if best == optimum:
                    evaluated = trial
        if evaluated <= cap:
            break
    return proposed, evaluated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--objectives", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--cap", type=int, default=300)
    args = parser.parse_args()

    print("time per sample, 10 variables x 10 categories (median of 7 x 100 calls)")
    for label, sampler in [
        ("RandomSampler", RandomSampler()),
        ("TPESampler", TPESampler()),
        ("TPESampler(multivariate=False)", TPESampler(multivariate=False)),
    ]:
        for n_obs in (30, 100, 300, 1000):
            wall, cpu = time_sample(sampler, n_obs)
            print(f"  {label:32s} {n_obs:5d} observations: {wall:6.3f} ms wall, {cpu:6.3f} ms CPU")

    if not args.quality:
        return
    print(
        f"\ntrials to the optimum of 625 configurations ({args.objectives} objectives x "
        f"{args.seeds} seeds, cap {args.cap}): median / mean"
    )
    problems = [make_objective(seed) for seed in range(args.objectives)]
    variants: list[tuple[str, Sampler]] = [
        ("TPESampler (shipped)", TPESampler()),
        ("TPESampler(consider_full_evals=False)", TPESampler(consider_full_evals=False)),
        ("pooled, as DSPy", Pooled()),
        ("one point per configuration", PerConfiguration()),
        ("TPESampler(multivariate=False)", TPESampler(multivariate=False)),
        ("RandomSampler", RandomSampler()),
    ]
    for label, sampler in variants:
        runs = [
            search(sampler, f, opt, seed, args.cap)
            for f, opt in problems
            for seed in range(args.seeds)
        ]
        proposed = [p for p, _ in runs]
        evaluated = [e for _, e in runs]
        print(
            f"  {label:38s} proposed {statistics.median(proposed):6.1f} / {statistics.mean(proposed):6.1f}"
            f"   fully evaluated {statistics.median(evaluated):6.1f} / {statistics.mean(evaluated):6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
