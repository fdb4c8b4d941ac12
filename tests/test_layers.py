"""The pipeline's layers hold: case → model → results → engine → studies → report/CLI, each
importing only from the layers below it, and no import cycles anywhere in the package.

The contracts are import-linter's, written in pyproject.toml (`[tool.importlinter]`); each is
run on its own so that a failure names the contract it broke. Imports inside functions and
under ``TYPE_CHECKING`` count: a lazy import of a higher layer is still a dependency on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS: list[dict[str, Any]] = tomllib.loads(
    (ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]

pytestmark = pytest.mark.unit


def _lint_imports() -> str:
    """The `lint-imports` of this interpreter's environment (the `test` extra installs it)."""
    beside = Path(sys.executable).parent / "lint-imports"
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert found, "lint-imports not found: pip install -e '.[test]' installs import-linter"
    return found


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c["id"] for c in CONTRACTS])
def test_import_contract_is_kept(contract: dict[str, Any]) -> None:
    run = subprocess.run([_lint_imports(), "--contract", contract["id"], "--no-cache"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"})
    report = run.stdout + run.stderr
    # Past the logo: the contract's verdict and, when broken, the imports that break it.
    report = report[report.find("Contracts"):] if "Contracts" in report else report
    assert run.returncode == 0, (
        f"import contract {contract['id']!r} ({contract['name']}) is broken:\n{report}")


def test_no_module_import_cycles() -> None:
    # Cycles import-linter's sibling contract does not see: a module and a package above it
    # (`capacity.case.load` importing `capacity.case`, whose __init__ imports `load`).
    graph = grimp.build_graph("capacity", cache_dir=None)
    cycles = _cycles({m: graph.find_modules_directly_imported_by(m) & graph.modules
                      for m in graph.modules})
    lines = []
    for cycle in cycles:
        lines.append(" ⇄ ".join(cycle))
        for importer in cycle:
            for imported in sorted(graph.find_modules_directly_imported_by(importer)
                                   & set(cycle)):
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    lines.append(f"    {importer}:{detail['line_number']}: "
                                 f"{detail['line_contents']}")
    assert not cycles, "import cycles between capacity's modules:\n" + "\n".join(lines)


def _cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The import graph's strongly connected components of more than one module (Tarjan's
    algorithm, iterative), each sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work = [(root, iter(sorted(imports[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_cycle_finder_finds_cycles() -> None:
    # a → b → c → a is one cycle; d → a, and e alone, are none.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"x": {"y"}, "y": {"x"}, "z": set()}) == [["x", "y"]]


HEAVY = ("pyomo", "highspy", "distributed", "plotly", "scipy", "pandas", "mpi4py")


@pytest.mark.parametrize("module", ["capacity", "capacity.cli"])
def test_starting_loads_no_solver_and_no_study(module: str) -> None:
    # `import capacity` and the CLI's `--help` import nothing heavy: the public names load
    # their modules on first use (capacity/__init__.py), the commands theirs when they run.
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print(' '.join(sorted("
         f"m for m in {HEAVY!r} if m in sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_public_names_are_exported_and_load() -> None:
    import capacity

    assert sorted(capacity.__all__) == sorted(["__version__", *capacity._EXPORTS])
    for name in capacity._EXPORTS:
        assert getattr(capacity, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = capacity.nope
