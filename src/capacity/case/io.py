"""Reading case tables from disk: CSV or Parquet files in a folder, or one Excel workbook.

This is the only stage (with the CLI and `Plan.save`) that touches files. It returns every
table as raw cells plus where each came from; parsing and checking happen in
`case/validate.py`.

Nothing here reads a cell as a default it does not hold. A cell that cannot be read as the
user sees it (an Excel error value such as ``#N/A``, a formula with no stored result,
merged cells, a CSV row with too few or too many fields, bytes that are not UTF-8) is a
`Problem` naming file (sheet), row and column, carried in `RawTable.problems` so that
validation reports it with every other problem. A file that cannot be read at all (not a
regular file, too large, not a workbook) raises `CaseError` at once.

Workbooks are read from their XML with the standard library, streaming, rather than
through pandas: pandas reads an error cell, a formula without a stored result and the
hidden cells of a merged range all as blank, and expands a sheet before any row count can
be checked.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import os
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, BinaryIO
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from capacity.case.schema import RETIRED_TABLES, TABLES_BY_NAME
from capacity.errors import CaseError, Problem

MAX_FILE_BYTES = 512 * 1024**2
MAX_ROWS = 5_000_000  # per table; the largest benchmark tier needs well under 1 million
# An .xlsx is zipped XML, typically 10-20 times smaller than what it expands to; a sheet
# at Excel's own row limit with a dozen columns expands to well under this.
MAX_XML_BYTES = 2 * MAX_FILE_BYTES
EXCEL_MAX_ROWS = 1_048_576  # Excel's last row and column: no worksheet Excel writes is larger
EXCEL_MAX_COLUMNS = 16_384
# Cell problems listed per table before the rest are counted in one line: a merged range
# or a broken column can otherwise list millions.
MAX_CELL_PROBLEMS = 1000


@dataclass(frozen=True)
class RawTable:
    """A table as read, before parsing.

    Attributes:
        name: table name (``sites``).
        source: file (and sheet) the rows came from, as shown in error messages.
        frame: the cells, as text for CSV/Excel (empty string for blank) or as stored.
        first_row: spreadsheet row number of ``frame``'s first row (header is row 1), when
            rows are consecutive and ``row_numbers`` is not given.
        row_numbers: spreadsheet row number of each row of ``frame``, where blank rows
            were skipped.
        header_row: spreadsheet row number of the header.
        problems: cells that could not be read as the user sees them; their cells in
            ``frame`` are blank, and validation reports nothing more about them.
    """

    name: str
    source: str
    frame: pd.DataFrame
    first_row: int = 2
    row_numbers: tuple[int, ...] | None = None
    header_row: int = 1
    problems: tuple[Problem, ...] = ()

    def row(self, i: int) -> int:
        """Spreadsheet row number of ``frame``'s ``i``-th row."""
        return self.first_row + i if self.row_numbers is None else self.row_numbers[i]

    def rows(self) -> np.ndarray:
        """Spreadsheet row number of every row of ``frame``."""
        if self.row_numbers is None:
            return np.arange(len(self.frame)) + self.first_row
        return np.asarray(self.row_numbers, dtype="int64")


def unknown_table(name: str, what: str = "table") -> str:
    """The problem with a file or sheet that is not a case table, saying where a retired
    table's data now go."""
    if name.strip().lower() in RETIRED_TABLES:
        return (f"the {name!r} table is retired: "
                f"{RETIRED_TABLES[name.strip().lower()]}")
    return f"unknown {what} {name!r}; expected one of {', '.join(sorted(TABLES_BY_NAME))}"


def read_tables(path: Path) -> dict[str, RawTable]:
    """Read every table of a case.

    Only regular files are opened: a named pipe, a device or a socket given as a case or
    found among its tables is refused without being opened (reading a pipe would wait
    forever for a writer).

    Args:
        path: a folder of ``<table>.csv`` / ``<table>.parquet`` files, or an ``.xlsx``
            workbook with one sheet per table.

    Returns:
        Raw tables by name. Files that are not tables (a README) are ignored.

    Raises:
        CaseError: the path is not a case, or a file cannot be read.
    """
    path = Path(path)
    special = _special_kind(path)
    if special is not None:
        raise CaseError([Problem(str(path), None, None,
                                 f"is {special}, not a case: expected a folder of CSV/Parquet "
                                 "tables or an .xlsx workbook")])
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
            problems.append(Problem(file.name, None, None, unknown_table(name)))
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


