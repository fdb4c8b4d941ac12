"""Case files built to be misread (issue 29, classes 4, 7 and 9): every cell that cannot be
read as the user sees it is an error naming file (sheet), row and column, never a silent
default and never an internal error; special and oversized files are refused at once.

Each file is built here from the tiny case `two_sites` (optimum 11: everything from SA at
1 per batch, 2 × 5 batches, plus the transfer 1), poisoned in one place.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import capacity
from capacity.case import io as case_io

pytestmark = pytest.mark.unit

TINY = capacity.tiny_case_path("two_sites")
ERROR_VALUES = ["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"]
SHEET = "xl/worksheets/sheet{}.xml"


def _case_copy(tmp_path: Path) -> Path:
    target = tmp_path / "two_sites"
    shutil.copytree(TINY, target)
    return target


def _problems(path: Path) -> list[str]:
    with pytest.raises(capacity.CaseError) as info:
        capacity.load_case(path)
    return [str(p) for p in info.value.problems]


def _cli(path: Path | str, cwd: Path | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", "validate", str(path)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "COLUMNS": "400"})


def _workbook(tmp_path: Path, edit: Callable[[openpyxl.Workbook], None] | None = None,
              name: str = "two_sites.xlsx") -> Path:
    """`two_sites` as a workbook (numbers as numbers), edited with openpyxl."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for path in sorted(TINY.glob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        sheet = book.create_sheet(path.stem)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False):
            sheet.append([_typed(v) for v in row])
    if edit is not None:
        edit(book)
    target = tmp_path / name
    book.save(target)
    return target


def _typed(text: str) -> object:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _rewrite(workbook: Path, part: str, change: Callable[[str], str]) -> None:
    """Rewrite one XML part of a workbook (what a script or a crafted file holds)."""
    with zipfile.ZipFile(workbook) as old:
        parts = {info.filename: old.read(info) for info in old.infolist()}
    parts[part] = change(parts[part].decode()).encode()
    with zipfile.ZipFile(workbook, "w", zipfile.ZIP_DEFLATED) as new:
        for name, data in parts.items():
            new.writestr(name, data)


def _sheet_part(workbook: Path, sheet: str) -> str:
    """The XML part of ``sheet`` (openpyxl numbers them in creation order)."""
    names = openpyxl.load_workbook(workbook, read_only=True).sheetnames
    return SHEET.format(names.index(sheet) + 1)


# --- class 4: bad cells read as a default ---------------------------------------------------

def test_formula_without_stored_result_is_an_error(tmp_path: Path) -> None:
    # openpyxl stores a formula without its result; read as blank, SA's cost would be the
    # default 0 and the optimum 1 instead of 11.
    def edit(book: openpyxl.Workbook) -> None:
        book["suites"]["E2"] = "=0.5*2"

    problems = _problems(_workbook(tmp_path, edit))
    assert problems == [
        "two_sites.xlsx[suites], row 2, column 'variable_cost_musd_per_batch': is a formula "
        "with no stored result (the workbook was written by a script and never "
        "calculated): type the value, or open and save the workbook in a spreadsheet "
        "program first"]


def test_formula_result_from_a_non_calculating_writer_is_an_error(tmp_path: Path) -> None:
    # XlsxWriter stores 0 as every formula's result and asks Excel to recalculate on
    # opening: the 0 is not the formula's value.
    workbook = _workbook(tmp_path, lambda book: book["suites"].__setitem__("E2", "=0.5*2"))
    _rewrite(workbook, _sheet_part(workbook, "suites"),
             lambda xml: xml.replace("<f>0.5*2</f><v />", "<f>0.5*2</f><v>0</v>"))
    problems = _problems(workbook)
    assert len(problems) == 1
    assert problems[0].startswith("two_sites.xlsx[suites], row 2, column "
                                  "'variable_cost_musd_per_batch': is a formula and the "
                                  "workbook was written by a program that does not calculate")


