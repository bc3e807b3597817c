"""Stage 2: grounded instruction proposal.

The names below are the surface the engine uses; the modules behind them are private to this
package.
"""

from ._client import ProposerClient, load_template
from ._grounding import describe_program, summarize_data
from ._instructions import (
    Grounding,
    ModuleFeedback,
    ProposalSpec,
    ProposalTargets,
    observe_stages,
    plan_proposals,
    propose_instructions,
    propose_one,
)
from ._meta import (
    failures_text,
    history_text,
    instruction_scores,
    params_of,
    proposal_observations,
    proposal_space,
    spec_from_params,
)
from ._repair import propose_repair, sample_failures
from ._tips import TIPS

__all__ = [
    "TIPS",
    "Grounding",
    "ModuleFeedback",
    "ProposalSpec",
    "ProposalTargets",
    "ProposerClient",
    "describe_program",
    "failures_text",
    "history_text",
    "instruction_scores",
    "load_template",
    "observe_stages",
    "params_of",
    "plan_proposals",
    "proposal_observations",
    "proposal_space",
    "propose_instructions",
    "propose_one",
    "propose_repair",
    "sample_failures",
    "spec_from_params",
    "summarize_data",
]
