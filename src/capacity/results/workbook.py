"""A plan as one Excel workbook: a sheet per plan table and a ``summary`` sheet.

`Plan.save(folder, fmt="xlsx")` writes `PLAN_WORKBOOK` into the plan folder beside
``summary.json`` (the folder is written all or nothing, as for CSV and Parquet), and
`capacity.results.plan.read_saved_plan` reads its tables back with the same checks as a
CSV table's: identifiers are written as text (never a formula, whatever they start
with), numbers as numbers, exactly (a float with all its digits, as in the CSV files).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from capacity.errors import CaseError, OutputError, Problem

PLAN_WORKBOOK = "plan.xlsx"
SUMMARY_SHEET = "summary"
# An Excel sheet's last row is 1,048,576: the header and this many rows.
MAX_SHEET_ROWS = 1_048_575
# The summary's headline fields, in the order the sheet lists them.
_HEADLINE = ("case", "status", "objective", "bound", "gap", "sense", "unit", "net_cost",
             "case_source", "capacity_version")


def check_fits(tables: Mapping[str, pd.DataFrame]) -> None:
    """Refuse, before anything is written, tables an Excel sheet cannot hold.

    Raises:
        OutputError: a table has more rows than a sheet holds.
    """
    for name, frame in tables.items():
        if len(frame) > MAX_SHEET_ROWS:
            raise OutputError(f"plan table {name} has {len(frame):,} rows; an Excel sheet "
                              f"holds {MAX_SHEET_ROWS:,}: save the plan as csv or parquet")


def write_plan_workbook(path: Path, tables: Mapping[str, pd.DataFrame],
                        summary: Mapping[str, Any]) -> None:
    """Write the plan's tables and summary to the workbook ``path``.

    The ``summary`` sheet lists the headline fields first (status, objective, bound, gap,
    ...), then each message on a row of its own, then the other fields (timings, model
    size, options) with nested values as JSON text.
    """
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    book.properties.creator = "capacity"
    book.properties.title = f"capacity plan: {summary.get('case', '')}"
    sheet = book.create_sheet(SUMMARY_SHEET)
    sheet.append(["field", "value"])
    for key in _HEADLINE:
        sheet.append(_row(sheet, [key, summary.get(key)]))
    for message in summary.get("messages", []):
        sheet.append(_row(sheet, ["message", message]))
    for key, value in summary.items():
        if key in _HEADLINE or key == "messages":
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        sheet.append(_row(sheet, [key, value]))
    for name, frame in tables.items():
        sheet = book.create_sheet(name)
        sheet.append([str(c) for c in frame.columns])
        columns = [_cells(frame[c]) for c in frame.columns]
        for values in zip(*columns, strict=True):
            sheet.append(_row(sheet, values))
    book.save(path)


def _cells(column: pd.Series) -> list[Any]:
    """A column's values as Python values openpyxl writes: a missing value as None."""
    missing = column.isna().to_numpy()
    return [None if gone else value
            for value, gone in zip(column.astype(object).tolist(), missing, strict=True)]


def _row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """Cells for one row: text always as text (openpyxl would make ``=...`` a formula),
    a float with every digit (openpyxl writes 16 significant digits, which can miss a
    float's last one; Excel reads all 17), a non-finite number as its text."""
    from openpyxl.cell import WriteOnlyCell

    row: list[Any] = []
    for value in values:
        if isinstance(value, float) and math.isfinite(value):
            cell = WriteOnlyCell(sheet, repr(value))
            cell.data_type = "n"  # the shortest text that reads back as the same float
            row.append(cell)
            continue
        if isinstance(value, float):
            value = str(value)
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            row.append(cell)
        else:
            row.append(value)
    return row


def read_plan_workbook(path: Path, names: Iterable[str]) -> dict[str, pd.DataFrame]:
    """The plan tables a workbook holds, among ``names``, as text cells (to be typed by
    `capacity.results.plan.parse_plan_table`, as a CSV table's are).

    Raises:
        CaseError: the file is not a readable workbook.
    """
    from openpyxl import load_workbook

    wanted = set(names)
    tables = {}
    try:
        book = load_workbook(path, read_only=True, data_only=True)
        try:
            for sheet in book.worksheets:
                if sheet.title in wanted:
                    tables[sheet.title] = _sheet_table(sheet)
        finally:
            book.close()
    except Exception as err:  # openpyxl raises many kinds (zip, XML, KeyError, ...)
        raise CaseError([Problem(str(path), None, None,
                                 f"cannot be read as a workbook: {err}")]) from None
    return tables


def _sheet_table(sheet: Any) -> pd.DataFrame:
    """A sheet's cells as text, the header in row 1 (trailing blank rows and columns
    dropped; a blank row within stays, so that row numbers hold; a value beyond the
    header is kept, under a blank header, to be reported as an unknown column)."""
    rows = [[_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    while rows and not any(rows[-1]):
        rows.pop()
    width = max((max((j + 1 for j, v in enumerate(row) if v), default=0) for row in rows),
                default=0)
    rows = [(row + [""] * width)[:width] for row in rows]
    header = rows[0] if rows else []
    return pd.DataFrame(rows[1:], columns=pd.Index(header), dtype=object)


def _text(value: object) -> str:
    """A cell as the text a CSV file would hold: numbers with every digit."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)
