"""Behaviour of the optimizer on a toy task with a deterministic LM."""

from __future__ import annotations

import concurrent.futures as cf
import logging
from collections import Counter
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(60), toy_data(80, offset=100)


def run(lm: ToyLM | None = None, **kwargs: object) -> tuple[mc.OptimizationResult, ToyLM, object]:
    lm = lm or ToyLM()
    program = toy_program(lm, stages=int(kwargs.pop("stages", 1)))  # type: ignore[call-overload]
    options: dict[str, object] = {"valset": VAL, "num_threads": 4, "minibatch_size": 20}
    options.update(kwargs)
    result = mc.optimize(program, TRAIN, toy_metric, **options)  # type: ignore[arg-type]
    return result, lm, program


def test_optimize_improves_and_applies_in_place() -> None:
    result, _, program = run(max_trials=12)
    assert result.best_score >= result.baseline_score + 0.2
    assert mc.current_state(program) == result.state  # type: ignore[arg-type]
    assert result.state != result.initial_state
    assert "UPPERCASE" in result.state["s0"].instruction
    assert result.trials[0].kind == "full" and result.trials[0].params == {}
    assert {t.kind for t in result.trials} == {"full", "minibatch"}
    credit = result.credit[0]
    assert credit.module == "s0" and credit.original_instruction == "Answer the question."
    assert "winning instruction" in result.summary()


def test_same_seed_same_trial_log_and_seed_zero_is_real() -> None:
    a, _, _ = run(seed=0, max_trials=8)
    b, _, _ = run(seed=0, max_trials=8)
    c, _, _ = run(seed=1, max_trials=8)
    log = [t.log_entry() for t in a.trials]
    assert log == [t.log_entry() for t in b.trials]
    assert a.state == b.state
    assert log != [t.log_entry() for t in c.trials]


def test_threads_do_not_change_the_trial_log() -> None:
    a, _, _ = run(seed=3, max_trials=6, num_threads=1)
    b, _, _ = run(seed=3, max_trials=6, num_threads=8)
    assert [t.log_entry() for t in a.trials] == [t.log_entry() for t in b.trials]


def test_parallel_trials_on_replicas_match_their_own_sequential_log() -> None:
    a, _, _ = run(seed=2, max_trials=8, parallel_trials=2, num_threads=8)
    b, _, _ = run(seed=2, max_trials=8, parallel_trials=2, num_threads=2)
    assert [t.log_entry() for t in a.trials] == [t.log_entry() for t in b.trials]


def test_no_state_example_pair_is_evaluated_twice() -> None:
    _, lm, _ = run(max_trials=15, num_candidates=3)
    counts = Counter(lm.prompts)
    assert counts and max(counts.values()) == 1


def test_small_space_stops_when_everything_is_fully_evaluated() -> None:
    result, _, _ = run(strategy="zeroshot-mipro", num_candidates=2, max_trials=15)
    assert result.stopped_reason == "every configuration fully evaluated"
    assert len({tuple(sorted(t.params.items())) for t in result.trials if t.kind == "full"}) == 2


def test_zero_shot_searches_no_demos() -> None:
    result, _, _ = run(strategy="zeroshot-mipro", max_trials=6)
    assert all(not k.endswith(".demos") for t in result.trials for k in t.params)
    assert result.state["s0"].demos == ()


def test_labeled_only_mode_works() -> None:
    result, _, _ = run(max_bootstrapped_demos=0, max_labeled_demos=2, max_trials=6)
    demos = [d for sizes in result.demo_set_sizes.values() for d in sizes]
    assert max(demos) >= 1
    assert all(d.source == "labeled" for d in result.state["s0"].demos)


def test_demos_only_baseline_keeps_the_instruction() -> None:
    result, _, _ = run(strategy="bootstrap-random-search", max_trials=6)
    assert result.state["s0"].instruction == "Answer the question."
    assert result.proposer_lm_calls == 0


def test_dry_run_calls_no_model() -> None:
    lm = ToyLM()
    result, _, _ = run(lm, dry_run=True)
    assert lm.calls == 0
    assert result.estimate is not None and result.estimate.total_lm_calls > 0
    assert result.stopped_reason == "dry run"


def test_estimate_bounds_the_real_spend() -> None:
    result, _, _ = run(max_trials=10)
    assert result.estimate is not None
    assert result.lm_calls <= result.estimate.total_lm_calls
    assert result.proposer_lm_calls <= result.estimate.proposer_calls


def test_a_cap_below_the_baseline_evaluation_is_refused_clearly() -> None:
    lm = ToyLM()
    with pytest.raises(mc.BudgetExhaustedError, match="baseline"):
        run(lm, max_lm_calls=30)
    assert lm.calls <= 30