# --- opening files -------------------------------------------------------------------------

_SPECIAL_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                  (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words (None for a regular file)."""
    for test, words in _SPECIAL_KINDS:
        if test(mode):
            return words
    return None if stat.S_ISREG(mode) else "not a regular file"


def _special_kind(path: Path) -> str | None:
    """`_kind` of an existing path that is neither a folder nor a regular file."""
    try:
        mode = path.stat().st_mode  # stat, not open: a pipe is never opened
    except OSError:
        return None
    return None if stat.S_ISDIR(mode) else _kind(mode)


def _refuse(file: Path, info: os.stat_result) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise CaseError([Problem(file.name, None, None,
                                 f"is {kind}, not a file: tables are read from regular files "
                                 "only")])
    if info.st_size > MAX_FILE_BYTES:
        raise CaseError([Problem(file.name, None, None,
                                 f"is {info.st_size / 1024**2:.0f} MiB; the limit "
                                 f"is {MAX_FILE_BYTES / 1024**2:.0f} MiB")])


def _open(file: Path) -> BinaryIO:
    """Open a table file, refusing anything but a regular file within the size limit.

    The path is checked before opening, and the opened file again (a file swapped for a
    pipe in between is still refused); opening without blocking means even that open
    returns at once.
    """
    try:
        _refuse(file, file.stat())
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_BINARY", 0))
    except OSError as err:
        raise CaseError([Problem(file.name, None, None,
                                 f"cannot be read: {err.strerror or err}")]) from None
    try:
        _refuse(file, os.fstat(fd))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_file(file: Path) -> RawTable:
    with _open(file) as handle:
        if file.suffix.lower() == ".csv":
            return _read_csv(file.name, file.stem, handle.read())
        return _read_parquet(file.name, file.stem, handle)


def _too_many_rows(source: str, limit: int) -> CaseError:
    return CaseError([Problem(source, None, None,
                              f"has more than {limit:,} rows; the limit is {limit:,} per table")])


class _Cells:
    """Problems with single cells of one table, listed up to `MAX_CELL_PROBLEMS`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.unlisted = 0

    def add(self, row: int | None, column: str | None, message: str) -> None:
        if len(self.problems) < MAX_CELL_PROBLEMS:
            self.problems.append(Problem(self.source, row, column, message))
        else:
            self.unlisted += 1

    def room(self) -> int:
        """How many more problems are listed."""
        return MAX_CELL_PROBLEMS - len(self.problems)

    def listed(self) -> tuple[Problem, ...]:
        if not self.unlisted:
            return tuple(self.problems)
        return (*self.problems, Problem(self.source, None, None,
                                        f"{self.unlisted:,} more cells cannot be read (not "
                                        "listed)"))


def _table(name: str, source: str, header: list[str], header_row: int,
           body: list[tuple[int, list[str]]], cells: _Cells) -> RawTable:
    """A raw table from a header and (row number, fields) rows of equal width.

    A column with no header but a value in some row is a problem at each such cell; one
    with neither is dropped.
    """
    keep = []
    for j, title in enumerate(header):
        if title.strip():
            keep.append(j)
            continue
        for number, fields in body:
            if fields[j].strip():
                cells.add(number, _letter(j + 1),
                          f"has the value {fields[j].strip()!r} but its column has no header")
    frame = pd.DataFrame([[fields[j] for j in keep] for _, fields in body],
                         columns=pd.RangeIndex(len(keep)), dtype=object)
    frame.columns = pd.Index([header[j].strip() for j in keep], dtype=object)
    numbers = tuple(number for number, _ in body)
    return RawTable(name, source, frame, first_row=header_row + 1, row_numbers=numbers,
                    header_row=header_row, problems=cells.listed())


# --- CSV -----------------------------------------------------------------------------------

def _read_csv(source: str, name: str, data: bytes) -> RawTable:
    """Read a CSV table: every row must have as many fields as the header.

    pandas fills a short row with blanks and, when the first data row is one field too
    long, takes the first column as an index and shifts every header; here a short row is
    a problem at each missing cell and a long row (whose fields may all be shifted) a
    problem at its row. Extra fields that are all blank (a trailing comma) are ignored.
    Blank lines are skipped, keeping every other row's number.
    """
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        problem = Problem(source, None, None,
                          f"is not UTF-8 text (byte {err.start + skip}); save it as UTF-8")
        raise CaseError([problem]) from None
    cells = _Cells(source)
    header: list[str] | None = None
    header_row = 1
    body: list[tuple[int, list[str]]] = []
    number = 0
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        for number, fields in enumerate(reader, start=1):
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                while not fields[-1].strip():  # a trailing comma names no column
                    fields.pop()
                header, header_row = fields, number
                continue
            if len(body) >= MAX_ROWS:
                raise _too_many_rows(source, MAX_ROWS)
            body.append((number, _fit(fields, header, number, cells)))
    except csv.Error as err:
        raise CaseError([Problem(source, number + 1, None, f"cannot be read: {err}")]) from None
    if header is None:
        raise CaseError([Problem(source, None, None, "is empty: it needs a header row")])
    return _table(name, source, header, header_row, body, cells)


def _fit(fields: list[str], header: list[str], number: int, cells: _Cells) -> list[str]:
    """``fields`` at the header's width, each field too many or too few a problem."""
    width = len(header)
    if len(fields) < width:
        for j in range(len(fields), width):
            cells.add(number, header[j].strip() or _letter(j + 1),
                      f"is missing: the row has {len(fields)} fields but the header has "
                      f"{width}")
        return fields + [""] * (width - len(fields))
    extra = [f.strip() for f in fields[width:]]
    if any(extra):
        shown = ", ".join(repr(f) for f in extra[:3]) + (", ..." if len(extra) > 3 else "")
        cells.add(number, None,
                  f"has {len(fields)} fields but the header has {width}: {shown} has no "
                  "column, and the other values may be shifted (a stray comma, or a value "
                  "with a comma that needs quotes?)")
    return fields[:width]


# --- Parquet -------------------------------------------------------------------------------

_INDEX_COLUMN = re.compile(r"__index_level_\d+__")


def _read_parquet(source: str, name: str, handle: BinaryIO) -> RawTable:
    """Read a Parquet table, column by column.

    Columns are converted without the file's pandas metadata (stale metadata, say a column
    described as text that is stored as a struct, breaks pandas' conversion); index
    columns that pandas stored (``__index_level_0__``) are dropped. Text stored as binary
    arrives as bytes, and a list column as one list per cell: `case/validate.py` decodes the
    first and accepts the second only for list columns such as ``flags``. A column of
    records (struct), maps or nested lists is a problem naming the column.
    """
    try:
        parquet = pq.ParquetFile(handle)
        if parquet.metadata.num_rows > MAX_ROWS:
            raise CaseError([Problem(source, None, None,
                                     f"has {parquet.metadata.num_rows:,} rows; the limit is "
                                     f"{MAX_ROWS:,} per table")])
        table = parquet.read()
    except CaseError:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise CaseError([Problem(source, None, None,
                                 f"cannot be read as Parquet: {err}")]) from None
    cells = _Cells(source)
    columns: list[pd.Series] = []
    names: list[str] = []
    for i, column in enumerate(table.columns):
        title = table.schema.field(i).name
        if _INDEX_COLUMN.fullmatch(title):
            continue
        names.append(title)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if pa.types.is_nested(kind) and not _text_list(kind):
            cells.add(None, title, f"is a Parquet column of {kind}; a table holds one plain "
                      "value per cell (text, a number, true/false, or for a list column "
                      "such as flags a list of text)")
            columns.append(pd.Series([""] * len(table), dtype=object))
            continue
        try:
            columns.append(column.to_pandas().reset_index(drop=True))
        except (pa.ArrowException, ValueError, TypeError) as err:
            cells.add(None, title, f"cannot be read: {err}")
            columns.append(pd.Series([""] * len(table), dtype=object))
    frame = pd.concat(columns, axis=1, ignore_index=True) if columns else pd.DataFrame()
    frame.columns = pd.Index(names, dtype=object)
    return RawTable(name, source, frame, problems=cells.listed())


def _text_list(kind: pa.DataType) -> bool:
    """Whether ``kind`` is a list of text (or of bytes holding text)."""
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    if not any(test(kind) for test in lists):
        return False
    item = kind.value_type
    if pa.types.is_dictionary(item):
        item = item.value_type
    return bool(pa.types.is_string(item) or pa.types.is_large_string(item)
                or pa.types.is_binary(item) or pa.types.is_large_binary(item)
                or pa.types.is_null(item))


# --- Excel ---------------------------------------------------------------------------------

_REL_OFFICE_DOCUMENT = "/officeDocument"
_REL_WORKSHEET = "/worksheet"
_REL_SHARED_STRINGS = "/sharedStrings"
_REL_STYLES = "/styles"
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
# Built-in number formats that show a date or time (ECMA-376 18.8.30, with the East Asian
# ones), and what a format code shows literally: quoted text, escaped characters, and
# bracketed colours or locales (but not elapsed time such as [h]).
_DATE_FORMAT_IDS = frozenset({*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59)})
_LITERAL = re.compile(r'"[^"]*"|\\.|\[(?![hms]+\])[^\]]*\]', re.IGNORECASE)


