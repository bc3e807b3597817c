"""The engine package's layout: small stages, no import cycle among them, a narrow surface to
the proposer, and the search-variable names users and files see."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import mipro_core._engine as engine_pkg
from mipro_core._engine import StopReason
from mipro_core._variables import VariableKey

PACKAGE = Path(engine_pkg.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_stage_module_is_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 300


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_class_is_small(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ClassDef):
            assert node.end_lineno is not None
            assert node.end_lineno - node.lineno + 1 <= 250, node.name


def _local_imports(path: Path) -> set[str]:
    """The sibling modules of the package that ``path`` imports (``from .x import ...``)."""
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module)
    return found


def test_the_stages_import_each_other_without_a_cycle() -> None:
    graph = {p.stem: _local_imports(p) for p in MODULES if p.stem != "__init__"}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for imported in graph.get(name, ()):
            visit(imported, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_engine_uses_only_the_proposer_packages_surface(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("_propose."), (path.name, node.module)


def test_every_stage_module_imports_on_its_own() -> None:
    for info in pkgutil.iter_modules([str(PACKAGE)]):
        importlib.import_module(f"mipro_core._engine.{info.name}")


def test_variable_keys_keep_the_names_of_trials_journals_and_artifacts() -> None:
    assert str(VariableKey.instruction("answer")) == "answer.instruction"
    assert str(VariableKey.demos("answer")) == "answer.demos"
    # a module name may hold dots (LlamaIndex prompt paths)
    dotted = "query_engine.response_synthesizer.text_qa_template.demos"
    assert VariableKey.parse(dotted) == VariableKey.demos(
        "query_engine.response_synthesizer.text_qa_template"
    )
    assert VariableKey.instruction("m").index_in({"m.instruction": 3, "m.demos": 1}) == 3
    assert VariableKey.demos("other").index_in({"m.demos": 1}) == 0
    with pytest.raises(ValueError, match="not a search variable"):
        VariableKey.parse("m.temperature")


def test_stop_reasons_keep_the_strings_results_and_journals_hold() -> None:
    assert {r.value for r in StopReason} == {
        "completed",
        "nothing to search",
        "search exhausted",
        "every configuration fully evaluated",
        "no signal",
        "max_lm_calls",
        "max_seconds",
        "interrupted",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_stage_sets_the_evaluators_fields(path: Path) -> None:
    """The evaluator takes what an evaluation needs as arguments (keep_failures, the
    first-success callback), never as fields set from outside."""
    for node in ast.walk(_tree(path)):
        targets = node.targets if isinstance(node, ast.Assign) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute):
                assert target.value.attr != "evaluator", (path.name, target.attr)
