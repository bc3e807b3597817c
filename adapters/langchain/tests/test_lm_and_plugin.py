"""Models as the core LM, and the plugin hooks found through the real entry point."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from lc_test_support import EchoChatModel, FailingChatModel
from mipro_langchain import LangChainLM, LangChainProgram, NoPromptFoundError
from mipro_langchain.testing import LMChatModel

import mipro_core
from mipro_core import LMError, NoAdapterError

MESSAGES: list[Any] = [
    {"role": "system", "content": "You write instructions."},
    {"role": "user", "content": "Write one."},
]


def test_wrap_lm_accepts_chat_models_llms_and_bindings() -> None:
    chat = EchoChatModel()
    lm = mipro_core.wrap_lm(chat)
    assert isinstance(lm, LangChainLM)
    assert lm(MESSAGES) == ["system: You write instructions.\nhuman: Write one."]
    llm = mipro_core.wrap_lm(FakeListLLM(responses=["plain"]))
    assert llm(MESSAGES, n=2) == ["plain", "plain"]
    bound = mipro_core.wrap_lm(EchoChatModel(prefix="> ").bind(stop=["x"]))
    assert bound(MESSAGES)[0].startswith("> system:")


def test_temperature_and_n_reach_the_model() -> None:
    class TemperatureModel(EchoChatModel):
        temperature: float = 0.0

        def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
            result = super()._generate(messages, *args, **kwargs)
            result.generations[0].message.content = f"t={self.temperature}"
            return result

    model = TemperatureModel()
    lm = LangChainLM(model)
    assert lm(MESSAGES, n=3, temperature=0.7) == ["t=0.7"] * 3
    assert model.temperature == 0.0  # the user's model is not changed
    assert lm(MESSAGES, n=0) == []


def test_model_failures_become_lm_errors() -> None:
    with pytest.raises(LMError, match="model unavailable"):
        LangChainLM(FailingChatModel())(MESSAGES)
    with pytest.raises(TypeError):
        LangChainLM(ChatPromptTemplate.from_messages([("human", "x")]))  # type: ignore[arg-type]


def test_adapt_and_foreign_objects() -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "{question}")])
    assert isinstance(mipro_core.adapt(prompt | EchoChatModel()), LangChainProgram)
    with pytest.raises(NoPromptFoundError, match="is a model, not a chain"):
        mipro_core.adapt(EchoChatModel())  # a bare model: ours, but with no prompt to own
    with pytest.raises(NoAdapterError):
        mipro_core.adapt({"not": "a chain"})


def test_lm_chat_model_wraps_a_core_lm() -> None:
    seen: list[Any] = []

    def core_lm(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        seen.append((list(messages), n, temperature))
        return ["ok"]

    model = LMChatModel(lm=core_lm)
    prompt = ChatPromptTemplate.from_messages([("system", "S"), ("human", "{q}"), ("ai", "A")])
    assert (prompt | model).invoke({"q": "Q"}).content == "ok"
    assert seen == [
        (
            [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Q"},
                {"role": "assistant", "content": "A"},
            ],
            1,
            0.0,
        )
    ]


def test_entry_point_and_adapter_info() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="mipro") if e.name == "langchain"]
    assert entry.value == "mipro_langchain.plugin"
    plugin = entry.load()
    info = plugin.mipro_adapter_info()
    assert info["name"] == "langchain" and info["framework"] == "langchain-core"
    assert info["framework_version"] == importlib.metadata.version("langchain-core")
    assert plugin.mipro_adapt(obj=object()) is None
    assert plugin.mipro_wrap_lm(obj=FakeListChatModel(responses=["x"])) is not None


def test_importing_the_plugin_does_not_import_langchain() -> None:
    code = (
        "import sys, mipro_langchain.plugin as p; "
        "assert not any(m.startswith('langchain') for m in sys.modules), 'langchain imported'; "
        "assert p.mipro_adapt(obj=object()) is None and p.mipro_wrap_lm(obj=1) is None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_models_with_an_n_field_return_n_samples_from_one_request() -> None:
    calls: list[tuple[int, float]] = []

    def core_lm(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
        calls.append((n, temperature))
        return [f"sample {i}" for i in range(n)]

    model = LMChatModel(lm=core_lm)
    assert LangChainLM(model)(MESSAGES, n=3, temperature=0.9) == [
        "sample 0",
        "sample 1",
        "sample 2",
    ]
    assert calls == [(3, 0.9)]
    assert model.n == 1 and model.temperature == 0.0


def test_public_names_are_pinned_and_resolve() -> None:
    import mipro_langchain

    assert mipro_langchain.__all__ == [
        "MODULE_KEY",
        "LangChainLM",
        "LangChainModule",
        "LangChainProgram",
        "ModuleInfo",
        "NoPromptFoundError",
        "TraceRecorder",
        "UnattributedCallWarning",
        "__version__",
    ]
    for name in mipro_langchain.__all__:
        assert getattr(mipro_langchain, name) is not None
    with pytest.raises(AttributeError):
        _ = mipro_langchain.nothing_here  # type: ignore[attr-defined]
