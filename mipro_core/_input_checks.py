"""Checks of input that would otherwise be scored silently: run before any LM call is paid.

Each check names the problem and the fix. They catch what the type checks of ``_api.py`` cannot:
a module whose prompt reads no input (every call sends the same prompt), datasets of copies of
one example, example values a prompt can only show as Python ``repr``, and saved demos that a
module cannot show.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import ArtifactError, InvalidInputError
from ._protocols import Module, Program
from ._types import Demo, Example

logger = logging.getLogger("mipro_core")


def check_modules_read_input(program: Program, freeze: Sequence[str]) -> None:
    """Refuse a searched module whose signature names no input field.

    Such a prompt is the same text on every example, so no trial can tell its instructions or
    demos apart (a system-only chat prompt, a template without variables, a native stage with
    an empty input list): optimizing it spends the whole budget and changes nothing.
    """
    empty = [
        name
        for name, module in program.modules.items()
        if name not in freeze and not tuple(module.signature.inputs)
    ]
    if empty:
        raise InvalidInputError(
            f"module(s) {empty} read no input variable: their prompt is the same on every "
            "example, so optimizing them cannot change a score and would spend the budget for "
            f"nothing; add a variable for the example's input to the prompt, or pass "
            f"freeze={empty!r} to leave them as they are"
        )


def check_distinct(data: Sequence[Example], name: str, minimum: int) -> None:
    """Refuse a dataset with fewer than ``minimum`` distinct examples; warn about copies.

    Examples are told apart by id (by default a hash of their content), which is also how
    results are cached: copies of one example are scored once and weigh as many times.
    """
    distinct = len({ex.id for ex in data})
    if distinct < minimum:
        raise InvalidInputError(
            f"{name} has {len(data)} example(s) but only {distinct} distinct one(s) (equal "
            f"content or id); at least {minimum} different examples are needed to compare "
            "prompts: a score on copies of one example says nothing about the others"
        )
    if distinct < len(data):
        logger.warning(
            "%s holds %d examples but only %d distinct ones: the copies are scored once and "
            "weigh as many times in every mean; remove them unless that weighting is intended",
            name,
            len(data),
            distinct,
        )


def _is_message(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "content" in value and ("role" in value or "type" in value)
    if isinstance(value, (tuple, list)) and len(value) == 2:  # a list: a tuple read from JSON
        return all(isinstance(v, str) for v in value)
    return hasattr(value, "content") and hasattr(value, "type")


def _is_text(value: Any) -> bool:
    """A value every prompt shows as itself: text, or a list of texts or chat messages."""
    if isinstance(value, str):
        return True
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        return all(isinstance(v, str) or _is_message(v) for v in value)
    return False


def _has_no_text_form(value: Any) -> bool:
    """Bytes, or an object whose text is only the default ``<Type object at 0x...>``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    kind: Any = type(value)
    return bool(kind.__str__ is object.__str__ and kind.__repr__ is object.__repr__)


def text_fields(program: Program) -> dict[str, str]:
    """Example input fields a prompt formats as text, each with the module that reads it.

    A module's signature inputs are its prompt's variables; a program may also name the
    example inputs one run takes (``input_fields``, e.g. a LlamaIndex query engine's
    ``("query",)``), which the framework puts into a prompt as text.
    """
    fields: dict[str, str] = {}
    for name, module in program.modules.items():
        for field in module.signature.inputs:
            fields.setdefault(field, f"module {name!r}")
    run_inputs = getattr(program, "input_fields", None)
    if isinstance(run_inputs, (list, tuple)):
        for field in run_inputs:
            if isinstance(field, str):
                fields.setdefault(field, "the program")
    return fields


def check_input_values(program: Program, datasets: Mapping[str, Sequence[Example]]) -> None:
    """Refuse example inputs with no text form; warn once per field and type about others.

    Only fields a prompt formats as text are looked at. A number, a bool, ``None`` or a dict
    there is shown as Python's ``str()`` of it (``{'a': 1}``), which a model rarely answers as
    the metric expects: that is a warning, since a number may be meant. Bytes or an object
    with no text of its own are refused.
    """
    fields = text_fields(program)
    warned: set[tuple[str, str]] = set()
    for name, data in datasets.items():
        for index, example in enumerate(data):
            for field, value in example.inputs.items():
                if field not in fields or _is_text(value):
                    continue
                kind = type(value).__name__
                where = f"{name}[{index}]"
                if _has_no_text_form(value):
                    raise InvalidInputError(
                        f"{where} input {field!r} is a {kind}, which {fields[field]} cannot "
                        "show in its prompt as text; convert it to a string"
                    )
                if (field, kind) not in warned:
                    warned.add((field, kind))
                    logger.warning(
                        "example input %r holds %s values (first: %s) but %s formats it as "
                        "text: the prompt shows str(value), e.g. %r; convert the values to "
                        "strings unless that is what the model should see",
                        field,
                        kind,
                        where,
                        fields[field],
                        str(value)[:60],
                    )


def _is_scalar_text(value: Any) -> bool:
    """Text or a number: shown the same by ``str()`` and JSON."""
    return isinstance(value, str) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def _demo_value_problem(value: Any) -> str | None:
    """Why a saved demo input cannot be shown as text, or ``None`` (text, a number, or a list
    of those or of chat messages: the shapes a traced run records)."""
    if _is_scalar_text(value):
        return None
    if isinstance(value, list) and all(_is_scalar_text(v) or _is_message(v) for v in value):
        return None
    kind = "null" if value is None else type(value).__name__
    return f"holds a {kind}, which a prompt can only show as Python's repr of it"


def check_artifact_demos(module: Module, demos: Sequence[Demo], origin: str) -> None:
    """Refuse saved demos a module cannot show: inputs it does not read, or non-text values.

    Demos equal to ones the module holds now (its original few-shot examples, which some
    frameworks key by their own names) are the program's own and accepted as they are.
    """
    inputs = tuple(module.signature.inputs)
    own = set(module.state.demos)
    original = getattr(module, "original_state", None) or getattr(module, "initial_state", None)
    own.update(getattr(original, "demos", ()))
    for index, demo in enumerate(demos):
        if demo in own:
            continue
        where = f"{origin}: demo {index} of module {module.name!r}"
        unknown = [field for field in demo.inputs if field not in inputs]
        if unknown:
            raise ArtifactError(
                f"{where} has input field(s) {unknown} that the module does not read (it "
                f"reads {list(inputs)}), so no prompt of the module can show it; the artifact "
                "was saved for another version of this program, or was edited"
            )
        if inputs and not demo.inputs:
            raise ArtifactError(f"{where} has no inputs: it would show an empty example")
        for field, value in demo.inputs.items():
            problem = _demo_value_problem(value)
            if problem is not None:
                raise ArtifactError(
                    f"{where}: input field {field!r} {problem}; store the text the prompt "
                    "should show (a string)"
                )
