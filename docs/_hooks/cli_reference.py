"""MkDocs hook: render the CLI reference page from the ``mipro`` argparse parser at build time.

``docs/cli-reference.md`` holds a placeholder comment; :func:`on_page_markdown` replaces it with
one section per registered subcommand (usage, description, arguments), read from
:func:`mipro_core.cli.build_parser`. The page is therefore never out of date with the parser: a
new ``register_command`` call (or a new flag) appears on the next build.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mkdocs.exceptions import PluginError

PLACEHOLDER = "<!-- mipro-cli-reference -->"
PAGE = "cli-reference.md"
USAGE_WIDTH = 88


@contextmanager
def _columns(width: int) -> Iterator[None]:
    """Make argparse wrap usage lines at ``width`` whatever the terminal of the build is."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width + 2)  # argparse subtracts 2
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cell(text: str) -> str:
    """``text`` made safe for one cell of a Markdown table."""
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + (
                    action.metavar
                    if isinstance(action.metavar, str)
                    else "{" + ",".join(map(str, action.choices)) + "}"
                    if action.choices
                    else action.dest.upper()
                )
            name = ", ".join(_code(option + metavar) for option in action.option_strings)
        else:
            name = _code(action.metavar if isinstance(action.metavar, str) else action.dest)
        help_text = (action.help or "").replace("%(prog)s", parser.prog)
        if "%(default)s" in help_text:
            help_text = help_text.replace("%(default)s", str(action.default))
        notes = []
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            notes.append("one of " + ", ".join(_code(str(c)) for c in action.choices))
        if (
            action.option_strings
            and action.nargs != 0
            and action.default not in (None, argparse.SUPPRESS, [], (), "")
            and "default" not in help_text.lower()
            and f"({action.default})" not in help_text
        ):
            notes.append(f"default: {_code(str(action.default))}")
        if action.required and action.option_strings:
            notes.append("required")
        description = _cell(help_text)
        if notes:
            description = f"{description} ({'; '.join(notes)})" if description else "; ".join(notes)
        rows.append(f"| {name} | {description} |")
    return rows


def _section(level: str, title: str, parser: argparse.ArgumentParser, intro: str = "") -> list[str]:
    lines = [f"{level} `{title}`", ""]
    if parser.description:
        lines += [parser.description, ""]
    if intro:
        lines += [intro, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    rows = _argument_rows(parser)
    if rows:
        lines += ["| argument | description |", "|---|---|", *rows, ""]
    if parser.epilog:
        lines += [parser.epilog, ""]
    return lines


def render_cli_reference() -> str:
    """The Markdown of every ``mipro`` subcommand, in registration order."""
    from mipro_core.cli import build_parser

    with _columns(USAGE_WIDTH):
        parser = build_parser()
        commands = _subcommands(parser)
        index = "Commands: " + ", ".join(f"[`{name}`](#mipro-{name})" for name in commands) + "."
        lines = _section("##", parser.prog, parser, intro=index)
        for name, sub in commands.items():
            lines += _section("##", f"{parser.prog} {name}", sub)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the placeholder of the CLI reference page; leave every other page alone."""
    if page.file.src_uri != PAGE:
        return markdown
    if PLACEHOLDER not in markdown:
        raise PluginError(f"{PAGE} lacks the placeholder {PLACEHOLDER}")
    try:
        reference = render_cli_reference()
    except Exception as exc:  # a broken configure_parser must fail the build, clearly
        raise PluginError(f"cannot build the mipro parser for {PAGE}: {exc!r}") from exc
    return markdown.replace(PLACEHOLDER, reference)
