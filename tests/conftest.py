"""Shared helpers: tiny hand-checkable cases and edits to them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity import Case, CaseError, Plan, SolveOptions
from capacity.results.check import check_plan

# Deterministic and tight: tests compare objectives to hand-computed optima.
TEST_OPTIONS = SolveOptions(time_limit_s=120, mip_rel_gap=1e-9, threads=1, seed=0)


def tiny(name: str) -> Case:
    """Load one of the shipped tiny cases in data/tiny/."""
    return capacity.load_case(capacity.tiny_case_path(name))


def edited(case: Case, **tables: pd.DataFrame | Callable[[pd.DataFrame], pd.DataFrame]) -> Case:
    """A copy of ``case`` with tables replaced (a DataFrame) or transformed (a function),
    re-validated as user data would be."""
    frames = {k: v.copy() for k, v in case.tables().items()}
    for name, change in tables.items():
        frames[name] = change(frames[name]) if callable(change) else change
    return Case.from_frames(frames, name=case.name)


def rows(*records: dict[str, object]) -> pd.DataFrame:
    """A small table from dicts (missing keys take the column default)."""
    return pd.DataFrame(list(records))


def solved(case: Case) -> Plan:
    """Solve with the deterministic test options, insist on optimality, and have the
    independent checker confirm the saved plan against the case."""
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal", plan.messages
    assert_checked(case, plan)
    return plan


def assert_checked(case: Case, plan: Plan) -> None:
    """Save the plan and verify it with `capacity.results.check` (no model code involved)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = check_plan(case, plan.save(Path(tmp) / "plan"))
    assert result.ok, [str(v) for v in result.violations]


@pytest.fixture(scope="session")
def default_plan() -> Plan:
    """The default case, solved once per test session."""
    return solved(capacity.load_case())


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `capacity` command in a process of its own, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "COLUMNS": "120"})


def offtakes(batches: float, market: str = "A") -> pd.DataFrame:
    """two_sites' committed offtake of P1 in ``market``: ``batches`` in 2030 and 2031."""
    return rows(*({"anchor": "ANCH", "program": "P1", "market": market, "period": t,
                   "committed_batches": batches} for t in (2030, 2031)))


def with_program(**values: object):  # type: ignore[no-untyped-def]
    """An edit of a table setting each given column to its value (for `edited`)."""
    def change(df: pd.DataFrame) -> pd.DataFrame:
        for k, v in values.items():
            df[k] = v
        return df
    return change


def expandable(max_modules: int, lead: int) -> pd.DataFrame:
    """two_sites' suites with SA expandable (``max_modules`` of 5 batches, ``lead``
    periods to build) and SB not."""
    return rows({"site": "SA", "modality": "antibody", "scale": "commercial",
                 "existing_batches_per_period": 10, "module_batches_per_period": 5,
                 "module_capex_musd": 3.0, "max_modules": max_modules,
                 "lead_time_periods": lead, "variable_cost_musd_per_batch": 1.0},
                {"site": "SB", "modality": "antibody", "scale": "commercial",
                 "existing_batches_per_period": 10, "variable_cost_musd_per_batch": 2.0})


def scenario_problems(path: Path) -> list[str]:
    """Every problem reading the scenario file ``path`` and building each scenario's case
    (which must fail)."""
    with pytest.raises(CaseError) as info:
        scenarios = capacity.read_scenarios(path)
        for name in scenarios.scenarios:
            scenarios.case(name)
    return [str(p) for p in info.value.problems]