def _local(tag: str) -> str:
    """An XML tag or attribute name without its namespace."""
    return tag.rpartition("}")[2]


def _attribute(element: ElementTree.Element, name: str) -> str | None:
    """Attribute ``name`` of ``element`` in any namespace (``r:id`` in the transitional
    and the strict forms of the format)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


@lru_cache(maxsize=4096)
def _column_index(letters: str) -> int:
    index = 0
    for ch in letters.upper():
        index = index * 26 + ord(ch) - ord("A") + 1
    return index


def _letter(index: int) -> str:
    """Column letter(s) of a 1-based column index (1 → A, 27 → AA)."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")


def _cell_ref(ref: str) -> tuple[int, int] | None:
    """(row, column) of a cell reference such as ``B12``."""
    match = _REF.fullmatch(ref.strip())
    if match is None:
        return None
    return int(match.group(2)), _column_index(match.group(1))


class _Unreadable(Exception):
    """The workbook's structure cannot be read (raised inside `_read_workbook`)."""


@dataclass(frozen=True)
class _Book:
    """What reading a sheet needs from its workbook."""

    zip: zipfile.ZipFile
    strings: list[str]
    date_styles: frozenset[int]
    recalculate: bool  # the writer asked Excel to recalculate on opening: results unknown


# What a damaged workbook raises while it is read: a broken zip, XML or number.
_BROKEN = (_Unreadable, zipfile.BadZipFile, zlib.error, EOFError, KeyError,
           NotImplementedError, OSError, ValueError, RuntimeError, ElementTree.ParseError)


