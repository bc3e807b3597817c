"""What a journal remembers of the run it belongs to, to refuse resuming another one.

A journal's configuration holds a fingerprint of the program (each module's signature and the
hashes of its original instruction and demos), of the train and validation data (example ids
and a hash of their content) and the metric's name. :func:`differences` compares the
fingerprint recorded in a journal with the one of what a resume was given and names every
difference, so a journal written for another program that happens to have the same module
names is refused instead of writing that program's prompts into this one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ._protocols import Program
from ._types import Example, canonical_json

FINGERPRINT_KEY = "fingerprint"
"""The key of the fingerprint in a journal's run configuration."""


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:32]


def metric_name(metric: Any) -> str:
    """``module:qualified.name`` of the metric (its type's name for a callable object)."""
    owner = metric if hasattr(metric, "__qualname__") else type(metric)
    return f"{getattr(owner, '__module__', '?')}:{getattr(owner, '__qualname__', '?')}"


def program_fingerprint(program: Program) -> dict[str, Any]:
    """Per module: the fields it reads and writes and the hashes of its original prompt."""
    modules: dict[str, Any] = {}
    for name, module in program.modules.items():
        state = module.state
        modules[name] = {
            "inputs": list(module.signature.inputs),
            "outputs": list(module.signature.outputs),
            "instruction": _digest(state.instruction),
            "demos": _digest([d.to_dict() for d in state.demos]),
        }
    return modules


def data_fingerprint(examples: Sequence[Example]) -> dict[str, Any]:
    """The examples' ids, in order, and a hash of their content."""
    return {
        "ids_hash": _digest([ex.id for ex in examples]),
        "count": len(examples),
        "content": _digest([ex.to_dict() for ex in examples]),
    }


def fingerprint(
    program: Program, train: Sequence[Example], val: Sequence[Example], metric: Any
) -> dict[str, Any]:
    """The fingerprint a journal records for a run (JSON)."""
    return {
        "program": program_fingerprint(program),
        "trainset": data_fingerprint(train),
        "valset": data_fingerprint(val),
        "metric": metric_name(metric),
    }


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Each way ``current`` differs from the ``recorded`` fingerprint, in words."""
    found: list[str] = []
    old_modules = recorded.get("program")
    new_modules = current["program"]
    if not isinstance(old_modules, Mapping):
        found.append("the program (no module fingerprint recorded)")
        old_modules = {}
    for name in sorted(set(old_modules) | set(new_modules)):
        old, new = old_modules.get(name), new_modules.get(name)
        if old is None or new is None:
            where = "the journal" if new is None else "the program given"
            found.append(f"module {name!r} is only in {where}")
            continue
        for field, label in (
            ("inputs", "input fields"),
            ("outputs", "output fields"),
            ("instruction", "original instruction"),
            ("demos", "original demos"),
        ):
            if old.get(field) != new[field]:
                found.append(f"module {name!r}: {label} differ")
    for data in ("trainset", "valset"):
        if recorded.get(data) != current[data]:
            found.append(f"the {data} differs")
    if recorded.get("metric") != current["metric"]:
        found.append(
            f"the metric: the journal's run used {recorded.get('metric')!r}, "
            f"this one is {current['metric']!r}"
        )
    return found
