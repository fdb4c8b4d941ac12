"""Documentation that runs: the README's API example and the docstring examples."""

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
@pytest.mark.parametrize("module", ["capacity.case", "capacity.model", "capacity.model.linear",
                                    "capacity.solve"])
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
