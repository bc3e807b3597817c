"""mipro: MIPRO prompt optimization for multi-stage LM programs you already built."""

from ._errors import (
    ArtifactError,
    BudgetExhaustedError,
    ErrorBudgetExceededError,
    InvalidInputError,
    JournalError,
    LMError,
    MetricError,
    MiproError,
    NoAdapterError,
    ParseError,
)
from ._protocols import LM, CloneableProgram, Message, Metric, Module, Program, current_state
from ._types import Demo, Example, ModuleCall, ModuleState, ProgramState, Signature, Trace
from ._version import __version__

__all__ = [
    "LM",
    "ArtifactError",
    "BudgetExhaustedError",
    "CloneableProgram",
    "Demo",
    "ErrorBudgetExceededError",
    "Example",
    "InvalidInputError",
    "JournalError",
    "LMError",
    "Message",
    "Metric",
    "MetricError",
    "MiproError",
    "Module",
    "ModuleCall",
    "ModuleState",
    "NoAdapterError",
    "ParseError",
    "Program",
    "ProgramState",
    "Signature",
    "Trace",
    "__version__",
    "current_state",
]
