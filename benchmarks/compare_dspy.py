"""MIPRO vs DSPy's MIPROv2 on the bundled simulated tasks, at DSPy's own LM-call budget.

Needs the ``bench`` extra (``pip install "dspy[optuna]>=3" matplotlib``). Covers all four bundled
tasks (``rule_qa``, ``multihop_qa``, ``scone_nli``, ``rule_qa_vote``; DSPy versions in
``dspy_tasks.py``). First, per task, a parity check: the un-optimized native and DSPy programs
are run on the test split and must send the same prompts to the simulator and score the same.
Then per task and seed:

1. DSPy ``MIPROv2(auto="light", seed=s, num_threads=8)`` compiles the DSPy version of the task
   (``dspy_tasks.py``) against ``SimulatedLM(seed=s)``; its LM calls ``C`` are counted in the
   wrapper (cache misses only, like DSPy's cached ``dspy.LM``);
2. every optimizer of ``compare_optimizers.py`` runs at ``max_lm_calls`` = ``f * C`` for
   ``f`` in ``FRACTIONS`` (``max_trials=1000``, so the cap stops it), same LM seed;
3. the winners are scored on the test split; MIPRO at ``f = 1`` and ``f = 0.6`` is compared with
   DSPy by paired tests across seeds.

It then measures the optimizers' own CPU time per trial and per LM call on the same job
(zero-latency LM, ``num_threads=1``) and, with ``--write-docs``, writes
``docs/img/score_vs_calls.png`` and its section of ``docs/benchmarks.md`` (``--plot PATH`` writes
the figure elsewhere, e.g. for a quick look that must not replace the committed one)::

    python benchmarks/compare_dspy.py --seeds 40 --jobs 2 --write-docs   # ~30 min on 2 cores
    python benchmarks/compare_dspy.py --seeds 2 --tasks rule_qa     # quick look
    python benchmarks/compare_dspy.py --check                       # parity check only (~5 s)

Seeds start at 1: DSPy replaces ``seed=0`` by 9 (a truthiness test), so seed 0 would not be a
paired replicate.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import io
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dspy
import matplotlib

import mipro_core as mc
from mipro_core.testing import SimulatedLM, Task, load_task

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_optimizers import (
    MAX_TRIALS,
    OPTIMIZERS,
    TimedLM,
    fmt_p,
    machine_info,
    mean_sd,
    paired_tests,
    run_baseline,
    run_one,
)
from docs_sections import write_section
from dspy_tasks import (
    DSPY_TASKS,
    SimulatedDSPyLM,
    Stats,
    dspy_metric,
    dspy_test_score,
    make_dspy_program,
    native_instructions,
    prompt_parity,
    to_dspy_examples,
)

FRACTIONS = (0.25, 0.5, 0.6, 1.0, 1.5, 2.0)
OVERHEAD_REPEATS = 3
ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = ROOT / "docs" / "benchmarks.md"
IMG = ROOT / "docs" / "img" / "score_vs_calls.png"
SECTION = "compare_dspy.py"

Row = dict[str, float]


def quiet_dspy() -> None:
    for name in ("dspy", "optuna", "LiteLLM", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
    except ImportError:  # pragma: no cover - MIPROv2 would fail anyway
        pass


def run_dspy(task: Task, seed: int, num_threads: int = 8) -> tuple[Row, Any, Stats]:
    """DSPy MIPROv2 light on the task; returns (row, compiled program, LM stats)."""
    lm = SimulatedDSPyLM(SimulatedLM(seed=seed))
    dspy.configure(lm=lm)
    optimizer = dspy.MIPROv2(
        metric=dspy_metric(task), auto="light", seed=seed, num_threads=num_threads, verbose=False
    )
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    sink = io.StringIO()  # DSPy prints progress bars and bootstrap notes
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        best = optimizer.compile(
            make_dspy_program(task),
            trainset=to_dspy_examples(task.trainset),
            valset=to_dspy_examples(task.valset),
        )
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    calls, lm_cpu = lm.stats.calls, lm.stats.lm_cpu
    trials = len(getattr(best, "trial_logs", {}) or {})
    lm.stats.reset()
    row = {
        "test": dspy_test_score(task, best, to_dspy_examples(task.testset)),
        "val": float(getattr(best, "score", float("nan"))) / 100.0,
        "lm_calls": float(calls),
        "trials": float(trials),
        "seconds": wall,
        "cpu": cpu,
        "lm_cpu": lm_cpu,
    }
    return row, best, lm.stats


def overhead(task: Task, seed: int, repeats: int = OVERHEAD_REPEATS) -> dict[str, Row]:
    """Per optimizer, the run with the median own CPU among ``repeats`` identical runs."""
    runs = [overhead_once(task, seed) for _ in range(repeats)]
    return {
        label: sorted((r[label] for r in runs), key=lambda o: o["own"])[repeats // 2]
        for label in ("mipro", "dspy")
    }


def overhead_once(task: Task, seed: int) -> dict[str, Row]:
    """Own CPU (process CPU minus CPU inside the LM) of both optimizers on the same job."""
    dspy_row, _, _ = run_dspy(task, seed, num_threads=1)
    calls = int(dspy_row["lm_calls"])
    dspy_own = dspy_row["cpu"] - dspy_row["lm_cpu"]
    lm = TimedLM(SimulatedLM(seed=seed, latency=0.0))
    program = task.make_program(lm)
    start = time.process_time()
    result = mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        strategy="mipro",
        seed=seed,
        num_threads=1,
        max_lm_calls=calls,
        max_trials=MAX_TRIALS,
        progress=None,
    )
    ours_own = time.process_time() - start - lm.cpu_seconds
    return {
        "dspy": {
            "own": dspy_own,
            "trials": dspy_row["trials"],
            "calls": dspy_row["lm_calls"],
        },
        "mipro": {"own": ours_own, "trials": float(len(result.trials)), "calls": result.lm_calls},
    }


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    tasks = list(results)
    ncols = min(2, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, tasks, strict=False):
        res = results[name]
        for label in OPTIMIZERS:
            xs, ys, es = [], [], []
            for frac in FRACTIONS:
                rows = res["ours"][(label, frac)]
                xs.append(statistics.fmean(r["lm_calls"] for r in rows))
                tests = [r["test"] for r in rows]
                ys.append(statistics.fmean(tests))
                es.append(statistics.stdev(tests) if len(tests) > 1 else 0.0)
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label)
        d_tests = [r["test"] for r in res["dspy"]]
        ax.errorbar(
            [statistics.fmean(r["lm_calls"] for r in res["dspy"])],
            [statistics.fmean(d_tests)],
            yerr=[statistics.stdev(d_tests) if len(d_tests) > 1 else 0.0],
            marker="*",
            markersize=14,
            color="black",
            capsize=3,
            linestyle="none",
            label="DSPy MIPROv2 (light)",
        )
        base = statistics.fmean(r["test"] for r in res["baseline"])
        ax.axhline(base, color="grey", linestyle=":", label="un-optimized")
        ax.set_title(f"{name}: test score vs LM calls (mean ± sd, {len(d_tests)} seeds)")
        ax.set_xlabel("LM calls used (task + proposer)")
        ax.set_ylabel("test score")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score_table(res: dict[str, Any]) -> list[str]:
    lines = [
        "| optimizer | LM-call cap | test score (mean ± sd) | val score | LM calls | trials "
        "| wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    base = [r["test"] for r in res["baseline"]]
    lines.append(f"| un-optimized | – | {mean_sd(base)} | – | 0 | – | – |")

    def row(label: str, cap: str, rows: list[Row]) -> str:
        calls = statistics.fmean(r["lm_calls"] for r in rows)
        trials = statistics.fmean(r["trials"] for r in rows)
        secs = statistics.fmean(r["seconds"] for r in rows)
        val = mean_sd([r["val"] for r in rows])
        test = mean_sd([r["test"] for r in rows])
        return f"| {label} | {cap} | {test} | {val} | {calls:.0f} | {trials:.1f} | {secs:.2f} |"

    lines.append(row("**DSPy MIPROv2** (auto=light)", "none (C)", res["dspy"]))
    for frac in (1.0, 0.6):
        for label in OPTIMIZERS:
            lines.append(row(label, f"{frac:g} × C", res["ours"][(label, frac)]))
    return lines


def paired_table(res: dict[str, Any]) -> list[str]:
    d = [r["test"] for r in res["dspy"]]
    lines = [
        "| comparison | Δ mean (ours − DSPy) | t-test p | Wilcoxon p |",
        "|---|---|---|---|",
    ]
    for frac in (1.0, 0.6):
        ours = [r["test"] for r in res["ours"][("mipro", frac)]]
        diff, t_p, w_p = paired_tests(ours, d)
        lines.append(
            f"| MIPRO at {frac:g} × C vs DSPy | {diff:+.3f} | {fmt_p(t_p)} | {fmt_p(w_p)} |"
        )
    return lines


def overhead_table(over: dict[str, dict[str, Row]]) -> list[str]:
    lines = [
        "| task | optimizer | own CPU s | trials | LM calls | own ms / trial | own µs / LM call |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for name, both in over.items():
        for label in ("mipro", "dspy"):
            o = both[label]
            per_trial = 1000 * o["own"] / max(1.0, o["trials"])
            per_call = 1e6 * o["own"] / max(1.0, o["calls"])
            o["per_trial"], o["per_call"] = per_trial, per_call
            lines.append(
                f"| {name} | {'MIPRO (ours)' if label == 'mipro' else 'DSPy MIPROv2'} | "
                f"{o['own']:.2f} | {o['trials']:.0f} | {o['calls']:.0f} | {per_trial:.1f} | "
                f"{per_call:.0f} |"
            )
        m, d = both["mipro"], both["dspy"]
        ratios.append(
            f"| {name} | {m['per_trial'] / d['per_trial']:.2f} | "
            f"{m['per_call'] / d['per_call']:.2f} | {m['own'] / d['own']:.2f} |"
        )
    lines += [
        "",
        "Ratio ours / DSPy (< 1 means we spend less CPU of our own):",
        "",
        "| task | per trial | per LM call | total own CPU |",
        "|---|---|---|---|",
        *ratios,
    ]
    return lines


def multi_stage(name: str) -> bool:
    """Does the task's program have more than one stage (module)?"""
    return len(native_instructions(load_task(name))) > 1


