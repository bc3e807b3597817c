"""Input that used to be scored silently (0.0 -> 0.0, best=1.0) is refused or named before any call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mipro_core as mc
from mipro_core.native import NativeProgram, Stage
from tests.toy import ToyLM, toy_data, toy_metric, toy_program

FAST: dict[str, Any] = dict(num_threads=2, max_trials=2, num_candidates=2, minibatch_size=5)


def _hello(messages: Any, *, n: int = 1, temperature: float = 0.0) -> list[str]:
    return ["answer: hello"] * n


def _two_stages(lm: ToyLM) -> NativeProgram:
    """``intro`` reads nothing (a constant prompt); ``s0`` answers the question."""

    def forward(stages: Any, inputs: Any) -> Any:
        stages["intro"]()
        return stages["s0"](question=inputs["question"])

    return NativeProgram(
        [
            Stage("intro", mc.Signature((), ("answer",)), "Say hello.", lm=_hello),
            Stage("s0", "question -> answer", "Answer the question.", lm=lm),
        ],
        forward,
    )


def test_a_module_that_reads_no_input_is_refused_before_any_call() -> None:
    lm = ToyLM()
    with pytest.raises(mc.InvalidInputError, match=r"\['intro'\] read no input.*freeze="):
        mc.optimize(_two_stages(lm), toy_data(10), toy_metric, valset=toy_data(10, 50), **FAST)
    assert lm.calls == 0


def test_a_frozen_module_that_reads_no_input_is_accepted() -> None:
    lm = ToyLM()
    result = mc.optimize(
        _two_stages(lm),
        toy_data(10),
        toy_metric,
        valset=toy_data(10, 50),
        freeze=["intro"],
        proposer_lm=lm,
        **FAST,
    )
    assert result.state["intro"] == result.initial_state["intro"]
    assert lm.calls > 0


def test_copies_of_one_example_are_not_a_valset() -> None:
    lm = ToyLM()
    copies = [mc.Example({"question": "word1"}, {"answer": "WORD1"}) for _ in range(150)]
    with pytest.raises(mc.InvalidInputError, match=r"valset has 100 example.*only 1 distinct"):
        mc.optimize(toy_program(lm), toy_data(10), toy_metric, valset=copies, **FAST)
    with pytest.raises(mc.InvalidInputError, match="only 1 distinct"):
        mc.optimize(toy_program(lm), copies, toy_metric, **FAST)  # split from the trainset
    assert lm.calls == 0


def test_a_valset_with_some_copies_runs_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    val = [*toy_data(4, 50), *toy_data(4, 50), *toy_data(2, 60)]
    with caplog.at_level("WARNING", logger="mipro_core"):
        mc.optimize(toy_program(ToyLM()), toy_data(10), toy_metric, valset=val, **FAST)
    assert "valset holds 10 examples but only 6 distinct ones" in caplog.text


def test_non_text_example_inputs_are_named_once_before_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = [mc.Example({"question": i}, {"answer": str(i)}) for i in range(10)]
    data += [mc.Example({"question": {"n": i}}, {"answer": str(i)}) for i in range(10)]
    with caplog.at_level("WARNING", logger="mipro_core"):
        mc.optimize(toy_program(ToyLM()), data[::2], toy_metric, valset=data[1::2], **FAST)
    named = [r.getMessage() for r in caplog.records if "formats it as text" in r.getMessage()]
    assert len(named) == 2, named  # one per field and type, not one per example
    assert "'question' holds int values (first: trainset[0]) but module 's0'" in named[0]
    assert "holds dict values" in named[1] and "{'n': " in named[1]


def test_example_inputs_with_no_text_form_are_refused_before_any_call() -> None:
    lm = ToyLM()
    data = [mc.Example({"question": object()}, {"answer": "x"}, id=f"o{i}") for i in range(4)]
    with pytest.raises(mc.InvalidInputError, match=r"trainset\[0\] input 'question' is a object"):
        mc.optimize(toy_program(lm), data, toy_metric, valset=toy_data(4), **FAST)
    raw = [mc.Example({"question": b"word"}, {"answer": "x"}, id=f"b{i}") for i in range(4)]
    with pytest.raises(mc.InvalidInputError, match=r"is a bytes.*module 's0'"):
        mc.optimize(toy_program(lm), toy_data(4), toy_metric, valset=raw, **FAST)
    assert lm.calls == 0


def _artifact(tmp_path: Path, demo: mc.Demo) -> Path:
    state = mc.ProgramState({"s0": mc.ModuleState("Answer.", (demo,))})
    return mc.save_state(tmp_path / "a.json", state)


@pytest.mark.parametrize(
    ("inputs", "match"),
    [
        ({"context": "c", "query": "q"}, r"demo 0 of module 's0'.*\['context', 'query'\]"),
        ({"question": "q", "context": "c"}, r"module 's0'.*\['context'\].*reads \['question'\]"),
        ({"question": {"text": "q"}}, r"module 's0'.*field 'question' holds a dict"),
        ({"question": None}, r"module 's0'.*field 'question' holds a null"),
        ({"question": [["q"]]}, r"field 'question' holds a list"),
        ({}, r"module 's0' has no inputs"),
    ],
)
def test_artifact_demos_a_module_cannot_show_are_refused(
    tmp_path: Path, inputs: dict[str, Any], match: str
) -> None:
    program = toy_program(ToyLM())
    path = _artifact(tmp_path, mc.Demo(inputs, {"answer": "A"}))
    with pytest.raises(mc.ArtifactError, match=match):
        mc.apply(program, path)
    assert program.modules["s0"].state.demos == ()  # nothing was applied


@pytest.mark.parametrize("value", ["word", 3, 2.5, ["p1", "p2"], ["p", 1]])
def test_artifact_demos_with_text_numbers_or_text_lists_apply(tmp_path: Path, value: Any) -> None:
    program = toy_program(ToyLM())
    mc.apply(program, _artifact(tmp_path, mc.Demo({"question": value}, {"answer": "A"})))
    assert program.modules["s0"].state.demos[0].inputs["question"] == value


def test_an_optimized_artifact_applies_to_a_rebuilt_program(tmp_path: Path) -> None:
    result = mc.optimize(
        toy_program(ToyLM()), toy_data(10), toy_metric, valset=toy_data(10, 50), **FAST
    )
    path = result.save(tmp_path / "best.json")
    rebuilt = mc.apply(toy_program(ToyLM()), path)
    assert mc.current_state(rebuilt) == result.state
