"""MIPRO++: proposal settings as search variables, credited with the scores they earn."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import numpy as np

import mipro_core as mc
from mipro_core._propose._meta import (
    failures_text,
    history_text,
    proposal_observations,
    proposal_space,
)
from mipro_core.samplers import TPESampler
from tests.toy import RecordingLM, ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(60, offset=100)
OPTIONS: dict[str, Any] = dict(valset=VAL, num_threads=4, minibatch_size=15, num_candidates=4)


@attrs.frozen
class FakeTrial:
    params: dict[str, int]
    score: float
    complete: bool = True


def test_credit_flows_from_trial_scores_back_to_the_settings_that_wrote_the_instruction() -> None:
    produced = {"m": {1: {"tip": 2, "temperature": 0}, 2: {"tip": 4, "temperature": 1}}}
    trials = [
        FakeTrial({"m.instruction": 1}, 0.9),
        FakeTrial({"m.instruction": 1}, 0.7),
        FakeTrial({"m.instruction": 2}, 0.1),
        FakeTrial({"m.instruction": 0}, 0.5),  # the original: no proposal settings to credit
    ]
    observations = proposal_observations(produced, trials)
    values = {obs.params["tip"]: obs.value for obs in observations}
    assert values == {2: 0.8, 4: 0.1}


def test_a_proposal_surrogate_fed_a_known_reward_prefers_the_rewarded_setting() -> None:
    space = proposal_space(mc.ProposerConfig(use_history=True, use_failures=True), 4)
    rng = np.random.default_rng(0)
    produced: dict[str, dict[int, dict[str, int]]] = {"m": {}}
    trials = []
    for index in range(1, 41):  # random settings; the reward is high exactly when failures shown
        params = {k: int(rng.integers(n)) for k, n in space.items()}
        produced["m"][index] = params
        reward = 0.8 if params["use_failures"] else 0.2
        trials.append(FakeTrial({"m.instruction": index}, reward + 0.05 * rng.standard_normal()))
    history = proposal_observations(produced, trials)
    sampler = TPESampler()
    picks = Counter(sampler.sample(space, history, rng)["use_failures"] for _ in range(200))
    assert picks[1] > 0.75 * 200


def test_history_and_failures_are_rendered_for_the_proposer() -> None:
    text = history_text(["orig", "a", "b", "c"], {0: [0.2], 1: [0.9, 0.7], 3: [0.1]}, limit=5)
    assert text.index("[score 0.80] a") < text.index("[score 0.20] orig")
    assert "[score 0.10] c" in text and "] b" not in text

    class Record:
        trace = mc.Trace([mc.ModuleCall("m", {"question": "q1"}, {"answer": "x"})])
        prediction = "x"
        feedback = "wrong case"

    example = mc.Example({"question": "q1"}, {"answer": "X"})
    shown = failures_text("m", [(example, Record())], limit=3)
    for part in ("question: q1", "this stage's output answer: x", "expected answer: X", "feedback"):
        assert part in shown


def test_mipro_plus_plus_proposes_in_rounds_with_history_and_failures() -> None:
    lm = RecordingLM()
    result = mc.optimize(
        toy_program(lm),
        TRAIN,
        toy_metric,
        strategy="mipro++",
        max_trials=20,
        proposer=mc.ProposerConfig(use_failures=True),
        seed=3,
        **OPTIONS,
    )
    initial = 2  # half of num_candidates up front, the rest in rounds
    assert len(result.instruction_candidates["s0"]) > initial
    assert max(t.params.get("s0.instruction", 0) for t in result.trials) >= initial
    assert any("instruction_history:" in p for p in lm.proposer_prompts)
    assert any("failing_examples:" in p and "expected answer" in p for p in lm.proposer_prompts)
    assert result.proposer_lm_calls == lm.calls - lm.task_calls  # rounds are counted


def test_proposal_rounds_count_toward_max_lm_calls() -> None:
    lm = ToyLM()
    cap = 600
    result = mc.optimize(
        toy_program(lm),
        TRAIN,
        toy_metric,
        strategy="mipro++",
        max_trials=200,
        max_lm_calls=cap,
        **OPTIONS,
    )
    assert lm.calls <= cap + OPTIONS["num_threads"]
    assert result.lm_calls == lm.calls


def test_zero_shot_gets_the_same_switch() -> None:
    result = mc.optimize(
        toy_program(ToyLM()),
        TRAIN,
        toy_metric,
        strategy="zeroshot-mipro++",
        max_trials=12,
        **OPTIONS,
    )
    assert len(result.instruction_candidates["s0"]) > 2
    assert all(not k.endswith(".demos") for t in result.trials for k in t.params)
    direct = mc.ZeroShotMIPRO(meta_optimize=True, seed=0)
    assert direct.proposer.meta_optimize and direct.proposer.use_history


def test_same_seed_same_mipro_plus_plus_trial_log() -> None:
    def run() -> list[Any]:
        r = mc.optimize(
            toy_program(ToyLM()),
            TRAIN,
            toy_metric,
            strategy="mipro++",
            max_trials=15,
            proposer=mc.ProposerConfig(use_failures=True),
            **OPTIONS,
        )
        return [t.log_entry() for t in r.trials]

    assert run() == run()
