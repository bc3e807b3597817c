"""``mipro resume JOURNAL``: continue a journaled run, treating the journal as data.

A journal may come from someone else (a shared drive, a bug report, a copied directory), so
nothing it records is trusted as an instruction:

* Code: resume imports only the APP, metric and proposer the user names on the command line
  (``--app``, ``--metric``, ``--proposer``), from the current directory and the Python path.
  The journal's recorded specs are shown, and used only with ``--use-recorded`` (then announced
  on standard error); the directory the run was started in is never put on ``sys.path``.
  Journals of ``mipro demo`` name a bundled task, which runs no code of the journal's choosing.
* Files: the artifact goes to ``--out``; without it, to the path the journal records only if
  that path is inside the current directory and holds nothing yet or this run's artifact (its
  metadata carries the journal's run id); ``--overwrite`` writes there anyway.
* The journal itself is verified by :func:`mipro_core.resume` (checksums, fingerprint;
  ``--force`` accepts a fingerprint mismatch).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._cli_common import (
    CLI_META,
    DEMO_META,
    RunProgress,
    import_path,
    mark_finished,
    note,
    out,
    positive_int,
    quoted,
    resume_hint,
    save_artifact,
    summary_lines,
)
from ._cli_ray import add_ray_argument, ray_backend_for
from ._errors import InvalidInputError, JournalError

MAX_DEMO_LATENCY = 60.0
"""The most simulated seconds per call a ``mipro demo`` journal may record."""
SPEC_FLAGS = (("app", "--app"), ("metric", "--metric"), ("proposer", "--proposer"))
"""The journal's ``cli`` record keys and the flags that name the same objects."""


def configure_resume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", metavar="JOURNAL", help="the SQLite journal of the run")
    parser.add_argument(
        "--app",
        "--program",
        dest="program",
        metavar="MODULE:ATTR",
        help="the app (or a zero-argument factory) to optimize, imported from the current "
        "directory; needed unless --use-recorded (journals of `mipro demo` need no flags)",
    )
    parser.add_argument("--metric", metavar="MODULE:FUNC", help="the metric of the run")
    parser.add_argument("--proposer", metavar="MODULE:OBJ", help="the run's proposer model")
    parser.add_argument(
        "--use-recorded",
        action="store_true",
        help="import the APP, metric and proposer the journal records (shown first) from the "
        "current directory, for those not named by a flag; trust the journal for this",
    )
    parser.add_argument(
        "--out",
        "--output",
        dest="output",
        metavar="FILE",
        default=None,
        help="write the winning prompts to this artifact (default: the path the run recorded, "
        "if it is inside the current directory and holds nothing else)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write the artifact to the path the journal records even if that path holds "
        "another file or is outside the current directory",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="resume even if the program, data or metric differ from the journal's fingerprint",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="parallel program runs, each making its stages' LM calls in turn "
        "(default: the number the run recorded)",
    )
    add_ray_argument(parser)


def run_resume(args: argparse.Namespace) -> int:
    from ._journal import Journal
    from ._observers import RUN_ID_KEY

    journal = Path(args.journal)
    with Journal.open(journal) as store:  # verified whole before anything it names is imported
        meta = store.read(kinds=()).meta
    demo, cli, run_id = meta.get(DEMO_META), meta.get(CLI_META), meta.get(RUN_ID_KEY)
    cli = cli if isinstance(cli, dict) else {}
    specs = _specs(args, cli, journal, demo is not None)
    recorded = demo.get("artifact") if isinstance(demo, dict) else cli.get("artifact")
    artifact = _artifact_path(args, recorded, run_id if isinstance(run_id, str) else None)
    with import_path(os.getcwd()):
        if specs is not None:
            program, metric, proposer = _rebuild(specs)
        else:
            program, metric, proposer = _demo(demo, journal)
        return _resume_run(args, journal, (program, metric, proposer), artifact, specs or {})


def _recorded(cli: Mapping[str, Any], journal: Path) -> dict[str, str]:
    """The specs the journal records, checked to be ``module:attribute`` text (not trusted)."""
    from ._cli_load import spec

    found: dict[str, str] = {}
    for key, flag in SPEC_FLAGS:
        value = cli.get(key)
        if value is None:
            continue
        try:
            found[flag] = spec(value) if isinstance(value, str) else spec(repr(value))
        except argparse.ArgumentTypeError as exc:
            raise JournalError(f"journal {journal} records an invalid {flag}: {exc}") from None
    return found


def _specs(
    args: argparse.Namespace, cli: Mapping[str, Any], journal: Path, is_demo: bool
) -> dict[str, str] | None:
    """The APP, metric and proposer specs to import (``None``: the demo's bundled task)."""
    from ._printable import printable

    named = {"--app": args.program, "--metric": args.metric, "--proposer": args.proposer}
    named = {flag: value for flag, value in named.items() if value}
    recorded = _recorded(cli, journal)
    if is_demo and not named:
        return None
    missing = {flag: value for flag, value in recorded.items() if flag not in named}
    if missing and not args.use_recorded:
        shown = ", ".join(f"{flag} {printable(value)}" for flag, value in recorded.items())
        words = [w for flag, value in {**recorded, **named}.items() for w in (flag, value)]
        command = " ".join(["mipro resume", quoted(journal), *(quoted(w) for w in words)])
        raise InvalidInputError(
            f"journal {journal} records {shown}; a journal is data, so resume imports only "
            f"what you name: run '{printable(command)}' to import them from the current "
            f"directory {os.getcwd()}, or add --use-recorded"
        )
    chosen = {**recorded, **named}
    if "--app" not in chosen or "--metric" not in chosen:
        raise InvalidInputError(
            f"journal {journal} records no command line to rebuild the run from: pass "
            "--app/--program MODULE:FACTORY and --metric MODULE:FUNC"
        )
    listed = ", ".join(
        f"{flag} {printable(value)}" + ("" if flag in named else " (recorded in the journal)")
        for flag, value in chosen.items()
    )
    note(f"resume imports {listed} from the current directory {os.getcwd()}")
    return chosen


