"""Turning the user's objects into mipro's protocols, and putting saved prompts back into them.

``adapt`` and ``wrap_lm`` ask the plugins (see :mod:`mipro_core.plugins`); the plugin manager is
imported on first call, so ``import mipro_core`` stays cheap.
"""

from __future__ import annotations

import os
from typing import Any

from ._artifact import Artifact, read_artifact
from ._errors import ArtifactError, NoAdapterError
from ._input_checks import check_artifact_demos
from ._protocols import LM, Program, is_program, looks_like_lm
from ._types import ProgramState

__all__ = ["adapt", "apply", "is_program", "looks_like_lm", "wrap_lm"]


def _type_name(obj: Any) -> str:
    kind = type(obj)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def adapt(obj: Any) -> Program:
    """``obj`` as a :class:`~mipro_core.Program`.

    Returns ``obj`` itself when it already implements the protocol (e.g. a
    :class:`~mipro_core.native.NativeProgram`); otherwise the first adapter plugin that accepts
    it. Raises :class:`~mipro_core.NoAdapterError` naming the object's type and the installed
    (and failed) adapters when none does.
    """
    if is_program(obj):
        result: Program = obj
        return result
    from ._plugin_list import adapters_summary
    from ._plugin_manager import get_plugin_manager

    adapted = get_plugin_manager().hook.mipro_adapt(obj=obj)
    if adapted is None:
        raise NoAdapterError(
            f"no installed adapter accepts an object of type {_type_name(obj)}; "
            f"{adapters_summary()}. Install the adapter distribution for its framework, or "
            "pass an object implementing mipro_core.Program (e.g. mipro_core.native.NativeProgram)"
        )
    if not is_program(adapted):
        raise NoAdapterError(
            f"an adapter returned a {_type_name(adapted)} for a {_type_name(obj)}, which does "
            "not implement mipro_core.Program (modules, apply, run, describe); "
            f"{adapters_summary()}"
        )
    return adapted  # type: ignore[no-any-return]


def wrap_lm(obj: Any) -> LM:
    """``obj`` as an :class:`~mipro_core.LM` (the model the instruction proposer calls).

    Adapter plugins are asked first (a framework's model object may be callable with another
    meaning); the built-in plugin then accepts any callable that takes
    ``(messages, *, n, temperature)``. Raises :class:`~mipro_core.NoAdapterError` otherwise.
    """
    from ._plugin_list import adapters_summary
    from ._plugin_manager import get_plugin_manager

    wrapped = get_plugin_manager().hook.mipro_wrap_lm(obj=obj)
    if wrapped is None:
        raise NoAdapterError(
            f"no installed adapter can use an object of type {_type_name(obj)} as a language "
            f"model; {adapters_summary()}. Pass a framework chat model an installed adapter "
            "supports, or a callable (messages, *, n=1, temperature=0.0) -> list[str]"
        )
    if not looks_like_lm(wrapped):
        raise NoAdapterError(
            f"an adapter returned a {_type_name(wrapped)} for a {_type_name(obj)}, which is not "
            f"callable as (messages, *, n, temperature); {adapters_summary()}"
        )
    return wrapped  # type: ignore[no-any-return]


def apply(obj: Any, state: ProgramState | Artifact | str | os.PathLike[str]) -> Program:
    """Put a saved state into ``obj``'s real prompts, in place, and return ``adapt(obj)``.

    ``state`` is a :class:`~mipro_core.ProgramState`, a loaded
    :class:`~mipro_core.Artifact`, or the path of an artifact file. The state must name exactly
    the program's modules: a mismatch raises :class:`~mipro_core.ArtifactError` naming the
    missing and unknown modules (usually the artifact was saved for another program, or the
    program was changed since).
    """
    program = adapt(obj)
    origin = "state"
    if isinstance(state, Artifact):
        state = state.state
    elif isinstance(state, (str, os.PathLike)):
        origin = os.fspath(state)
        state = read_artifact(state).state
    if not isinstance(state, ProgramState):
        raise ArtifactError(
            f"expected a ProgramState, an Artifact or a path, got {_type_name(state)}"
        )
    _check_fits(program, state, origin)
    program.apply(state)
    return program


def _check_fits(program: Program, state: ProgramState, origin: str) -> None:
    names = list(program.modules)
    missing = [name for name in names if name not in state.modules]
    unknown = [name for name in state if name not in program.modules]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing module(s) {missing} (in the program, not in the state)")
        if unknown:
            problems.append(f"unknown module(s) {unknown} (in the state, not in the program)")
        raise ArtifactError(
            f"{origin}: does not fit this program: {'; '.join(problems)}; "
            f"the program's modules are {names}"
        )
    for name, module in program.modules.items():
        outputs = set(module.signature.outputs)
        for demo in state[name].demos:
            if outputs and not outputs & set(demo.outputs):
                raise ArtifactError(
                    f"{origin}: the demos of module {name!r} answer {sorted(demo.outputs)}, but "
                    f"the module produces {sorted(outputs)}: the artifact was saved for another "
                    "version of this program"
                )
        check_artifact_demos(module, state[name].demos, origin)
