"""The ``mipro`` command line: version, plugins, show, one-line errors, command registry."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core
from mipro_core import Demo, InvalidInputError, ModuleState, ProgramState, save_state
from mipro_core import cli as cli_module
from mipro_core.cli import main, register_command
from mipro_core.plugins import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV, reset_plugin_manager

ROOT = Path(__file__).resolve().parents[1]

STATE = ProgramState(
    {
        "query": ModuleState("Write a search query.\nKeep it short.", ()),
        "answer": ModuleState(
            "Answer using {context}.",
            (
                Demo(
                    {"question": "Who wrote Hamlet?", "context": "Line 1\nLine 2"},
                    {"answer": "Shakespeare"},
                    "bootstrapped",
                ),
                Demo({"question": "n?", "context": ["a", 1]}, {"answer": "7"}, "labeled"),
            ),
        ),
    }
)


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(ALLOW_LIST_ENV, raising=False)
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return save_state(
        tmp_path / "best.json", STATE, {"score": 0.63, "baseline_score": 0.41, "seed": 7}
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mipro: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


# --- version and help ------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"mipro {mipro_core.__version__}\n", "")


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    assert "plugins" in out and "show" in out and out.startswith("usage: mipro")


def test_version_in_a_real_subprocess() -> None:
    for module in ("mipro_core.cli", "mipro_core"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"mipro {mipro_core.__version__}\n"


def test_error_in_a_real_subprocess_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = subprocess.run(
        [sys.executable, "-m", "mipro_core.cli", "show", str(missing)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_error_line(result.stderr, "No such file or directory", str(missing))


# --- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ((), "no command given; choose one of: plugins, show"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
        (("show",), "required: ARTIFACT (see 'mipro show --help')"),
        (("--bogus",), "unrecognized arguments: --bogus"),
        (("plugins", "--nope"), "unrecognized arguments: --nope"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], fragment: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert_one_error_line(err, fragment)


# --- plugins ---------------------------------------------------------------------------------


@pytest.fixture
def broken_entry_point(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    module = f"mipro_fake_cli_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("raise ImportError('needs libfoo')\n")
    good = f"mipro_fake_cli_good_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{good}.py").write_text(
        textwrap.dedent(
            """
            from mipro_core.plugins import hookimpl

            @hookimpl
            def mipro_adapter_info():
                return {"framework": "gizmos"}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [
        importlib.metadata.EntryPoint(name="broken", value=module, group="mipro"),
        importlib.metadata.EntryPoint(name="gizmo", value=good, group="mipro"),
    ]
    original = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") == "mipro":
            return importlib.metadata.EntryPoints(eps)
        return original(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    yield
    sys.modules.pop(module, None)
    sys.modules.pop(good, None)


@pytest.mark.usefixtures("broken_entry_point")
def test_plugins_lists_adapters_and_failures(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "plugins")
    assert status == 0
    assert err == ""  # the failure is listed, not warned about
    lines = out.splitlines()
    assert lines[0] == "Adapters (2):"
    assert lines[1].split()[:3] == ["native", "mipro-core", mipro_core.__version__]
    assert "built-in" in lines[1]
    assert lines[2].split()[:3] == ["gizmo", "entry", "point"]
    assert "framework: gizmos" in lines[2]
    assert lines[3] == "Failed to load (1):"
    assert lines[4].split(None, 1) == ["broken", "ImportError: needs libfoo"]


@pytest.mark.usefixtures("broken_entry_point")
def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "plugins", "--json")
    assert status == 0
    document = json.loads(out)
    assert [p["name"] for p in document["plugins"]] == ["native", "gizmo"]
    assert document["plugins"][0]["distribution"] == "mipro-core"
    assert document["failed"] == [{"name": "broken", "reason": "ImportError: needs libfoo"}]
    assert document["autoload"] is True and document["allow_list"] is None


