"""The ``mipro`` command line: ``optimize``, ``apply``, ``resume``, ``report``, ``demo``, ``show``, ``plugins``.

Why :mod:`argparse` and not click or typer: the core promises a short dependency list (attrs,
pluggy, numpy) and a cheap import, and the CLI is a thin skin over library calls with a
handful of subcommands and flags. argparse is in the standard library, gives subcommands, typed
options and ``--help`` for free, and is stable across the Python versions we support; click
would add a runtime dependency (typer two more) for features we do not need (shell completion,
rich help). Its one weakness for us - errors print the usage block and exit - is fixed by
overriding :meth:`argparse.ArgumentParser.error` so every error is one line.

Errors: a :class:`~mipro_core.MiproError`, an :class:`OSError` or bad usage prints exactly one
line, ``mipro: error: <reason>``, to stderr and exits non-zero (1 for failures, 2 for usage,
130 when interrupted), without a traceback. Anything else is a bug and keeps its traceback.

Adding a subcommand (from any module, without touching the others)::

    from mipro_core.cli import register_command

    register_command(
        "demo",
        "run the optimizer on a bundled task with the simulated LM",
        configure_parser="mipro_core._cli_demo:configure",  # or a function
        handler="mipro_core._cli_demo:run",  # imported only when `mipro demo` runs
    )

``configure_parser(parser)`` adds the subcommand's arguments (it runs on every invocation, so
keep the module it lives in light); ``handler(args) -> int`` does the work and returns the exit
status. A ``"module:attribute"`` string is imported lazily, so heavy modules load only for the
command that needs them. Built-in commands are registered at the bottom of this module; a new
built-in command is one more :func:`register_command` call there.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, NoReturn, TextIO

from ._errors import MiproError
from ._printable import printable as printable
from ._version import __version__

Handler = Callable[[argparse.Namespace], "int | None"]
Configure = Callable[[argparse.ArgumentParser], None]

PROG = "mipro"


class Command(NamedTuple):
    """A registered subcommand (see :func:`register_command`)."""

    name: str
    help: str
    configure_parser: Configure | str
    handler: Handler | str


_COMMANDS: dict[str, Command] = {}


def register_command(
    name: str,
    help: str,
    configure_parser: Configure | str,
    handler: Handler | str,
) -> None:
    """Add the subcommand ``mipro NAME``.

    ``configure_parser`` and ``handler`` are callables or ``"module:attribute"`` strings that
    are imported when needed. Raises :class:`ValueError` when ``name`` is already registered.
    """
    if not name or name.startswith("-"):
        raise ValueError(f"invalid command name {name!r}")
    if name in _COMMANDS:
        raise ValueError(f"the command {name!r} is already registered")
    _COMMANDS[name] = Command(name, help, configure_parser, handler)


def _resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    if not isinstance(target, str):
        return target
    module_name, _, attribute = target.partition(":")
    resolved: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return resolved


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors become one line instead of usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The ``mipro`` parser with every registered subcommand."""
    parser = _Parser(
        prog=PROG,
        description="MIPRO prompt optimization for multi-stage LM programs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in _COMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        _resolve(command.configure_parser)(sub)
    return parser


def _stderr_line(text: str) -> None:
    # messages quote file content (a column name, a journal record): escaped, never a command
    sys.stderr.write(f"{PROG}: error: {printable(' '.join(text.split()))}\n")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    sys.stderr.write(f"{PROG}: warning: {printable(' '.join(str(message).split()))}\n")


def _os_error_text(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mipro`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _stderr_line(str(exc))
        return 2
    except SystemExit as exc:  # --help and --version print, then exit
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command is None:
        choices = ", ".join(_COMMANDS)
        _stderr_line(f"no command given; choose one of: {choices} (see '{PROG} --help')")
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            status = _resolve(_COMMANDS[args.command].handler)(args)
        except MiproError as exc:
            _stderr_line(str(exc) or type(exc).__name__)
            return 1
        except BrokenPipeError:  # e.g. `mipro show x.json | head`: stop quietly
            return 1
        except OSError as exc:
            _stderr_line(_os_error_text(exc))
            return 1
        except KeyboardInterrupt:
            _stderr_line("interrupted")
            return 130
    return int(status or 0)


# --- output helpers ----------------------------------------------------------------------------


def _display(value: Any) -> str:
    if isinstance(value, str):
        return printable(value)
    return printable(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _field_lines(values: Mapping[str, Any], indent: str) -> list[str]:
    lines = []
    for key, value in values.items():
        prefix = f"{indent}{printable(key)}: "
        text_lines = _display(value).split("\n")
        lines.append(prefix + text_lines[0])
        lines.extend(" " * len(prefix) + rest for rest in text_lines[1:])
    return lines or [f"{indent}(none)"]


def _out(lines: Sequence[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")


# --- built-in commands -------------------------------------------------------------------------


def _configure_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _run_plugins(args: argparse.Namespace) -> int:
    from . import _plugin_manager as plugins
    from ._plugin_list import list_plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", plugins.PluginWarning)  # listed below instead
        found = list_plugins()
        failed = plugins.failed_plugins()
        autoload, allow = plugins.autoload_settings()
    if args.json:
        document = {
            "plugins": [
                {
                    "name": p.name,
                    "distribution": p.distribution,
                    "version": p.version,
                    "builtin": p.builtin,
                    "entry_point": p.entry_point,
                    "info": dict(p.info),
                }
                for p in found
            ],
            "failed": [{"name": name, "reason": reason} for name, reason in failed],
            "autoload": autoload,
            "allow_list": None if allow is None else sorted(allow),
        }
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return 0
    lines = [f"Adapters ({len(found)}):"]
    width = max(len(p.name) for p in found)
    for plugin in found:
        where = " ".join(x for x in (plugin.distribution, plugin.version) if x)
        if not where:
            where = f"entry point {plugin.entry_point}" if plugin.entry_point else "in-process"
        framework = plugin.info.get("framework")
        extras = [where, "built-in" if plugin.builtin else ""]
        if framework:
            extras.append(f"framework: {framework}")
        lines.append(f"  {plugin.name.ljust(width)}  " + "  ".join(x for x in extras if x))
    if failed:
        lines.append(f"Failed to load ({len(failed)}):")
        width = max(len(name) for name, _ in failed)
        lines.extend(f"  {name.ljust(width)}  {reason}" for name, reason in failed)
    if not autoload:
        lines.append(f"Entry-point plugins are disabled by {plugins.DISABLE_AUTOLOAD_ENV}.")
    if allow is not None:
        allowed = ", ".join(sorted(allow)) or "(none)"
        lines.append(f"{plugins.ALLOW_LIST_ENV} allows only: {allowed}")
    _out([printable(line) for line in lines])
    return 0


def _configure_show(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", metavar="ARTIFACT", help="an artifact JSON file")


def _run_show(args: argparse.Namespace) -> int:
    from ._artifact import FORMAT, read_artifact

    artifact = read_artifact(args.artifact)
    created = artifact.created_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    lines = [
        f"Artifact: {printable(str(args.artifact))}",
        f"  format:      {FORMAT}, schema version {artifact.schema_version}",
        f"  written by:  mipro {printable(artifact.library_version)}",
        f"  created:     {created}",
        f"Metadata ({len(artifact.metadata)}):",
        *_field_lines(artifact.metadata, "  "),
        f"Modules ({len(artifact.state)}): {printable(', '.join(artifact.state))}",
    ]
    for name in artifact.state:
        module = artifact.state[name]
        lines += ["", f"== {printable(name)} ==", "Instruction:"]
        instruction = module.instruction or "(empty)"
        lines += ["    " + line for line in printable(instruction).split("\n")]
        lines.append(f"Demos ({len(module.demos)}):")
        for number, demo in enumerate(module.demos, 1):
            lines.append(f"  [{number}] {printable(demo.source)}")
            lines += ["    inputs:", *_field_lines(demo.inputs, "      ")]
            lines += ["    outputs:", *_field_lines(demo.outputs, "      ")]
    _out(lines)
    return 0


register_command(
    "plugins",
    "list the installed adapter plugins and any that failed to load",
    _configure_plugins,
    _run_plugins,
)
register_command("show", "pretty-print an artifact (optimized prompts)", _configure_show, _run_show)
register_command(
    "demo",
    "optimize a bundled multi-stage program offline with the simulated LM",
    "mipro_core._cli_run:configure_demo",
    "mipro_core._cli_run:run_demo",
)
register_command(
    "resume",
    "continue an optimization run from its journal",
    "mipro_core._cli_resume:configure_resume",
    "mipro_core._cli_resume:run_resume",
)
register_command(
    "optimize",
    "optimize the prompts of your app (chain, query engine or program) on a dataset file",
    "mipro_core._cli_optimize_args:configure_optimize",
    "mipro_core._cli_optimize:run_optimize",
)
register_command(
    "apply",
    "apply an artifact to a freshly built app and print the prompts it will send",
    "mipro_core._cli_apply:configure_apply",
    "mipro_core._cli_apply:run_apply",
)
register_command(
    "report",
    "write a self-contained HTML report (plots, credit, prompt diffs) of a run",
    "mipro_core._cli_report:configure_report",
    "mipro_core._cli_report:run_report",
)


if __name__ == "__main__":
    # Run the registry of the importable module (where other modules register their commands),
    # not of this ``__main__`` copy.
    from mipro_core.cli import main as _main

    sys.exit(_main())