def _artifact_path(args: argparse.Namespace, recorded: Any, run_id: str | None) -> Path | None:
    """Where the artifact goes: ``--out``, else the recorded path when it is safe to write."""
    from ._printable import printable

    if args.output:
        return Path(args.output)
    if recorded is None:
        return None
    if not isinstance(recorded, str) or not recorded or "\x00" in recorded:
        raise JournalError(f"journal {args.journal} records an invalid artifact path")
    path = Path(recorded)
    if args.overwrite:
        note(f"the artifact goes to {printable(recorded)} (recorded in the journal; --overwrite)")
        return path
    try:
        if not path.resolve().is_relative_to(Path.cwd().resolve()):
            problem = "is outside the current directory"
        elif path.exists() and not _artifact_of(path, run_id):
            problem = "holds a file that is not this run's artifact"
        else:
            return path
    except OSError as exc:  # a name too long, a loop of links: nothing to write there
        problem = f"cannot be used ({exc.strerror or exc})"
    shown = printable(recorded if len(recorded) <= 200 else recorded[:199] + "…")
    raise InvalidInputError(
        f"the journal names the artifact path {shown}, which {problem}; a journal "
        "is data, so resume does not write there: pass --out FILE (or --overwrite to write "
        "that path anyway)"
    )


def _artifact_of(path: Path, run_id: str | None) -> bool:
    """Whether ``path`` holds an artifact written by the run ``run_id``."""
    from ._artifact import read_artifact
    from ._errors import MiproError

    if run_id is None or not path.is_file():
        return False
    try:
        return read_artifact(path).metadata.get("run_id") == run_id
    except (MiproError, OSError, ValueError):
        return False


def _rebuild(specs: Mapping[str, str]) -> tuple[Any, Any, Any]:
    from ._cli_load import adapt_app, load_app, load_metric, load_proposer

    app_spec = specs["--app"]
    program = adapt_app(load_app(app_spec, "--app"), app_spec, "--app")
    metric = load_metric(specs["--metric"])
    proposer = load_proposer(specs["--proposer"]) if "--proposer" in specs else None
    return program, metric, proposer


def _demo(demo: Any, journal: Path) -> tuple[Any, Any, Any]:
    """The bundled task a ``mipro demo`` journal names (no code of the journal's choosing)."""
    from ._cli_run import _demo_program
    from .testing import TASK_NAMES

    if not isinstance(demo, dict) or demo.get("task") not in TASK_NAMES:
        raise JournalError(f"journal {journal} names no bundled demo task")
    latency = demo.get("latency", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)):
        raise JournalError(f"journal {journal} records an invalid demo latency")
    if not 0 <= latency <= MAX_DEMO_LATENCY:  # NaN too; an hour per call would hang resume
        raise JournalError(
            f"journal {journal} records a demo latency of {latency} s per call; `mipro demo` "
            f"simulates at most {MAX_DEMO_LATENCY} s"
        )
    task, program = _demo_program(str(demo["task"]), latency)
    return program, task.metric, None


def _backend(args: argparse.Namespace, specs: Mapping[str, str], journal: Path) -> Any:
    """The Ray backend ``--ray`` asks for; its workers import the same APP and metric."""
    if args.ray is None:
        return None
    if "--app" not in specs:
        raise InvalidInputError(
            f"journal {journal} is a run of `mipro demo`, whose bundled task Ray workers cannot "
            "import by name: resume it without --ray"
        )
    return ray_backend_for(args.ray, specs["--app"], specs.get("--metric"))


def _resume_run(
    args: argparse.Namespace,
    journal: Path,
    run: tuple[Any, Any, Any],
    artifact: Path | None,
    specs: Mapping[str, str],
) -> int:
    """Resume on the rebuilt ``run``; ``specs`` are the flags it was imported by (none for a
    demo journal)."""
    from . import resume

    program, metric, proposer = run
    names = [word for pair in specs.items() for word in pair]
    backend = _backend(args, specs, journal)
    out(f"mipro resume: continuing the run in {journal} (finished steps are read, not re-paid)")
    try:
        result = resume(
            journal,
            program,
            metric,
            proposer_lm=proposer,
            num_threads=args.threads,
            progress=RunProgress(),
            force=args.force,
            backend=backend,
        )
    except KeyboardInterrupt:
        note(resume_hint(journal, names))
        return 130
    path = save_artifact(result, artifact, journal) if artifact else None
    interrupted = result.stopped_reason == "interrupted"
    if not interrupted:
        mark_finished(journal)
    out()
    out(summary_lines(result, artifact=path, journal=journal))
    if path is None:
        out("  artifact  none written (the run recorded no path): pass --out FILE to save it")
    elif "--app" in specs:
        out(f"  apply it  mipro apply {quoted(specs['--app'])} {quoted(path)}")
    if interrupted:
        note(resume_hint(journal, names))
        return 130
    return 0
