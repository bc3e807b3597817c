"""`mipro optimize`, `mipro apply` and `mipro resume` end to end, in-process and offline.

Each test writes a small app module, a metric module and data files into a temporary working
directory, runs ``mipro_core.cli.main([...])`` there and checks the files, the summary and the
exit status. Every run uses the SimulatedLM and a few trials.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mipro_core
from mipro_core import Journal, read_artifact
from mipro_core._cli_common import CLI_META, FINISHED_META, RunProgress
from mipro_core._cli_optimize_args import STRATEGY_NAMES
from mipro_core._progress import ConsoleProgress, trial_line
from mipro_core.cli import main
from mipro_core.testing import load_task

RULE_QA = load_task("rule_qa")

NATIVE_APP = """
from mipro_core.native import NativeProgram, Stage
from mipro_core.testing import SimulatedLM

LM = SimulatedLM(seed=0)


def answer(stages, inputs):
    return stages["answer"](question=inputs["question"])


def build():
    stage = Stage("answer", "question -> answer", "Answer the question.", lm=LM)
    return NativeProgram([stage], answer, description="Answers questions about a small world.")


program = build()


def needs_args(x):
    return build()


def broken():
    raise RuntimeError("database is down")


def nothing():
    return None


not_an_app = 42
"""

METRICS = """
from mipro_core.testing import load_task

_METRIC = load_task("rule_qa").metric


def exact(example, prediction, trace=None):
    return _METRIC(example, prediction, trace)


def two_args(example):
    return 1.0


threshold = 0.5
"""

LANGCHAIN_APP = """
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from mipro_langchain.testing import LMChatModel
from mipro_core.testing import SimulatedLM


def build():
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "{question}")]
    )
    return prompt | LMChatModel(lm=SimulatedLM(seed=0)) | StrOutputParser()
"""

LLAMAINDEX_APP = """
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from mipro_llamaindex.testing import HashingEmbedding, LMBackedLLM
from mipro_core.testing import SimulatedLM


def build():
    nodes = [TextNode(text="The sky is blue.", id_="a"), TextNode(text="Grass is green.", id_="b")]
    index = VectorStoreIndex(nodes, embed_model=HashingEmbedding())
    return index.as_query_engine(llm=LMBackedLLM(SimulatedLM(seed=0)), similarity_top_k=1)