def test_formula_results_stored_by_a_spreadsheet_program_are_read(tmp_path: Path) -> None:
    # What Excel or LibreOffice saves: the result next to the formula, no recalculation
    # asked for; a formula giving "" (t="str") is a blank cell.
    workbook = _workbook(tmp_path, lambda book: book["suites"].__setitem__("E2", "=0.5*2"))
    _rewrite(workbook, _sheet_part(workbook, "suites"),
             lambda xml: xml.replace("<f>0.5*2</f><v />", "<f>0.5*2</f><v>1</v>"))
    _rewrite(workbook, "xl/workbook.xml", lambda xml: xml.replace('fullCalcOnLoad="1"', ""))
    case = capacity.load_case(workbook)
    assert case.suites["variable_cost_musd_per_batch"].tolist() == [1.0, 2.0]


def test_merged_cells_are_errors(tmp_path: Path) -> None:
    # Merged E2:E3, SB's cost reads as blank (default 0): the optimum would be 6.
    def edit(book: openpyxl.Workbook) -> None:
        book["suites"].merge_cells("E2:E3")

    assert _problems(_workbook(tmp_path, edit)) == [
        f"two_sites.xlsx[suites], row {row}, column 'variable_cost_musd_per_batch': is merged "
        "with other cells (E2:E3): unmerge them and give every cell its own value (a merged "
        "range reads as blank but for its first cell)" for row in (2, 3)]


@pytest.mark.parametrize("error", ERROR_VALUES)
def test_excel_error_values_are_errors(tmp_path: Path, error: str) -> None:
    # openpyxl stores these strings as error cells (t="e"); pandas reads them as blank.
    def edit(book: openpyxl.Workbook) -> None:
        book["offtakes"]["E3"] = error  # committed_batches of 2031
        book["lanes"]["C2"] = error  # transport cost B→A: blank would be the default

    assert _problems(_workbook(tmp_path, edit)) == [
        f"two_sites.xlsx[lanes], row 2, column 'transport_musd_per_batch': holds the Excel "
        f"error {error}: fix the formula or type the value",
        f"two_sites.xlsx[offtakes], row 3, column 'committed_batches': holds the Excel error "
        f"{error}: fix the formula or type the value"]


def test_excel_error_through_the_cli(tmp_path: Path) -> None:
    workbook = _workbook(tmp_path, lambda book: book["suites"].__setitem__("E3", "#N/A"))
    result = _cli(workbook)
    assert result.returncode == 2, result.stderr
    assert ("two_sites.xlsx[suites], row 3, column 'variable_cost_musd_per_batch': holds the "
            "Excel error #N/A") in result.stderr
    assert "internal error" not in result.stderr


def test_csv_short_row_is_an_error(tmp_path: Path) -> None:
    # SB's row lacks its last field: filled as blank, its cost would be the default 0.
    case = _case_copy(tmp_path)
    (case / "suites.csv").write_text(
        "site,modality,scale,existing_batches_per_period,variable_cost_musd_per_batch\n"
        "SA,antibody,commercial,10,1.0\n"
        "SB,antibody,commercial,10\n")
    assert _problems(case) == [
        "suites.csv, row 3, column 'variable_cost_musd_per_batch': is missing: the row has "
        "4 fields but the header has 5"]


def test_csv_long_first_row_does_not_shift_the_header(tmp_path: Path) -> None:
    # pandas takes the first column as an index when the first data row is one field too
    # long, shifting every header: eight misleading errors. One error, at its row.
    case = _case_copy(tmp_path)
    (case / "sites.csv").write_text("site,operator,region,status\n"
                                    "SA,OA,A,existing,oops\n"
                                    "SB,OB,B,existing\n")
    assert _problems(case) == [
        "sites.csv, row 2: has 5 fields but the header has 4: 'oops' has no column, and the "
        "other values may be shifted (a stray comma, or a value with a comma that needs "
        "quotes?)"]


