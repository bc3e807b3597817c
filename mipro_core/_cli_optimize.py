"""``mipro optimize APP --train FILE --metric MODULE:FUNC`` and ``mipro apply APP ARTIFACT``.

``APP`` is ``package.module:attribute`` naming a chain, query engine or native program, or a
zero-argument factory (function or class) that builds one; the module is imported with the
current directory first on ``sys.path``. Every problem with an argument or a file is one line
(a :class:`~mipro_core.MiproError`): exit 1, or 2 for a malformed command line.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import importlib
import inspect
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._cli_run import (
    CLI_META,
    RunProgress,
    import_path,
    journal_finished,
    mark_finished,
    note,
    out,
    positive_int,
    quoted,
    resume_hint,
    save_artifact,
    summary_lines,
    whole_number,
    write_journal_meta,
)
from ._errors import InvalidInputError, MiproError, NoAdapterError

if TYPE_CHECKING:
    from ._data_files import Dataset
    from ._result import CostEstimate, OptimizationResult

logger = logging.getLogger("mipro_core")

BUDGETS = ("light", "medium", "heavy")
STRATEGY_NAMES = (
    "bootstrap-random-search",
    "mipro",
    "mipro++",
    "random-search",
    "zeroshot-mipro",
    "zeroshot-mipro++",
)
"""The names ``optimize(strategy=...)`` accepts (kept here so ``--help`` imports nothing heavy)."""
DEFAULT_PROPOSER = "the app's own model"


# --- argument types (a bad value is a usage error: exit 2) -------------------------------------


def spec(text: str) -> str:
    """A ``package.module:attribute`` reference."""
    module, colon, attribute = text.partition(":")
    parts = [*module.split("."), *attribute.split(".")]
    if not colon or not all(part.isidentifier() for part in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like 'package.module:attribute' (e.g. 'myapp:build_chain')"
        )
    return text


def field_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of column names."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} must be column names separated by commas")
    return names


_seed = whole_number(0)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _sampler(name: str) -> str:
    """A sampler name known here (built in, or from a ``mipro.samplers`` entry point)."""
    from ._search._registry import available_samplers

    known = sorted(available_samplers())
    if name not in known:
        raise argparse.ArgumentTypeError(
            f"unknown sampler {name!r} (available: {', '.join(known)})"
        )
    return name


# --- loading the user's objects ----------------------------------------------------------------


def load_object(reference: str, label: str) -> Any:
    """Import ``module:attribute`` (the attribute may be dotted); one clear error otherwise."""
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise InvalidInputError(
                f"{label} {reference}: no module named {missing!r} (looked in the current "
                f"directory {os.getcwd()} and on the Python path)"
            ) from exc
        raise InvalidInputError(
            f"{label} {reference}: importing {module_name} failed: {exc}"
        ) from exc
    except Exception as exc:  # the user's module raised while importing
        raise InvalidInputError(
            f"{label} {reference}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    value: Any = module
    for depth, part in enumerate(attribute.split(".")):
        if not hasattr(value, part):
            where = (
                module_name
                if depth == 0
                else f"{module_name}:{'.'.join(attribute.split('.')[:depth])}"
            )
            names = [n for n in dir(value) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidInputError(f"{label} {reference}: {where} has no attribute {part!r}{hint}")
        value = getattr(value, part)
    return value


def _is_factory(obj: Any) -> bool:
    return (
        inspect.isfunction(obj)
        or inspect.ismethod(obj)
        or inspect.isclass(obj)
        or inspect.isbuiltin(obj)
        or isinstance(obj, functools.partial)
    )


def _call_factory(factory: Any, reference: str, label: str) -> Any:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind()
        except TypeError:
            raise InvalidInputError(
                f"{label} {reference} needs arguments {signature}; point {label} at the built "
                "object or at a factory that takes no arguments"
            ) from None
    try:
        built = factory()
    except Exception as exc:  # the user's factory failed: one line, cause kept for --debug
        raise InvalidInputError(
            f"{label} {reference}: calling it failed: {type(exc).__name__}: {exc}"
        ) from exc
    if built is None:
        raise InvalidInputError(
            f"{label} {reference} returned None; the factory must return the chain, query "
            "engine or program"
        )
    return built


def load_app(reference: str, label: str = "APP") -> Any:
    """The object ``reference`` names, built by calling it when it is a factory."""
    obj = load_object(reference, label)
    return _call_factory(obj, reference, label) if _is_factory(obj) else obj


def adapt_app(obj: Any, reference: str, label: str = "APP") -> Any:
    """``obj`` as a :class:`~mipro_core.Program`; adapter errors name the APP."""
    from ._adapt import adapt

    try:
        return adapt(obj)
    except NoAdapterError as exc:
        raise NoAdapterError(f"{label} {reference}: {exc}") from exc
    except MiproError as exc:
        raise InvalidInputError(f"{label} {reference}: {exc}") from exc


def load_metric(reference: str) -> Any:
    """The metric function, checked as ``optimize()`` checks it (two or three arguments)."""
    from ._metric import checked_metric

    return checked_metric(load_object(reference, "--metric"), f"--metric {reference}")


def load_proposer(reference: str) -> Any:
    """The proposer model as an LM: an LM callable, a framework model or a factory of either."""
    from ._adapt import looks_like_lm, wrap_lm

    obj = load_object(reference, "--proposer")
    if _is_factory(obj) and not looks_like_lm(obj):
        obj = _call_factory(obj, reference, "--proposer")
    try:
        return wrap_lm(obj)
    except NoAdapterError as exc:
        raise NoAdapterError(f"--proposer {reference}: {exc}") from exc


# --- mipro optimize ----------------------------------------------------------------------------


def _output_pair(text: str) -> tuple[str, str]:
    module, eq, column = text.rpartition("=")
    if not eq or not module.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"expected MODULE=COLUMN, got {text!r}")
    return module.strip(), column.strip()


def configure_optimize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="APP",
        type=spec,
        help="package.module:attribute naming your chain, query engine or program, or a "
        "zero-argument factory that builds one (imported from the current directory)",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--train", required=True, metavar="FILE", help="training examples: .jsonl or .csv"
    )
    data.add_argument(
        "--val",
        metavar="FILE",
        help="validation examples (default: a seeded half of --train)",
    )
    data.add_argument(
        "--inputs",
        type=field_names,
        metavar="COL,...",
        help="the input columns (default: the columns the program's stages read)",
    )
    data.add_argument(
        "--outputs",
        type=field_names,
        metavar="COL,...",
        help="the output (label) columns (default: every other column except 'id')",
    )
    data.add_argument(
        "--map-output",
        action="append",
        default=[],
        type=_output_pair,
        metavar="MODULE=COLUMN",
        help="the label column holding MODULE's output when their names differ, for labeled "
        "demos (MODULE.FIELD=COLUMN for a module with several outputs; repeatable)",
    )
    parser.add_argument(
        "--metric",
        required=True,
        type=spec,
        metavar="MODULE:FUNC",
        help="metric(example, prediction[, trace]) -> float or bool; higher is better",
    )
    parser.add_argument(
        "--proposer",
        type=spec,
        metavar="MODULE:OBJ",
        help="the model that writes instructions: an LM callable, a framework chat model, or a "
        "zero-argument factory of one (default: the app's own model)",
    )
    search = parser.add_argument_group("search")
    search.add_argument("--budget", choices=BUDGETS, default="light", help="default: light")
    search.add_argument("--seed", type=_seed, default=0, metavar="N", help="default: 0")
    search.add_argument(
        "--threads",
        type=positive_int,
        default=8,
        metavar="N",
        help="parallel program runs, each making its stages' LM calls in turn (8)",
    )
    search.add_argument("--max-trials", type=positive_int, metavar="N", help="cap the trials")
    search.add_argument(
        "--max-lm-calls", type=positive_int, metavar="N", help="hard cap on LM calls"
    )
    search.add_argument(
        "--max-seconds", type=_seconds, metavar="S", help="stop searching after S seconds"
    )
    search.add_argument(
        "--strategy", choices=STRATEGY_NAMES, default="mipro", help="default: mipro"
    )
    search.add_argument(
        "--sampler",
        type=_sampler,
        metavar="NAME",
        help="search strategy: tpe (default), random, or one a plugin installs",
    )
    search.add_argument(
        "--freeze",
        action="append",
        default=[],
        metavar="MODULE",
        help="keep this module's prompt as it is (repeatable)",
    )
    files = parser.add_argument_group("output")
    files.add_argument(
        "--out", metavar="FILE", help="artifact to write (default: <app module>.mipro.json)"
    )
    journal = files.add_mutually_exclusive_group()
    journal.add_argument(
        "--journal",
        metavar="FILE",
        help="journal the run here so it can be resumed (default: <app module>.mipro.sqlite)",
    )
    journal.add_argument("--no-journal", action="store_true", help="keep no journal")
    files.add_argument(
        "--overwrite",
        action="store_true",
        help="start over even if the journal holds an unfinished run",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the estimated LM calls and exit without calling any model",
    )


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
        f"  train     {train.path}, {len(train.examples)} examples ({train.columns.describe()})",
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
            raise InvalidInputError(f"{flag} {path}: no such file")
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
        strategy=args.strategy,
        sampler=None if args.sampler is None else make_sampler(args.sampler),
        max_trials=args.max_trials,
        max_lm_calls=args.max_lm_calls,
        max_seconds=args.max_seconds,
        freeze=tuple(args.freeze),
        outputs=dict(args.map_output) or None,
        progress=False if args.dry_run else RunProgress(on_start),
        journal=journal,
        overwrite=overwrite,
        dry_run=args.dry_run,
    )


# --- mipro apply -------------------------------------------------------------------------------


def configure_apply(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "app",
        metavar="APP",
        type=spec,
        help="package.module:attribute naming your app, or a zero-argument factory (built fresh)",
    )
    parser.add_argument("artifact", metavar="ARTIFACT", help="an artifact written by optimize")


def run_apply(args: argparse.Namespace) -> int:
    from ._adapt import apply
    from ._artifact import read_artifact
    from ._protocols import current_state

    artifact = read_artifact(args.artifact)
    with import_path(os.getcwd()):
        app = load_app(args.app)
        program = adapt_app(app, args.app)
        before = current_state(program)
        apply(program, args.artifact)
        lines = _apply_header(args, artifact, len(program.modules))
        for name, module in program.modules.items():
            lines += ["", *_module_lines(name, module, before.modules.get(name))]
    out(lines)
    return 0


def _apply_header(args: argparse.Namespace, artifact: Any, count: int) -> list[str]:
    from ._printable import printable

    scores = []
    for key, label in (("score", "score"), ("baseline_score", "baseline")):
        value = artifact.metadata.get(key)
        if isinstance(value, (int, float)):
            scores.append(f"{label} {value:.3f}")
    about = f" ({', '.join(scores)})" if scores else ""
    return [
        f"Applied {printable(args.artifact)}{about} to a fresh {args.app}: {count} module(s).",
        "Below is what each module sends; {field} marks where a run's input goes.",
    ]


def _module_lines(name: str, module: Any, before: Any) -> list[str]:
    from ._printable import printable

    state = module.state
    changed = before is None or before.instruction != state.instruction
    demos = f"{0 if before is None else len(before.demos)} -> {len(state.demos)}"
    lines = [
        f"== {printable(name)} ==  (instruction {'changed' if changed else 'unchanged'}, "
        f"demos {demos})"
    ]
    lines += ["  " + printable(line) for line in render_module(module)]
    return lines


def render_module(module: Any) -> list[str]:
    """The prompt a module sends, as text lines, through the best view the module offers.

    In order: ``module.render(inputs) -> messages`` (native stages); a framework prompt object at
    ``module.prompt`` / ``module.template`` with ``pretty_repr()`` (LangChain) or
    ``get_template()`` (LlamaIndex); else the instruction and demos.
    """
    placeholders = {field: "{" + field + "}" for field in module.signature.inputs}
    render = getattr(module, "render", None)
    if callable(render):
        try:
            messages = render(placeholders)
        except Exception:  # a display fallback, never a silent change of behaviour
            logger.debug("render() of %s failed", module.name, exc_info=True)
        else:
            if isinstance(messages, list) and all(isinstance(m, Mapping) for m in messages):
                return _message_lines(messages)
    for attribute in ("prompt", "template"):
        prompt = getattr(module, attribute, None)
        for method in ("pretty_repr", "get_template"):
            view = getattr(prompt, method, None) if prompt is not None else None
            if not callable(view):
                continue
            try:
                text = view()
            except Exception:
                logger.debug("%s.%s() of %s failed", attribute, method, module.name, exc_info=True)
                continue
            if isinstance(text, str):
                return text.strip("\n").split("\n")
    return _state_lines(module.state)


def _message_lines(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for message in messages:
        lines.append(f"[{message.get('role', '?')}]")
        lines += ["  " + line for line in str(message.get("content", "")).split("\n")]
    return lines


def _state_lines(state: Any) -> list[str]:
    lines = ["instruction:"]
    lines += ["  " + line for line in (state.instruction or "(empty)").split("\n")]
    for number, demo in enumerate(state.demos, 1):
        lines.append(f"demo {number} ({demo.source}):")
        for key, value in (*demo.inputs.items(), *demo.outputs.items()):
            lines.append(f"  {key}: {value}")
    return lines
