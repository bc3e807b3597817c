"""Loading the user's objects named on the command line: ``package.module:attribute``
references to an app (or a zero-argument factory building one), a metric and a proposer model.
The module is imported with the current directory first on ``sys.path``."""

from __future__ import annotations

import argparse
import difflib
import functools
import importlib
import inspect
import logging
import os
from typing import Any

from ._errors import InvalidInputError, MiproError, NoAdapterError

logger = logging.getLogger("mipro_core")


def spec(text: str) -> str:
    """A ``package.module:attribute`` reference."""
    module, colon, attribute = text.partition(":")
    parts = [*module.split("."), *attribute.split(".")]
    if not colon or not all(part.isidentifier() for part in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} must look like 'package.module:attribute' (e.g. 'myapp:build_chain')"
        )
    return text


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


def _output_pair(text: str) -> tuple[str, str]:
    module, eq, column = text.rpartition("=")
    if not eq or not module.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"expected MODULE=COLUMN, got {text!r}")
    return module.strip(), column.strip()


def add_map_output_argument(group: Any) -> None:
    """``--map-output MODULE=COLUMN`` (repeatable): ``optimize(outputs=...)`` on the CLI."""
    group.add_argument(
        "--map-output",
        action="append",
        default=[],
        type=_output_pair,
        metavar="MODULE=COLUMN",
        help="the label column holding MODULE's output when their names differ, for labeled "
        "demos (MODULE.FIELD=COLUMN for a module with several outputs; repeatable)",
    )
