"""MIPRO++: the proposer's own settings as search variables, credited with the scores their
instructions earn (paper §3.1 "learning to propose", §4.4).

Everything here is a pure function of the trial log, so a proposal round replays exactly on
resume: the proposal-level observations are rebuilt from the instructions' trial scores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._config import ProposerConfig
from .._search._sampler import Observation
from .._types import Example
from .._variables import VariableKey
from ._instructions import ProposalSpec
from ._tips import TIPS

TEMPERATURES = (0.5, 1.0, 1.5)
_TIP_NAMES = tuple(TIPS)


def proposal_space(config: ProposerConfig, max_demo_sets: int) -> dict[str, int]:
    """The categorical proposal variables; parts switched off in ``config`` are not searched."""
    space = {"tip": len(_TIP_NAMES), "temperature": len(TEMPERATURES)}
    if config.use_demos and max_demo_sets > 1:
        space["demo_set"] = max_demo_sets
    for flag in ("use_data_summary", "use_program_summary", "use_history", "use_failures"):
        if getattr(config, flag):
            space[flag] = 2
    return space


def spec_from_params(
    module: str, index: int, params: Mapping[str, int], num_demo_sets: int
) -> ProposalSpec:
    return ProposalSpec(
        module=module,
        index=index,
        tip=_TIP_NAMES[params.get("tip", 0)],
        demo_set=params.get("demo_set", 0) % max(1, num_demo_sets),
        use_data_summary=bool(params.get("use_data_summary", 0)),
        use_program_summary=bool(params.get("use_program_summary", 0)),
        temperature=TEMPERATURES[params.get("temperature", 1)],
        use_history=bool(params.get("use_history", 0)),
        use_failures=bool(params.get("use_failures", 0)),
    )


def instruction_scores(trials: Sequence[Any], module: str) -> dict[int, list[float]]:
    """Scores of the complete trials that used each instruction index of ``module``."""
    key = str(VariableKey.instruction(module))
    scores: dict[int, list[float]] = {}
    for trial in trials:
        if trial.complete and trial.score is not None and key in trial.params:
            scores.setdefault(int(trial.params[key]), []).append(float(trial.score))
    return scores


def proposal_observations(
    produced: Mapping[str, Mapping[int, Mapping[str, int]]],
    trials: Sequence[Any],
) -> list[Observation]:
    """One observation per proposed instruction that has been tried: the settings that wrote it,
    valued at the mean score of the trials that used it (this is the credit flowing back)."""
    observations = []
    for module, by_index in produced.items():
        scores = instruction_scores(trials, module)
        for index, params in by_index.items():
            if index in scores:
                values = scores[index]
                observations.append(Observation(params, sum(values) / len(values), "minibatch"))
    return observations


def history_text(instructions: Sequence[str], scores: Mapping[int, list[float]], limit: int) -> str:
    """The module's best and worst earlier instructions with their mean scores."""
    rated = sorted(
        ((sum(v) / len(v), i) for i, v in scores.items() if i < len(instructions)),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not rated:
        return ""
    best = rated[: max(1, limit - 2)]
    worst = [r for r in rated[-2:] if r not in best]
    lines = [f"[score {score:.2f}] {instructions[i]}" for score, i in best + worst]
    return "Earlier instructions and their scores (higher is better):\n" + "\n".join(lines)


def failures_text(module: str, failures: Sequence[tuple[Example, Any]], limit: int) -> str:
    """Up to ``limit`` failing examples as seen from ``module``: its inputs and outputs, the
    program's final output, the expected output and the metric's feedback."""
    parts: list[str] = []
    for example, record in failures:
        calls = record.trace.for_module(module) if record.trace is not None else ()
        if not calls:
            continue
        call = calls[-1]
        lines = [f"Failing example {len(parts) + 1}:"]
        lines += [f"{k}: {_text(v)}" for k, v in call.inputs.items()]
        lines += [f"this stage's output {k}: {_text(v)}" for k, v in call.outputs.items()]
        lines.append(f"program's final output: {record.prediction}")
        if example.outputs:
            lines += [f"expected {k}: {_text(v)}" for k, v in example.outputs.items()]
        if record.feedback:
            lines.append(f"feedback: {record.feedback}")
        parts.append("\n".join(lines))
        if len(parts) >= limit:
            break
    return "\n\n".join(parts)


def _text(value: Any, limit: int = 1500) -> str:
    """A field value as text, cut at ``limit`` characters (a retrieved context can be long)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def params_of(spec: ProposalSpec, space: Mapping[str, int]) -> dict[str, int]:
    """The proposal-variable values that describe ``spec`` (for crediting its instruction)."""
    temperature = min(
        range(len(TEMPERATURES)), key=lambda i: abs(TEMPERATURES[i] - spec.temperature)
    )
    values = {
        "tip": list(TIPS).index(spec.tip) if spec.tip in TIPS else 0,
        "temperature": temperature,
        "demo_set": spec.demo_set,
        "use_data_summary": int(spec.use_data_summary),
        "use_program_summary": int(spec.use_program_summary),
        "use_history": int(spec.use_history),
        "use_failures": int(spec.use_failures),
    }
    return {k: min(v, space[k] - 1) for k, v in values.items() if k in space}
