"""Wall time against the physical limit, peak memory and import time of ``mipro_core``.

Three measurements (needs ``matplotlib`` and ``psutil`` from the ``bench`` extra; ``dspy`` only
for its import time)::

    python benchmarks/scaling.py --write-docs     # ~2 min on 2 cores
    python benchmarks/scaling.py --threads 1 4    # quick look, prints only

1. **Threads.** A fixed job (``rule_qa``, uncapped MIPRO ``budget="light"``, seed 0) against
   ``SimulatedLM(latency=0.05)`` for each ``num_threads`` T. The physical limit is
   ``calls × latency / T``: no scheduler can beat it when every call takes ``latency`` seconds and
   at most T run at once. The optimizer's own CPU time for the same job (zero latency, one
   thread, from ``compare_optimizers.measure_overhead``) gives its share of the wall time.
   Writes ``docs/img/threads_wall.png``.
2. **Memory.** Peak RSS (``VmHWM``) of a fresh process that optimizes ``rule_qa`` with a
   10,000-example trainset (the task's training examples replicated under distinct ids) and a
   small budget, next to the same process with the plain 150-example trainset and one that only
   imports ``mipro_core``.
3. **Import time.** ``import mipro_core`` vs ``import dspy`` in fresh interpreters, best of 5.
4. **Ray.** The same job with program runs on a local Ray instance (``ray.init(num_cpus=2)``,
   ``RayBackend(factory="scaling_app:build")``): wall time, and whether the trials and final
   state equal the thread run's. Skipped with a printed reason when ``ray`` is missing.
5. **Quality at equal calls.** Paired test scores (``ab_settings.py``'s runs: same seeds, same
   LM-call cap) of parallel trials against one trial at a time: ``num_threads=64`` (whose
   default is two parallel trials; nothing else in a run depends on the thread count) and
   ``parallel_trials=4``. ``--quality-seeds 0`` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

import mipro_core as mc
from mipro_core.testing import SimulatedLM, load_task

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_optimizers import machine_info, measure_overhead
from docs_sections import write_section

ROOT = Path(__file__).resolve().parent.parent
DOCS_PATH = ROOT / "docs" / "benchmarks.md"
IMG = ROOT / "docs" / "img" / "threads_wall.png"
SECTION = "scaling.py"
LATENCY = 0.05
THREADS = (1, 4, 8, 16, 64)
BIG_TRAIN = 10_000
RAY_CPUS = 2
RAY_THREADS = 8
TARGETS = {16: 1.15, 64: 1.3}
"""Issue 20's wall / limit targets by thread count."""
RAY_WALL_TOLERANCE = 1.1
"""The Ray row's wall time counts as equal to the threads' within this factor."""
RSS_CAP = 400
IMPORT_REPEATS = 5


def run_job(
    task: Any, program: Any, threads: int, proposer_lm: Any = None, backend: Any = None
) -> Any:
    """The fixed job (uncapped MIPRO ``budget="light"``, seed 0) on ``program``; also what
    ``critical_path.py`` times and the Ray row runs."""
    return mc.optimize(
        program,
        task.trainset,
        task.metric,
        valset=task.valset,
        strategy="mipro",
        seed=0,
        num_threads=threads,
        proposer_lm=proposer_lm,
        progress=None,
        backend=backend,
    )


def thread_run(threads: int, latency: float = LATENCY) -> dict[str, float]:
    task = load_task("rule_qa")
    lm = SimulatedLM(seed=0, latency=latency)
    program = task.make_program(lm)
    start = time.perf_counter()
    result = run_job(task, program, threads)
    wall = time.perf_counter() - start
    calls = float(lm.calls)
    limit = calls * latency / threads
    return {
        "threads": float(threads),
        "calls": calls,
        "result_calls": float(result.lm_calls),
        "wall": wall,
        "limit": limit,
        "ratio": wall / limit,
        "trials": float(len(result.trials)),
    }


def outcome(result: mc.OptimizationResult) -> tuple[Any, ...]:
    """What a run decided, without timings (Ray's row is compared with the threads' on it)."""
    trials = [(t.kind, dict(t.params), t.score, t.example_ids) for t in result.trials]
    return result.state.to_dict(), trials, result.task_lm_calls, result.proposer_lm_calls


