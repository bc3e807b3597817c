"""Run the code blocks of one Markdown page, the way ``docs/`` promises they run.

The convention (``tests/test_docs_snippets.py`` runs every guide page through this script):

* ```` ```python ```` without a title: executed, in page order, in one namespace per page.
* any block with ``title="relative/path"`` (```` ```python title="app.py" ````, ``jsonl``,
  ``toml``, ...): written to that file in the page's working directory, not executed.
* ```` ```console ````: every line starting with ``$ `` is run with the shell and must exit 0
  (a line ending in ``\\`` continues on the next one); other lines are example output.
* ```` ```bash ```` / ``sh`` / ``shell`` without a title: the whole block is one shell script,
  run with ``bash -e``.
* ``<!-- snippet: skip reason="..." -->`` on the line directly above a fence: not run (reported).
* any other block without a title (``text``, ``json``, no language, ...): an illustration,
  ignored.

The working directory is a fresh directory given on the command line; it is the cwd of the
Python blocks and of the commands and is first on ``sys.path``. ``mipro`` and ``python`` on the
commands' ``PATH`` are the interpreter running this script. Each page runs in its own process,
so pages cannot leak imports, globals or cwd into each other.

Usage: ``python tests/_snippet_runner.py PAGE.md WORKDIR REPORT.json``. The report lists every
block with its outcome; the exit status is 0 when no block failed. Execution stops at the first
failure (later blocks usually depend on earlier ones).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import traceback
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

PYTHON_LANGS = frozenset({"python", "py", "python3"})
SHELL_SCRIPT_LANGS = frozenset({"bash", "sh", "shell", "zsh"})
CONSOLE_LANGS = frozenset({"console", "shell-session"})
COMMAND_TIMEOUT = 300.0

FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*)$")
SKIP_MARKER = re.compile(
    r"^\s*<!--\s*snippet:\s*skip(?:\s+reason=\"(?P<reason>[^\"]*)\")?\s*-->\s*$"
)
TITLE = re.compile(r"""\btitle=(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s}]+))""")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    line: int  # 1-based line of the opening fence
    lang: str  # lower-cased language, "" when none
    title: str | None
    code: str
    skip_reason: str | None = None  # set when a skip marker precedes the fence

    @property
    def kind(self) -> str:
        """What the convention does with the block: python, file, console, script, skip, ignore."""
        if self.skip_reason is not None:
            return "skip"
        if self.title:
            return "file"
        if self.lang in PYTHON_LANGS:
            return "python"
        if self.lang in CONSOLE_LANGS:
            return "console"
        if self.lang in SHELL_SCRIPT_LANGS:
            return "script"
        return "ignore"


def _info_lang_title(info: str) -> tuple[str, str | None]:
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):  # attribute-list form: { .python title="x" }
        info = info[1:-1].strip()
    first = info.split(None, 1)[0] if info else ""
    lang = "" if "=" in first else first.lstrip(".").lower()
    match = TITLE.search(info)
    title = None
    if match:
        title = match["dq"] if match["dq"] is not None else match["sq"] or match["bare"]
    return lang, title or None


def parse_blocks(markdown: str) -> list[Block]:
    """Every fenced code block of ``markdown``, in order, with its skip marker if any.

    Fences may be indented (inside list items; the indentation is removed from the code) and
    may use backticks or tildes; a block closes at a fence of the same character that is at
    least as long. A fence left open runs to the end of the page, as in CommonMark.
    """
    lines = markdown.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            index += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        lang, title = _info_lang_title(opening["info"])
        previous = lines[index - 1] if index > 0 else ""
        skip = SKIP_MARKER.match(previous)
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body = []
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            text = lines[end]
            strip = min(indent, len(text) - len(text.lstrip(" ")))
            body.append(text[strip:])
            end += 1
        code = "\n".join(body) + ("\n" if body else "")
        reason = None
        if skip:
            reason = skip["reason"] or "no reason given"
        blocks.append(Block(index + 1, lang, title, code, reason))
        index = end + 1
    return blocks


def console_commands(code: str) -> list[str]:
    """The ``$ `` commands of a console block (continuation lines joined)."""
    commands = []
    lines = code.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        stripped = line.lstrip()
        if not (stripped.startswith("$ ") or stripped == "$"):
            continue
        command = stripped[2:]
        while command.endswith("\\") and index < len(lines):
            command = command + "\n" + lines[index].lstrip()  # the shell joins them
            index += 1
        if command.strip():
            commands.append(command)
    return commands


def _safe_relative(title: str) -> Path:
    path = PurePosixPath(title)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f'title="{title}" must be a relative path inside the working directory')
    return Path(*path.parts)


@dataclass
class Outcome:
    line: int
    kind: str
    lang: str
    title: str | None
    status: str  # ran, written, skipped, ignored, failed, not-run
    reason: str | None = None
    error: str | None = None
    seconds: float = 0.0
    commands: list[str] = field(default_factory=list)


def _shell_env(bin_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    interpreter_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([str(bin_dir), interpreter_dir, env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _make_shims(bin_dir: Path) -> None:
    """``mipro``, ``python`` and ``python3`` that run this very interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    interpreter = shlex.quote(sys.executable)
    shims = {
        "mipro": f'exec {interpreter} -m mipro_core "$@"\n',
        "python": f'exec {interpreter} "$@"\n',
        "python3": f'exec {interpreter} "$@"\n',
    }
    for name, body in shims.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        path.chmod(0o755)