def test_csv_long_later_row_names_its_row_through_the_cli(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    (case / "sites.csv").write_text("site,operator,region,status\n"
                                    "SA,OA,A,existing\n"
                                    "SB,OB,B,exist,ing\n")
    result = _cli(case)
    assert result.returncode == 2, result.stderr
    assert "sites.csv, row 3: has 5 fields but the header has 4" in result.stderr


def test_csv_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    # A blank line is skipped, but the rows after it keep the numbers a spreadsheet shows.
    case = _case_copy(tmp_path)
    (case / "suites.csv").write_text(
        "site,modality,scale,existing_batches_per_period,variable_cost_musd_per_batch\n"
        "SA,antibody,commercial,10,1.0\n"
        "\n"
        "SB,antibody,commercial,10,cheap\n")
    assert _problems(case) == [
        "suites.csv, row 4, column 'variable_cost_musd_per_batch': 'cheap' is not a finite "
        "number"]


# --- class 7: sizes and special files -------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_fifo_table_is_refused_without_blocking(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    (case / "sites.csv").unlink()
    os.mkfifo(case / "sites.csv")
    result = _cli(case, timeout=60)  # reading the pipe would block forever
    assert result.returncode == 2, result.stderr
    assert "sites.csv: is a named pipe (FIFO), not a file" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_fifo_workbook_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "case.xlsx")
    result = _cli(tmp_path / "case.xlsx", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "case.xlsx: is a named pipe (FIFO), not a case" in result.stderr
    folder = tmp_path / "folder"
    folder.mkdir()
    os.mkfifo(folder / "case.xlsx")  # the one workbook of a folder
    result = _cli(folder, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "case.xlsx: is a named pipe (FIFO), not a file" in result.stderr


def test_sheet_declaring_millions_of_rows_is_refused_before_reading(tmp_path: Path) -> None:
    # A 1.8 MB workbook expanding to 6 million rows took over 45 s to parse: the sheet's
    # declared dimension is checked first.
    workbook = _workbook(tmp_path)
    _rewrite(workbook, _sheet_part(workbook, "offtakes"),
             lambda xml: re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:E6000000"',
                                xml))
    start = time.perf_counter()
    problems = _problems(workbook)
    assert time.perf_counter() - start < 5
    assert problems == [
        "two_sites.xlsx[offtakes]: declares 6,000,000 rows (its dimension is A1:E6000000); "
        "the limit is 1,048,575 rows per table"]


def test_sheet_rows_are_counted_while_streaming(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # A sheet that declares no dimension is refused at the row limit, before the rest of
    # it (here broken XML) is read.
    monkeypatch.setattr(case_io, "MAX_ROWS", 50)
    workbook = _workbook(tmp_path)
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>R{r}</t></is></c></row>'
                   for r in range(2, 200))

    def flood(xml: str) -> str:
        xml = re.sub(r"<dimension [^>]*/>", "", xml)
        return xml.replace("</sheetData>", rows + "<row><c><v>&bad;")

    _rewrite(workbook, _sheet_part(workbook, "regions"), flood)
    assert _problems(workbook) == [
        "two_sites.xlsx[regions]: has more than 50 rows; the limit is 50 per table"]


def test_row_past_excels_last_row_is_refused(tmp_path: Path) -> None:
    workbook = _workbook(tmp_path)
    _rewrite(workbook, _sheet_part(workbook, "regions"),
             lambda xml: xml.replace("</sheetData>",
                                     '<row r="6000000"><c r="A6000000"><v>1</v></c></row>'
                                     "</sheetData>"))
    start = time.perf_counter()
    problems = _problems(workbook)
    assert time.perf_counter() - start < 5
    assert problems == [
        "two_sites.xlsx[regions], row 6000000: is past Excel's last row 1,048,576: not a "
        "worksheet"]


# --- class 9: formats -----------------------------------------------------------------------

def _parquet(case: Path, table: str, data: pa.Table) -> None:
    (case / f"{table}.csv").unlink()
    pq.write_table(data, case / f"{table}.parquet")


def test_parquet_binary_ids_are_text(tmp_path: Path) -> None:
    # Read as b'SA', every suite's site was unknown.
    case = _case_copy(tmp_path)
    _parquet(case, "sites", pa.table({"site": pa.array([b"SA", b"SB"], pa.binary()),
                                      "operator": ["OA", "OB"], "region": ["A", "B"],
                                      "status": ["existing", "existing"]}))
    assert capacity.load_case(case).sites["site"].tolist() == ["SA", "SB"]


def test_parquet_binary_that_is_not_text_is_an_error(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    _parquet(case, "sites", pa.table({"site": pa.array([b"SA", b"\xffSB"], pa.binary()),
                                      "operator": ["OA", "OB"], "region": ["A", "B"],
                                      "status": ["existing", "existing"]}))
    assert _problems(case) == [
        "sites.parquet, row 3, column 'site': holds bytes that are not UTF-8 text "
        "(b'\\xffSB'): store the column as text",
        "suites.csv, row 3, column 'site': unknown site 'SB': not in sites"]


def test_parquet_list_column_is_the_flags(tmp_path: Path) -> None:
    # A list column for flags was read as the text "['x' 'y']", one silent unknown flag.
    case = _case_copy(tmp_path)
    _parquet(case, "operators", pa.table({
        "operator": ["OA", "OB"], "of_concern": [False, False],
        "flags": pa.array([["x", "y"], []], pa.list_(pa.string()))}))
    assert capacity.load_case(case).operators["flags"].tolist() == [("x", "y"), ()]


def test_parquet_list_in_a_one_value_column_is_an_error(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    _parquet(case, "regions", pa.table({
        "region": ["A", "B"], "name": pa.array([["Region", "A"], ["B"]],
                                               pa.list_(pa.string()))}))
    assert _problems(case) == [
        f"regions.parquet, row {row}, column 'name': holds a list ({items}): this column "
        "takes one value per cell" for row, items in ((2, "Region; A"), (3, "B"))]


def test_parquet_struct_with_stale_pandas_metadata_through_the_cli(tmp_path: Path) -> None:
    # The pandas metadata says `name` is text; the column holds records: pandas failed in
    # its conversion, an internal error.
    case = _case_copy(tmp_path)
    stale = pa.Table.from_pandas(pd.DataFrame({"region": ["A", "B"], "name": ["x", "y"]}),
                                 preserve_index=False).schema.metadata
    _parquet(case, "regions", pa.table({"region": ["A", "B"],
                                        "name": pa.array([{"a": 1}, {"a": 2}])})
             .replace_schema_metadata(stale))
    result = _cli(case)
    assert result.returncode == 2, result.stderr
    assert ("regions.parquet, column 'name': is a Parquet column of struct<a: int64>"
            in result.stderr)
    assert "internal error" not in result.stderr


@pytest.mark.parametrize("content", ["text", "truncated zip"])
def test_xlsx_that_is_not_a_workbook_through_the_cli(tmp_path: Path, content: str) -> None:
    whole = _workbook(tmp_path, name="whole.xlsx").read_bytes()
    workbook = tmp_path / "case.xlsx"
    workbook.write_bytes(b"site,operator\nSA,OA\n" if content == "text"
                         else whole[: len(whole) // 2])
    result = _cli(workbook)
    assert result.returncode == 2, result.stderr
    assert "case.xlsx: is not an Excel workbook" in result.stderr
    assert "internal error" not in result.stderr


def test_zip_that_is_not_a_workbook_through_the_cli(tmp_path: Path) -> None:
    workbook = tmp_path / "case.xlsx"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    workbook.write_bytes(buffer.getvalue())
    result = _cli(workbook)
    assert result.returncode == 2, result.stderr
    assert "case.xlsx: is not a readable Excel workbook" in result.stderr


def test_validate_dot_names_the_folder(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    result = _cli(".", cwd=case)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: two_sites: 2 sites")