def _reason(err: BaseException) -> str:
    return (err.args[0] if isinstance(err, KeyError) and err.args else str(err)) \
        or type(err).__name__


def _read_workbook(file: Path) -> dict[str, RawTable]:
    with _open(file) as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raise CaseError([Problem(file.name, None, None,
                                     "is not an Excel workbook: an .xlsx file is a zip "
                                     "archive and this one is not (an older .xls, a "
                                     "password-protected or damaged file?): save it from "
                                     "Excel as .xlsx")]) from None
        with archive:
            try:
                return _read_sheets(file.name, archive)
            except CaseError:
                raise
            except _BROKEN as err:
                raise CaseError([Problem(file.name, None, None, "is not a readable Excel "
                                         f"workbook: {_reason(err)}")]) from None


def _read_sheets(name: str, archive: zipfile.ZipFile) -> dict[str, RawTable]:
    book_part = _related(archive, "", _REL_OFFICE_DOCUMENT) or ["xl/workbook.xml"]
    workbook = _xml(archive, book_part[0])
    sheets: list[tuple[str, str | None]] = []  # (sheet name, worksheet part or None)
    parts = _relationships(archive, book_part[0])
    recalculate = False
    for element in workbook.iter():
        tag = _local(element.tag)
        if tag == "sheet":
            target = parts.get(_attribute(element, "id") or "")
            worksheet = target[1] if target and target[0].endswith(_REL_WORKSHEET) else None
            sheets.append((element.get("name", ""), worksheet))
        elif tag == "calcPr":
            recalculate = element.get("fullCalcOnLoad", "0").lower() in ("1", "true")
    strings_part = [p for t, p in parts.values() if t.endswith(_REL_SHARED_STRINGS)]
    styles_part = [p for t, p in parts.values() if t.endswith(_REL_STYLES)]
    book = _Book(archive, _shared_strings(archive, strings_part[0]) if strings_part else [],
                 _date_styles(archive, styles_part[0]) if styles_part else frozenset(),
                 recalculate)
    problems: list[Problem] = []
    tables: dict[str, RawTable] = {}
    for sheet, part in sheets:
        table = sheet.strip().lower()
        source = f"{name}[{sheet}]"
        if table not in TABLES_BY_NAME:
            if not table.startswith("_"):  # sheets starting with _ are notes
                problems.append(Problem(source, None, None, unknown_table(sheet, "sheet")))
            continue
        if table in tables:
            problems.append(Problem(source, None, None,
                                    f"table {table!r} is given twice (also as sheet "
                                    f"{tables[table].source}); keep one sheet per table"))
            continue
        if part is None:
            problems.append(Problem(source, None, None,
                                    "is not a worksheet (a chart sheet?): give the table "
                                    "as cells"))
            continue
        try:
            tables[table] = _read_sheet(book, part, table, source)
        except CaseError as e:
            problems.extend(e.problems)
        except _BROKEN as err:
            problems.append(Problem(source, None, None, f"cannot be read: {_reason(err)}"))
    if problems:
        raise CaseError(problems)
    return tables


