"""Paired A/B: labeled demos from the automatic gold-field mapping, on against off.

The README quick-start chain (``ChatPromptTemplate | LMChatModel(SimulatedLM) |
StrOutputParser()``, output ``text``) on ``rule_qa`` data whose gold field is ``answer``: with
the mapping (the default since issue 17) the chain's output takes the gold field for labeled
demos; without it (the old behaviour, forced here by treating the module as not raw text) no
labeled demo can be formed. Same seed for the LM and the optimizer in both arms, MIPRO
``budget="light"``, test score on the task's test split; paired t-test::

    python benchmarks/ab_gold_mapping.py --seeds 24      # ~1 min on 2 cores
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import logging
import statistics
import sys
from typing import Any

from scipy import stats


def run_one(arm: str, seed: int) -> float:
    """Test score of the quick-start chain optimized with the mapping ``on`` or ``off``."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from mipro_langchain.testing import LMChatModel

    import mipro_core
    import mipro_core._gold as gold
    from mipro_core import Example
    from mipro_core.testing import SimulatedLM, load_task

    logging.disable(logging.WARNING)
    if arm == "off":
        gold.output_is_raw_text = lambda module: False  # type: ignore[assignment]
    task = load_task("rule_qa")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "{question}")]
    )
    chain = prompt | LMChatModel(lm=SimulatedLM(seed=seed)) | StrOutputParser()

    def as_qa(examples: Any) -> list[Example]:
        return [
            Example(
                inputs={"question": e.inputs["question"]},
                outputs={"answer": e.outputs["answer"]},
                id=e.id,
            )
            for e in examples
        ]

    def metric(example: Example, prediction: Any, trace: Any = None) -> bool:
        return bool(prediction.strip().lower() == example.outputs["answer"].lower())

    mipro_core.optimize(
        chain, as_qa(task.trainset[:60]), metric, budget="light", seed=seed, progress=None
    )
    test = as_qa(task.testset)
    return sum(metric(e, chain.invoke(dict(e.inputs))) for e in test) / len(test)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=24, help="seeds 1..N (24)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    seeds = range(1, args.seeds + 1)
    # a fresh process per run: the "off" arm patches a module attribute
    with cf.ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
        on = list(pool.map(run_one, ["on"] * len(seeds), seeds))
        off = list(pool.map(run_one, ["off"] * len(seeds), seeds))
    diffs = [a - b for a, b in zip(on, off, strict=True)]
    print(
        f"{len(diffs)} seeds: mapping on {statistics.mean(on):.3f}, off "
        f"{statistics.mean(off):.3f}, on - off {statistics.mean(diffs):+.3f} "
        f"(paired t p {stats.ttest_rel(on, off).pvalue:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