def ray_run(threads: int = RAY_THREADS) -> dict[str, Any] | None:
    """The thread job on a local Ray instance with 2 CPUs; ``None`` (with the reason printed)
    when ``ray`` is not installed."""
    try:
        import ray
    except ImportError:
        print("ray is not installed (pip install 'mipro-core[ray]'): no Ray row", file=sys.stderr)
        return None
    from scaling_app import build

    from mipro_core.integrations.ray import RayBackend

    def run(backend: Any) -> tuple[mc.OptimizationResult, float]:
        start = time.perf_counter()
        result = run_job(load_task("rule_qa"), build(), threads, backend=backend)
        return result, time.perf_counter() - start

    local, local_wall = run(None)
    # a throwaway local instance: Ray 2.60's token authentication would need a token under ~/.ray
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    paths = f"{ROOT}:{ROOT / 'benchmarks'}"
    started = time.perf_counter()
    ray.init(
        num_cpus=RAY_CPUS,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": paths, "RAY_AUTH_MODE": "disabled"}},
    )
    try:
        startup = time.perf_counter() - started
        remote, wall = run(RayBackend(factory="scaling_app:build"))
    finally:
        ray.shutdown()
    limit = remote.lm_calls * LATENCY / threads
    return {
        "threads": threads,
        "calls": remote.lm_calls,
        "wall": wall,
        "limit": limit,
        "startup": startup,
        "equal": outcome(remote) == outcome(local),
        "local_wall": local_wall,
        "run_seconds": remote.seconds,  # the run itself, after the actors started
        "local_run_seconds": local.seconds,
    }


QUALITY_VARIANTS = (
    ("`num_threads=64` (parallel trials k = 64 // 30 = 2)", '{"num_threads": 64}'),
    ("`parallel_trials=4`", '{"parallel_trials": 4}'),
)
"""B variants of the quality table, each paired against the defaults (8 threads, k = 1)."""
QUALITY_TASKS = ("rule_qa", "multihop_qa", "scone_nli")
QUALITY_FIRST_SEED = 100


def quality_rows(seeds: int, jobs: int) -> list[dict[str, Any]]:
    """Paired test scores at equal LM-call caps (``ab_settings.run_one``) per task and
    variant."""
    import concurrent.futures as cf
    import statistics

    from ab_settings import DSPY_MEAN_CALLS, run_one
    from scipy import stats

    seed_list = range(QUALITY_FIRST_SEED, QUALITY_FIRST_SEED + seeds)
    work = [
        (task, seed, DSPY_MEAN_CALLS[task], "{}", search)
        for task in QUALITY_TASKS
        for search in ("{}", *(v for _, v in QUALITY_VARIANTS))
        for seed in seed_list
    ]
    with cf.ProcessPoolExecutor(max(1, jobs)) as pool:
        scores = iter(list(pool.map(run_one, *zip(*work, strict=True))))
    rows = []
    for task in QUALITY_TASKS:
        a = [next(scores) for _ in seed_list]
        for label, _ in QUALITY_VARIANTS:
            b = [next(scores) for _ in seed_list]
            rows.append(
                {
                    "task": task,
                    "cap": DSPY_MEAN_CALLS[task],
                    "variant": label,
                    "a": statistics.fmean(a),
                    "b": statistics.fmean(b),
                    "p": stats.wilcoxon(b, a).pvalue if a != b else 1.0,
                }
            )
    return rows


RSS_CHILD = """
import json, resource, sys, time
t = time.perf_counter()
import mipro_core as mc
from mipro_core import Example
from mipro_core.testing import SimulatedLM, load_task
n_train, cap = int(sys.argv[1]), int(sys.argv[2])
seconds = 0.0
if n_train:
    task = load_task("rule_qa")
    base = task.trainset
    train = [
        Example(dict(base[i % len(base)].inputs), dict(base[i % len(base)].outputs), id=f"x{i}")
        for i in range(n_train)
    ]
    program = task.make_program(SimulatedLM(seed=0))
    start = time.perf_counter()
    mc.optimize(program, train, task.metric, valset=task.valset, strategy="mipro", seed=0,
                num_threads=8, max_lm_calls=cap, max_trials=1000, progress=None)
    seconds = time.perf_counter() - start
# VmHWM is the peak RSS of this process image; ru_maxrss would carry over the parent's peak
# across fork + exec on Linux.
with open("/proc/self/status") as f:
    hwm = [int(line.split()[1]) for line in f if line.startswith("VmHWM:")]
peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_kib": peak, "seconds": seconds}))
"""
"""Run in a fresh interpreter (imports only ``mipro_core``); prints peak RSS in KiB as JSON."""


