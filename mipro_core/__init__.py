"""mipro: MIPRO prompt optimization for multi-stage LM programs you already built.

``optimize(program_or_framework_object, trainset, metric)`` searches every stage's instruction and
demos and leaves the winning prompts in place. Submodules: :mod:`mipro_core.native` (plain-Python
programs), :mod:`mipro_core.plugins` (adapter hooks), :mod:`mipro_core.samplers` (search
strategies), :mod:`mipro_core.testing` (SimulatedLM, tasks, adapter conformance kit).
"""

from ._adapt import adapt, apply, wrap_lm
from ._api import MIPRO, BootstrapRandomSearch, RandomSearch, ZeroShotMIPRO, optimize
from ._artifact import Artifact, load_state, read_artifact, save_state
from ._config import Budget, Pricing, ProposerConfig, SearchConfig
from ._errors import (
    ArtifactError,
    BudgetExhaustedError,
    EmptyCompletionError,
    ErrorBudgetExceededError,
    InvalidInputError,
    JournalError,
    LMError,
    MetricError,
    MiproError,
    NoAdapterError,
    ParseError,
    TransientLMError,
)
from ._journal import Journal
from ._protocols import LM, CloneableProgram, Message, Metric, Module, Program, current_state
from ._report import write_report
from ._result import CostEstimate, ModuleCredit, OptimizationResult, Trial
from ._resume import resume
from ._run_info import RunInfo
from ._types import Demo, Example, ModuleCall, ModuleState, ProgramState, Signature, Trace
from ._version import __version__

__all__ = [
    "LM",
    "MIPRO",
    "Artifact",
    "ArtifactError",
    "BootstrapRandomSearch",
    "Budget",
    "BudgetExhaustedError",
    "CloneableProgram",
    "CostEstimate",
    "Demo",
    "EmptyCompletionError",
    "ErrorBudgetExceededError",
    "Example",
    "InvalidInputError",
    "Journal",
    "JournalError",
    "LMError",
    "Message",
    "Metric",
    "MetricError",
    "MiproError",
    "Module",
    "ModuleCall",
    "ModuleCredit",
    "ModuleState",
    "NoAdapterError",
    "OptimizationResult",
    "ParseError",
    "Pricing",
    "Program",
    "ProgramState",
    "ProposerConfig",
    "RandomSearch",
    "RunInfo",
    "SearchConfig",
    "Signature",
    "Trace",
    "TransientLMError",
    "Trial",
    "ZeroShotMIPRO",
    "__version__",
    "adapt",
    "apply",
    "current_state",
    "load_state",
    "optimize",
    "read_artifact",
    "resume",
    "save_state",
    "wrap_lm",
    "write_report",
]