@pytest.mark.parametrize("seed", range(5))
def test_the_grounding_never_takes_the_calls_the_baseline_needs(seed: int) -> None:
    """A cap a little above the baseline: the proposer's grounding starts with the baseline's
    first success, but only spends what the baseline's reservations left; the run keeps the
    original prompts instead of failing with the baseline cut short."""
    lm = ToyLM()
    cap = len(VAL) + 5  # the data summary alone needs more than 5 proposer calls
    result, _, _ = run(lm, max_lm_calls=cap, max_trials=10, seed=seed)
    assert result.stopped_reason == "max_lm_calls"
    assert result.trials[0].complete and result.trials[0].kind == "full"
    assert result.state == result.initial_state
    assert lm.calls <= cap


@pytest.mark.parametrize("cap", [120, 150, 400])
def test_max_lm_calls_is_hard(cap: int) -> None:
    threads = 4
    result, lm, _ = run(max_lm_calls=cap, max_trials=50, num_threads=threads)
    assert lm.calls <= cap + threads
    assert result.lm_calls == lm.calls


def test_max_trials_caps_minibatch_trials() -> None:
    result, _, _ = run(max_trials=5)
    assert sum(1 for t in result.trials if t.kind == "minibatch") <= 5


def test_freeze_keeps_a_module_as_it_was() -> None:
    result, _, _ = run(stages=2, freeze=["s0"], max_trials=8)
    assert result.state["s0"] == result.initial_state["s0"]
    assert all(not k.startswith("s0.") for t in result.trials for k in t.params)


def test_errors_are_recorded_and_stop_after_max_errors() -> None:
    with pytest.raises(mc.ErrorBudgetExceededError, match="max_errors=3"):
        run(ToyLM(fail=RuntimeError), max_errors=3)


def test_metric_returning_junk_is_named() -> None:
    def metric(example: mc.Example, prediction: object, trace: object = None) -> object:
        return "yes"

    with pytest.raises(mc.MetricError, match="finite number"):
        mc.optimize(toy_program(ToyLM()), TRAIN, metric, valset=VAL)  # type: ignore[arg-type]


def test_bad_inputs_raise_named_errors() -> None:
    program = toy_program(ToyLM())
    with pytest.raises(mc.InvalidInputError, match="empty"):
        mc.optimize(program, [], toy_metric)
    with pytest.raises(mc.InvalidInputError, match=r"not a mipro_core\.Example"):
        mc.optimize(program, [{"question": "x"}], toy_metric)  # type: ignore[list-item]
    with pytest.raises(mc.InvalidInputError, match="freeze"):
        mc.optimize(program, TRAIN, toy_metric, freeze=["nope"])
    with pytest.raises(mc.InvalidInputError, match="budget"):
        mc.optimize(program, TRAIN, toy_metric, budget="huge")


def test_user_executor_is_left_running() -> None:
    with cf.ThreadPoolExecutor(3) as pool:
        run(executor=pool, max_trials=3)
        assert pool.submit(lambda: 42).result() == 42


def test_a_shut_down_executor_is_refused_clearly_and_ours_is_shut_down() -> None:
    pool = cf.ThreadPoolExecutor(2)
    pool.shutdown()
    lm = ToyLM()
    with pytest.raises(mc.InvalidInputError, match="cannot run work"):
        run(lm, executor=pool, max_trials=3)
    assert lm.calls == 0
    import threading

    before = {t.name for t in threading.enumerate() if t.name.startswith("mipro")}
    run(max_trials=3)
    after = {t.name for t in threading.enumerate() if t.name.startswith("mipro")}
    assert after <= before  # the run's own pool is shut down and joined when it returns


def test_a_search_that_only_revisits_cached_configurations_stops() -> None:
    # demo sets only, a tiny validation set: every configuration is soon scored on
    # every example, after which trials cost no LM call and teach the sampler nothing new
    lm = ToyLM()
    result = mc.optimize(
        toy_program(lm, stages=2),
        toy_data(30),
        toy_metric,
        valset=toy_data(12, offset=100),
        strategy="bootstrap-random-search",
        num_candidates=5,
        minibatch_size=6,
        max_trials=1000,
        seed=3,
    )
    assert result.stopped_reason == "search exhausted"
    assert len(result.trials) < 200
    # a minibatch trial that paid for nothing leaves the running LM-call count unchanged
    last = result.trials[-31:-1]
    pairs = zip(result.trials[-32:-2], last, strict=True)
    idle = [b for a, b in pairs if b.kind == "minibatch" and b.total_lm_calls == a.total_lm_calls]
    assert len(idle) >= 20
    assert result.trials[-1].kind == "full"  # the best of the last trials still gets scored


