"""Issue 21: the steps a new user took on first use, each reproduced as a test."""

from __future__ import annotations

import concurrent.futures as cf
import fnmatch
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mipro_core as mc
from mipro_core import Example, current_state
from mipro_core._bootstrap import bootstrap_pools, build_demo_sets
from mipro_core._evaluate import CallBudget, Evaluator
from mipro_core._memo import InMemoryMemo
from mipro_core._progress import (
    ConsoleProgress,
    LogProgress,
    default_progress,
    duration,
    trial_line,
)
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

TRAIN, VAL = toy_data(40), toy_data(30, offset=100)


def test_example_inputs_invoke_a_chain_that_starts_with_assign() -> None:
    """docs/langchain.md: ``chain.invoke(example.inputs)`` on a chain starting with
    ``RunnablePassthrough.assign`` (which insists on a real dict)."""
    pytest.importorskip("langchain_core", reason="the LangChain step needs langchain-core")
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    chain = RunnablePassthrough.assign(rewritten=lambda x: x["question"].upper()) | RunnableLambda(
        lambda x: x["rewritten"]
    )
    example = Example(inputs={"question": "why?"}, outputs={"answer": "because"})
    assert chain.invoke(example.inputs) == "WHY?"


def test_example_inputs_is_a_fresh_dict_that_cannot_change_the_example() -> None:
    example = Example(inputs={"question": "q"}, outputs={"answer": "a"})
    view = example.inputs
    assert type(view) is dict and type(example.outputs) is dict
    view["question"] = "changed"
    example.outputs["answer"] = "changed"
    assert example.inputs == {"question": "q"} and example.outputs == {"answer": "a"}
    assert example == Example(inputs={"question": "q"}, outputs={"answer": "a"})
    assert len({example, Example(inputs={"question": "q"}, outputs={"answer": "a"})}) == 1


# --- 1. a dry run shows its estimate, and its summary says so -------------------------------


def test_a_dry_run_prints_the_estimate_on_stderr_and_its_summary_says_dry_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lm = ToyLM()
    result = mc.optimize(toy_program(lm), TRAIN, toy_metric, valset=VAL, dry_run=True)
    err = capsys.readouterr().err
    assert lm.calls == 0 and result.estimate is not None
    total = result.estimate.total_lm_calls
    assert f"dry run: estimated LM calls: about {total} (" in err
    summary = result.summary()
    assert f"dry run: about {total} LM calls (" in summary and "nan" not in summary


# --- 2. progress: a bar on a terminal, logging otherwise -----------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_progress_is_a_bar_on_a_terminal_and_logging_otherwise() -> None:
    assert isinstance(default_progress(_Terminal()), ConsoleProgress)
    assert isinstance(default_progress(io.StringIO()), LogProgress)


def test_a_plain_optimize_call_on_a_terminal_shows_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    mc.optimize(toy_program(ToyLM()), TRAIN, toy_metric, valset=VAL, max_trials=6)
    text = terminal.getvalue()
    assert "[mipro] evaluating the baseline" in text and "\r[mipro] [" in text
    assert "trial 6/6" in text


def test_the_bar_shows_calls_per_second_and_the_time_left() -> None:
    ticks = iter([0.0, 10.0, 20.0, 30.0])  # started, then one trial event every 10 s
    terminal = _Terminal()
    progress = ConsoleProgress(terminal, clock=lambda: next(ticks))
    progress.trials(1, 4, 0.5, 100)
    progress.trials(2, 4, 0.5, 200)
    progress.trials(3, 4, 0.5, 300)
    last = terminal.getvalue().split("\r")[-1]
    assert "LM calls 300  30s  10.0 calls/s  ~10s left" in last


def test_the_eta_follows_the_pace_of_the_trials() -> None:
    assert trial_line(2, 6, 0.5, 100, 50.0, width=2, eta=40.0) == (
        "[--] trial 2/6  best 0.500  LM calls 100  50s  2.0 calls/s  ~40s left"
    )
    assert duration(3725) == "1h02m" and duration(65) == "1m05s"


# --- 3. the metric's signature: checked first, the two-argument form accepted ----------------


def test_a_two_argument_metric_as_dspy_users_write_it_is_accepted() -> None:
    seen: list[int] = []

    def metric(example: Example, prediction: Any) -> bool:
        seen.append(1)
        return bool(prediction["answer"] == example.outputs["answer"])

    result = mc.optimize(
        toy_program(ToyLM()), TRAIN, metric, valset=VAL, max_trials=4, progress=False
    )
    assert seen and result.trials[0].score is not None


