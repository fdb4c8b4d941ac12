"""A blank case workbook made from the schema, to fill in Excel (``capacity template``).

One sheet per table (sheet name = table name), its header in row 1: each header cell
carries a comment with the column's meaning and unit, type, whether it is required, its
default and what it allows; required columns are bold on a darker fill. Cells below the
header get Excel's data validation: a drop-down for columns with fixed choices (and
true/false), a drop-down of the referenced sheet's column for references to another table
(``sites.operator`` lists the ``operators`` sheet's ``operator`` cells), and number
bounds. A ``_README`` sheet first says what the workbook is, how to fill it, and which
tables are required (`capacity.case.io` ignores sheets whose name starts with ``_``).
The ``modalities`` sheet comes filled with the built-in list (`DEFAULT_MODALITIES`), which
the modality drop-downs offer: edit it, add to it or delete rows.

A filled template is an ordinary case workbook: ``load_case("case.xlsx")``. A sheet left
with its header only is an empty table.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from capacity.case.schema import (
    DEFAULT_MODALITIES,
    TABLES,
    TABLES_BY_NAME,
    Column,
    Table,
    _allowed,
    _show,
)
from capacity.errors import CaseError, OutputError
from capacity.output_folder import check_file_target, write_file

README_SHEET = "_README"
# In the workbook's document properties (docProps/core.xml): marks a template capacity
# wrote, which a later `capacity template` may replace while it is still blank.
TEMPLATE_TITLE = "capacity case template"
LAST_ROW = 1_048_576  # Excel's last row: validations cover every row below the header

_HEADER_FILL = "DDEBF7"
_REQUIRED_FILL = "9BC2E6"


def template_workbook() -> Any:
    """The blank case workbook as an `openpyxl.Workbook` (to save, or to fill in code)."""
    from openpyxl import Workbook

    book = Workbook()
    book.properties.creator = "capacity"
    book.properties.title = TEMPLATE_TITLE
    readme = book.active
    readme.title = README_SHEET
    _write_readme(readme)
    for table in TABLES:
        _write_table_sheet(book.create_sheet(table.name), table)
    for row in DEFAULT_MODALITIES:  # (modality, name, batch): the sheet's first columns
        book["modalities"].append(list(row))
    return book


def write_template(path: str | Path, *, force: bool = False,
                   protect: Iterable[str | Path] = ()) -> Path:
    """Write the blank case workbook (`template_workbook`) to ``path``, atomically.

    An existing file is replaced only if it is a template capacity wrote that is still
    blank (no table holds a row), unless ``force``.

    Args:
        path: the ``.xlsx`` file to write.
        force: replace an existing file capacity did not write, or a filled template.
        protect: paths that must not be replaced (a case being used).

    Returns:
        ``path`` as a `Path`.

    Raises:
        OutputError: ``path`` does not end in ``.xlsx``, or may not or cannot be
            written (`capacity.output_folder.check_file_target`); nothing was changed.
    """
    target = Path(path)
    if target.suffix.lower() != ".xlsx":
        raise OutputError(f"--out {target}: a template is an .xlsx workbook; give a file "
                          "name ending in .xlsx")
    ours = _blank_template(target)
    if ours is False and not force:
        raise OutputError(f"--out {target} is a case template holding data (filled in?); "
                          "give a new file name, or add --force to replace it")
    check_file_target(target, TEMPLATE_TITLE, "case.xlsx", force=force or bool(ours),
                      protect=protect)
    book = template_workbook()
    write_file(target, lambda tmp: book.save(tmp), suffix=".xlsx")
    return target


def _blank_template(path: Path) -> bool | None:
    """Whether ``path`` is a template capacity wrote that is still blank (True), one that
    holds data (False), or anything else (None: missing, not a workbook, not ours)."""
    if path.is_symlink() or not path.is_file():
        return None
    from capacity.case.io import read_tables

    try:
        with zipfile.ZipFile(path) as archive:
            core = archive.read("docProps/core.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile, ValueError):
        return None
    if TEMPLATE_TITLE not in core:
        return None
    try:
        tables = read_tables(path)
    except CaseError:
        return False
    return all(table.frame.empty or (name == "modalities" and _builtin_modalities(table.frame))
               for name, table in tables.items())


def _builtin_modalities(frame: Any) -> bool:
    """Whether a read ``modalities`` sheet holds just the built-in list it came with."""
    given = frame.reindex(columns=["modality", "name", "batch"]).fillna("").astype(str)
    return [tuple(r) for r in given.itertuples(index=False)] == list(DEFAULT_MODALITIES) \
        and frame.drop(columns=["modality", "name", "batch"], errors="ignore").replace(
            "", None).isna().all().all()


# --- sheets --------------------------------------------------------------------------------

def _write_readme(sheet: Any) -> None:
    from openpyxl.styles import Alignment, Font

    required = [t for t in TABLES if t.required]
    optional = [t for t in TABLES if not t.required]
    lines: list[tuple[str, ...]] = [
        ("capacity case template",),
        ("",),
        ("This workbook is a case for capacity, the optimisation engine for shared "
         "biomanufacturing capacity: one sheet per table, the table's columns in row 1.",),
        ("How to fill it: one row per record under the header, one value per cell (no "
         "merged cells, no formulas without a value, no dates: periods are plain numbers). "
         "Hover over a header to read what the column means, its unit, its default and "
         "what it allows.",),
        ("Bold headers on a darker fill are required columns; other columns may be left "
         "blank and take their default. Drop-downs offer the allowed values and, for a "
         "column naming a record of another table (a site's operator), the values of that "
         "table's sheet: fill the referenced sheets first.",),
        ("Lists (e.g. funds.eligible_regions) are ;-separated: pick one value, or type "
         "several as a;b.",),
        ("Units: money in millions of the case currency (_musd); capacity, demand and "
         "shipments in batches per period; shares as fractions from 0 to 1.",),
        ("The modalities sheet comes filled with the built-in modalities (what one batch "
         "of each is); the modality drop-downs offer them. Edit, add or delete rows: the "
         "case uses the modalities listed there.",),
        ("Leave an optional table's sheet with its header only (or delete the sheet) when "
         "the case has none of it. Sheets whose name starts with _ (this one) are notes "
         "and are not read.",),
        ("Then: capacity validate case.xlsx (every problem with sheet, row and column), "
         "capacity solve case.xlsx --out plan, or capacity.load_case('case.xlsx') in "
         "Python.",),
        ("",),
        ("Required tables", "what they hold"),
        *((t.name, t.doc) for t in required),
        ("",),
        ("Optional tables", "what they hold"),
        *((t.name, t.doc) for t in optional),
        ("",),
        ("Every column", "table", "type", "required", "default", "allowed", "meaning"),
        *((c.name, t.name, c.kind, "yes" if c.required else "no",
           "" if c.required else _show(c.default), _plain(_allowed(c)), _plain(c.doc))
          for t in TABLES for c in t.columns),
    ]
    for row in lines:
        sheet.append(list(row))
    sheet["A1"].font = Font(bold=True, size=14)
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in sheet.iter_rows():
        first = row[0]
        if len(row) == 1 or (first.value and row[1].value is None):
            first.alignment = wrap
        if first.value in ("Required tables", "Optional tables", "Every column"):
            for cell in row:
                cell.font = Font(bold=True)
    sheet.column_dimensions["A"].width = 110
    for letter in "BCDEFG":
        sheet.column_dimensions[letter].width = 16 if letter != "G" else 80


def _write_table_sheet(sheet: Any, table: Table) -> None:
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    sheet.append(list(table.column_names))
    sheet.freeze_panes = "A2"
    for j, col in enumerate(table.columns, start=1):
        letter = get_column_letter(j)
        cell = sheet.cell(row=1, column=j)
        cell.font = Font(bold=col.required)
        fill = _REQUIRED_FILL if col.required else _HEADER_FILL
        cell.fill = PatternFill("solid", start_color=fill, end_color=fill)
        text = _comment(table, col)
        comment = Comment(text, "capacity")
        comment.width = 320
        comment.height = 40 + 16 * (len(text) // 45 + text.count("\n"))
        cell.comment = comment
        sheet.column_dimensions[letter].width = max(12, len(col.name) + 4)
        validation = _validation(col)
        if validation is not None:
            rule = DataValidation(allow_blank=True, errorTitle=col.name[:32],
                                  error=_plain(_allowed(col))[:255], **validation)
            sheet.add_data_validation(rule)
            rule.add(f"{letter}2:{letter}{LAST_ROW}")


def _comment(table: Table, col: Column) -> str:
    """A header's comment: meaning and unit, then type, need, default and what is
    allowed."""
    need = "required" if col.required else f"optional, default {_show(col.default) or 'empty'}"
    lines = [_plain(col.doc), "", f"{col.kind}; {need}"]
    allowed = _plain(_allowed(col))
    if allowed:
        lines.append(f"allowed: {allowed}")
    if col.kind == "list":
        lines.append("a ;-separated list")
    if col.name in table.key:
        lines.append(f"key of {table.name}: {', '.join(table.key)} together are unique")
    return "\n".join(lines)


def _validation(col: Column) -> dict[str, Any] | None:
    """The arguments of a column's `openpyxl` ``DataValidation``, or None.

    Choices and true/false are list drop-downs; a reference to another table is a
    drop-down of that sheet's column; numbers are bounded. A list column (``a;b``) gets
    the drop-down without the error, so that several values can be typed.
    """
    from openpyxl.utils import get_column_letter

    if col.kind == "list":
        several = {"showErrorMessage": False, "showInputMessage": True,
                   "promptTitle": col.name[:32],
                   "prompt": "pick one, or type several separated by ;"}
    else:
        several = {"showErrorMessage": True}
    if col.choices:
        return {"type": "list", "formula1": '"' + ",".join(col.choices) + '"', **several}
    if col.ref:
        table, _, column = col.ref.partition(".")
        letter = get_column_letter(TABLES_BY_NAME[table].column_names.index(column) + 1)
        return {"type": "list", "formula1": f"'{table}'!${letter}$2:${letter}${LAST_ROW}",
                **several}
    if col.kind == "bool":
        return {"type": "list", "formula1": '"true,false"', "showErrorMessage": True}
    if col.kind not in ("int", "float") or (col.lower is None and col.upper is None):
        return None
    rule: dict[str, Any] = {"type": "whole" if col.kind == "int" else "decimal",
                            "showErrorMessage": True}
    low = None if col.lower is None else _number(col.lower)
    high = None if col.upper is None else _number(col.upper)
    if low is not None and high is not None and not col.lower_open:
        return {**rule, "operator": "between", "formula1": low, "formula2": high}
    if low is not None:
        # Excel has no "more than a, at most b": an open lower bound is checked alone
        # here (the loader checks every bound)
        return {**rule, "operator": "greaterThan" if col.lower_open
                else "greaterThanOrEqual", "formula1": low}
    return {**rule, "operator": "lessThanOrEqual", "formula1": high}


def _number(value: float) -> str:
    """A bound as a formula's number: ``1000000000``, not ``1e+09``."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _plain(text: str) -> str:
    """Schema text without Markdown's backticks."""
    return text.replace("`", "")
