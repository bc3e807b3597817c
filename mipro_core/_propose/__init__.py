"""Stage 2: grounded instruction proposal."""

from ._client import ProposerClient, load_template
from ._grounding import describe_program, summarize_data
from ._instructions import (
    Grounding,
    ProposalSpec,
    ProposalTargets,
    observe_stages,
    plan_proposals,
    propose_instructions,
)
from ._tips import TIPS

__all__ = [
    "TIPS",
    "Grounding",
    "ProposalSpec",
    "ProposalTargets",
    "ProposerClient",
    "describe_program",
    "load_template",
    "observe_stages",
    "plan_proposals",
    "propose_instructions",
    "summarize_data",
]
