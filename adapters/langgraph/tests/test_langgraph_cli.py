"""``mipro optimize app:build_graph ...`` on a zero-argument graph factory, then ``mipro apply``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mipro_core.cli import main
from mipro_core.testing import load_task

APP = """
from typing import TypedDict

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import START, StateGraph
from mipro_langchain.testing import LMChatModel

from mipro_core.testing import SimulatedLM


class State(TypedDict, total=False):
    question: str
    answer: str


def build_graph():
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer the question."), ("human", "{question}")]
    )
    chain = prompt | LMChatModel(lm=SimulatedLM(seed=0)) | StrOutputParser()

    def answer(state):
        return {"answer": chain.invoke({"question": state["question"]})}

    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile()
"""

METRICS = """
from mipro_core.testing import load_task

_METRIC = load_task("rule_qa").metric


def exact(example, prediction, trace=None):
    return _METRIC(example, prediction, trace)
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lgapp.py").write_text(APP)
    (tmp_path / "metrics.py").write_text(METRICS)
    rows = [{**e.inputs, **e.outputs} for e in load_task("rule_qa").trainset[:16]]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


def test_optimize_and_apply_a_graph_factory_from_the_command_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["lgapp:build_graph", "--train", "train.jsonl", "--metric", "metrics:exact"]
    status = main(["optimize", *args, "--max-trials", "2", "--threads", "1"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "via LangGraphProgram" in out
    artifact = json.loads((workdir / "lgapp.mipro.json").read_text())
    assert "answer/chain.steps[0]" in json.dumps(artifact)
    status = main(["apply", "lgapp:build_graph", "lgapp.mipro.json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "answer/chain.steps[0]" in out
