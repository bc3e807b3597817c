"""apply(): restore is exact (identity of the original objects), states are read back from the
installed templates, and programs adapted twice from one engine never stack rewrites."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.prompts.utils import get_template_vars
from mipro_llamaindex import LlamaIndexProgram

from mipro_core import Demo, ModuleState, ProgramState, apply, current_state

QA = "response_synthesizer.text_qa_template"
REFINE = "response_synthesizer.refine_template"
fragments = st.sampled_from(
    ["Be brief.", "{query_str}", "{context_str}", "{{x}}", '{"a": 1}', "é日", "\n", " ", "}{"]
)
text = st.lists(fragments, max_size=6).map("".join)
demo = st.builds(
    lambda c, q, a, src: Demo({"context_str": c, "query_str": q}, {"answer": a}, source=src),
    text,
    text,
    text,
    st.sampled_from(["bootstrapped", "labeled"]),
)
module_state = st.builds(ModuleState, text, st.lists(demo, max_size=3).map(tuple))


def installed(engine: Any, key: str) -> Any:
    return engine._response_synthesizer._get_prompts()[key]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=module_state, second=module_state)
def test_apply_then_restore_is_identity(
    index: VectorStoreIndex, first: ModuleState, second: ModuleState
) -> None:
    engine = index.as_query_engine(llm=MockLLM(), response_mode="refine")
    program = LlamaIndexProgram(engine)
    originals = {key: installed(engine, key) for key in ("text_qa_template", "refine_template")}
    original_state = current_state(program)
    program.apply(ProgramState({QA: first, REFINE: second}))
    assert current_state(program) == ProgramState({QA: first, REFINE: second})
    for key, template in originals.items():
        new = installed(engine, key)
        assert new.template_vars == template.template_vars
        default = new.default_template
        assert get_template_vars(default.template) == template.default_template.template_vars
    engine.query("What is the capital of France?")  # still formats and runs
    program.apply(original_state)
    for key, template in originals.items():
        assert installed(engine, key) is template  # the very same objects are back
    assert current_state(program) == original_state


def test_second_program_on_the_same_engine_sees_the_current_state(
    index: VectorStoreIndex,
) -> None:
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=1)
    original = engine.get_prompts()["response_synthesizer:text_qa_template"]
    first = LlamaIndexProgram(engine)
    state = ModuleState("Be brief.", (Demo({"query_str": "q"}, {"answer": "a"}),))
    first.apply(ProgramState({QA: state}))
    second = LlamaIndexProgram(engine)  # e.g. what mipro_core.optimize/apply adapts again
    assert second.modules[QA].state == state
    assert second.modules[QA].base.get_template() == original.get_template()
    # Applying through either program replaces the preface; it never stacks a second one.
    apply(engine, ProgramState({QA: ModuleState("Be precise.")}))
    text, trace = first.run({"query": "Capital of France?"})
    assert text.startswith("Be precise.\n\nContext information is below.")
    assert first.modules[QA].state == ModuleState("Be precise.")
    assert trace.unattributed_calls == 0 and [c.module for c in trace.calls] == [QA]