def _run_shell(command: str, workdir: Path, env: dict[str, str], script: bool = False) -> None:
    sys.stdout.write(f"$ {command}\n" if not script else f"[bash -e]\n{command}")
    sys.stdout.flush()
    argv = ["bash", "-e", "-c", command] if script else ["bash", "-c", command]
    completed = subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    sys.stdout.write(completed.stdout)
    sys.stdout.flush()
    if completed.returncode != 0:
        tail = "\n".join(completed.stdout.splitlines()[-30:])
        raise RuntimeError(f"command exited with {completed.returncode}: {command}\n{tail}")


def run_page(page: Path, workdir: Path) -> list[Outcome]:
    """Run every block of ``page`` in ``workdir``; stop at the first failure."""
    blocks = parse_blocks(page.read_text(encoding="utf-8"))
    workdir.mkdir(parents=True, exist_ok=True)
    support = workdir.parent / f"{workdir.name}.support"
    sources = support / "snippets"
    sources.mkdir(parents=True, exist_ok=True)
    bin_dir = support / "bin"
    _make_shims(bin_dir)
    env = _shell_env(bin_dir)
    os.environ.update(env)  # Python blocks that start `mipro` or `python` get the same ones

    module = types.ModuleType("docs_snippets_page")
    module.__file__ = str(page)
    sys.modules[module.__name__] = module
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))

    outcomes = []
    failed = False
    for block in blocks:
        kind = block.kind
        outcome = Outcome(block.line, kind, block.lang, block.title, "not-run")
        outcomes.append(outcome)
        if failed:
            continue
        if kind == "skip":
            outcome.status, outcome.reason = "skipped", block.skip_reason
            continue
        if kind == "ignore":
            outcome.status = "ignored"
            continue
        started = time.perf_counter()
        try:
            if kind == "file":
                assert block.title is not None
                target = workdir / _safe_relative(block.title)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
                outcome.status = "written"
            elif kind == "python":
                # A real file behind the code, so tracebacks and inspect.getsource() work.
                source = sources / f"{page.stem}_line{block.line}.py"
                source.write_text(block.code, encoding="utf-8")
                sys.stdout.write(f"--- {page.name}:{block.line} (python)\n")
                sys.stdout.flush()
                exec(compile(block.code, str(source), "exec"), module.__dict__)
                outcome.status = "ran"
            elif kind == "console":
                outcome.commands = console_commands(block.code)
                for command in outcome.commands:
                    _run_shell(command, workdir, env)
                outcome.status = "ran"
            elif kind == "script":
                outcome.commands = [block.code]
                _run_shell(block.code, workdir, env, script=True)
                outcome.status = "ran"
        except BaseException as exc:  # report everything, including SystemExit from a block
            outcome.status = "failed"
            outcome.error = "".join(traceback.format_exception(exc))
            failed = True
        finally:
            outcome.seconds = round(time.perf_counter() - started, 3)
    return outcomes


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__ or "")
        return 2
    page, workdir, report = (Path(arg).resolve() for arg in argv)
    outcomes = run_page(page, workdir)
    sys.stdout.flush()
    report.write_text(json.dumps([asdict(o) for o in outcomes], indent=2), encoding="utf-8")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # A block may leave non-daemon threads behind (a server, an executor): do not wait for them.
    os._exit(status)
