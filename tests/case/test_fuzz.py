"""Fuzzing the boundary: hypothesis corrupts the default case in every documented way;
each corruption must end in the validation error (`CaseError`) naming the file, never in
an exception from deeper code and never in a plan.

Budget: CAPACITY_FUZZ_EXAMPLES examples per test (small in CI; raise it for a soak run).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capacity
from capacity.case.schema import TABLES, TABLES_BY_NAME, Column

pytestmark = pytest.mark.unit

EXAMPLES = int(os.environ.get("CAPACITY_FUZZ_EXAMPLES", "40"))
SOURCE = capacity.default_case_path()
TEXTS = {p.stem: p.read_text() for p in SOURCE.glob("*.csv")}
FRAMES = {k: pd.read_csv(SOURCE / f"{k}.csv", dtype=str, keep_default_na=False)
          for k in TEXTS}
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _columns(predicate: Callable[[Column], bool]) -> list[tuple[str, str]]:
    return [(t.name, c.name) for t in TABLES if t.name in FRAMES for c in t.columns
            if c.name in FRAMES[t.name].columns and predicate(c)]


REQUIRED = _columns(lambda c: c.required)
NUMERIC = _columns(lambda c: c.kind in ("int", "float"))
BOUNDED_BELOW = _columns(lambda c: c.kind in ("int", "float") and c.lower is not None)
REFERENCES = _columns(lambda c: c.ref is not None and c.kind == "str" and c.required)
CHOICES = _columns(lambda c: c.kind == "str" and c.choices is not None)
BOOLS = _columns(lambda c: c.kind == "bool")
KEYED = [t for t in FRAMES if len(FRAMES[t]) > 0]


def _load(frames: dict[str, pd.DataFrame], raw: dict[str, bytes] | None = None) -> None:
    """Write the (corrupted) case and load it: it must fail validation, naming a file."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in frames.items():
            frame.to_csv(Path(tmp) / f"{name}.csv", index=False)
        for name, data in (raw or {}).items():
            (Path(tmp) / f"{name}.csv").write_bytes(data)
        with pytest.raises(capacity.CaseError) as info:
            capacity.load_case(tmp)
    assert info.value.problems and all(p.source for p in info.value.problems)


def _copy() -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in FRAMES.items()}


def _cell(data: st.DataObject, table: str) -> int:
    return data.draw(st.integers(0, len(FRAMES[table]) - 1))


def _load_with_cell(where: tuple[str, str], data: st.DataObject, value: str) -> None:
    """Set one drawn cell of (table, column) to ``value`` and load: it must fail."""
    frames = _copy()
    table, column = where
    frames[table].loc[_cell(data, table), column] = value
    _load(frames)


@FUZZ
@given(st.sampled_from(REQUIRED), st.booleans())
def test_dropped_or_renamed_required_column(where: tuple[str, str], rename: bool) -> None:
    frames = _copy()
    table, column = where
    frames[table] = (frames[table].rename(columns={column: column + "_x"}) if rename
                     else frames[table].drop(columns=column))
    _load(frames)


@FUZZ
@given(st.sampled_from(NUMERIC), st.sampled_from(["abc", "1,5", "--", "nan", "inf", "1e", "½"]),
       st.data())
def test_wrong_type_in_numeric_column(where: tuple[str, str], value: str,
                                      data: st.DataObject) -> None:
    _load_with_cell(where, data, value)


@FUZZ
@given(st.sampled_from(REQUIRED), st.data())
def test_empty_required_cell(where: tuple[str, str], data: st.DataObject) -> None:
    _load_with_cell(where, data, "")


@FUZZ
@given(st.sampled_from(BOUNDED_BELOW), st.floats(1.0, 1e9), st.booleans(), st.data())
def test_below_bound_or_absurd_magnitude(where: tuple[str, str], size: float, huge: bool,
                                         data: st.DataObject) -> None:
    # below the column's lower bound (negative for most; under -90 for a latitude)
    lower = TABLES_BY_NAME[where[0]].column(where[1]).lower
    assert lower is not None
    _load_with_cell(where, data, "1e30" if huge else str(lower - size))


@FUZZ
@given(st.sampled_from(REFERENCES + CHOICES + BOOLS), st.data())
def test_unknown_reference_choice_or_flag(where: tuple[str, str], data: st.DataObject) -> None:
    _load_with_cell(where, data, "NO_SUCH_THING")


@FUZZ
@given(st.sampled_from(KEYED), st.data())
def test_duplicate_key(table: str, data: st.DataObject) -> None:
    frames = _copy()
    row = frames[table].iloc[[_cell(data, table)]]
    frames[table] = pd.concat([frames[table], row], ignore_index=True)
    _load(frames)


@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_non_utf8_bytes(table: str, data: st.DataObject) -> None:
    text = TEXTS[table].encode()
    at = data.draw(st.integers(0, len(text)))
    _load(_copy(), raw={table: text[:at] + b"\xff\xfe" + text[at:]})


@FUZZ
@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_truncated_file_fails_cleanly_or_solves(table: str, data: st.DataObject) -> None:
    # A cut at a line end can leave a valid, smaller case: then it must load and solve
    # without an exception (any status). A cut inside a row must be a validation error.
    text = TEXTS[table]
    header_end = text.index("\n") + 1
    at = data.draw(st.integers(header_end, len(text) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for name, body in TEXTS.items():
            (Path(tmp) / f"{name}.csv").write_text(text[:at] if name == table else body)
        try:
            case = capacity.load_case(tmp)
        except capacity.CaseError as err:
            assert err.problems
            return
        plan = capacity.solve(case, capacity.SolveOptions(time_limit_s=20, explain=False))
        assert plan.status in ("optimal", "time_limit_feasible", "infeasible", "no_solution")


def test_every_numeric_column_is_bounded() -> None:
    # 1e30 must never pass: every number has an upper bound in the schema.
    for table in TABLES:
        for col in table.columns:
            if col.kind in ("int", "float"):
                assert col.upper is not None, f"{table.name}.{col.name}"


def test_known_tables_in_fuzz_base() -> None:
    assert set(FRAMES) <= set(TABLES_BY_NAME) and REQUIRED and REFERENCES
