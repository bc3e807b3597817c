"""Paired A/B of MIPRO settings: the defaults (A) against overrides (B) at a fixed LM-call cap
(``--base-proposer`` / ``--base-search`` give A overrides of its own).

Judging an engine or settings change on the published DSPy table alone is hopeless: its
seed-to-seed sd is 0.06-0.14, so a 20-seed mean moves by +-0.03 between seed ranges. This script
runs both variants on the same seeds (same LM seed, same optimizer seed, same cap), so the
per-seed noise cancels, and prints the paired mean difference with a Wilcoxon p-value::

    python benchmarks/ab_settings.py --proposer '{"num_demos_in_context": 8}'
    python benchmarks/ab_settings.py --tasks scone_nli --fractions 1 --seeds 60 \\
        --search '{"minibatch_size": 20}'

The cap is ``fraction × C`` where C is DSPy MIPROv2's mean LM calls on the task (from the
published comparison), so fractions 1 and 0.6 are the issue's two budgets. Seeds start at
100 by default, away from the seeds 1-40 of the published table: choose a change on these, then
check it there. Runs go to ``--jobs`` processes (default 2).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from scipy import stats

import mipro_core as mc
from mipro_core.testing import load_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_meta

DSPY_MEAN_CALLS = {"rule_qa": 552, "multihop_qa": 2430, "scone_nli": 538, "rule_qa_vote": 2625}
"""DSPy MIPROv2 light's mean LM calls per task (docs/benchmarks.md, 40 seeds)."""


def run_one(name: str, seed: int, cap: int, proposer: str, search: str) -> float:
    """Test score of MIPRO with the given JSON overrides (``"{}"``: the defaults)."""
    logging.disable(logging.WARNING)
    options = {"proposer": mc.ProposerConfig(**json.loads(proposer)), **json.loads(search)}
    return compare_meta.run_one(load_task(name), options, seed, cap)["test"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", nargs="+", default=list(DSPY_MEAN_CALLS), metavar="TASK")
    parser.add_argument("--fractions", nargs="+", type=float, default=[1.0, 0.6])
    parser.add_argument("--seeds", type=int, default=40, help="number of seeds (default 40)")
    parser.add_argument("--first-seed", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--proposer", default="{}", help="JSON keyword arguments of ProposerConfig for B"
    )
    parser.add_argument(
        "--search",
        default="{}",
        help="JSON keyword arguments of optimize() for B, e.g. minibatch_size, num_candidates",
    )
    parser.add_argument(
        "--base-proposer", default="{}", help="JSON ProposerConfig overrides for A (default none)"
    )
    parser.add_argument(
        "--base-search", default="{}", help="JSON optimize() overrides for A (default none)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    unknown = [t for t in args.tasks if t not in DSPY_MEAN_CALLS]
    if unknown or args.seeds < 2:
        print(f"unknown tasks {unknown} or fewer than 2 seeds", file=sys.stderr)
        return 2
    for overrides in (args.proposer, args.base_proposer):
        mc.ProposerConfig(**json.loads(overrides))  # fail early on a bad override
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    cells = [(t, f) for t in args.tasks for f in args.fractions]
    jobs: list[tuple[str, int, int, str, str]] = []
    for name, frac in cells:
        cap = round(frac * DSPY_MEAN_CALLS[name])
        for seed in seeds:
            jobs.append((name, seed, cap, args.base_proposer, args.base_search))
            jobs.append((name, seed, cap, args.proposer, args.search))
    with cf.ProcessPoolExecutor(max(1, args.jobs)) as pool:
        scores = list(pool.map(run_one, *zip(*jobs, strict=True)))
    print(
        f"A = proposer {args.base_proposer}, search {args.base_search}; B = proposer "
        f"{args.proposer}, search {args.search}; seeds {seeds[0]}-{seeds[-1]}"
    )
    print("| task | cap | A | B | B − A | Wilcoxon p |")
    print("|---|---|---|---|---|---|")
    for i, (name, frac) in enumerate(cells):
        block = scores[2 * i * len(seeds) : 2 * (i + 1) * len(seeds)]
        a, b = block[0::2], block[1::2]
        p = stats.wilcoxon(b, a).pvalue if a != b else 1.0
        print(
            f"| {name} | {frac:g} × C | {statistics.fmean(a):.3f} | {statistics.fmean(b):.3f} "
            f"| {statistics.fmean(b) - statistics.fmean(a):+.3f} | {p:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
