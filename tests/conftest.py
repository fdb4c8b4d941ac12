"""Shared helpers: tiny hand-checkable cases and edits to them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity import Case, Plan, SolveOptions
from capacity.check import check_plan

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
    """Save the plan and verify it with `capacity.check` (no model code involved)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = check_plan(case, plan.save(Path(tmp) / "plan"))
    assert result.ok, [str(v) for v in result.violations]


@pytest.fixture(scope="session")
def default_plan() -> Plan:
    """The default case, solved once per test session."""
    return solved(capacity.load_case())