def check_parity(names: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
    """:func:`dspy_tasks.prompt_parity` per task, reported on stderr."""
    out = {}
    for name in names:
        res = prompt_parity(load_task(name), seed)
        out[name] = res
        verdict = "identical prompts" if res["identical"] else "PROMPTS DIFFER"
        print(
            f"parity {name} seed={seed}: native={res['native']:.3f} dspy={res['dspy']:.3f} "
            f"({res['prompts']} distinct prompts, {verdict})",
            file=sys.stderr,
            flush=True,
        )
        if not res["identical"]:
            native, theirs = res["first_mismatch"]
            print(f"  native: {native[:400]}\n  dspy:   {theirs[:400]}", file=sys.stderr)
    return out


def parity_table(parity: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| task | stages | distinct prompts | same prompts | native baseline | DSPy baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in parity.items():
        stages = len(native_instructions(load_task(name)))
        same = "yes" if res["identical"] else "**no**"
        lines.append(
            f"| {name} | {stages} | {res['prompts']} | {same} | {res['native']:.3f} | "
            f"{res['dspy']:.3f} |"
        )
    return lines


def targets(results: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| target | task | ours | DSPy | holds? |",
        "|---|---|---|---|---|",
    ]
    for name, res in results.items():
        d = statistics.fmean(r["test"] for r in res["dspy"])
        full = statistics.fmean(r["test"] for r in res["ours"][("mipro", 1.0)])
        part = statistics.fmean(r["test"] for r in res["ours"][("mipro", 0.6)])
        lines.append(
            f"| score ≥ DSPy at equal budget | {name} | {full:.3f} | {d:.3f} | "
            f"{'yes' if full >= d else '**no**'} |"
        )
        if multi_stage(name):
            lines.append(
                f"| score ≥ DSPy with ≤ 60 % of its calls (multi-stage) | {name} | {part:.3f} | "
                f"{d:.3f} | {'yes' if part >= d else '**no**'} |"
            )
    return lines


def render(
    seeds: Sequence[int],
    results: dict[str, dict[str, Any]],
    over: dict[str, dict[str, Row]],
    parity: dict[str, dict[str, Any]],
    elapsed: float,
    jobs: int = 1,
) -> str:
    command = f"python benchmarks/compare_dspy.py --seeds {len(seeds)}"
    if jobs > 1:
        command += f" --jobs {jobs}"
    lines = [
        "## MIPRO vs DSPy MIPROv2",
        "",
        f"Generated by `{command} --write-docs` (seeds {seeds[0]}–{seeds[-1]}, "
        f"{elapsed:.0f} s total"
        + (
            f"; {jobs} (task, seed) pairs ran at once, so single runs' wall times are longer "
            "than alone"
            if jobs > 1
            else ""
        )
        + ").",
        "",
        *machine_info(),
        f"- dspy {dspy.__version__}, optuna {_version('optuna')}, "
        f"matplotlib {matplotlib.__version__}",
        "",
        "### Setup",
        "",
        "- DSPy side: the DSPy versions of the tasks in `benchmarks/dspy_tasks.py` (same "
        "modules under the same names, field names, seed instructions read from the native "
        "program, control flow and, for `rule_qa_vote`, the same majority vote in plain "
        "Python), `dspy.MIPROv2(auto='light', seed=s, num_threads=8)` with the task's train "
        "and validation splits, default ChatAdapter. "
        "The model is the same `SimulatedLM(seed=s)` behind a DSPy `BaseLM` subclass that "
        "re-renders DSPy's `[[ ## field ## ]]` prompts in mipro's native `field: value` "
        "layout and the reply back (documented in `dspy_tasks.py`; the parity check below "
        "shows the un-optimized programs send the same prompts and score the same on both "
        "sides). The wrapper caches like DSPy's default `dspy.LM` (keyed on the request, not "
        "on the predictor); C = the calls that reached the model.",
        "- Our side: every optimizer of `compare_optimizers.py` with `max_lm_calls` = f × C "
        "(C of the same seed), `max_trials=1000`, `num_threads=8`, same `SimulatedLM` seed.",
        "- Seeds 1… (DSPy silently turns `seed=0` into 9). Test score on the 200-example test "
        "split; `val score` is each optimizer's own best full-validation score.",
        "- Paired tests across seeds (`scipy.stats.ttest_rel`, `scipy.stats.wilcoxon`); with 5 "
        "seeds the exact Wilcoxon p cannot go below 0.0625.",
        "",
        "![test score vs LM calls](img/score_vs_calls.png)",
        "",
        "### Parity of the un-optimized programs",
        "",
        f"Both un-optimized programs run on the whole test split with `SimulatedLM(seed="
        f"{seeds[0]})`; the prompts each side sends to the simulator (after the wrapper's "
        "translation; distinct prompts, in order, since both sides answer a repeated "
        "temperature-0 prompt from a cache) are compared byte for byte.",
        "",
        *parity_table(parity),
        "",
    ]
    for name, res in results.items():
        c = [int(r["lm_calls"]) for r in res["dspy"]]
        lines += [
            f"### {name}",
            "",
            f"DSPy's LM calls per seed (C): {', '.join(map(str, c))}.",
            "",
            *score_table(res),
            "",
            *paired_table(res),
            "",
        ]
    lines += [
        "### Optimizer CPU overhead, ours vs DSPy",
        "",
        f"Same job on both sides: seed {seeds[0]}, zero-latency `SimulatedLM`, `num_threads=1`, "
        f"median of {OVERHEAD_REPEATS} runs by own CPU; "
        "DSPy MIPROv2 light, then our MIPRO capped at DSPy's LM calls. Own CPU = "
        "`time.process_time()` of the optimizer call minus the CPU time inside the LM wrapper "
        "(for DSPy this excludes the prompt translation). Both include running the program "
        "(prompt rendering, parsing, retrieval) and the metric. DSPy's trials are the entries "
        "of its `trial_logs` (minibatch trials, full evaluations and the baseline); ours are "
        "`result.trials` (the same kinds).",
        "",
        *overhead_table(over),
        "",
        "### Score targets (issue 7, point 5)",
        "",
        "The latency targets are checked in the scaling section (`scaling.py`). Means over "
        "the seeds above; `ours` is MIPRO.",
        "",
        *targets(results),
        "",
    ]
    return "\n".join(lines)


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except ImportError:
        return "?"


def run_seed(name: str, seed: int) -> dict[str, Any]:
    """DSPy, the baseline and every optimizer of ours at each fraction of DSPy's calls."""
    quiet_dspy()  # again: a worker process starts with DSPy's default logging
    task = load_task(name)
    row, _, _ = run_dspy(task, seed)
    cap = int(row["lm_calls"])
    ours = {
        (label, frac): run_one(task, label, seed, max(1, round(frac * cap)))
        for frac in FRACTIONS
        for label in OPTIMIZERS
    }
    at = "  ".join(f"{frac:g}×C {ours[('mipro', frac)]['test']:.3f}" for frac in FRACTIONS)
    print(
        f"{name} seed={seed} dspy: test={row['test']:.3f} calls={cap} "
        f"wall={row['seconds']:.1f}s; mipro: {at}",
        file=sys.stderr,
        flush=True,
    )
    return {"dspy": row, "baseline": run_baseline(task, seed), "ours": ours}


def run_tasks(names: Sequence[str], seeds: Sequence[int], jobs: int) -> dict[str, dict[str, Any]]:
    """Every (task, seed) pair, ``jobs`` processes at a time; rows keep the seeds' order."""
    pairs = [(name, seed) for name in names for seed in seeds]
    if jobs > 1:
        with cf.ProcessPoolExecutor(jobs) as pool:
            done = list(pool.map(run_seed, *zip(*pairs, strict=True)))
    else:
        done = [run_seed(name, seed) for name, seed in pairs]
    results: dict[str, dict[str, Any]] = {}
    for (name, _), one in zip(pairs, done, strict=True):
        res = results.setdefault(name, {"dspy": [], "baseline": [], "ours": {}})
        res["dspy"].append(one["dspy"])
        res["baseline"].append(one["baseline"])
        for key, row in one["ours"].items():
            res["ours"].setdefault(key, []).append(row)
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run this many (task, seed) pairs at once in separate processes (default 1); the "
        "scores do not change, the wall times of single runs grow",
    )
    parser.add_argument(
        "--tasks", nargs="+", default=list(DSPY_TASKS), choices=list(DSPY_TASKS), metavar="TASK"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH.name}")
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        metavar="PNG",
        help=f"write the figure here (default: docs/img/{IMG.name} with --write-docs, else none)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the un-optimized native and DSPy programs send the same prompts "
        "and score the same (exit status 1 if not)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seeds < 1:
        print("--seeds must be >= 1", file=sys.stderr)
        return 2
    quiet_dspy()
    begin = time.perf_counter()
    seeds = list(range(1, args.seeds + 1))
    parity = check_parity(args.tasks, seeds[0])
    if args.check:
        return 0 if all(r["identical"] and r["native"] == r["dspy"] for r in parity.values()) else 1
    results = run_tasks(args.tasks, seeds, max(1, args.jobs))
    over = {name: overhead(load_task(name), seeds[0]) for name in args.tasks}
    image = args.plot if args.plot is not None else (IMG if args.write_docs else None)
    if image is not None:
        plot(results, image)
        print(f"wrote {image}", file=sys.stderr)
    text = render(seeds, results, over, parity, time.perf_counter() - begin, args.jobs)
    print(text)
    if args.write_docs:
        write_section(DOCS_PATH, SECTION, text)
        print(f"updated {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
