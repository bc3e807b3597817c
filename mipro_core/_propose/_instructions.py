"""Grounded instruction proposal: N candidate instructions per module.

Candidate 0 is always the module's original instruction (no LM call is spent on it). Every other
candidate is one proposer call grounded on the parts enabled in :class:`ProposerConfig`.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from .._config import ProposerConfig
from .._errors import LMError
from .._types import Demo, Signature
from ._client import ProposerClient, unless_overflow
from ._extract import extract_instruction
from ._grounding import module_view
from ._tips import TIPS

logger = logging.getLogger("mipro_core.propose")


@attrs.frozen
class Grounding:
    """What the proposer may be shown, computed once per run."""

    data_summary: str = ""
    program_description: str = ""
    module_roles: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class ModuleFeedback:
    """What the search has learned about one module so far, as text for the proposer."""

    history: str = ""
    failures: str = ""


PROPOSER_SIGNATURE = Signature(
    (
        "dataset_summary",
        "program_description",
        "module",
        "module_description",
        "task_demos",
        "stage_observations",
        "original_instruction",
        "instruction_history",
        "failing_examples",
        "tip",
    ),
    ("proposed_instruction",),
)


def propose_one(
    client: ProposerClient,
    spec: ProposalSpec,
    signature: Signature,
    original: str,
    demo_sets: Sequence[Sequence[Demo]],
    grounding: Grounding,
    config: ProposerConfig,
    feedback: ModuleFeedback | None = None,
    observations: str | None = None,
) -> str:
    """One proposal with the settings of ``spec``; returns the cleaned instruction, or ``""``
    when the reply holds none (counted on ``client``, see :func:`extract_instruction`).

    With demos in context (and ``config.observe_demos``) this is two proposer calls: first the
    proposer studies the stage's demos and writes what good outputs of the stage have in common,
    then it writes the instruction with those observations in view. Looking before writing is
    what a grounded proposal is for: a pattern that only shows across several demos (a follow-up
    query naming the entity the first passage introduced) is easier to state once observed.
    ``observations`` already written by :func:`observe_stages` skip the first call.
    """
    inputs = proposal_inputs(spec, signature, original, demo_sets, grounding, config, feedback)
    if config.observe_demos and "task_demos" in inputs:
        if observations is None:
            observations = observe_stage(client, spec, inputs)
        if observations:
            inputs["stage_observations"] = observations
    sig = Signature(
        tuple(f for f in PROPOSER_SIGNATURE.inputs if f in inputs), PROPOSER_SIGNATURE.outputs
    )
    reply = client.ask(
        "propose_instruction",
        sig,
        inputs,
        temperature=spec.temperature,
        salt=f"{spec.module}#{spec.index}",
    )
    raw = reply["proposed_instruction"]
    if not raw.strip():
        return ""  # an empty reply: counted as such by the caller
    text = extract_instruction(raw, inputs)
    if text is None:
        client.reject(spec.module, raw)
        return ""
    return text


OBSERVE_STAGE = Signature(
    ("program_description", "module", "module_description", "task_demos"),
    ("stage_observations",),
)


def observe_stage(client: ProposerClient, spec: ProposalSpec, inputs: Mapping[str, str]) -> str:
    """The proposer's observations on one stage's demos (empty text when it has none, or
    when the prompt exceeded its context window)."""
    fields = {k: inputs[k] for k in OBSERVE_STAGE.inputs if k in inputs}
    sig = Signature(tuple(fields), OBSERVE_STAGE.outputs)
    reply = client.ask(
        "observe_module",
        sig,
        fields,
        temperature=spec.temperature,
        salt=f"{spec.module}#{spec.index}",
    )
    return unless_overflow(reply["stage_observations"])


@attrs.frozen
class ProposalSpec:
    """The settings of one proposer call (recorded with the instruction it produced)."""

    module: str
    index: int
    tip: str
    demo_set: int
    use_data_summary: bool
    use_program_summary: bool
    temperature: float
    use_history: bool = False
    use_failures: bool = False


def _format_demos(demos: Sequence[Demo], limit: int) -> str:
    parts = []
    for i, demo in enumerate(demos[:limit]):
        fields = {**demo.inputs, **demo.outputs}
        lines = "\n".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v, default=str)}"
            for k, v in fields.items()
        )
        parts.append(f"Example {i + 1}:\n{lines}")
    return "\n\n".join(parts)


def proposal_inputs(
    spec: ProposalSpec,
    signature: Signature,
    original: str,
    demo_sets: Sequence[Sequence[Demo]],
    grounding: Grounding,
    config: ProposerConfig,
    feedback: ModuleFeedback | None = None,
) -> dict[str, str]:
    """The fields of one proposer prompt; fields switched off are left out entirely."""
    inputs: dict[str, str] = {}
    if spec.use_data_summary and grounding.data_summary:
        inputs["dataset_summary"] = grounding.data_summary
    if spec.use_program_summary and grounding.program_description:
        inputs["program_description"] = grounding.program_description
        role = grounding.module_roles.get(spec.module, "")
        if role:
            inputs["module_description"] = role
    inputs["module"] = module_view(spec.module, signature)
    if config.use_demos and demo_sets:
        demos = _demos_for(demo_sets, spec.demo_set, config.num_demos_in_context)
        if demos:
            inputs["task_demos"] = _format_demos(demos, config.num_demos_in_context)
    if config.use_original_instruction:
        inputs["original_instruction"] = original or "(none)"
    if spec.tip and TIPS.get(spec.tip):
        inputs["tip"] = TIPS[spec.tip]
    if feedback is not None and spec.use_history and feedback.history:
        inputs["instruction_history"] = feedback.history
    if feedback is not None and spec.use_failures and feedback.failures:
        inputs["failing_examples"] = feedback.failures
    return inputs


def _demos_for(demo_sets: Sequence[Sequence[Demo]], start: int, limit: int) -> list[Demo]:
    """Up to ``limit`` demos, walking the demo sets from ``start`` and wrapping around."""
    demos: list[Demo] = []
    for offset in range(len(demo_sets)):
        for demo in demo_sets[(start + offset) % len(demo_sets)]:
            if demo not in demos:
                demos.append(demo)
            if len(demos) >= limit:
                return demos
    return demos


def plan_proposals(
    modules: Sequence[str],
    num_candidates: int,
    num_demo_sets: Mapping[str, int],
    config: ProposerConfig,
    rng: np.random.Generator,
) -> list[ProposalSpec]:
    """The settings of every proposer call, drawn up front so the plan is seed-determined."""
    tips = list(TIPS)
    specs = []
    for name in modules:
        for index in range(1, num_candidates):
            tip = tips[int(rng.integers(len(tips)))] if config.use_tip else "none"
            sets = max(1, num_demo_sets.get(name, 1))
            specs.append(
                ProposalSpec(
                    module=name,
                    index=index,
                    tip=tip,
                    demo_set=index % sets,
                    use_data_summary=config.use_data_summary,
                    use_program_summary=config.use_program_summary,
                    temperature=config.temperature,
                )
            )
    return specs


@attrs.frozen
class ProposalTargets:
    """The searched modules the proposals are written for: per module its signature, original
    instruction and candidate demo sets."""

    signatures: Mapping[str, Signature]
    originals: Mapping[str, str]
    demo_sets: Mapping[str, Sequence[Sequence[Demo]]]

    def propose_one(
        self,
        client: ProposerClient,
        spec: ProposalSpec,
        grounding: Grounding,
        config: ProposerConfig,
        observations: str | None = None,
    ) -> str:
        return propose_one(
            client, spec, *self._of(spec), grounding, config, observations=observations
        )

    def inputs(
        self, spec: ProposalSpec, grounding: Grounding, config: ProposerConfig
    ) -> dict[str, str]:
        return proposal_inputs(spec, *self._of(spec), grounding, config)

    def _of(self, spec: ProposalSpec) -> tuple[Signature, str, Sequence[Sequence[Demo]]]:
        """The signature, original instruction and demo sets of ``spec``'s module."""
        name = spec.module
        return self.signatures[name], self.originals[name], self.demo_sets.get(name, ())


