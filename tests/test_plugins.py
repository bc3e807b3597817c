"""Plugins: lazy entry-point loading, fault tolerance, env switches, adapt/wrap_lm dispatch."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import textwrap
import threading
import types
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import mipro_core
from mipro_core import InvalidInputError, NoAdapterError, Trace, adapt, wrap_lm
from mipro_core import _plugin_manager as manager
from mipro_core.native import NativeProgram, Stage
from mipro_core.plugins import (
    ALLOW_LIST_ENV,
    DISABLE_AUTOLOAD_ENV,
    PluginWarning,
    failed_plugins,
    get_plugin_manager,
    hookimpl,
    list_plugins,
    register_plugin,
    reset_plugin_manager,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(ALLOW_LIST_ENV, raising=False)
    reset_plugin_manager()
    yield
    reset_plugin_manager()


@pytest.fixture
def no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the adapters installed in this environment (only in-process plugins count)."""
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")


class FakeEntryPoints:
    """Writes plugin modules to a temp dir and serves them as ``mipro`` entry points.

    Only ``importlib.metadata.entry_points`` is replaced; the entry points are real
    :class:`importlib.metadata.EntryPoint` objects that import real modules from ``sys.path``.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.monkeypatch = monkeypatch
        self.directory = directory
        self.entry_points: list[importlib.metadata.EntryPoint] = []
        self.modules: dict[str, str] = {}
        monkeypatch.syspath_prepend(str(directory))
        original = importlib.metadata.entry_points

        def entry_points(**params: Any) -> Any:
            if params.get("group") == "mipro":
                return importlib.metadata.EntryPoints(self.entry_points)
            return original(**params)

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    def add(self, name: str, source: str, attribute: str | None = None) -> str:
        """Add entry point ``name`` pointing at a new module with ``source``; return its name."""
        module = f"mipro_fake_{name}_{uuid.uuid4().hex[:8]}"
        (self.directory / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        value = f"{module}:{attribute}" if attribute else module
        self.entry_points.append(
            importlib.metadata.EntryPoint(name=name, value=value, group="mipro")
        )
        self.modules[name] = module
        self.monkeypatch.delitem(sys.modules, module, raising=False)
        return module

    def add_raw(self, name: str, value: str) -> None:
        self.entry_points.append(
            importlib.metadata.EntryPoint(name=name, value=value, group="mipro")
        )

    def module(self, name: str) -> types.ModuleType:
        return importlib.import_module(self.modules[name])

    def imported(self, name: str) -> bool:
        return self.modules[name] in sys.modules


@pytest.fixture
def fake_eps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeEntryPoints]:
    fakes = FakeEntryPoints(monkeypatch, tmp_path)
    yield fakes
    for module in fakes.modules.values():
        sys.modules.pop(module, None)


WIDGET_PLUGIN = """
    from mipro_core.native import NativeProgram, Stage
    from mipro_core.plugins import hookimpl


    class Widget:
        def __init__(self, instruction):
            self.instruction = instruction


    def _lm(messages, *, n=1, temperature=0.0):
        return ["answer: ok"] * n


    @hookimpl
    def mipro_adapt(obj):
        if not isinstance(obj, Widget):
            return None
        stage = Stage("only", "question -> answer", obj.instruction, lm=_lm)
        return NativeProgram([stage], lambda stages, inputs: stages["only"](**inputs))


    @hookimpl
    def mipro_adapter_info():
        return {"name": "widget", "framework": "widgets", "version": "9.9"}
