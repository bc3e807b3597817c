"""Which gold field of the examples is which module output: the mapping labeled demos need.

A labeled demo shows a module its inputs and the output to imitate, taken from an example's gold
fields. That needs to know which gold field holds which output. By default a module output takes
the gold field of the same name. Two more sources, in order:

* the user's ``outputs`` mapping: ``{"module": "gold"}`` for a module with one output, or
  ``{"module.field": "gold"}``;
* a program with one module whose one output is the model's reply text as it is
  (``module.output_is_raw_text``: a LangChain chain ending in ``StrOutputParser()`` or in the
  model, a LlamaIndex query engine's answer) and data with one gold field under another name
  (the chain's output is ``text``, the data says ``label``): the gold field is that output.

A module whose output goes through a parser (JSON, Pydantic, tool calls) is never mapped
automatically: its reply is structured text, and a demo showing the bare gold answer would teach
the model to drop the structure. Adapters that do not set ``output_is_raw_text`` are treated so.
When no module output has a gold field although the examples have some, the run would search
without the demos that often help most: :func:`resolve_outputs` warns, naming the outputs, the
gold fields and the ``outputs=`` option.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._errors import InvalidInputError
from ._protocols import Module
from ._types import Example

logger = logging.getLogger("mipro_core")

GoldFields = Mapping[str, Mapping[str, str]]
"""Per module: output field -> the gold field holding it (only fields whose names differ)."""


def outputs_pairs(value: Any) -> tuple[tuple[str, str], ...]:
    """The ``outputs`` option as sorted ``(key, gold field)`` pairs (from a mapping or pairs)."""
    items: Iterable[Any] = value.items() if isinstance(value, Mapping) else value
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str) or len(item) != 2:
            raise InvalidInputError(
                f"outputs must map 'module' or 'module.field' to a gold field name, got {item!r}"
            )
        key, gold = item
        if not isinstance(key, str) or not isinstance(gold, str) or not key or not gold:
            raise InvalidInputError(
                f"outputs must map 'module' or 'module.field' to a gold field name, got {item!r}"
            )
        pairs.append((key, gold))
    return tuple(sorted(pairs))


def _target(modules: Mapping[str, Module], key: str) -> tuple[str, str]:
    """``(module, output field)`` named by an ``outputs`` key."""
    if key in modules:
        outs = modules[key].signature.outputs
        if len(outs) != 1:
            raise InvalidInputError(
                f"outputs names module {key!r}, which has outputs {list(outs)}: name one as "
                f"'{key}.<field>'"
            )
        return key, outs[0]
    name, dot, field = key.rpartition(".")
    if dot and name in modules:
        if field not in modules[name].signature.outputs:
            raise InvalidInputError(
                f"outputs names {key!r}, but module {name!r} has outputs "
                f"{list(modules[name].signature.outputs)}"
            )
        return name, field
    raise InvalidInputError(f"outputs names {key!r}, which is no module; modules: {list(modules)}")


def _gold_names(examples: Sequence[Example]) -> list[str]:
    return list(dict.fromkeys(f for ex in examples for f in ex.outputs))


def resolve_outputs(
    modules: Mapping[str, Module],
    examples: Sequence[Example],
    outputs: Iterable[tuple[str, str]] = (),
    *,
    warn: bool = False,
) -> dict[str, dict[str, str]]:
    """The gold field of each module output whose gold field is not named like it.

    Raises :class:`InvalidInputError` for an ``outputs`` entry naming no module or field, or a
    gold field no example has. With ``warn``, logs the automatic mapping and warns when the
    examples have gold fields but no module output has one.
    """
    gold_names = _gold_names(examples)
    result: dict[str, dict[str, str]] = {}
    for key, gold in outputs:
        module, field = _target(modules, key)
        if gold not in gold_names:
            raise InvalidInputError(
                f"outputs maps {key!r} to gold field {gold!r}, which no example has; "
                f"gold fields: {gold_names}"
            )
        result.setdefault(module, {})[field] = gold
    if result:
        return result
    if not gold_names or _any_covered(modules, gold_names):
        return result
    single = len(modules) == 1 and len(gold_names) == 1
    only = next(iter(modules.values())) if single else None
    if only is not None and len(only.signature.outputs) == 1 and output_is_raw_text(only):
        name, field, gold = next(iter(modules)), only.signature.outputs[0], gold_names[0]
        if warn:
            logger.info(
                "the program's one output %r (the model's reply text) takes the data's one gold "
                "field %r for labeled demos",
                field,
                gold,
            )
        return {name: {field: gold}}
    if warn:
        shown = {n: list(m.signature.outputs) for n, m in modules.items()}
        why = (
            "the program's one output is not the model's raw reply (it goes through a parser, "
            "or the adapter does not say), so it is not mapped automatically"
            if only is not None and len(only.signature.outputs) == 1
            else "no module output matches a gold field of the data"
        )
        logger.warning(
            "%s (outputs %s; gold fields %s): no labeled demos can be formed. Pass "
            "outputs={'<module>': '<gold field>'} (CLI: --map-output MODULE=COLUMN) to say "
            "which gold field a module's output is",
            why,
            shown,
            gold_names,
        )
    return result


def output_is_raw_text(module: Module) -> bool:
    """Whether ``module`` says its one output is the model's reply text as it is (an adapter's
    ``output_is_raw_text`` attribute; absent means no)."""
    return getattr(module, "output_is_raw_text", False) is True


def _any_covered(modules: Mapping[str, Module], gold_names: Sequence[str]) -> bool:
    gold = set(gold_names)
    return any(f in gold for m in modules.values() for f in m.signature.outputs)
