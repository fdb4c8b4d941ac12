"""Plans saved as one Excel workbook: every table, the same numbers as CSV, read back."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import capacity
from capacity import Plan
from capacity.errors import CaseError, OutputError
from capacity.results import workbook
from capacity.results.check import check_plan
from capacity.results.plan import TABLE_NAMES, read_saved_plan

pytestmark = pytest.mark.solver


def _sheet_frame(sheet: openpyxl.worksheet.worksheet.Worksheet) -> pd.DataFrame:
    rows = list(sheet.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=list(rows[0]))


def test_xlsx_plan_holds_every_table_as_the_csv_save(default_plan: Plan,
                                                     tmp_path: Path) -> None:
    xlsx = default_plan.save(tmp_path / "xlsx", fmt="xlsx")
    csv = default_plan.save(tmp_path / "csv")
    assert {p.name for p in xlsx.iterdir()} == {"plan.xlsx", "summary.json", ".capacity.json"}
    book = openpyxl.load_workbook(xlsx / "plan.xlsx", read_only=True)
    assert book.sheetnames == ["summary", *default_plan.tables]
    assert set(default_plan.tables) == set(TABLE_NAMES)
    for name in default_plan.tables:
        sheet = _sheet_frame(book[name])
        written = pd.read_csv(csv / f"{name}.csv", dtype=str, keep_default_na=False)
        assert list(sheet.columns) == list(written.columns), name
        assert len(sheet) == len(written), name
        for column in written.columns:
            numbers = pd.to_numeric(written[column], errors="coerce")
            if numbers.notna().all() and len(numbers):  # a number column: the same values
                # float(): pandas' own text-to-number parse may miss the last digit
                assert sheet[column].astype(float).tolist() == \
                    written[column].map(float).tolist(), f"{name}.{column}"
            else:  # identifiers (and blank optional periods) as the CSV's text
                # a blank cell among whole numbers reads back as NaN beside floats
                assert sheet[column].map(lambda v: "" if v is None or v != v
                                         else str(v).removesuffix(".0")).tolist() \
                    == written[column].map(lambda v: v.removesuffix(".0")).tolist(), \
                    f"{name}.{column}"
    summary = dict(_sheet_frame(book["summary"]).itertuples(index=False))
    book.close()
    assert summary["status"] == "optimal"
    assert summary["objective"] == default_plan.objective
    assert summary["gap"] == default_plan.gap and summary["bound"] == default_plan.bound
    assert json.loads((xlsx / "summary.json").read_text())["objective"] == \
        default_plan.objective


def test_xlsx_plan_reads_back_and_checks(default_plan: Plan, tmp_path: Path) -> None:
    from_xlsx, summary = read_saved_plan(default_plan.save(tmp_path / "xlsx", fmt="xlsx"),
                                         TABLE_NAMES)
    from_csv, _ = read_saved_plan(default_plan.save(tmp_path / "csv"), TABLE_NAMES)
    assert list(from_xlsx) == list(from_csv)
    for name, frame in from_csv.items():
        pd.testing.assert_frame_equal(from_xlsx[name], frame, obj=name)
    assert summary["status"] == "optimal"
    result = check_plan(capacity.load_case(), tmp_path / "xlsx")
    assert result.ok, [str(v) for v in result.violations]


def _plan(tables: dict[str, pd.DataFrame]) -> Plan:
    return Plan("hand", "optimal", 1.0, 1.0, 0.0, {}, {}, tables=tables, net_cost=1.0)


@pytest.mark.unit
def test_text_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    costs = pd.DataFrame({"component": ["=1+1", "@SUM(A1)", "001", "NA"],
                          "pv_musd": [0.25, 1e-17, 3.0, -0.0]})
    folder = _plan({"costs": costs}).save(tmp_path / "plan", fmt="xlsx")
    sheet = openpyxl.load_workbook(folder / "plan.xlsx")["costs"]
    assert [c.value for c in sheet["A"]][1:] == ["=1+1", "@SUM(A1)", "001", "NA"]
    assert {c.data_type for c in sheet["A"]} == {"s"}
    tables, _ = read_saved_plan(folder)
    pd.testing.assert_frame_equal(tables["costs"], costs.astype({"component": object}))


@pytest.mark.unit
def test_a_table_longer_than_a_sheet_is_refused_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workbook, "MAX_SHEET_ROWS", 2)
    costs = pd.DataFrame({"component": ["a", "b", "c"], "pv_musd": [1.0, 2.0, 3.0]})
    with pytest.raises(OutputError, match="costs has 3 rows; an Excel sheet holds 2"):
        _plan({"costs": costs}).save(tmp_path / "plan", fmt="xlsx")
    assert not list(tmp_path.iterdir())


@pytest.mark.unit
def test_a_damaged_or_edited_workbook_is_named(tmp_path: Path) -> None:
    costs = pd.DataFrame({"component": ["a", "b"], "pv_musd": [1.0, 2.0]})
    folder = _plan({"costs": costs}).save(tmp_path / "plan", fmt="xlsx")
    book = openpyxl.load_workbook(folder / "plan.xlsx")
    book["costs"]["B3"] = "lots"
    book.save(folder / "plan.xlsx")
    with pytest.raises(CaseError) as err:
        read_saved_plan(folder)
    [problem] = err.value.problems
    assert (problem.source, problem.row, problem.column) == \
        (f"{folder / 'plan.xlsx'}[costs]", 3, "pv_musd")
    (folder / "plan.xlsx").write_bytes(b"not a zip")
    with pytest.raises(CaseError, match="cannot be read as a workbook"):
        read_saved_plan(folder)
    with pytest.raises(ValueError, match="unknown plan format"):
        _plan({"costs": costs}).save(tmp_path / "other", fmt="json")  # type: ignore[arg-type]
