"""Reading case tables from disk: CSV or Parquet files in a folder, or one Excel workbook.

This is the only stage (with the CLI and `Plan.save`) that touches files. It returns every
table as raw text cells plus where each came from; parsing and checking happen in
`validate.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capacity.errors import CaseError, Problem
from capacity.schema import TABLES_BY_NAME

MAX_FILE_BYTES = 512 * 1024**2
MAX_ROWS = 5_000_000  # per table; the largest benchmark tier needs well under 1 million


@dataclass(frozen=True)
class RawTable:
    """A table as read, before parsing.

    Attributes:
        name: table name (``sites``).
        source: file (and sheet) the rows came from, as shown in error messages.
        frame: the cells, as text for CSV/Excel (empty string for blank) or as stored.
        first_row: spreadsheet row number of ``frame``'s first row (header is row 1).
    """

    name: str
    source: str
    frame: pd.DataFrame
    first_row: int = 2


def read_tables(path: Path) -> dict[str, RawTable]:
    """Read every table of a case.

    Args:
        path: a folder of ``<table>.csv`` / ``<table>.parquet`` files, or an ``.xlsx``
            workbook with one sheet per table.

    Returns:
        Raw tables by name. Files that are not tables (a README) are ignored.

    Raises:
        CaseError: the path is not a case, or a file cannot be read.
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_workbook(path)
    if not path.is_dir():
        raise CaseError([Problem(str(path), None, None,
                                 "is not a case: expected a folder of CSV/Parquet tables "
                                 "or an .xlsx workbook")])
    problems: list[Problem] = []
    tables: dict[str, RawTable] = {}
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet"))
    for file in files:
        name = file.stem
        if name not in TABLES_BY_NAME:
            problems.append(Problem(file.name, None, None,
                                    f"unknown table {name!r}; expected one of "
                                    f"{', '.join(sorted(TABLES_BY_NAME))}"))
            continue
        if name in tables:
            problems.append(Problem(file.name, None, None,
                                    f"table {name!r} is given twice (also as "
                                    f"{tables[name].source})"))
            continue
        try:
            tables[name] = _read_file(file)
        except CaseError as err:
            problems.extend(err.problems)
    workbooks = sorted(path.glob("*.xlsx"))
    if workbooks and files:
        problems.append(Problem(str(path), None, None,
                                f"holds both table files and {workbooks[0].name}: keep one "
                                "form of the case, or pass the workbook itself"))
    elif workbooks:
        if len(workbooks) > 1:
            problems.append(Problem(str(path), None, None,
                                    "holds several .xlsx workbooks; pass the one to load"))
        else:
            return _read_workbook(workbooks[0])
    if not tables and not problems:
        problems.append(Problem(str(path), None, None,
                                "is not a case: it holds no table files (periods.csv, "
                                "sites.csv, ...)"))
    if problems:
        raise CaseError(problems)
    return tables


def _check_size(file: Path) -> None:
    if file.stat().st_size > MAX_FILE_BYTES:
        raise CaseError([Problem(file.name, None, None,
                                 f"is {file.stat().st_size / 1024**2:.0f} MiB; the limit "
                                 f"is {MAX_FILE_BYTES / 1024**2:.0f} MiB")])


def _read_file(file: Path) -> RawTable:
    _check_size(file)
    try:
        if file.suffix.lower() == ".csv":
            frame = pd.read_csv(file, dtype=str, keep_default_na=False, encoding="utf-8",
                                skipinitialspace=True)
        else:
            frame = pd.read_parquet(file)
    except UnicodeDecodeError as err:
        problem = Problem(file.name, None, None,
                          f"is not UTF-8 text (byte {err.start}); save it as UTF-8")
        raise CaseError([problem]) from None
    except pd.errors.EmptyDataError:
        problem = Problem(file.name, None, None, "is empty: it needs a header row")
        raise CaseError([problem]) from None
    except (pd.errors.ParserError, OSError, ValueError) as err:
        raise CaseError([Problem(file.name, None, None, f"cannot be read: {err}")]) from err
    return _bounded(RawTable(file.stem, file.name, frame))


def _bounded(table: RawTable) -> RawTable:
    if len(table.frame) > MAX_ROWS:
        raise CaseError([Problem(table.source, None, None,
                                 f"has {len(table.frame):,} rows; the limit is {MAX_ROWS:,}")])
    return table


def _read_workbook(file: Path) -> dict[str, RawTable]:
    _check_size(file)
    try:
        sheets = pd.read_excel(file, sheet_name=None, dtype=str, keep_default_na=False)
    except (OSError, ValueError, KeyError) as err:
        raise CaseError([Problem(file.name, None, None, f"cannot be read: {err}")]) from err
    problems: list[Problem] = []
    tables: dict[str, RawTable] = {}
    for sheet, frame in sheets.items():
        name = str(sheet).strip().lower()
        source = f"{file.name}[{sheet}]"
        if name not in TABLES_BY_NAME:
            if not name.startswith("_"):  # sheets starting with _ are notes
                problems.append(Problem(source, None, None, f"unknown sheet {sheet!r}; "
                                        f"expected one of {', '.join(sorted(TABLES_BY_NAME))}"))
            continue
        if name in tables:
            problems.append(Problem(source, None, None,
                                    f"table {name!r} is given twice (also as sheet "
                                    f"{tables[name].source}); keep one sheet per table"))
            continue
        try:
            tables[name] = _bounded(RawTable(name, source, frame))
        except CaseError as e:
            problems.extend(e.problems)
    if problems:
        raise CaseError(problems)
    return tables


def write_tables(frames: dict[str, pd.DataFrame], folder: Path, fmt: str = "csv") -> None:
    """Write tables as one file each (``csv`` or ``parquet``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        elif fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            raise ValueError(f"unknown format {fmt!r}; use csv or parquet")
