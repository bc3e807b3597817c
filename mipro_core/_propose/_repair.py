"""The repair round: one instruction per module written from the search's failing examples.

The initial proposals are grounded on the *training* data (its summary, bootstrapped demos).
When the training data carry a pattern that does not hold where the program is scored (the
paper's ScoNe lesson: a shortcut that works on the training sentences and fails under
negation), every grounded proposal repeats it, and the search can only choose among them.
The repair round looks at the other side: the validation examples the trials so far got wrong,
with the expected outputs (drawn from the failing runs of the recent trials, each example
once). Its proposal sees no data summary and no demos, so the training data's pattern cannot
outweigh what the failures show; it keeps the program and module descriptions, the original
instruction and the module's signature.

Everything here is a pure function of the trial log (failing runs keep their trace in the
journal, key order included) and an engine-owned RNG, so the round replays exactly on resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from .._config import ProposerConfig
from .._types import Example, Signature
from ._client import ProposerClient
from ._instructions import Grounding, ModuleFeedback, ProposalSpec, propose_one
from ._meta import failures_text


def sample_failures(
    failures: Sequence[tuple[Example, Any]], module: str, limit: int, rng: np.random.Generator
) -> str:
    """Up to ``limit`` distinct failing examples that ran ``module``, drawn at random, as
    proposer text (an example that failed in several trials is shown once)."""
    ran = [f for f in failures if f[1].trace is not None and f[1].trace.for_module(module)]
    order = rng.permutation(len(ran)) if ran else ()
    drawn: dict[str, tuple[Example, Any]] = {}
    for i in order:
        example, record = ran[int(i)]
        drawn.setdefault(example.id, (example, record))
    return failures_text(module, list(drawn.values()), limit)


def propose_repair(
    client: ProposerClient,
    module: str,
    index: int,
    signature: Signature,
    original: str,
    failures: str,
    grounding: Grounding,
    config: ProposerConfig,
) -> str:
    """One instruction for ``module`` written from ``failures`` (text of failing examples).

    Candidate ``index`` of the module; no data summary, demos or tip are shown."""
    spec = ProposalSpec(
        module=module,
        index=index,
        tip="none",
        demo_set=0,
        use_data_summary=False,
        use_program_summary=config.use_program_summary,
        temperature=config.temperature,
        use_failures=True,
    )
    return propose_one(
        client,
        spec,
        signature,
        original,
        (),
        grounding,
        attrs.evolve(config, use_demos=False),
        ModuleFeedback(failures=failures),
    )