def test_plugins_reports_disabled_autoload(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    monkeypatch.setenv(ALLOW_LIST_ENV, "toy")
    status, out, _ = run(capsys, "plugins")
    assert status == 0
    assert out.splitlines()[0] == "Adapters (1):"
    assert f"disabled by {DISABLE_AUTOLOAD_ENV}" in out
    assert f"{ALLOW_LIST_ENV} allows only: toy" in out


# --- show ------------------------------------------------------------------------------------


def test_show_pretty_prints_an_artifact(capsys: pytest.CaptureFixture[str], artifact: Path) -> None:
    status, out, err = run(capsys, "show", str(artifact))
    assert status == 0 and err == ""
    assert f"Artifact: {artifact}" in out
    assert "mipro.program_state, schema version 1" in out
    assert f"written by:  mipro {mipro_core.__version__}" in out
    assert "UTC" in out
    assert "  score: 0.63" in out and "  seed: 7" in out and "  baseline_score: 0.41" in out
    assert "Modules (2): query, answer" in out
    assert out.index("== query ==") < out.index("== answer ==")
    assert "    Write a search query.\n    Keep it short.\n" in out
    assert "Demos (0):" in out and "Demos (2):" in out
    assert "  [1] bootstrapped" in out and "  [2] labeled" in out
    assert "      question: Who wrote Hamlet?" in out
    assert "      context: Line 1\n               Line 2" in out  # continuation aligned
    assert '      context: ["a", 1]' in out
    assert "      answer: Shakespeare" in out


def test_show_escapes_terminal_control_characters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hostile = ProgramState({"m\x1b[2J": ModuleState("red \x1b[31m text \u202e evil\x07")})
    path = save_state(tmp_path / "hostile.json", hostile, {"note": "\x1b]0;title\x07"})
    status, out, _ = run(capsys, "show", str(path))
    assert status == 0
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert "red \\x1b[31m text \\u202e evil\\x07" in out
    assert "== m\\x1b[2J ==" in out


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"format": "mipro.program_state", "schema_version": 9}', "newer mipro"),
        (b"\x80\x04garbage", "not UTF-8"),
    ],
)
def test_show_bad_artifact_is_one_line_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    status, out, err = run(capsys, "show", str(path))
    assert status == 1 and out == ""
    assert_one_error_line(err, str(path), fragment)


def test_show_missing_file_and_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "show", str(tmp_path / "nope.json"))
    assert status == 1
    assert_one_error_line(err, "No such file or directory", "nope.json")
    status, _, err = run(capsys, "show", str(tmp_path))
    assert status == 1
    assert_one_error_line(err, "not a regular file")


# --- the command registry --------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "_COMMANDS", dict(cli_module._COMMANDS))


@pytest.mark.usefixtures("registry")
def test_registered_command_with_lazy_handler(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = f"mipro_fake_command_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            """
            import sys

            def configure(parser):
                parser.add_argument("--times", type=int, default=1)

            def handle(args):
                sys.stdout.write("hello\\n" * args.times)
                return 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    register_command("hello", "say hello", f"{module}:configure", f"{module}:handle")
    assert run(capsys, "hello", "--times", "2") == (3, "hello\nhello\n", "")
    status, _, err = run(capsys, "hello", "--times", "x")
    assert status == 2
    assert_one_error_line(err, "invalid int value: 'x'", "mipro hello --help")
    with pytest.raises(ValueError, match="already registered"):
        register_command("hello", "again", f"{module}:configure", f"{module}:handle")
    sys.modules.pop(module, None)


@pytest.mark.usefixtures("registry")
@pytest.mark.parametrize(
    ("error", "status", "fragment"),
    [
        (InvalidInputError("bad input:\n  details"), 1, "bad input: details"),
        (PermissionError(13, "Permission denied", "/x.json"), 1, "Permission denied: /x.json"),
        (OSError("plain failure"), 1, "plain failure"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_handler_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], error: BaseException, status: int, fragment: str
) -> None:
    def fail(args: Any) -> int:
        raise error

    register_command("fail", "always fails", lambda parser: None, fail)
    result, out, err = run(capsys, "fail")
    assert result == status and out == ""
    assert_one_error_line(err, fragment)


@pytest.mark.usefixtures("registry")
def test_handler_warnings_become_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    def warn(args: Any) -> None:
        warnings.warn("careful:\nsomething odd", UserWarning, stacklevel=1)

    register_command("warn", "warns", lambda parser: None, warn)
    status, _, err = run(capsys, "warn")
    assert status == 0
    assert err == "mipro: warning: careful: something odd\n"


@pytest.mark.usefixtures("registry")
def test_bugs_keep_their_traceback() -> None:
    def buggy(args: Any) -> int:
        raise ZeroDivisionError("a bug")

    register_command("buggy", "has a bug", lambda parser: None, buggy)
    with pytest.raises(ZeroDivisionError):
        main(["buggy"])


def test_invalid_command_names_are_refused() -> None:
    for name in ("", "--x"):
        with pytest.raises(ValueError, match="invalid command name"):
            register_command(name, "", lambda parser: None, lambda args: 0)