def test_a_metric_with_a_trace_keyword_gets_the_trace_while_bootstrapping() -> None:
    traces: list[Any] = []

    def metric(example: Example, prediction: Any, *, trace: Any = None) -> bool:
        traces.append(trace)
        return bool(prediction["answer"] == example.outputs["answer"])

    mc.optimize(toy_program(ToyLM()), TRAIN, metric, valset=VAL, max_trials=2, progress=False)
    assert any(t is not None for t in traces) and any(t is None for t in traces)


def test_a_metric_with_the_wrong_signature_fails_before_any_lm_call() -> None:
    lm = ToyLM()

    def metric(prediction: Any) -> bool:
        return True

    with pytest.raises(mc.InvalidInputError, match=r"signature \(prediction"):
        mc.optimize(toy_program(lm), TRAIN, metric, valset=VAL, progress=False)
    assert lm.calls == 0


# --- 10. bootstrapped demos a user will read -------------------------------------------------


class RewriteLM:
    """The rewrite stage answers instead of rewriting on even words ("rewritten: WORD4"); the
    answer stage is always right, so those runs pass the metric by luck."""

    def __call__(self, messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        system, last = messages[0]["content"], messages[-1]["content"]
        word = last.split("question:", 1)[1].split("\n")[0].strip()
        if "Rewrite" in system:
            number = int(word.removeprefix("word"))
            return [f"rewritten: {word.upper() if number % 2 == 0 else 'which ' + word}"] * n
        return [f"answer: {word.upper()}"] * n


def rewrite_program() -> NativeProgram:
    lm = RewriteLM()

    def forward(st: Any, inputs: Any) -> Any:
        rewritten = st["rewrite"](question=inputs["question"])["rewritten"]
        return st["answer"](question=inputs["question"], rewritten=rewritten)

    return NativeProgram(
        [
            Stage("rewrite", "question -> rewritten", "Rewrite the question.", lm=lm),
            Stage("answer", "question, rewritten -> answer", "Answer the question.", lm=lm),
        ],
        forward,
    )


def pools_of(program: NativeProgram, **options: Any) -> Any:
    with cf.ThreadPoolExecutor(2) as executor:
        evaluator = Evaluator(
            [program], toy_metric, executor, InMemoryMemo(), CallBudget(), max_errors=100
        )
        return bootstrap_pools(
            evaluator,
            current_state(program),
            program.modules,
            toy_data(30),
            wanted=6,
            threshold=None,
            rng=np.random.default_rng(0),
            batch_size=8,
            **options,
        )


def test_traces_whose_rewrite_step_answered_do_not_become_demos() -> None:
    pools = pools_of(rewrite_program())
    demos = pools.bootstrapped["answer"]
    assert len(demos) == 6 and pools.successes == 6
    assert all(d.inputs["rewritten"].startswith("which ") for d in demos)
    unscreened = pools_of(rewrite_program(), screen=False).bootstrapped["answer"]
    assert any(not d.inputs["rewritten"].startswith("which ") for d in unscreened)


def test_demos_can_be_excluded_and_pinned_by_example_id() -> None:
    data = toy_data(30)
    excluded = {ex.id for ex in data[1:30:4]}
    pinned = data[3].id
    pools = pools_of(rewrite_program(), exclude=excluded, pin=[pinned])
    used = {d.inputs["question"] for d in pools.bootstrapped["answer"]}
    assert not used & {ex.inputs["question"] for ex in data if ex.id in excluded}
    assert [d.inputs["question"] for d in pools.pinned["answer"]] == ["word3"]
    sets = build_demo_sets(
        pools,
        {"answer": ()},
        num_sets=5,
        max_bootstrapped=2,
        max_labeled=0,
        rng=np.random.default_rng(0),
    )["answer"]
    assert sets[0] == () and len(sets) > 2  # the module's current demos: none
    assert all(s[0].inputs["question"] == "word3" for s in sets[1:])


def test_pinning_an_unknown_id_is_refused() -> None:
    with pytest.raises(mc.InvalidInputError, match="unknown training example id"):
        pools_of(rewrite_program(), pin=["nope"])


# --- 9. small things -----------------------------------------------------------------------


def test_a_summary_names_an_empty_original_instruction() -> None:
    """A LlamaIndex engine's template has no instruction of its own: the summary said
    ``original instruction:`` and nothing else."""
    program = NativeProgram(
        [Stage("s0", "question -> answer", "", lm=ToyLM())],
        lambda st, inputs: st["s0"](question=inputs["question"]),
    )
    result = mc.optimize(program, TRAIN, toy_metric, valset=VAL, max_trials=6, progress=False)
    line = next(x for x in result.summary().splitlines() if "original instruction" in x)
    assert line.split(":", 1)[1].strip().startswith("(none")


def test_the_demo_artifact_is_ignored_by_git() -> None:
    root = Path(__file__).resolve().parent.parent
    patterns = (root / ".gitignore").read_text().splitlines()
    assert any(fnmatch.fnmatch("mipro-demo.json", p.lstrip("/")) for p in patterns)


def test_threads_help_says_what_it_counts(capsys: pytest.CaptureFixture[str]) -> None:
    from mipro_core.cli import main

    for command in ("optimize", "demo"):
        assert main([command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "parallel LM calls" not in text and "parallel program runs" in text


# --- 5. the CLI's column error names only the program's own inputs -------------------------

ASSIGN_APP = """
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from mipro_core.testing import SimulatedLM
from mipro_langchain.testing import LMChatModel

model = LMChatModel(lm=SimulatedLM(seed=0))
rewrite = ChatPromptTemplate.from_messages([("system", "Rewrite."), ("human", "{question}")])
answer = ChatPromptTemplate.from_messages([("system", "Answer."), ("human", "ANSWER_READS")])
chain = (
    RunnablePassthrough.assign(rewritten=rewrite | model | StrOutputParser())
    | answer
    | model
    | StrOutputParser()
)
"""


@pytest.mark.parametrize(
    ("app", "reads"), [("assign_both", "{question} {rewritten}"), ("assign_only", "{rewritten}")]
)
def test_the_column_error_lists_only_external_inputs(
    app: str,
    reads: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also when the answer prompt reads only the computed value (the chain's input schema is
    then empty)."""
    pytest.importorskip("langchain_core", reason="the user's app is a LangChain chain")
    from mipro_core.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / f"{app}.py").write_text(ASSIGN_APP.replace("ANSWER_READS", reads))
    # a module name of its own: a cached `metrics` module would leak into other CLI tests
    (tmp_path / "first_use_metrics.py").write_text(
        "def exact(example, prediction):\n    return 1.0\n"
    )
    (tmp_path / "train.jsonl").write_text('{"q": "x", "answer": "y"}\n' * 8)
    status = main(
        [
            "optimize",
            f"{app}:chain",
            "--train",
            "train.jsonl",
            "--metric",
            "first_use_metrics:exact",
            "--dry-run",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "which reads question;" in err and "rewritten" not in err


# --- 6, 7. the report explains its winner and counts candidates one way --------------------


def test_the_starred_candidate_is_explained_by_its_own_table(tmp_path: Path) -> None:
    from mipro_core._report import load_report_data, write_report

    result = mc.optimize(
        toy_program(ToyLM(), stages=2),
        TRAIN,
        toy_metric,
        valset=VAL,
        max_trials=12,
        minibatch_size=10,
        full_eval_every=3,
        progress=False,
    )
    data = load_report_data(result)
    for module in data.modules:
        for means, chosen in (
            (module.instruction_means, module.instruction_index),
            (module.demo_means, module.demo_set_index),
        ):
            fulls = {c.index: c.best_full for c in means if c.best_full is not None}
            if fulls:
                assert fulls[chosen] == max(fulls.values()) == result.best_score
    (page,) = write_report(result, tmp_path / "r.html")
    html = page.read_text()
    assert "best full evaluation" in html and "minibatch trials" in html
    assert "The winner is the configuration with the highest score" in html
    assert "of the module&#x27;s" in html or "of the module's" in html


def test_a_run_of_full_evaluations_only_has_candidate_tables_and_credit(tmp_path: Path) -> None:
    """The README quick start: the minibatch covers the validation set, so every trial is a
    full evaluation; the report still shows per-candidate tables, and the summary's credit is
    measured over the full evaluations instead of reading 0%."""
    from mipro_core._report import write_report

    result = mc.optimize(
        toy_program(ToyLM(), stages=2),
        TRAIN,
        toy_metric,
        valset=VAL,
        max_trials=8,
        minibatch_size=len(VAL),
        progress=False,
    )
    assert result.trials and all(t.kind == "full" for t in result.trials)
    (page,) = write_report(result, tmp_path / "r.html")
    html = page.read_text()
    assert "Instruction candidates tried" in html and "Demo" in html
    assert "full-evaluation scores (the run had no minibatch trials)" in html
    summary = result.summary()
    assert "of score variance (over the full evaluations)" in summary
    shares = [(c.instruction_share, c.demos_share) for c in result.credit]
    assert any(share > 0 for pair in shares for share in pair)


def test_the_proposal_log_counts_candidates_per_module_with_the_original(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger="mipro_core"):
        mc.optimize(
            toy_program(ToyLM(), stages=2),
            TRAIN,
            toy_metric,
            valset=VAL,
            max_trials=2,
            num_candidates=4,
            progress=False,
        )
    assert "up to 4 candidates per module, the original included" in caplog.text


def test_the_repair_rounds_candidate_is_counted_and_labelled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The log says "up to 4 candidates per module"; the repair round adds a fifth, which the
    log announces and the report counts and labels."""
    from mipro_core._report import write_report

    journal = tmp_path / "run.sqlite"
    with caplog.at_level("INFO", logger="mipro_core"):
        result = mc.optimize(
            toy_program(ToyLM()),
            TRAIN,
            toy_metric,
            valset=VAL,
            max_trials=15,
            minibatch_size=15,
            num_candidates=4,
            seed=3,
            journal=journal,
            progress=False,
        )
    assert "up to 4 candidates per module, the original included" in caplog.text
    assert "repair round: 1 instruction(s) written from failing examples" in caplog.text
    assert len(result.instruction_candidates["s0"]) == 5
    assert result.repair_candidates == {"s0": (4,)}
    # the same labels whether the report is built from the journal or from the result object
    for source, name in ((journal, "journal.html"), (result, "result.html")):
        (page,) = write_report(source, tmp_path / name)
        html = page.read_text()
        assert (
            "of the module's 5: 4 before the repair round, the original #0 included, "
            "+ 1 from the repair round)" in html.replace("&#x27;", "'")
        ), source
        assert "#4 (repair round)" in html


def test_the_summary_and_the_progress_bar_count_like_the_report() -> None:
    """The summary splits its trial count as the report does, and the bar's last LM-call count
    (after the final full evaluation) is the summary's."""
    ticks: list[tuple[int, int]] = []

    class Recorder:
        def stage(self, text: str) -> None:
            pass

        def trials(self, done: int, total: int, best: float | None, lm_calls: int) -> None:
            ticks.append((done, lm_calls))

        def close(self) -> None:
            pass

    result = mc.optimize(
        toy_program(ToyLM(), stages=2),
        TRAIN,
        toy_metric,
        valset=VAL,
        max_trials=10,
        minibatch_size=10,
        progress=Recorder(),
    )
    minibatches = sum(1 for t in result.trials if t.kind == "minibatch")
    fulls = len(result.trials) - minibatches
    assert minibatches == 10 and fulls >= 2
    assert (
        f"trials: {len(result.trials)} ({minibatches} minibatch, {fulls} full evaluations)"
        in result.summary()
    )
    assert ticks[-1] == (10, result.lm_calls)


# --- 8. a rewritten instruction is shown side by side, a small edit as a diff ----------------


def test_a_mostly_rewritten_instruction_is_shown_side_by_side() -> None:
    from mipro_core._report._data import ModuleReport
    from mipro_core._report._html import _module

    def page(old: str, new: str) -> str:
        return _module(
            ModuleReport(
                name="answer",
                best_instruction=new,
                demos=(),
                original_instruction=old,
                searched=True,
            )
        )

    rewritten = page("Answer the question.", "Think step by step, then give one short word.")
    assert 'class="side"' in rewritten and "<del>" not in rewritten
    edited = page("Answer the question briefly.", "Answer the question very briefly.")
    assert "<ins>very" in edited and 'class="side"' not in edited


# --- 9. resume: documented --threads, and the demo's artifact where the run said -------------


def test_resume_help_explains_threads(capsys: pytest.CaptureFixture[str]) -> None:
    from mipro_core.cli import main

    assert main(["resume", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads N parallel program runs" in text


def test_a_demo_resumed_from_another_folder_does_not_write_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mipro_core.cli import main

    run_dir, other = tmp_path / "run", tmp_path / "other"
    run_dir.mkdir()
    other.mkdir()
    monkeypatch.chdir(run_dir)
    args = ["demo", "--output", "demo.json", "--journal", "demo.sqlite", "--threads", "2"]
    assert main(args) == 0
    (run_dir / "demo.json").unlink()
    monkeypatch.chdir(other)
    # the recorded path is absolute: from elsewhere it is outside the current directory
    assert main(["resume", str(run_dir / "demo.sqlite")]) == 1
    assert "pass --out FILE" in capsys.readouterr().err
    assert not (other / "demo.json").exists()
    monkeypatch.chdir(run_dir)
    assert main(["resume", "demo.sqlite"]) == 0
    assert (run_dir / "demo.json").is_file()