def observe_stages(
    client: ProposerClient,
    specs: Sequence[ProposalSpec],
    modules: ProposalTargets,
    grounding: Grounding,
    config: ProposerConfig,
    executor: cf.Executor,
) -> dict[ProposalSpec, str]:
    """The first call of every two-call proposal in ``specs`` (see :func:`propose_one`).

    It reads the program and module descriptions but never the data summary, so it can run
    while the summary is still being written; specs without demos in context are left out.
    """
    if not config.observe_demos:
        return {}
    observed = [(spec, modules.inputs(spec, grounding, config)) for spec in specs]
    observed = [(spec, inputs) for spec, inputs in observed if "task_demos" in inputs]
    texts = executor.map(lambda pair: observe_stage(client, *pair), observed)
    return {spec: text for (spec, _), text in zip(observed, texts, strict=True)}


def propose_instructions(
    client: ProposerClient,
    specs: Sequence[ProposalSpec],
    modules: ProposalTargets,
    grounding: Grounding,
    config: ProposerConfig,
    executor: cf.Executor,
    observations: Mapping[ProposalSpec, str] | None = None,
) -> dict[str, list[tuple[str, ProposalSpec | None]]]:
    """Candidate instructions per module: the original first, then distinct proposals.

    ``observations`` from :func:`observe_stages` (same specs) save each proposal's first call.
    """
    observed = observations or {}

    def one(spec: ProposalSpec) -> str:
        return modules.propose_one(client, spec, grounding, config, observed.get(spec))

    texts = list(executor.map(one, specs))
    result: dict[str, list[tuple[str, ProposalSpec | None]]] = {
        name: [(modules.originals[name], None)] for name in modules.signatures
    }
    empty: dict[str, int] = {}
    for spec, text in zip(specs, texts, strict=False):
        if not text:
            empty[spec.module] = empty.get(spec.module, 0) + 1
            continue
        if all(text != existing for existing, _ in result[spec.module]):
            result[spec.module].append((text, spec))
    for name, count in empty.items():
        asked = sum(1 for s in specs if s.module == name)
        rejected = client.rejected.get(name, 0)
        if count == asked and not rejected:
            raise LMError(
                f"the proposer LM returned empty text for all {asked} instruction proposals of "
                f"module {name!r}; check the proposer model (proposer_lm=...)"
            )
        if rejected:
            logger.warning(
                "rejected %d of %d instruction proposals for module %r: the proposer's reply "
                "was not a usable instruction (code, an echo of its prompt, a fragment; e.g. "
                "%r). The search goes on with the %d usable ones and the demos; a stronger "
                "proposer_lm writes better instructions",
                rejected,
                asked,
                name,
                client.rejected_examples.get(name, "")[:120],
                asked - count,
            )
    return result