def _member(archive: zipfile.ZipFile, part: str) -> zipfile.ZipInfo:
    try:
        info = archive.getinfo(part)
    except KeyError:
        raise _Unreadable(f"part {part} is missing") from None
    if info.file_size > MAX_XML_BYTES:
        raise _Unreadable(f"part {part} expands to {info.file_size / 1024**2:,.0f} MiB; the "
                          f"limit is {MAX_XML_BYTES / 1024**2:,.0f} MiB")
    return info


def _xml(archive: zipfile.ZipFile, part: str) -> ElementTree.Element:
    with archive.open(_member(archive, part)) as stream:
        return ElementTree.parse(stream).getroot()


def _relationships(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationships of ``part``: id → (type, target part)."""
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in archive.namelist():
        return {}
    out = {}
    for element in _xml(archive, rels).iter():
        if _local(element.tag) == "Relationship" and element.get("TargetMode") != "External":
            target = element.get("Target", "")
            target = (target.lstrip("/") if target.startswith("/")
                      else posixpath.normpath(posixpath.join(folder, target)))
            out[element.get("Id", "")] = (element.get("Type", ""), target)
    return out


def _related(archive: zipfile.ZipFile, part: str, kind: str) -> list[str]:
    return [p for t, p in _relationships(archive, part).values() if t.endswith(kind)]


def _text(element: ElementTree.Element) -> str:
    """The text of a shared or inline string: its own ``t``, or its runs' (``r``), never
    its phonetic guides (``rPh``)."""
    parts = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return _unescape("".join(parts))


def _unescape(text: str) -> str:
    """Text with the format's escapes (``_x000D_`` for a carriage return) replaced."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _shared_strings(archive: zipfile.ZipFile, part: str) -> list[str]:
    strings = []
    with archive.open(_member(archive, part)) as stream:
        for _, element in ElementTree.iterparse(stream):
            if _local(element.tag) == "si":
                strings.append(_text(element))
                element.clear()
    return strings


def _date_styles(archive: zipfile.ZipFile, part: str) -> frozenset[int]:
    """Indices of the cell styles that show a number as a date or time."""
    root = _xml(archive, part)
    codes: dict[int, str] = {}
    for element in root.iter():
        if _local(element.tag) == "numFmt":
            codes[int(element.get("numFmtId", "-1"))] = element.get("formatCode", "")
    dates = set()
    for section in root:
        if _local(section.tag) != "cellXfs":
            continue
        for index, xf in enumerate(x for x in section if _local(x.tag) == "xf"):
            fmt = int(xf.get("numFmtId", "0"))
            code = _LITERAL.sub("", codes.get(fmt, ""))
            if fmt in _DATE_FORMAT_IDS or re.search("[dmyhs]", code, re.IGNORECASE):
                dates.add(index)
    return frozenset(dates)


def _number(text: str) -> str:
    """A stored number as pandas showed it: whole numbers without ``.0``."""
    try:
        value = float(text)
    except ValueError:
        return text.strip()
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


class _Sheet:
    """The cells of one worksheet, read as the XML parser passes them.

    The object is the parser's target (its ``start``, ``data`` and ``end`` are called for
    each element): no element tree is built, and a sheet that declares or holds too many
    rows is refused as soon as that shows.
    """

    def __init__(self, book: _Book, source: str) -> None:
        self.book = book
        self.source = source
        self.values: dict[int, dict[int, str]] = {}  # row → column → text
        self.flagged: dict[tuple[int, int], str] = {}  # (row, column) → problem message
        self.merged: list[str] = []
        self.row = 0  # where the parser is
        self.rows = 0
        self.column = 0
        # the cell being read: its type, style, stored value, formula, inline string
        self.kind = "n"
        self.style = ""
        self.value = ""
        self.formula = False
        self.inline: list[str] | None = None
        self.text: list[str] | None = None  # characters of a <v>, or of an inline <t>
        self.phonetic = False  # inside a phonetic guide (<rPh>): not the cell's text

    def read(self, stream: IO[bytes]) -> None:
        """Parse the sheet's XML from ``stream``."""
        parser = ElementTree.XMLParser(target=self)
        while chunk := stream.read(1 << 16):
            parser.feed(chunk)
        parser.close()

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """The parser met an element's start tag."""
        name = tag[tag.rfind("}") + 1:]
        if name == "c":
            ref = _cell_ref(attrib.get("r", ""))
            if ref is not None:
                self.row, self.column = ref
            else:
                self.column += 1
            if self.column > EXCEL_MAX_COLUMNS:
                raise CaseError([Problem(self.source, self.row, _letter(self.column),
                                         "is past Excel's last column XFD")])
            self.kind = attrib.get("t", "n")
            self.style = attrib.get("s", "")
            self.value = ""
            self.formula = False
            self.inline = None
        elif name == "v":
            self.text = []
        elif name == "row":
            self.row = int(attrib.get("r") or self.row + 1)
            self.column = 0
            self.rows += 1
            if self.row > EXCEL_MAX_ROWS:
                raise CaseError([Problem(self.source, self.row, None, "is past Excel's last "
                                         f"row {EXCEL_MAX_ROWS:,}: not a worksheet")])
            if self.rows > MAX_ROWS + 1:  # the header and MAX_ROWS rows
                raise _too_many_rows(self.source, MAX_ROWS)
        elif name == "f":
            self.formula = True
        elif name == "is":
            self.inline = []
        elif name == "t" and self.inline is not None and not self.phonetic:
            self.text = []
        elif name == "rPh":
            self.phonetic = True
        elif name == "dimension":
            self._check_dimension(attrib.get("ref", ""))
        elif name == "mergeCell":
            self.merged.append(attrib.get("ref", ""))

    def data(self, text: str) -> None:
        """The parser met characters."""
        if self.text is not None:
            self.text.append(text)

    def end(self, tag: str) -> None:
        """The parser met an element's end tag."""
        name = tag[tag.rfind("}") + 1:]
        if name == "c":
            self._cell()
        elif name == "v" and self.text is not None:
            self.value = "".join(self.text)
            self.text = None
        elif name == "t" and self.text is not None and self.inline is not None:
            self.inline.append("".join(self.text))
            self.text = None
        elif name == "rPh":
            self.phonetic = False

    def _check_dimension(self, ref: str) -> None:
        last = _cell_ref(ref.rpartition(":")[2]) if ref else None
        if last is None:
            return
        if last[0] > EXCEL_MAX_ROWS or last[0] - 1 > MAX_ROWS:
            raise CaseError([Problem(self.source, None, None,
                                     f"declares {last[0]:,} rows (its dimension is {ref}); "
                                     f"the limit is {min(MAX_ROWS, EXCEL_MAX_ROWS - 1):,} "
                                     "rows per table")])

    def _cell(self) -> None:
        where = (self.row, self.column)
        kind, value = self.kind, self.value
        if kind == "e":
            self.flagged[where] = (f"holds the Excel error {value.strip() or '#ERROR'}: fix "
                                   "the formula or type the value")
        elif self.formula and not value and kind != "str":
            self.flagged[where] = ("is a formula with no stored result (the workbook was "
                                   "written by a script and never calculated): type the "
                                   "value, or open and save the workbook in a spreadsheet "
                                   "program first")
        elif self.formula and self.book.recalculate:
            self.flagged[where] = ("is a formula and the workbook was written by a program "
                                   "that does not calculate (it asks Excel to recalculate "
                                   "on opening), so its stored result cannot be trusted: "
                                   "type the value, or open and save the workbook in a "
                                   "spreadsheet program first")
        elif kind == "inlineStr":
            self._put(where, _unescape("".join(self.inline or ())))
        elif not value:
            return
        elif kind == "s":
            try:
                self._put(where, self.book.strings[int(value)])
            except (ValueError, IndexError):
                self.flagged[where] = f"refers to shared string {value!r}, which is missing"
        elif kind == "b":
            self._put(where, "True" if value.strip() in ("1", "true") else "False")
        elif kind == "str":
            self._put(where, value)
        elif kind == "d" or int(self.style or 0) in self.book.date_styles:
            self.flagged[where] = (f"holds a date or time (stored as {value.strip()}): give "
                                   "periods and amounts as plain numbers")
        else:
            self._put(where, _number(value))

    def _put(self, where: tuple[int, int], text: str) -> None:
        if text:
            self.values.setdefault(where[0], {})[where[1]] = text

    def table(self, name: str) -> RawTable:
        """The sheet as a raw table: header from its first non-blank row."""
        cells = _Cells(self.source)
        occupied = sorted(set(self.values) | {r for r, _ in self.flagged})
        if not occupied:
            return RawTable(name, self.source, pd.DataFrame(), problems=cells.listed())
        header_row = occupied[0]
        titles = self.values.get(header_row, {})
        width = max([*titles, *(c for r, c in self.flagged if r == header_row)])
        last_row = occupied[-1]
        last_column = max([width, *(max(cols) for cols in self.values.values()),
                           *(c for _, c in self.flagged)])
        header = [titles.get(j, "") for j in range(1, width + 1)]

        def name_of(column: int) -> str:
            title = header[column - 1].strip() if column <= width else ""
            return title or _letter(column)

        for (row, column), message in sorted(self.flagged.items()):
            cells.add(row, name_of(column), message)
        for ref in self.merged:
            self._merged(ref, header_row, last_row, last_column, name_of, cells)
        body = []
        flagged_rows = {r for r, c in self.flagged if c <= width}
        for row in occupied[1:]:
            values = self.values.get(row, {})
            for column in values:
                if column > width:
                    cells.add(row, _letter(column),
                              f"has the value {values[column].strip()!r} but its column "
                              "has no header")
            fields = [values.get(j, "") for j in range(1, width + 1)]
            if row in flagged_rows or any(f.strip() for f in fields):
                body.append((row, fields))
        return _table(name, self.source, header, header_row, body, cells)

    @staticmethod
    def _merged(ref: str, header_row: int, last_row: int, last_column: int,
                name_of: Callable[[int], str], cells: _Cells) -> None:
        """Every cell of merged range ``ref`` within the table is a problem: only the
        range's first cell holds its value; the others read as blank."""
        first, _, last = ref.partition(":")
        top_left, bottom_right = _cell_ref(first), _cell_ref(last or first)
        if top_left is None or bottom_right is None:
            return
        rows = range(max(top_left[0], header_row), min(bottom_right[0], last_row) + 1)
        columns = range(top_left[1], min(bottom_right[1], last_column) + 1)
        total = len(rows) * len(columns)
        for k, (row, column) in enumerate(itertools.product(rows, columns)):
            if k == cells.room():  # count the rest: a range can cover millions of cells
                cells.unlisted += total - k
                return
            cells.add(row, name_of(column),
                      f"is merged with other cells ({ref}): unmerge them and give every "
                      "cell its own value (a merged range reads as blank but for its first "
                      "cell)")


def _read_sheet(book: _Book, part: str, name: str, source: str) -> RawTable:
    sheet = _Sheet(book, source)
    with book.zip.open(_member(book.zip, part)) as stream:
        sheet.read(stream)
    return sheet.table(name)


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
