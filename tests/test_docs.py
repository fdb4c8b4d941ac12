"""Documentation that runs: the README (short, its example and links), the docstring
examples, the docs site (built strictly) and the tutorial notebook (executed)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.solver
def test_readme_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", text, flags=re.S)
    assert block is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert (tmp_path / "out" / "default-plan" / "summary.json").exists()


@pytest.mark.solver
@pytest.mark.parametrize("module", ["capacity.case.load", "capacity.model", "capacity.model.linear",
                                    "capacity.model.lanes",
                                    "capacity.engine.solve", "capacity.engine.resolver"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.unit
@pytest.mark.parametrize("tool", [["ruff", "check", "src", "tests", "benchmarks"], ["mypy"]])
def test_lint_and_types(tool: list[str]) -> None:
    if importlib.util.find_spec(tool[0]) is None and os.environ.get("CI") != "true":
        pytest.skip(f"{tool[0]} not installed (pip install -e '.[test]')")
    result = subprocess.run([sys.executable, "-m", *tool], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


# The README's set-up commands, byte for byte: `.ci/run` runs the second one.
SET_UP_COMMANDS = ('pip install -e . && capacity solve', 'pip install -e ".[test]" && pytest')
README_MAX_BYTES = 10_240  # read in five minutes; everything else is in docs/


def _needs(module: str) -> None:
    """Skip where a documentation tool is not installed, except in CI (it is in the
    `test` extra, so CI must have it)."""
    if importlib.util.find_spec(module) is None and os.environ.get("CI") != "true":
        pytest.skip(f"{module} not installed (pip install -e '.[test]')")


@pytest.mark.unit
def test_readme_is_short_and_keeps_the_set_up_commands() -> None:
    raw = (ROOT / "README.md").read_bytes()
    assert len(raw) <= README_MAX_BYTES, f"README.md is {len(raw):,} bytes; move detail to docs/"
    lines = raw.decode().splitlines()
    for command in SET_UP_COMMANDS:
        assert command in lines, f"README.md lost the line {command!r}"


@pytest.mark.unit
def test_readme_links_point_at_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.component
def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    _needs("mkdocs")
    site = tmp_path / "site"
    # NO_MKDOCS_2_WARNING: mkdocs-material prints a notice about its successor on every build.
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    # The included and generated pages arrive whole: the formulation from models/, the
    # case format from the schema, the API from the docstrings.
    assert "suite_capacity" in (site / "formulation" / "index.html").read_text()
    assert "periods" in (site / "case-format" / "index.html").read_text()
    api = (site / "api" / "index.html").read_text()
    for name in ("load_case", "SolveOptions", "solve_stochastic", "check_plan"):
        assert name in api, f"{name} missing from the API reference"
    assert (site / "tutorial.ipynb").exists()


@pytest.mark.solver
def test_tutorial_notebook_runs(tmp_path: Path) -> None:
    _needs("nbclient")
    import nbclient
    import nbformat

    notebook = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:
        pytest.fail(f"a cell of docs/tutorial.ipynb failed:\n{err}")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # What a reader sees: the default case solved to optimality, and the chart drawn.
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert printed.startswith("optimal -711.5"), printed
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs)
