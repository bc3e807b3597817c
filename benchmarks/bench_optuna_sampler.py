"""The Optuna-backed sampler against the built-in TPE: search quality and cost per ask.

Quality: the MIPRO-like search of ``bench_sampler.py --quality`` (4 variables x 5 categories,
additive effects plus one interaction, Gaussian minibatch noise, a full evaluation of the best
untested configuration every 5 trials) on a few objectives x seeds at a small trial cap:
how often, and after how many trials, the optimum is proposed. Cost: milliseconds per
``sample()`` call with a history of 100 observations over 10 variables x 10 categories.

    python benchmarks/bench_optuna_sampler.py [--objectives 3 --seeds 10 --cap 100]

Needs ``pip install 'mipro-core[optuna]'``. Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sampler import make_objective, search, time_sample

from mipro_core.integrations.optuna import OptunaTPESampler
from mipro_core.samplers import Sampler, TPESampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objectives", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--cap", type=int, default=100)
    args = parser.parse_args()
    samplers: dict[str, Sampler] = {
        "mipro TPESampler (default)": TPESampler(),
        "OptunaTPESampler": OptunaTPESampler(),
    }
    print(f"| sampler | optimum proposed within {args.cap} trials | median trials to it "
          "| ms per ask (100 obs) |")  # fmt: skip
    print("|---|---|---|---|")
    costs = {}
    for name, sampler in samplers.items():
        found = []
        for objective_seed in range(args.objectives):
            objective, optimum = make_objective(objective_seed)
            for seed in range(args.seeds):
                proposed, _ = search(sampler, objective, optimum, seed, args.cap)
                found.append(proposed)
        hits = [t for t in found if t <= args.cap]
        costs[name] = time_sample(sampler, 100, repeats=3, calls=10)[1]
        median = f"{statistics.median(found):.0f}" if len(hits) * 2 > len(found) else "> cap"
        print(f"| {name} | {len(hits)}/{len(found)} | {median} | {costs[name]:.2f} |")
    ours, theirs = costs.values()
    print(f"\nOptuna's ask costs {theirs / ours:.0f}x ours (CPU time).")


if __name__ == "__main__":
    main()