"""

FAST = ["--max-trials", "3", "--threads", "4"]
RESUME = ["--app", "myapp:build", "--metric", "metrics:exact"]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory holding myapp.py, metrics.py and train.jsonl; its modules are
    forgotten afterwards so the next test imports its own."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myapp.py").write_text(NATIVE_APP)
    (tmp_path / "metrics.py").write_text(METRICS)
    rows = [{**e.inputs, **e.outputs} for e in RULE_QA.trainset[:24]]
    write_jsonl(tmp_path / "train.jsonl", rows)
    path_before = list(sys.path)
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]
    assert sys.path == path_before  # the CLI removes the directories it added


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def optimize_args(*extra: str, app: str = "myapp:build") -> list[str]:
    return ["optimize", app, "--train", "train.jsonl", "--metric", "metrics:exact", *FAST, *extra]


# --- the happy path ----------------------------------------------------------------------------


def test_optimize_writes_artifact_journal_and_summary_then_apply_prints_the_prompts(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, *optimize_args())
    assert status == 0, err
    artifact, journal = workdir / "myapp.mipro.json", workdir / "myapp.mipro.sqlite"
    saved = read_artifact(artifact)
    assert list(saved.state) == ["answer"]
    assert saved.metadata["score"] > saved.metadata["baseline_score"]  # the rules were learnt
    assert "train     train.jsonl, 24 examples (inputs: question; outputs: answer)" in out
    score_line = next(line for line in out.splitlines() if "validation score" in line)
    assert f"baseline {saved.metadata['baseline_score']:.3f}" in score_line
    assert f"best {saved.metadata['score']:.3f}" in score_line
    assert "LM calls" in out and "(task " in out and ", proposer " in out
    new_instruction = saved.state["answer"].instruction != "Answer the question."
    row = ["answer", "changed" if new_instruction else "unchanged"]
    row += ["0", "->", str(len(saved.state["answer"].demos))]
    assert any(line.split()[:5] == row for line in out.splitlines())
    assert str(artifact) in out and str(journal) in out
    assert "mipro apply myapp:build myapp.mipro.json" in out
    assert "[mipro] evaluating the baseline" in err and "trial 3/3" in err  # progress on stderr
    with Journal.open(journal) as store:
        assert store.meta(CLI_META)["app"] == "myapp:build"
        assert store.meta(FINISHED_META) is not None

    status, out, err = run(capsys, "apply", "myapp:build", str(artifact))
    assert status == 0, err
    instruction = saved.state["answer"].instruction
    assert instruction.split("\n")[0] in out  # the optimized instruction, as sent
    assert "[system]" in out and "question: {question}" in out
    assert f"demos 0 -> {len(saved.state['answer'].demos)}" in out


def test_a_module_level_object_a_csv_file_a_val_file_and_a_proposer(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def csv_rows(examples: Any) -> str:
        lines = ["question,answer,source"]
        lines += [f'"{e.inputs["question"]}","{e.outputs["answer"]}",quiz' for e in examples]
        return "\n".join(lines) + "\n"

    (workdir / "train.csv").write_text(csv_rows(RULE_QA.trainset[:12]))
    (workdir / "val.csv").write_text(csv_rows(RULE_QA.valset[:6]))
    status, out, err = run(
        capsys,
        "optimize",
        "myapp:program",
        "--train",
        "train.csv",
        "--val",
        "val.csv",
        "--outputs",
        "answer",
        "--metric",
        "metrics:exact",
        "--proposer",
        "mipro_core.testing:SimulatedLM",
        "--out",
        "best.json",
        "--no-journal",
        *FAST,
    )
    assert status == 0, err
    assert "(inputs: question; outputs: answer)" in out and "val.csv, 6 examples" in out
    assert "validation score  baseline " in out
    assert (workdir / "best.json").is_file() and not (workdir / "myapp.mipro.sqlite").exists()
    assert "journal" not in out.split("Result", 1)[1]


def test_dry_run_prints_the_estimate_and_calls_no_model(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, *optimize_args("--dry-run"))
    assert status == 0, err
    assert "Estimated cost (dry run" in out and "LM calls      about " in out
    assert sys.modules["myapp"].LM.calls == 0
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("myapp.mipro")) == []


def test_a_langchain_chain_is_optimized_and_applied(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "lcapp.py").write_text(LANGCHAIN_APP)
    status, out, err = run(capsys, *optimize_args(app="lcapp:build"))
    assert status == 0, err
    assert "RunnableSequence via LangChainProgram" in out
    saved = read_artifact(workdir / "lcapp.mipro.json")
    status, out, err = run(capsys, "apply", "lcapp:build", "lcapp.mipro.json")
    assert status == 0, err
    assert "System Message" in out and "{question}" in out  # LangChain's own rendering
    assert saved.state["steps[0]"].instruction.split("\n")[0] in out


def test_a_llamaindex_query_engine_reads_its_query_column(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mipro_llamaindex")
    (workdir / "liapp.py").write_text(LLAMAINDEX_APP)
    base = ["optimize", "liapp:build", "--train", "q.jsonl", "--metric", "metrics:exact"]
    # a dataset without a `query` column: the engine's input is named in the error
    rows = [{"question": e.inputs["question"], **e.outputs} for e in RULE_QA.trainset[:8]]
    write_jsonl(workdir / "q.jsonl", rows)
    status, _, err = run(capsys, *base, *FAST)
    assert status == 1 and "query" in err and len(err.strip().splitlines()) == 1
    # the input column is inferred from the adapter (`LlamaIndexProgram.input_fields`)
    rows = [{"query": e.inputs["question"], **e.outputs} for e in RULE_QA.trainset[:8]]
    write_jsonl(workdir / "q.jsonl", rows)
    status, out, err = run(capsys, *base, "--max-trials", "2")
    assert status == 0, err
    assert read_artifact(workdir / "liapp.mipro.json").state.names() == (
        "response_synthesizer.text_qa_template",
    )
    status, out, err = run(capsys, "apply", "liapp:build", "liapp.mipro.json")
    assert status == 0, err
    assert "{query_str}" in out and "{context_str}" in out  # LlamaIndex's template text


# --- journals, interruption and resume ---------------------------------------------------------


def test_ctrl_c_during_the_search_leaves_a_resumable_journal(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(RunProgress, "trials", interrupt)
        status, out, err = run(capsys, *optimize_args("--max-trials", "6"))
    assert status == 130
    assert "stopped: interrupted" in out
    assert err.splitlines()[-1] == (
        "mipro: interrupted; the journal myapp.mipro.sqlite keeps every finished step: "
        "continue the run with 'mipro resume myapp.mipro.sqlite --app myapp:build "
        "--metric metrics:exact'"
    )
    journal = workdir / "myapp.mipro.sqlite"
    with Journal.open(journal) as store:
        assert store.meta(FINISHED_META) is None

    # starting over by accident is refused; resuming takes the command the hint shows
    status, _, err = run(capsys, *optimize_args())
    assert status == 1 and "holds an unfinished run" in err and "--overwrite" in err
    (workdir / "myapp.mipro.json").unlink()
    status, out, err = run(capsys, "resume", str(journal), *RESUME)
    assert status == 0, err
    assert "stopped: completed" in out and "validation score" in out
    assert read_artifact(workdir / "myapp.mipro.json").state.names() == ("answer",)
    with Journal.open(journal) as store:
        assert store.meta(FINISHED_META) is not None

    # a finished journal is replaced by the next run
    status, _, err = run(capsys, *optimize_args())
    assert status == 0 and "of an earlier run was replaced" in err


def test_ctrl_c_before_the_search_prints_how_to_resume(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RunProgress.stage

    def stage(self: RunProgress, text: str) -> None:
        original(self, text)
        if text.startswith("evaluating the baseline"):
            raise KeyboardInterrupt

    monkeypatch.setattr(RunProgress, "stage", stage)
    status, _, err = run(capsys, *optimize_args())
    assert status == 130
    assert "mipro resume myapp.mipro.sqlite --app myapp:build" in err.splitlines()[-1]
    assert not (workdir / "myapp.mipro.json").exists()
    monkeypatch.setattr(RunProgress, "stage", original)
    status, out, err = run(capsys, "resume", "myapp.mipro.sqlite", "--use-recorded")
    assert status == 0, err
    assert (workdir / "myapp.mipro.json").is_file()
    assert "apply it  mipro apply myapp:build " in out  # as a finished run says


def test_overwrite_starts_an_unfinished_journal_over(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Journal.create(workdir / "run.sqlite", {"modules": ["answer"]}):
        pass
    status, _, err = run(capsys, *optimize_args("--journal", "run.sqlite"))
    assert status == 1 and "mipro resume run.sqlite" in err
    status, _, err = run(capsys, *optimize_args("--journal", "run.sqlite", "--overwrite"))
    assert status == 0, err


def test_resume_reports_a_metric_that_is_gone(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *optimize_args("--max-trials", "1"))[0] == 0
    (workdir / "metrics.py").write_text("")
    sys.modules.pop("metrics", None)
    status, _, err = run(capsys, "resume", "myapp.mipro.sqlite", *RESUME)
    assert status == 1
    assert err.splitlines()[-1] == (
        "mipro: error: --metric metrics:exact: metrics has no attribute 'exact'"
    )


# --- one clear line per mistake ----------------------------------------------------------------

BAD = [
    # (arguments, exit status, text the single error line contains)
    (["optimize", "nosuch:build"], 1, "APP nosuch:build: no module named 'nosuch'"),
    (["optimize", "myapp:biuld"], 1, "has no attribute 'biuld'; did you mean 'build'?"),
    (["optimize", "myapp:broken"], 1, "calling it failed: RuntimeError: database is down"),
    (["optimize", "myapp:needs_args"], 1, "myapp:needs_args needs arguments (x)"),
    (["optimize", "myapp:nothing"], 1, "returned None"),
    (["optimize", "myapp:not_an_app"], 1, "no installed adapter accepts an object of type int"),
    (["optimize", "myapp"], 2, "argument APP: 'myapp' must look like 'package.module:attribute'"),
    (["--metric", "metrics:threshold"], 1, "--metric metrics:threshold is not callable"),
    (["--metric", "metrics:two_args"], 1, "two_args has the signature (example), but mipro"),
    (["--metric", "metrics"], 2, "argument --metric: 'metrics' must look like"),
    (["--proposer", "metrics:threshold"], 1, "--proposer metrics:threshold: no installed adapter"),
    (["--train", "missing.jsonl"], 1, "--train missing.jsonl: no such file"),
    (["--train", "bad.jsonl"], 1, "bad.jsonl:2: invalid JSON"),
    (["--train", "empty.jsonl"], 1, "empty.jsonl is empty"),
    (["--train", "other.csv"], 1, "none of its columns (q, answer) is an input of the program"),
    (["--train", "other.csv", "--inputs", "question"], 1, "--inputs names column(s) ['question']"),
    (["--val", "other.csv"], 1, "other.csv lacks column(s) ['question'] that train.jsonl has"),
    (["--inputs", "question,"], 2, "must be column names separated by commas"),
    (["--freeze", "nope"], 1, "--freeze names unknown module(s) ['nope']"),
    (["--max-trials", "0"], 2, "argument --max-trials: must be at least 1"),
    (["--seed", "x"], 2, "argument --seed: 'x' is not a whole number"),
    (["--budget", "huge"], 2, "argument --budget: invalid choice: 'huge'"),
    (["--out", "nodir/a.json"], 1, "the directory nodir does not exist"),
    (["--journal", "same.json", "--out", "same.json"], 1, "name the same file"),
    (["--journal", "j.sqlite", "--no-journal"], 2, "not allowed with argument"),
    (["--journal", "train.jsonl"], 1, "--journal train.jsonl is a data file of this run"),
    (["--out", "."], 1, "--out . is a directory"),
    (["--journal", "notes.txt", "--overwrite"], 1, "notes.txt exists and is not a mipro journal"),
]


@pytest.mark.parametrize(("argv", "status", "expected"), BAD, ids=[b[2][:40] for b in BAD])
def test_every_mistake_is_one_line(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    expected: str,
) -> None:
    (workdir / "bad.jsonl").write_text('{"question": "a?", "answer": "b"}\n{"question": ,}\n')
    (workdir / "empty.jsonl").write_text("")
    (workdir / "other.csv").write_text("q,answer\nx,y\n")
    (workdir / "notes.txt").write_text("keep me\n")
    if argv[0] != "optimize":
        argv = ["optimize", "myapp:build", *argv]
    for flag, value in (("--train", "train.jsonl"), ("--metric", "metrics:exact")):
        if flag not in argv:
            argv = [*argv, flag, value]
    got, _, err = run(capsys, *argv, *FAST)
    assert got == status, err
    assert len(err.splitlines()) == 1 and err.startswith("mipro: error: "), err
    assert expected in err
    assert sys.modules.get("myapp") is None or sys.modules["myapp"].LM.calls == 0
    assert (workdir / "notes.txt").read_text() == "keep me\n"


def test_apply_errors_are_one_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "apply", "myapp:build", "nothere.json")[:3:2] == (
        1,
        "mipro: error: No such file or directory: nothere.json\n",
    )
    mipro_core.save_state(
        "other.json", mipro_core.ProgramState({"x": mipro_core.ModuleState("hi")})
    )
    status, _, err = run(capsys, "apply", "myapp:build", "other.json")
    assert status == 1 and len(err.splitlines()) == 1 and "unknown module(s) ['x']" in err


# --- the parser and the display ----------------------------------------------------------------


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["optimize", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--train", "--val", "--metric", "--proposer", "--budget", "--seed", "--journal",
        "--out", "--dry-run", "--inputs", "--outputs", "--threads", "--max-trials",
        "--max-lm-calls", "--max-seconds", "--strategy", "--freeze", "--no-journal",
        "--overwrite", "--sampler", "--map-output", "--parallel-trials",
    ):  # fmt: skip
        assert flag in text, flag


def test_parallel_trials_flag_sets_the_trials_scored_at_once_and_the_journal_keeps_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, *optimize_args("--parallel-trials", "2"))
    assert status == 0, err
    assert "2 trials at once" in out
    with Journal.open(workdir / "myapp.mipro.sqlite") as store:
        assert store.config["parallel_trials"] == 2
    status, _, err = run(capsys, *optimize_args("--parallel-trials", "0", "--overwrite"))
    assert status == 2 and "--parallel-trials" in err


def test_sampler_flag_picks_a_named_sampler_and_the_journal_records_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, *optimize_args("--sampler", "random"))
    assert status == 0, err
    assert "sampler random" in out
    with Journal.open(workdir / "myapp.mipro.sqlite") as store:
        assert store.config["sampler"] == {"name": "random", "type": "RandomSampler", "params": {}}
    status, _, err = run(capsys, *optimize_args("--sampler", "nope"))
    assert status == 2
    assert "unknown sampler 'nope'" in err and "random" in err and "tpe" in err


def test_strategy_names_match_the_library() -> None:
    from mipro_core._api import STRATEGIES

    assert tuple(sorted(STRATEGIES)) == STRATEGY_NAMES


def test_live_display_redraws_one_line_and_plain_display_prints_lines() -> None:
    live = io.StringIO()
    progress = ConsoleProgress(live, live=True)
    progress.stage("bootstrapping")
    progress.trials(1, 4, None, 10)
    progress.trials(2, 4, 0.5, 20)
    progress.close()
    text = live.getvalue()
    assert text.startswith("[mipro] bootstrapping\n")
    assert text.count("\r") == 2 and text.endswith("\n") and "best 0.500  LM calls 20" in text

    plain = io.StringIO()
    progress = ConsoleProgress(plain)  # StringIO is no terminal: plain lines
    for done in range(1, 5):
        progress.trials(done, 4, 0.25, done * 10)
    lines = plain.getvalue().splitlines()
    assert "\r" not in plain.getvalue()
    assert lines[0].endswith("trial 1/4  best 0.250  LM calls 10  0s")
    assert "trial 4/4" in lines[-1] and len(lines) == 2  # rate-limited, the last always shown


def test_trial_line_and_on_start_hook() -> None:
    assert trial_line(3, 12, 0.7, 140, 12.2, width=4) == (
        "[#---] trial 3/12  best 0.700  LM calls 140  12s  11.5 calls/s"
    )
    started: list[int] = []
    progress = RunProgress(lambda: started.append(1), stream=io.StringIO())
    progress.stage("a")
    progress.trials(1, 2, None, 0)
    assert started == [1]


def test_apply_renders_a_module_without_a_view_as_instruction_and_demos() -> None:
    from mipro_core import Demo, ModuleState, Signature
    from mipro_core._cli_apply import render_module

    class Plain:
        name = "m"
        signature = Signature(("q",), ("a",))
        state = ModuleState("Be brief.", (Demo({"q": "1+1"}, {"a": "2"}, "labeled"),))

    assert render_module(Plain()) == [
        "instruction:",
        "  Be brief.",
        "demo 1 (labeled):",
        "  q: 1+1",
        "  a: 2",
    ]


def test_map_output_names_a_modules_gold_column_and_the_journal_records_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, *optimize_args("--map-output", "nope=answer"))
    assert status == 1 and len(err.splitlines()) == 1 and "which is no module" in err
    status, _, err = run(capsys, *optimize_args("--map-output", "answer=answer"))
    assert status == 0, err
    with Journal.open(workdir / "myapp.mipro.sqlite") as store:
        assert store.config["search"]["outputs"] == [["answer", "answer"]]
    status, _, err = run(capsys, *optimize_args("--map-output", "answer"))
    assert status == 2 and "MODULE=COLUMN" in err
