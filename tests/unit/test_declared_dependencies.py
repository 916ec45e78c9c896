"""Every library runyard imports is declared in pyproject.toml (core or an extra), and the test extra installs
every extra a user can: a module that only the developer's venv happens to have fails here, not on CI."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# torch is installed pinned by the set-up scripts (a CPU or CUDA wheel), never through pip's resolver
INSTALLED_BY_SCRIPTS = {"torch", "horovod"}


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def _declared() -> set[str]:
    """What a user can install: core and the user extras (not the suite's or the benchmarks' own)."""
    names = {_name(r) for r in PROJECT["dependencies"]}
    for extra, requirements in PROJECT["optional-dependencies"].items():
        if extra not in ("test", "bench"):
            names |= {_name(r) for r in requirements}
    return names


def _with_their_requirements(names: set[str]) -> set[str]:
    """`names` and what they install (fastapi brings starlette): importing those needs no line of its own."""
    closure, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        todo += [_name(r) for r in requirements if "extra" not in str(Requirement(r).marker or "")]
    return closure


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "runyard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"runyard", "__future__"}


def test_every_imported_library_is_declared_in_pyproject() -> None:
    distributions = importlib.metadata.packages_distributions()
    declared = _with_their_requirements(_declared() | INSTALLED_BY_SCRIPTS)
    undeclared = []
    for module in sorted(_imported_top_level_modules()):
        owners = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not owners & declared:
            undeclared.append(f"{module} (from {sorted(owners)})")
    assert not undeclared, f"imported by runyard but in no dependency list of pyproject.toml: {undeclared}"


def test_the_test_extra_installs_every_extra_a_user_can_install() -> None:
    """The suite runs what users run: each user extra's requirements are in the test extra, ranges and all
    (listed there rather than as runyard[...]: pip backtracks badly over a self-referencing extra)."""
    extras = PROJECT["optional-dependencies"]
    test = set(extras["test"])
    missing = {f"{name}: {r}" for name, requirements in extras.items() if name not in ("test", "bench")
               for r in requirements if r not in test}
    assert not missing, f"add to the test extra in pyproject.toml: {sorted(missing)}"
