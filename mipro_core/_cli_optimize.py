"""``mipro optimize APP --train FILE --metric MODULE:FUNC``.

``APP`` is ``package.module:attribute`` naming a chain, query engine or native program, or a
zero-argument factory (function or class) that builds one; the module is imported with the
current directory first on ``sys.path``. Every problem with an argument or a file is one line
(a :class:`~mipro_core.MiproError`): exit 1, or 2 for a malformed command line.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _cli_ray
from ._cli_common import (
    CLI_META,
    RunProgress,
    import_path,
    journal_finished,
    mark_finished,
    note,
    out,
    quoted,
    resume_hint,
    save_artifact,
    summary_lines,
    write_journal_meta,
)
from ._cli_load import adapt_app, load_app, load_metric, load_proposer
from ._cli_optimize_args import DEFAULT_PROPOSER
from ._errors import InvalidInputError

if TYPE_CHECKING:
    from ._data_files import Dataset
    from ._result import CostEstimate, OptimizationResult

logger = logging.getLogger("mipro_core")


def _output_paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    stem = args.app.partition(":")[0].rsplit(".", 1)[-1]
    artifact = Path(args.out or f"{stem}.mipro.json")
    journal = None if args.no_journal else Path(args.journal or f"{stem}.mipro.sqlite")
    data = {Path(p).resolve() for p in (args.train, args.val) if p is not None}
    for flag, path in (("--out", artifact), ("--journal", journal)):
        if path is None:
            continue
        if not path.parent.is_dir():
            raise InvalidInputError(f"{flag} {path}: the directory {path.parent} does not exist")
        if path.is_dir():
            raise InvalidInputError(f"{flag} {path} is a directory; name a file")
        if path.resolve() in data:
            raise InvalidInputError(f"{flag} {path} is a data file of this run; name another file")
    if journal is not None and journal.resolve() == artifact.resolve():
        raise InvalidInputError("--out and --journal name the same file")
    return artifact, journal


def _journal_to_replace(journal: Path | None, overwrite: bool) -> bool:
    """Whether starting the run must replace an existing journal (refuses unfinished runs).

    Only a mipro journal is ever replaced, even with ``--overwrite``: a ``--journal`` typo
    naming another file must not delete it.
    """
    from ._errors import JournalError

    if journal is None or not journal.exists():
        return False
    try:
        finished = journal_finished(journal)
    except JournalError as exc:
        raise InvalidInputError(
            f"--journal {journal} exists and is not a mipro journal ({exc}); name another file"
        ) from exc
    if not finished and not overwrite:
        raise InvalidInputError(
            f"journal {journal} holds an unfinished run: continue it with "
            f"'mipro resume {quoted(journal)}', or pass --overwrite to start over"
        )
    return True


def _header(
    args: argparse.Namespace, app: Any, program: Any, train: Dataset, val: Dataset | None
) -> list[str]:
    from ._printable import printable

    modules = list(program.modules)
    kind = type(app).__name__
    if type(program) is not type(app):
        kind += f" via {type(program).__name__}"
    limits = [f"seed {args.seed}", f"{args.threads} threads"]
    if args.parallel_trials:
        limits.append(f"{args.parallel_trials} trials at once")
    if args.max_trials:
        limits.append(f"at most {args.max_trials} trials")
    if args.max_lm_calls:
        limits.append(f"at most {args.max_lm_calls} LM calls")
    if args.max_seconds:
        limits.append(f"at most {args.max_seconds:g}s")
    val_text = (
        f"{val.path}, {len(val.examples)} examples"
        if val is not None
        else "a seeded half of the training examples"
    )
    return [
        f"mipro optimize: {args.app} ({kind}; {len(modules)} module(s): "
        f"{printable(', '.join(modules))})",
        f"  train     {train.path}, {len(train.examples)} examples "
        f"({printable(train.columns.describe())})",
        f"  val       {val_text}",
        f"  metric    {args.metric}",
        f"  proposer  {args.proposer or DEFAULT_PROPOSER}",
        f"  search    {args.strategy}, budget {args.budget} ({', '.join(limits)})"
        + (f", sampler {args.sampler}" if args.sampler else ""),
    ]


def _estimate_lines(estimate: CostEstimate) -> list[str]:
    return [
        "Estimated cost (dry run: no model was called, nothing was written)",
        f"  LM calls      about {estimate.total_lm_calls} (task {estimate.task_lm_calls}, "
        f"proposer {estimate.proposer_calls})",
        f"  program runs  {estimate.program_runs}: {estimate.bootstrap_runs} bootstrap, "
        f"{estimate.trials} trials x {estimate.minibatch_size} examples, "
        f"{estimate.full_evals} full evaluations x {estimate.val_size}",
        f"  assumes {estimate.calls_per_run} LM call(s) per program run (one per module)",
    ]


def run_optimize(args: argparse.Namespace) -> int:
    from ._data_files import load_dataset, program_fields

    artifact, journal = _output_paths(args)
    for flag, path in (("--train", args.train), ("--val", args.val)):
        if path is not None and not Path(path).is_file():
            problem = "not a regular file" if Path(path).exists() else "no such file"
            raise InvalidInputError(f"{flag} {path}: {problem}")
    with import_path(os.getcwd()):
        app = load_app(args.app)
        program = adapt_app(app, args.app)
        metric = load_metric(args.metric)
        proposer = load_proposer(args.proposer) if args.proposer else None
        unknown = [name for name in args.freeze if name not in program.modules]
        if unknown:
            raise InvalidInputError(
                f"--freeze names unknown module(s) {unknown}; the modules are "
                f"{list(program.modules)}"
            )
        fields = program_fields(program)
        train = load_dataset(args.train, fields, args.inputs, args.outputs)
        val = None
        if args.val:
            val = load_dataset(
                args.val, fields, train.columns.inputs, train.columns.outputs, like=train.path
            )
        out(_header(args, app, program, train, val))
        if args.dry_run:
            result = _optimize(args, program, train, val, metric, proposer, None, False, None)
            assert result.estimate is not None
            out()
            out(_estimate_lines(result.estimate))
            return 0
        replace = _journal_to_replace(journal, args.overwrite)
        meta = {
            CLI_META: {
                "command": "optimize",
                "app": args.app,
                "metric": args.metric,
                "proposer": args.proposer,
                "cwd": os.getcwd(),
                "artifact": str(artifact.resolve()),
            }
        }

        def remember() -> None:  # the journal exists now: record how to rebuild the run
            if journal is not None:
                if replace:
                    note(f"the journal {journal} of an earlier run was replaced")
                write_journal_meta(journal, meta)

        try:
            result = _optimize(
                args, program, train, val, metric, proposer, journal, replace, remember
            )
        except KeyboardInterrupt:
            note(resume_hint(journal, _resume_names(args)))
            return 130
    saved = save_artifact(result, artifact, journal)
    interrupted = result.stopped_reason == "interrupted"
    if not interrupted:
        mark_finished(journal)
    out()
    out(summary_lines(result, artifact=saved, journal=journal))
    if not interrupted and not result.best_score > result.baseline_score:
        out("  no configuration beat the baseline on the validation set")
    out(f"  apply it  mipro apply {args.app} {quoted(saved)}")
    if interrupted:
        note(resume_hint(journal, _resume_names(args)))
        return 130
    return 0


def _resume_names(args: argparse.Namespace) -> list[str]:
    """The flags ``mipro resume`` needs to rebuild this run (it imports nothing a journal names)."""
    names = ["--app", args.app, "--metric", args.metric]
    return names + (["--proposer", args.proposer] if args.proposer else [])


def _optimize(
    args: argparse.Namespace,
    program: Any,
    train: Dataset,
    val: Dataset | None,
    metric: Any,
    proposer: Any,
    journal: Path | None,
    overwrite: bool,
    on_start: Callable[[], None] | None,
) -> OptimizationResult:
    from . import optimize
    from ._search._registry import make_sampler

    return optimize(
        program,
        train.examples,
        metric,
        valset=None if val is None else val.examples,
        proposer_lm=proposer,
        budget=args.budget,
        seed=args.seed,
        num_threads=args.threads,
        parallel_trials=args.parallel_trials,
        strategy=args.strategy,
        sampler=None if args.sampler is None else make_sampler(args.sampler),
        max_trials=args.max_trials,
        max_lm_calls=args.max_lm_calls,
        max_seconds=args.max_seconds,
        freeze=tuple(args.freeze),
        outputs=dict(args.map_output) or None,
        progress=False if args.dry_run else RunProgress(on_start),
        backend=None if args.dry_run else _cli_ray.ray_backend(args),
        journal=journal,
        overwrite=overwrite,
        dry_run=args.dry_run,
    )
