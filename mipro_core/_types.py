"""Value types shared by every part of mipro.

All are frozen :mod:`attrs` classes that round-trip through JSON with explicit ``to_dict`` /
``from_dict`` (never pickle). Field values must be JSON-compatible (str, int, float, bool, None,
lists and str-keyed dicts of those).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ._errors import InvalidInputError

JSON = Any
"""A JSON-compatible value."""


def _freeze(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def canonical_json(value: JSON) -> str:
    """Serialize ``value`` deterministically (sorted keys, no whitespace)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_thaw
    )


def compact_json(value: JSON) -> str:
    """Serialize ``value`` without whitespace, keeping the order of its keys."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_thaw)


def _thaw(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON-serializable")


def stable_hash(value: JSON, length: int = 16) -> str:
    """A short, process-independent hex digest of a JSON-compatible value."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:length]


def _is_json(value: Any) -> bool:
    try:
        canonical_json(value)
    except (TypeError, ValueError):
        return False
    return True


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _demo_tuple(values: Iterable[Demo]) -> tuple[Demo, ...]:
    return tuple(values)


def _call_tuple(values: Iterable[ModuleCall]) -> tuple[ModuleCall, ...]:
    return tuple(values)


def _require_mapping(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _str_dict(data: Any, what: str) -> dict[str, Any]:
    mapping = _require_mapping(data, what)
    if not all(isinstance(k, str) for k in mapping):
        raise TypeError(f"{what} keys must be strings")
    return dict(mapping)


@attrs.frozen(eq=True, hash=False)
class Example:
    """One data point: ``inputs`` for the program and, optionally, gold ``outputs`` (labels).

    ``id`` defaults to a content hash of the inputs and outputs, so equal examples share an id.
    Examples are hashable by id. ``inputs`` and ``outputs`` return a fresh plain ``dict`` on each
    access (so ``chain.invoke(example.inputs)`` works with any framework, and changing the copy
    leaves the example as it was).
    """

    _inputs: Mapping[str, Any] = attrs.field(converter=_freeze, alias="inputs", repr=False)
    _outputs: Mapping[str, Any] = attrs.field(
        converter=_freeze, factory=dict, alias="outputs", repr=False
    )
    id: str = attrs.field(default="")

    @property
    def inputs(self) -> dict[str, Any]:
        """The program's inputs: a fresh ``dict`` (a copy; the example itself never changes)."""
        return dict(self._inputs)

    @property
    def outputs(self) -> dict[str, Any]:
        """The gold outputs (labels): a fresh ``dict`` copy."""
        return dict(self._outputs)

    def __repr__(self) -> str:
        return f"Example(inputs={self.inputs!r}, outputs={self.outputs!r}, id={self.id!r})"

    def __attrs_post_init__(self) -> None:
        if not self.id:
            try:
                digest = stable_hash({"inputs": self.inputs, "outputs": self.outputs})
            except (TypeError, ValueError) as exc:
                fields = {**self.inputs, **self.outputs}
                bad = [k for k, v in fields.items() if not _is_json(v)]
                raise InvalidInputError(
                    f"Example field(s) {bad} hold values that are not JSON ({exc}), so no id can be "
                    "derived from the content: pass id=... (a journal also needs JSON values)"
                ) from exc
            object.__setattr__(self, "id", digest)

    def __hash__(self) -> int:
        return hash(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "inputs": self.inputs, "outputs": self.outputs}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        data = _require_mapping(data, "Example")
        return cls(
            inputs=_str_dict(data.get("inputs", {}), "Example.inputs"),
            outputs=_str_dict(data.get("outputs", {}), "Example.outputs"),
            id=str(data.get("id", "")),
        )


@attrs.frozen
class Signature:
    """The fields a module reads and writes, with optional one-line descriptions."""

    inputs: tuple[str, ...] = attrs.field(converter=_str_tuple)
    outputs: tuple[str, ...] = attrs.field(converter=_str_tuple)
    descriptions: Mapping[str, str] = attrs.field(converter=_freeze, factory=dict, eq=False)

    @classmethod
    def parse(cls, text: str) -> Signature:
        """Build a signature from ``"in1, in2 -> out1, out2"``."""
        left, arrow, right = text.partition("->")
        if not arrow:
            raise ValueError(f"signature {text!r} must look like 'inputs -> outputs'")
        inputs = tuple(f.strip() for f in left.split(",") if f.strip())
        outputs = tuple(f.strip() for f in right.split(",") if f.strip())
        if not outputs:
            raise ValueError(f"signature {text!r} names no output field")
        return cls(inputs=inputs, outputs=outputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "descriptions": dict(self.descriptions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        data = _require_mapping(data, "Signature")
        return cls(
            inputs=tuple(str(x) for x in data.get("inputs", ())),
            outputs=tuple(str(x) for x in data.get("outputs", ())),
            descriptions=_str_dict(data.get("descriptions", {}), "Signature.descriptions"),
        )


@attrs.frozen(eq=True, hash=False)
class Demo:
    """A few-shot demonstration for one module: the module's inputs and the outputs to imitate.

    ``source`` says where it came from: ``"bootstrapped"`` (a trace of a successful run) or
    ``"labeled"`` (taken from an example's gold outputs).
    """

    inputs: Mapping[str, Any] = attrs.field(converter=_freeze)
    outputs: Mapping[str, Any] = attrs.field(converter=_freeze)
    source: str = "bootstrapped"

    def __hash__(self) -> int:
        return hash(canonical_json(self.to_dict()))

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": dict(self.inputs), "outputs": dict(self.outputs), "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Demo:
        data = _require_mapping(data, "Demo")
        return cls(
            inputs=_str_dict(data.get("inputs", {}), "Demo.inputs"),
            outputs=_str_dict(data.get("outputs", {}), "Demo.outputs"),
            source=str(data.get("source", "bootstrapped")),
        )


@attrs.frozen(eq=True, hash=False)
class ModuleCall:
    """One LM call made by one module during a run: what went in, what came out."""

    module: str
    inputs: Mapping[str, Any] = attrs.field(converter=_freeze)
    outputs: Mapping[str, Any] = attrs.field(converter=_freeze)
    usage: Mapping[str, int] = attrs.field(converter=_freeze, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "inputs": dict(self.inputs),
            "outputs": dict(self.outputs),
            "usage": dict(self.usage),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModuleCall:
        data = _require_mapping(data, "ModuleCall")
        return cls(
            module=str(data["module"]),
            inputs=_str_dict(data.get("inputs", {}), "ModuleCall.inputs"),
            outputs=_str_dict(data.get("outputs", {}), "ModuleCall.outputs"),
            usage={str(k): int(v) for k, v in _str_dict(data.get("usage", {}), "usage").items()},
        )


@attrs.frozen
class Trace:
    """Every module call of one program run, in the order the calls finished.

    ``unattributed_calls`` counts LM calls the adapter saw but could not attach to a module.
    """

    calls: tuple[ModuleCall, ...] = attrs.field(converter=_call_tuple, factory=tuple)
    unattributed_calls: int = 0

    def __iter__(self) -> Iterator[ModuleCall]:
        return iter(self.calls)

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def lm_calls(self) -> int:
        """LM calls made during the run (attributed or not); cache hits are not calls."""
        return sum(1 for c in self.calls if not c.usage.get("cached")) + self.unattributed_calls

    def for_module(self, name: str) -> tuple[ModuleCall, ...]:
        return tuple(c for c in self.calls if c.module == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.to_dict() for c in self.calls],
            "unattributed_calls": self.unattributed_calls,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        data = _require_mapping(data, "Trace")
        return cls(
            calls=tuple(ModuleCall.from_dict(c) for c in data.get("calls", ())),
            unattributed_calls=int(data.get("unattributed_calls", 0)),
        )


@attrs.frozen
class ModuleState:
    """The two free parameters of a module: its instruction and its demos."""

    instruction: str
    demos: tuple[Demo, ...] = attrs.field(converter=_demo_tuple, factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "demos": [d.to_dict() for d in self.demos]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModuleState:
        data = _require_mapping(data, "ModuleState")
        instruction = data.get("instruction")
        if not isinstance(instruction, str):
            raise TypeError("ModuleState.instruction must be a string")
        return cls(
            instruction=instruction, demos=tuple(Demo.from_dict(d) for d in data.get("demos", ()))
        )


@attrs.frozen
class ProgramState:
    """The state of a whole program: module name -> :class:`ModuleState`."""

    modules: Mapping[str, ModuleState] = attrs.field(converter=_freeze)

    def __getitem__(self, name: str) -> ModuleState:
        return self.modules[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    def names(self) -> tuple[str, ...]:
        return tuple(self.modules)

    def replace(self, name: str, state: ModuleState) -> ProgramState:
        """A copy with module ``name`` set to ``state``."""
        return ProgramState({**self.modules, name: state})

    def to_dict(self) -> dict[str, Any]:
        return {name: state.to_dict() for name, state in self.modules.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProgramState:
        data = _require_mapping(data, "ProgramState")
        return cls({str(name): ModuleState.from_dict(s) for name, s in data.items()})