def measure_rss(n_train: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(n_train), str(RSS_CAP)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return data


def import_time(module: str, repeats: int = IMPORT_REPEATS) -> float:
    """Best-of-``repeats`` seconds for ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return min(times)


def plot(rows: Sequence[dict[str, float]], path: Path) -> None:
    threads = [r["threads"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.plot(threads, [r["wall"] for r in rows], marker="o", label="measured wall time")
    ax.plot(
        threads,
        [r["limit"] for r in rows],
        linestyle="--",
        marker="x",
        color="black",
        label="physical limit  calls × latency / T",
    )
    ax.plot(
        threads,
        [1.25 * r["limit"] for r in rows],
        linestyle=":",
        color="grey",
        label="1.25 × limit (issue 7 target)",
    )
    for r in rows:
        ax.annotate(
            f"{r['ratio']:.2f}×",
            (r["threads"], r["wall"]),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(threads, [f"{t:.0f}" for t in threads])
    ax.set_xlabel("num_threads T")
    ax.set_ylabel("wall time, s (log)")
    ax.set_title(
        f"rule_qa MIPRO light, {rows[0]['calls']:.0f} LM calls at {LATENCY * 1000:.0f} ms each"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(
    rows: Sequence[dict[str, float]],
    own_cpu: float,
    rss: dict[str, dict[str, float]],
    imports: dict[str, float],
    elapsed: float,
    ray: dict[str, Any] | None = None,
    quality: Sequence[dict[str, Any]] = (),
    quality_seeds: int = 0,
    repeats: int = 3,
    load: str = "n/a",
) -> str:
    lines = [
        "## Scaling, memory and import time",
        "",
        f"Generated by `python benchmarks/scaling.py --write-docs` ({elapsed:.0f} s total).",
        "",
        *machine_info(),
        "",
        "### Wall time vs threads against the physical limit",
        "",
        f"Fixed job: `rule_qa`, uncapped MIPRO `budget='light'`, seed 0, "
        f"`SimulatedLM(latency={LATENCY})` (the latency is a `time.sleep` per call, so threads "
        f"overlap it even on few cores); each row is the median-wall run of {repeats}; "
        f"load average when it started: {load}. "
        "Limit = calls × latency / T. Own CPU of the same job "
        f"(zero latency, one thread, median of 3): **{own_cpu:.2f} s**.",
        "",
        "![wall time vs threads](img/threads_wall.png)",
        "",
        "| T | LM calls | trials | wall s | limit s | wall / limit | own CPU / wall "
        "| (wall − limit) / wall |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']:.0f} | {r['calls']:.0f} | {r['trials']:.0f} | {r['wall']:.2f} | "
            f"{r['limit']:.2f} | {r['ratio']:.2f} | {100 * own_cpu / r['wall']:.1f} % | "
            f"{100 * (r['wall'] - r['limit']) / r['wall']:.0f} % |"
        )
    lines += [
        "",
        "`own CPU / wall` is the optimizer's own computation as a share of the wall time; "
        "`(wall − limit) / wall` is all time not explained by the LM at perfect parallelism "
        "(own CPU plus phases that cannot use T calls at once, such as the sequential "
        "proposer calls and the wait for a minibatch's slowest call). At 64 threads most of "
        "it is the proposer's data summary, a chain of up to 11 sequential calls that the "
        "proposals wait for (see [scaling.md](scaling.md#where-the-time-goes-with-many-threads)).",
        "",
    ]
    lines += [*render_ray(ray), *render_quality(quality, quality_seeds)]
    lines += [
        "### Peak memory",
        "",
        f"Peak RSS (`VmHWM` of `/proc/self/status`) of a fresh interpreter that imports only "
        "`mipro_core`; "
        f"`rule_qa`, MIPRO light capped at {RSS_CAP} LM calls, `num_threads=8`.",
        "",
        "| process | peak RSS MiB | optimize s |",
        "|---|---|---|",
    ]
    labels = {
        "import": "`import mipro_core` only",
        "small": "150-example trainset",
        "big": f"{BIG_TRAIN:,}-example trainset",
    }
    for key, label in labels.items():
        r = rss[key]
        lines.append(f"| {label} | {r['peak_kib'] / 1024:.0f} | {r['seconds']:.2f} |")
    lines += [
        "",
        "### Import time",
        "",
        f"Fresh interpreter, `time.perf_counter()` around the import, best of {IMPORT_REPEATS}.",
        "",
        "| module | import s |",
        "|---|---|",
        *(f"| `{m}` | {t:.3f} |" for m, t in imports.items()),
        "",
    ]
    if "dspy" in imports and "mipro_core" in imports:
        lines += [
            f"`import mipro_core` is {imports['dspy'] / imports['mipro_core']:.0f}× faster "
            "than `import dspy`.",
            "",
        ]
    by_t = {int(r["threads"]): r for r in rows}
    lines += [
        "### Latency targets (issue 7, point 5)",
        "",
        "The score targets are checked in the DSPy section (`compare_dspy.py`).",
        "",
    ]
    lines += ["| target | measured | holds? |", "|---|---|---|"]
    if 8 in by_t:
        share = own_cpu / by_t[8]["wall"]
        lines.append(
            f"| optimizer overhead < 5 % of wall time at 50 ms latency (T = 8, the default) | "
            f"own CPU {100 * share:.1f} % of wall; wall − limit {100 * (1 - 1 / by_t[8]['ratio']):.0f} % "
            f"of wall | {'yes' if share < 0.05 else '**no**'} (own CPU) |"
        )
    if 16 in by_t:
        ratio = by_t[16]["ratio"]
        lines.append(
            f"| wall within 1.25× of the limit at 16 threads (issue 7) | {ratio:.2f}× | "
            f"{'yes' if ratio <= 1.25 else '**no**'} |"
        )
    for threads, target in TARGETS.items():
        if threads in by_t:
            ratio = by_t[threads]["ratio"]
            lines.append(
                f"| wall within {target}× of the limit at {threads} threads (issue 20) | "
                f"{ratio:.3f}× | {'yes' if ratio <= target else '**no**'} |"
            )
    if ray is not None:
        lines.append(
            f"| Ray row: same result as threads (issue 20) | "
            f"{'same' if ray['equal'] else 'different'} | {'yes' if ray['equal'] else '**no**'} |"
        )
        near = ray["wall"] <= RAY_WALL_TOLERANCE * ray["local_wall"]
        lines.append(
            f"| Ray row: wall time equal to threads, within {RAY_WALL_TOLERANCE:g}× (issue 20) | "
            f"{ray['wall']:.2f} s ({ray['run_seconds']:.2f} s once the actors run) against "
            f"{ray['local_wall']:.2f} s | {'yes' if near else '**no**'} |"
        )
    if quality:
        lines.append(quality_target(quality))
    lines.append("")
    return "\n".join(lines)


def quality_target(rows: Sequence[dict[str, Any]]) -> str:
    """The target row of the quality table: parallel trials' mean test score at equal calls
    the same as or better than one trial at a time."""
    worst = min(rows, key=lambda r: r["b"] - r["a"])
    low, high = worst["b"] - worst["a"], max(r["b"] - r["a"] for r in rows)
    if low >= 0:
        verdict = "yes"
    elif all(r["p"] >= 0.05 for r in rows if r["b"] < r["a"]):
        verdict = "**no** (every loss within noise, p ≥ 0.05)"
    else:
        verdict = "**no**"
    return (
        "| parallel trials: same or better mean test score at equal calls (issue 20) | "
        f"B − A from {low:+.3f} to {high:+.3f} (lowest: {worst['task']}, {worst['variant']}, "
        f"p {worst['p']:.2f}) | {verdict} |"
    )


def render_ray(ray: dict[str, Any] | None) -> list[str]:
    """The Ray row's section (a line saying why when it was skipped)."""
    lines = ["### Ray (local instance, 2 CPUs)", ""]
    if ray is None:
        return [*lines, "Skipped: `ray` is not installed (`pip install 'mipro-core[ray]'`).", ""]
    lines += [
        f'The same job with `backend=RayBackend(factory="scaling_app:build")` on '
        f"`ray.init(num_cpus={RAY_CPUS})` (started before the timer: {ray['startup']:.1f} s), "
        f"`num_threads={ray['threads']}`: the workers are threaded actors, so all "
        f"{ray['threads']} runs are in flight on the {RAY_CPUS} CPUs and the limit is calls × "
        f"latency / {ray['threads']}, as for threads. The wall time includes starting the actors "
        "and building their programs (once per `optimize`). The result is compared with the same "
        f"job on {ray['threads']} local threads (trials, final state, task and proposer calls).",
        "",
        "`run s` is the run's own `result.seconds`: the wall time less starting the actors.",
        "",
        "| backend | LM calls | wall s | run s | limit s | wall / limit | result equals threads |",
        "|---|---|---|---|---|---|---|",
        f"| Ray, {RAY_CPUS} CPUs | {ray['calls']} | {ray['wall']:.2f} | "
        f"{ray['run_seconds']:.2f} | {ray['limit']:.2f} | "
        f"{ray['wall'] / ray['limit']:.2f} | {'yes' if ray['equal'] else '**no**'} |",
        f"| threads, T = {ray['threads']} | {ray['calls']} | {ray['local_wall']:.2f} | "
        f"{ray['local_run_seconds']:.2f} | {ray['limit']:.2f} | {ray['local_wall'] / ray['limit']:.2f} "
        "| — |",
        "",
    ]
    return lines


def render_quality(rows: Sequence[dict[str, Any]], seeds: int) -> list[str]:
    """The quality-at-equal-calls table (nothing when it was skipped)."""
    if not rows:
        return []
    lines = [
        "### Quality at equal calls: what a high thread count changes",
        "",
        f"Paired test scores over {seeds} seeds ({QUALITY_FIRST_SEED}-"
        f"{QUALITY_FIRST_SEED + seeds - 1}; `ab_settings.run_one`: same LM seed, optimizer seed "
        "and LM-call cap C = DSPy MIPROv2 light's mean calls on the task, zero latency). A is "
        "the default (`num_threads=8`: one trial at a time); B changes only what is named. "
        "Wilcoxon signed-rank p on the paired scores.",
        "",
        "| task | cap C | B | A mean | B mean | B − A | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['cap']} | {r['variant']} | {r['a']:.3f} | {r['b']:.3f} | "
            f"{r['b'] - r['a']:+.3f} | {r['p']:.2f} |"
        )
    return [*lines, ""]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per thread count; the median is kept (3)"
    )
    parser.add_argument(
        "--quality-seeds", type=int, default=20, help="seeds of the quality table (0: skip it)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="processes for the quality table")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray row")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS_PATH.name}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    begin = time.perf_counter()
    # the machine's other work shows in wall times: record how busy it was
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[dict[str, Any]] = []
    for threads in sorted(args.threads):
        # wall times on a shared VM vary by ~10 % run to run: keep the median run
        runs = sorted((thread_run(threads) for _ in range(args.repeats)), key=lambda r: r["wall"])
        rows.append(runs[len(runs) // 2])
        r = rows[-1]
        print(
            f"T={threads}: wall={r['wall']:.2f}s limit={r['limit']:.2f}s ratio={r['ratio']:.2f}",
            file=sys.stderr,
            flush=True,
        )
    own_cpu = measure_overhead(load_task("rule_qa"))["own_cpu"]
    rss = {"import": measure_rss(0), "small": measure_rss(150), "big": measure_rss(BIG_TRAIN)}
    print(f"rss: {rss}", file=sys.stderr, flush=True)
    imports = {"mipro_core": import_time("mipro_core")}
    try:
        imports["dspy"] = import_time("dspy")
    except subprocess.CalledProcessError:
        print("dspy not importable; skipping its import time", file=sys.stderr)
    ray = None if args.no_ray else ray_run()
    if ray is not None:
        print(f"ray: {ray}", file=sys.stderr, flush=True)
    quality = quality_rows(args.quality_seeds, args.jobs) if args.quality_seeds >= 2 else []
    text = render(
        rows,
        own_cpu,
        rss,
        imports,
        time.perf_counter() - begin,
        ray=ray,
        quality=quality,
        quality_seeds=args.quality_seeds,
        repeats=args.repeats,
        load=load,
    )
    print(text)
    if args.write_docs:  # without it, prints only
        plot(rows, IMG)
        print(f"wrote {IMG}", file=sys.stderr)
        write_section(DOCS_PATH, SECTION, text)
        print(f"updated {DOCS_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