@pytest.mark.parametrize("cap", [400, 500, 600, 700])
def test_no_mid_search_full_evaluation_without_room_for_trials_after_it(cap: int) -> None:
    # a periodic full evaluation right before the final one scores the same candidate twice
    # over: under a tight cap the search skips it and runs more minibatch trials instead
    result = mc.optimize(
        toy_program(ToyLM(), stages=2),
        toy_data(40),
        toy_metric,
        valset=toy_data(60, offset=100),
        minibatch_size=15,
        full_eval_every=3,
        max_lm_calls=cap,
        max_trials=1000,
        num_candidates=4,
        seed=2,
        num_threads=4,
    )
    kinds = "".join("F" if t.kind == "full" else "m" for t in result.trials)
    assert kinds[0] == "F" and kinds[-1] == "F"  # the baseline and the final evaluation
    for position in [i for i, k in enumerate(kinds[:-1]) if k == "F" and i > 0]:
        assert kinds[position + 1 : position + 4] == "mmm", kinds


def test_a_module_no_validation_run_calls_is_left_unchanged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stage behind a branch no example takes: no trial can measure a change to it."""
    lm = ToyLM()

    def forward(st: Any, inputs: Any) -> Any:
        if inputs["question"] == "never":
            return st["fallback"](question=inputs["question"])
        return st["main"](question=inputs["question"])

    program = NativeProgram(
        [
            Stage("main", "question -> answer", "Answer the question.", lm=lm),
            Stage("fallback", "question -> answer", "Fallback answer.", lm=lm),
        ],
        forward,
    )
    with caplog.at_level(logging.WARNING, logger="mipro_core.engine"):
        result = mc.optimize(
            program, toy_data(16), toy_metric, valset=toy_data(8, 100), max_trials=6, seed=1
        )
    assert "['fallback'] never ran" in caplog.text
    assert not any(k.startswith("fallback.") for k in result.best_params)
    assert set(result.instruction_candidates["fallback"]) == {"Fallback answer."}
    assert result.state["fallback"] == result.initial_state["fallback"]
    assert len(result.instruction_candidates["main"]) > 1  # the stage that runs is searched


def test_a_module_whose_runs_do_not_parse_is_still_searched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed run has no trace: its modules may well have run, so nothing is left out."""
    main_lm = ToyLM()

    def empty(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        return [] if "question:" in messages[-1]["content"] else main_lm(messages, n=n)

    def forward(st: Any, inputs: Any) -> Any:
        out = st["main"](question=inputs["question"])
        if inputs["question"][-1] in "02468":
            out = st["fmt"](question=out["answer"])
        return out

    program = NativeProgram(
        [
            Stage("main", "question -> answer", "Answer the question.", lm=main_lm),
            Stage("fmt", "question -> answer", "Format the answer.", lm=empty),
        ],
        forward,
    )
    with caplog.at_level(logging.WARNING, logger="mipro_core.engine"):
        result = mc.optimize(
            program,
            toy_data(16),
            toy_metric,
            valset=toy_data(8, 100),
            max_trials=4,
            seed=1,
            proposer_lm=main_lm,
        )
    assert "never ran" not in caplog.text
    assert result.malformed > 0
    assert len(result.instruction_candidates["fmt"]) > 1


def test_a_stop_before_the_deadline_is_max_seconds_when_no_call_cap_could_have_refused() -> None:
    import time

    from mipro_core._engine.stop import StopPolicy, StopReason
    from mipro_core._evaluate import CallBudget

    future = time.monotonic() + 3600
    # a retry whose backoff would end past the deadline is refused before the deadline passes
    assert StopPolicy(CallBudget(), future, 1).budget_reason() is StopReason.MAX_SECONDS
    assert StopPolicy(CallBudget(100), future, 1).budget_reason() is StopReason.MAX_SECONDS
    spent = CallBudget(1)
    assert spent.reserve(1)
    assert StopPolicy(spent, future, 1).budget_reason() is StopReason.MAX_LM_CALLS
    assert StopPolicy(spent, None, 1).budget_reason() is StopReason.MAX_LM_CALLS
    assert StopPolicy(CallBudget(), future, 1).before_trials(0, 4, None) is None


def test_no_grounding_call_is_still_running_when_optimize_gives_up() -> None:
    """A proposer call in flight when the baseline runs out of time is waited for (and counted)
    before ``optimize`` raises: a call billed after the run ended would be missing from it."""
    import threading
    import time

    class SlowProposer(ToyLM):
        def __init__(self) -> None:
            super().__init__()
            self.in_flight = self.started = 0
            self.lock = threading.Lock()

        def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
            with self.lock:
                self.in_flight += 1
                self.started += 1
            try:
                time.sleep(0.8)
                return super().__call__(messages, n=n, temperature=temperature)
            finally:
                with self.lock:
                    self.in_flight -= 1

    class SlowTask(ToyLM):
        def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
            time.sleep(0.05)
            return super().__call__(messages, n=n, temperature=temperature)

    proposer = SlowProposer()
    with pytest.raises(mc.BudgetExhaustedError, match="max_seconds"):
        mc.optimize(
            toy_program(SlowTask()),
            toy_data(10),
            toy_metric,
            valset=toy_data(40, offset=100),
            proposer_lm=proposer,
            max_seconds=0.4,
            num_threads=1,
        )
    assert proposer.started >= 1  # the grounding had started during the baseline
    assert proposer.in_flight == 0
