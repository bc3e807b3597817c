"""Every distribution builds, and its sdist and wheel ship what they should and nothing else.

The distributions are the core (the repository root), each ``adapters/*`` project and the toy
third-party adapter under ``docs/examples``. They are built with hatchling's PEP 517 hooks in
process (no build isolation, no network): a few tenths of a second each.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path
from types import ModuleType

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "docs" / "examples" / "mipro_toy_adapter"
ADAPTERS = sorted(p.parent for p in (ROOT / "adapters").glob("*/pyproject.toml"))
PROJECTS = [ROOT, *ADAPTERS, TOY]
# Files an sdist may hold beside its package (and, for an adapter, its tests).
SDIST_EXTRAS = frozenset({"PKG-INFO", "pyproject.toml", "README.md", "CHANGELOG.md", ".gitignore"})
# A Markdown link or image whose target is neither absolute (scheme://, mailto:) nor an anchor.
RELATIVE_LINK = re.compile(r"\]\((?![a-z][a-z0-9+.-]*:|#)([^)\s]+)", re.IGNORECASE)


@attrs.frozen
class Built:
    """One project's sdist and wheel: their member names (sdist names without the top folder)."""

    project: Path
    sdist: frozenset[str]
    wheel: frozenset[str]
    metadata: Message

    @property
    def package(self) -> str:
        """The one top-level package the wheel installs."""
        (package,) = {n.split("/")[0] for n in self.wheel if ".dist-info/" not in n}
        return package


def _build(backend: ModuleType, project: Path, out: Path) -> Built:
    out.mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)  # the PEP 517 hooks build the project in the working directory
        sdist = out / backend.build_sdist(str(out))
        wheel = out / backend.build_wheel(str(out))
    with tarfile.open(sdist) as tar:
        sdist_names = frozenset(n.split("/", 1)[1] for n in tar.getnames() if "/" in n)
    with zipfile.ZipFile(wheel) as whl:
        wheel_names = frozenset(n for n in whl.namelist() if not n.endswith("/"))
        (meta_name,) = [n for n in wheel_names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(whl.read(meta_name).decode("utf-8"))
    return Built(project, sdist_names, wheel_names, metadata)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Built]:
    backend = pytest.importorskip(
        "hatchling.build", reason="hatchling (the build backend, in the test extra) not installed"
    )
    pytest.importorskip(
        "packaging.requirements", reason="packaging (hatchling's dependency) missing"
    )
    out = tmp_path_factory.mktemp("dist")
    return {p: _build(backend, p, out / p.name) for p in PROJECTS}


def _name(project: Path) -> str:
    return "core" if project == ROOT else project.name


@pytest.mark.parametrize("project", PROJECTS, ids=_name)
def test_the_sdist_holds_the_package_and_nothing_from_the_rest_of_the_repository(
    built: dict[Path, Built], project: Path
) -> None:
    dist = built[project]
    allowed_dirs = {dist.package} if project == ROOT else {dist.package, "tests"}
    stray = sorted(
        n for n in dist.sdist if n not in SDIST_EXTRAS and n.split("/")[0] not in allowed_dirs
    )
    assert stray == [], f"{_name(project)} sdist ships files from outside its package: {stray}"
    in_sdist = {n for n in dist.sdist if n.startswith(dist.package + "/")}
    in_wheel = {n for n in dist.wheel if n.startswith(dist.package + "/")}
    assert in_sdist == in_wheel, "the wheel and the sdist ship different package files"


@pytest.mark.parametrize("project", PROJECTS, ids=_name)
def test_the_wheel_is_the_typed_package_alone(built: dict[Path, Built], project: Path) -> None:
    dist = built[project]
    assert f"{dist.package}/py.typed" in dist.wheel, "PEP 561 marker missing"
    assert all(n.startswith(dist.package + "/") or ".dist-info/" in n for n in dist.wheel)


def test_the_core_wheel_ships_its_data_files(built: dict[Path, Built]) -> None:
    wheel = built[ROOT].wheel
    assert any(n.startswith("mipro_core/_propose/prompts/") and n.endswith(".txt") for n in wheel)
    assert "mipro_core/testing/data/rule_qa.json" in wheel


@pytest.mark.parametrize("project", PROJECTS, ids=_name)
def test_the_readme_on_the_package_index_has_no_relative_links(
    built: dict[Path, Built], project: Path
) -> None:
    description = built[project].metadata.get_payload()
    assert isinstance(description, str) and description.strip(), "no long description"
    assert RELATIVE_LINK.findall(description) == [], "relative links break on the package index"


def test_the_adapters_share_the_core_version_and_require_that_minor_series(
    built: dict[Path, Built],
) -> None:
    from packaging.requirements import Requirement
    from packaging.version import Version

    core = Version(built[ROOT].metadata["Version"])
    next_minor = Version(f"{core.major}.{core.minor + 1}.0")
    for project in [*ADAPTERS, TOY]:
        metadata = built[project].metadata
        if project != TOY:  # a third-party adapter keeps its own version
            assert Version(metadata["Version"]) == core, f"{project.name} version differs"
        reqs = [
            Requirement(r) for r in metadata.get_all("Requires-Dist") or [] if r.startswith("mipro")
        ]
        # mipro-core, and for an adapter built on another (LangGraph on LangChain) that one too
        assert "mipro-core" in {req.name for req in reqs}
        for req in reqs:
            # As pip decides: a specifier naming a pre-release admits pre-releases (the dev core).
            assert req.specifier.contains(core), f"{project.name}: {req} rejects core {core}"
            assert not req.specifier.contains(next_minor), f"{project.name}: {req} has no bound"


def _requirements(metadata: Message, extra: str | None) -> set[str]:
    """The distribution names required with ``extra`` (None: the runtime dependencies)."""
    from packaging.requirements import Requirement

    names = set()
    for line in metadata.get_all("Requires-Dist") or []:
        req = Requirement(line)
        in_extra = req.marker is not None and req.marker.evaluate({"extra": extra or ""})
        if (req.marker is None and extra is None) or (extra is not None and in_extra):
            names.add(req.name.lower())
    return names


def test_every_runtime_dependency_of_the_core_is_imported_by_it(built: dict[Path, Built]) -> None:
    sources = "\n".join(p.read_text("utf-8") for p in (ROOT / "mipro_core").rglob("*.py"))
    for name in _requirements(built[ROOT].metadata, None):
        module = name.replace("-", "_")
        imported = re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE)
        assert imported, f"runtime dependency {name} is imported by no module of mipro_core"


def test_the_test_extra_holds_what_tests_import_and_dev_the_tools(
    built: dict[Path, Built],
) -> None:
    metadata = built[ROOT].metadata
    tools = {"ruff", "mypy", "mkdocs", "playwright"}
    assert tools <= _requirements(metadata, "dev")
    assert not tools & _requirements(metadata, "test")