"""


def echo_lm(messages: Sequence[Any], *, n: int = 1, temperature: float = 0.0) -> list[str]:
    return [f"answer: {len(messages)}"] * n


def native_program() -> NativeProgram:
    stage = Stage("only", "question -> answer", "Answer.", lm=echo_lm)
    return NativeProgram([stage], lambda stages, inputs: stages["only"](**inputs))


# --- the entry-point path ------------------------------------------------------------------------


def test_entry_point_plugin_adapts_its_objects(fake_eps: FakeEntryPoints) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    assert not fake_eps.imported("widget")  # nothing loads before first use
    program = adapt(fake_eps.module("widget").Widget("Be brief."))
    assert list(program.modules) == ["only"]
    assert program.modules["only"].state.instruction == "Be brief."
    prediction, trace = program.run({"question": "q"})
    assert prediction == {"answer": "ok"} and isinstance(trace, Trace)
    infos = {p.name: p for p in list_plugins()}
    assert list(infos) == ["native", "widget"]
    assert infos["widget"].info["framework"] == "widgets"
    assert infos["widget"].distribution is None and not infos["widget"].builtin
    assert infos["widget"].entry_point == fake_eps.modules["widget"]
    assert infos["native"].distribution == "mipro-core" and infos["native"].builtin
    assert failed_plugins() == []


def test_plugins_load_lazily_once_and_only_on_first_use(fake_eps: FakeEntryPoints) -> None:
    counter = types.ModuleType("mipro_fake_counter")
    counter.count = 0  # type: ignore[attr-defined]
    sys.modules["mipro_fake_counter"] = counter
    try:
        fake_eps.add(
            "counted",
            "import mipro_fake_counter\nmipro_fake_counter.count += 1\n"
            + textwrap.dedent(WIDGET_PLUGIN),
        )
        assert mipro_core.adapt is adapt  # the package is imported...
        assert counter.count == 0  # ...but no plugin is loaded before first use  # type: ignore[attr-defined]
        managers: list[Any] = []
        threads = [
            threading.Thread(target=lambda: managers.append(get_plugin_manager())) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(m) for m in managers}) == 1
        assert counter.count == 1  # type: ignore[attr-defined]
    finally:
        del sys.modules["mipro_fake_counter"]


def test_import_of_mipro_core_loads_no_plugin_machinery() -> None:
    code = (
        "import sys, mipro_core\n"
        "assert 'pluggy' not in sys.modules, 'import mipro_core imported pluggy'\n"
        "import mipro_core.plugins, mipro_core._plugin_manager as m\n"
        "assert m._registry is None, 'the plugin manager was built at import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_plugin_that_uses_the_manager_at_import_does_not_recurse(
    fake_eps: FakeEntryPoints,
) -> None:
    fake_eps.add(
        "eager",
        "from mipro_core.plugins import get_plugin_manager\n"
        "SEEN = get_plugin_manager()\n" + textwrap.dedent(WIDGET_PLUGIN),
    )
    pm = get_plugin_manager()
    assert fake_eps.module("eager").SEEN is pm
    assert pm.has_plugin("eager")


# --- broken plugins --------------------------------------------------------------------------


def test_broken_plugin_warns_and_the_others_still_load(fake_eps: FakeEntryPoints) -> None:
    fake_eps.add("aaa_broken", "raise RuntimeError('boom at import')\n")
    fake_eps.add("widget", WIDGET_PLUGIN)
    fake_eps.add_raw("missing", "mipro_no_such_module_anywhere")
    with pytest.warns(PluginWarning) as caught:
        pm = get_plugin_manager()
    messages = [str(w.message) for w in caught]
    assert any("'aaa_broken'" in m and "RuntimeError: boom at import" in m for m in messages)
    assert any("'missing'" in m and "ModuleNotFoundError" in m for m in messages)
    assert pm.has_plugin("widget")
    assert dict(failed_plugins()) == {
        "aaa_broken": "RuntimeError: boom at import",
        "missing": "ModuleNotFoundError: No module named 'mipro_no_such_module_anywhere'",
    }
    assert adapt(fake_eps.module("widget").Widget("x")).modules["only"].state.instruction == "x"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (  # an argument the specification does not have
            "from mipro_core.plugins import hookimpl\n"
            "@hookimpl\ndef mipro_adapt(obj, options):\n    return None\n",
            "PluginValidationError",
        ),
        (  # a typo in a hook name; its correct hook must not stay registered either
            "from mipro_core.plugins import hookimpl\n"
            "@hookimpl\ndef mipro_adapt(obj):\n    return 'claimed'\n"
            "@hookimpl\ndef mipro_adpat(obj):\n    return None\n",
            "unknown hook 'mipro_adpat'",
        ),
        ("def mipro_adapt(obj):\n    return 'claimed'\n", "defines no mipro hook"),
    ],
    ids=["bad-signature", "unknown-hook", "no-hookimpl"],
)
def test_invalid_plugin_is_rejected_without_side_effects(
    fake_eps: FakeEntryPoints, source: str, reason: str
) -> None:
    fake_eps.add("bad", source)
    with pytest.warns(PluginWarning, match="'bad'"):
        pm = get_plugin_manager()
    assert not pm.has_plugin("bad")
    ((name, why),) = failed_plugins()
    assert name == "bad" and reason in why
    impls = pm.hook.mipro_adapt.get_hookimpls()
    assert [impl.plugin_name for impl in impls] == ["native"]
    with pytest.raises(NoAdapterError):
        adapt(object())


def test_entry_point_cannot_take_the_builtin_name(fake_eps: FakeEntryPoints) -> None:
    fake_eps.add("native", WIDGET_PLUGIN)
    with pytest.warns(PluginWarning, match="already taken"):
        plugins = list_plugins()
    assert [p.name for p in plugins] == ["native"] and plugins[0].builtin


def test_entry_points_load_in_name_order(fake_eps: FakeEntryPoints) -> None:
    for name in ("zeta", "alpha", "mid"):
        fake_eps.add(name, WIDGET_PLUGIN)
    assert [p.name for p in list_plugins()] == ["native", "alpha", "mid", "zeta"]


# --- environment switches --------------------------------------------------------------------


def test_env_var_disables_autoload(
    fake_eps: FakeEntryPoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    assert [p.name for p in list_plugins()] == ["native"]
    assert not fake_eps.imported("widget")
    with pytest.raises(NoAdapterError, match=DISABLE_AUTOLOAD_ENV):
        adapt(object())


@pytest.mark.parametrize("value", ["", "0", "false", "No", "off"])
def test_falsy_disable_values_keep_autoload(
    fake_eps: FakeEntryPoints, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, value)
    assert [p.name for p in list_plugins()] == ["native", "widget"]


def test_allow_list_loads_only_named_plugins(
    fake_eps: FakeEntryPoints, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    fake_eps.add("other", WIDGET_PLUGIN)
    fake_eps.add("broken", "raise RuntimeError('never imported')\n")
    monkeypatch.setenv(ALLOW_LIST_ENV, " widget , ghost")
    assert [p.name for p in list_plugins()] == ["native", "widget"]
    assert not fake_eps.imported("other") and failed_plugins() == []
    assert "ghost" in caplog.text
    with pytest.raises(NoAdapterError, match="allows only: ghost, widget"):
        adapt(object())


def test_empty_allow_list_loads_no_entry_point(
    fake_eps: FakeEntryPoints, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    monkeypatch.setenv(ALLOW_LIST_ENV, "")
    assert [p.name for p in list_plugins()] == ["native"]


# --- adapt / wrap_lm dispatch ----------------------------------------------------------------


def test_adapt_returns_programs_unchanged() -> None:
    program = native_program()
    assert adapt(program) is program
    with pytest.raises(NoAdapterError):
        adapt(NativeProgram)  # the class is not a program


def test_no_adapter_error_names_the_type_and_lists_adapters(fake_eps: FakeEntryPoints) -> None:
    fake_eps.add("widget", WIDGET_PLUGIN)
    fake_eps.add("broken", "raise ImportError('needs libfoo')\n")

    class Gadget:
        pass

    with pytest.warns(PluginWarning), pytest.raises(NoAdapterError) as info:
        adapt(Gadget())
    message = str(info.value)
    assert "test_plugins" in message and "Gadget" in message
    assert "native (mipro-core" in message and "widget" in message
    assert "failed to load: broken (ImportError: needs libfoo)" in message
    assert isinstance(info.value, TypeError)


def test_adapter_returning_a_non_program_is_an_error() -> None:
    class Liar:
        @hookimpl
        def mipro_adapt(self, obj: Any) -> Any:
            return "not a program" if obj == "lie" else None

    register_plugin(Liar(), name="liar")
    with pytest.raises(NoAdapterError, match=r"does not implement mipro_core\.Program"):
        adapt("lie")


def test_wrap_lm_accepts_lm_callables_and_rejects_others() -> None:
    assert wrap_lm(echo_lm) is echo_lm
    for junk in (object(), print, lambda prompt: prompt, "text", type(echo_lm)):
        with pytest.raises(NoAdapterError, match="language model"):
            wrap_lm(junk)


def test_framework_adapter_wins_over_the_builtin_for_callables() -> None:
    def framework_model(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        return ["raw"]

    def wrapped(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        return ["wrapped"]

    class Plugin:
        @hookimpl
        def mipro_wrap_lm(self, obj: Any) -> Any:
            return wrapped if obj is framework_model else None

    register_plugin(Plugin(), name="framework")
    assert wrap_lm(framework_model) is wrapped
    assert wrap_lm(echo_lm) is echo_lm


@pytest.mark.usefixtures("no_autoload")
def test_register_plugin_validates() -> None:
    class Good:
        @hookimpl
        def mipro_adapter_info(self) -> dict[str, Any]:
            return {"name": "good"}

    class Typo:
        @hookimpl
        def mipro_adapt(self, obj: Any, extra: Any) -> None:
            return None

    good = Good()
    assert register_plugin(good, name="good") == "good"
    with pytest.raises(InvalidInputError, match="already"):
        register_plugin(good, name="again")
    with pytest.raises(InvalidInputError, match="already taken"):
        register_plugin(Good(), name="good")
    with pytest.raises(InvalidInputError, match="PluginValidationError"):
        register_plugin(Typo(), name="typo")
    assert [p.name for p in list_plugins()] == ["native", "good"]
    assert list_plugins()[1].info == {"name": "good"}


def test_trial_observers_are_called_and_isolated() -> None:
    seen: list[Any] = []

    class Recorder:
        @hookimpl
        def mipro_trial_completed(self, trial: Any) -> None:
            seen.append(trial)

    class Crasher:
        @hookimpl
        def mipro_trial_completed(self, trial: Any) -> None:
            raise ValueError(f"cannot log {trial}")

    register_plugin(Recorder(), name="recorder")
    register_plugin(Crasher(), name="crasher")
    with pytest.warns(PluginWarning, match="'crasher'.*ValueError: cannot log 1"):
        manager.notify_trial_completed(1)
    manager.notify_trial_completed(2)  # warned once; still calls the others
    assert seen == [1, 2]


def test_every_hook_is_documented() -> None:
    from mipro_core import _hookspecs

    docs = (ROOT / "docs" / "adapters.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(_hookspecs) if name.startswith("mipro_")]
    assert sorted(hooks) == [
        "mipro_adapt",
        "mipro_adapter_info",
        "mipro_run_completed",
        "mipro_run_failed",
        "mipro_run_started",
        "mipro_trial_completed",
        "mipro_wrap_lm",
    ]
    for name in hooks:
        assert getattr(_hookspecs, name).__doc__, name
        assert f"`{name}" in docs, f"{name} is not documented in docs/adapters.md"
    hooked = set(get_plugin_manager().hook.__dict__)
    assert set(hooks) <= hooked


# --- the real, installed toy adapter (docs/examples/mipro_toy_adapter) ----------------------


def _toy_installed() -> bool:
    return any(ep.name == "toy" for ep in importlib.metadata.entry_points(group="mipro"))


needs_toy = pytest.mark.skipif(
    not _toy_installed(),
    reason="mipro-toy-adapter is not installed "
    "(pip install -e docs/examples/mipro_toy_adapter) - the real entry-point path is untested",
)


@needs_toy
def test_installed_toy_adapter_is_found_through_its_entry_point() -> None:
    from mipro_toy_adapter import ToyChain, ToyLLM, ToyLM, ToyProgram, ToyStep

    chain = ToyChain([ToyStep("summarize", "Text: {text}", "summary", "Summarize.")], ToyLLM())
    program = adapt(chain)
    assert isinstance(program, ToyProgram) and program.chain is chain
    assert list(program.modules) == ["summarize"]
    assert isinstance(wrap_lm(ToyLLM()), ToyLM)
    toy = {p.name: p for p in list_plugins()}["toy"]
    assert toy.distribution == "mipro-toy-adapter" and toy.version == "0.1.0"
    assert toy.entry_point == "mipro_toy_adapter.plugin"
    assert toy.info["framework"] == "toychain (example)"


@needs_toy
def test_cli_lists_installed_toy_adapter(capsys: pytest.CaptureFixture[str]) -> None:
    from mipro_core.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("toy "))
    assert "mipro-toy-adapter 0.1.0" in line and "toychain" in line
