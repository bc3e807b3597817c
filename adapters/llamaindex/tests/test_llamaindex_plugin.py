"""The entry-point plugin, the LM wrapper and the default proposer model."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.memory import ChatMemoryBuffer
from mipro_llamaindex import LlamaIndexLM, LlamaIndexProgram

from mipro_core import InvalidInputError, LMError, NoAdapterError, adapt, wrap_lm
from mipro_core.plugins import list_plugins


def test_entry_point_is_registered_and_describes_itself() -> None:
    names = [info.name for info in list_plugins()]
    assert "llamaindex" in names
    from mipro_llamaindex.plugin import mipro_adapter_info

    info = mipro_adapter_info()
    assert info["name"] == "llamaindex" and info["framework"].startswith("llama-index-core")


def test_adapt_accepts_engines_and_refuses_other_llamaindex_objects(
    index: VectorStoreIndex,
) -> None:
    engine = index.as_query_engine(llm=MockLLM())
    program = adapt(engine)
    assert isinstance(program, LlamaIndexProgram) and program.target is engine
    chat = index.as_chat_engine(llm=MockLLM(), memory=ChatMemoryBuffer.from_defaults())
    assert isinstance(adapt(chat), LlamaIndexProgram)
    with pytest.raises(InvalidInputError, match=r"index\.as_query_engine"):
        adapt(index)  # an index is not runnable: the error says to build an engine from it
    with pytest.raises(InvalidInputError, match="proposer_lm"):
        adapt(MockLLM())  # an LLM alone has no prompt to own
    with pytest.raises(NoAdapterError):
        adapt(object())  # not a LlamaIndex object at all


def test_wrap_lm_wraps_any_llamaindex_llm(scripted: Any) -> None:
    lm = wrap_lm(MockLLM())  # a completion model: LlamaIndex flattens the messages
    assert isinstance(lm, LlamaIndexLM)
    out = lm([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}], n=3)
    assert out == ["system: S\nuser: U\nassistant: "] * 3
    chat = scripted(lambda prompt: "ok", chat_model=True)
    assert wrap_lm(chat)([{"role": "user", "content": "hi"}], temperature=0.7) == ["ok"]
    assert chat.received == [[("user", "hi")]]


def test_lm_errors_become_lm_error(scripted: Any) -> None:
    def boom(prompt: str) -> str:
        raise RuntimeError("rate limited")

    with pytest.raises(LMError, match="rate limited"):
        LlamaIndexLM(scripted(boom))([{"role": "user", "content": "x"}])


def test_default_lm_is_the_pipelines_llm(index: VectorStoreIndex, scripted: Any) -> None:
    llm = scripted()
    program = LlamaIndexProgram(index.as_query_engine(llm=llm))
    default = program.default_lm()
    assert isinstance(default, LlamaIndexLM) and default.llm is llm


def test_loading_the_plugin_does_not_import_llamaindex() -> None:
    code = (
        "import sys, mipro_llamaindex.plugin as p\n"
        "assert p.mipro_adapt(object()) is None and p.mipro_wrap_lm(print) is None\n"
        "assert not any(m.startswith(('llama_index', 'workflows')) for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_are_pinned() -> None:
    import mipro_llamaindex

    assert mipro_llamaindex.__all__ == [
        "LlamaIndexLM",
        "LlamaIndexModule",
        "LlamaIndexProgram",
        "__version__",
    ]
    for name in mipro_llamaindex.__all__:
        assert getattr(mipro_llamaindex, name) is not None
