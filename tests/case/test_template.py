"""The case template: a blank workbook from the schema that, filled in, is the case."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

import capacity
from capacity import Case, Plan
from capacity.case.io import read_tables
from capacity.case.schema import MODALITIES, TABLES, TABLES_BY_NAME
from capacity.case.template import README_SHEET, write_template
from capacity.errors import OutputError

from conftest import TEST_OPTIONS

pytestmark = pytest.mark.unit


def fill(template: Path, case: Case, out: Path) -> Path:
    """Write every table of ``case`` under its sheet's header, as a user would type it:
    numbers as numbers, true/false as booleans, lists as ``a;b``, blanks left empty."""
    book = openpyxl.load_workbook(template)
    for name, frame in case.tables().items():
        sheet = book[name]
        sheet.delete_rows(2, sheet.max_row)  # the modalities sheet comes filled
        header = [cell.value for cell in sheet[1]]
        for record in frame.to_dict("records"):
            values = []
            for column in header:
                value = record[column]
                if isinstance(value, tuple):
                    value = ";".join(value)
                elif not isinstance(value, str) and pd.isna(value):
                    value = None
                elif hasattr(value, "item"):  # a numpy scalar
                    value = value.item()
                values.append(value)
            sheet.append(values)
    book.save(out)
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_template(tmp_path_factory.mktemp("template") / "case.xlsx")


def test_template_has_a_sheet_per_table_and_a_readme(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    assert book.sheetnames == [README_SHEET, *(t.name for t in TABLES)]
    readme = "\n".join(str(c.value) for row in book[README_SHEET].iter_rows() for c in row
                       if c.value is not None)
    assert "capacity case template" in readme and "Required tables" in readme
    required = [row[0].value for row in book[README_SHEET].iter_rows()]
    start = required.index("Required tables") + 1
    listed = required[start:required.index(None, start)]
    assert listed == [t.name for t in TABLES if t.required]
    for table in TABLES:
        assert [c.value for c in book[table.name][1]] == list(table.column_names)


def test_every_header_explains_its_column(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    for table in TABLES:
        for cell, column in zip(book[table.name][1], table.columns, strict=True):
            assert cell.comment is not None, f"{table.name}.{column.name}"
            text = cell.comment.text
            assert column.doc.replace("`", "") in text
            assert ("required" if column.required else "optional, default") in text
            assert cell.font.bold == column.required
    comment = book["suites"]["F"][0].comment.text  # module_capex_usd: its unit
    assert "capital cost of one expansion module, MUSD" in comment


def _validations(book: openpyxl.Workbook, sheet: str) -> dict[str, tuple[str, str, bool]]:
    """Each validated column's letter → (type, formula, shows an error)."""
    out = {}
    for rule in book[sheet].data_validations.dataValidation:
        for cells in rule.sqref.ranges:
            out[cells.coord.split(":")[0].rstrip("0123456789")] = (
                rule.type, rule.formula1, bool(rule.showErrorMessage))
            assert cells.min_row == 2 and cells.max_row == 1_048_576
    return out


def test_choices_and_references_are_drop_downs(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    sites = _validations(book, "sites")
    # sites: site, operator, region, status, ...
    assert sites["B"] == ("list", "'operators'!$A$2:$A$1048576", True)
    assert sites["C"] == ("list", "'regions'!$A$2:$A$1048576", True)
    assert sites["D"] == ("list", '"existing,candidate"', True)
    assert "A" not in sites  # the site's own identifier: free text
    assert _validations(book, "operators")["D"] == ("list", '"true,false"', True)  # of_concern
    # a reference to a column that is not the first: reservations.members → programs.startup
    members = _validations(book, "reservations")["E"]
    assert members == ("list", "'programs'!$B$2:$B$1048576", False)  # a list: a;b allowed
    # periods reference the periods sheet; bounded numbers are checked
    assert _validations(book, "demand")["C"][:2] == ("list", "'periods'!$A$2:$A$1048576")
    share = next(r for r in book["funds"].data_validations.dataValidation
                 if str(r.sqref).startswith("D"))  # max_capex_share
    assert (share.type, share.operator, share.formula1, share.formula2) == \
        ("decimal", "between", "0", "1")
    for table in TABLES:  # every reference and every choice has its drop-down
        rules = _validations(book, table.name)
        for j, column in enumerate(table.columns):
            letter = openpyxl.utils.get_column_letter(j + 1)
            if column.ref or column.choices:
                assert rules[letter][0] == "list", f"{table.name}.{column.name}"
            if column.ref:
                ref_table, _, ref_column = column.ref.partition(".")
                col = openpyxl.utils.get_column_letter(
                    TABLES_BY_NAME[ref_table].column_names.index(ref_column) + 1)
                assert rules[letter][1] == f"'{ref_table}'!${col}$2:${col}$1048576"


def test_blank_template_reads_as_empty_tables(template: Path) -> None:
    # the _README sheet is not a table; every table sheet is there, with no rows but the
    # built-in modalities (which the modality drop-downs offer)
    tables = read_tables(template)
    assert sorted(tables) == sorted(t.name for t in TABLES)
    assert all(t.frame.empty for name, t in tables.items() if name != "modalities")
    modalities = tables["modalities"].frame
    assert list(modalities["modality"]) == list(MODALITIES)
    assert modalities.loc[modalities["modality"] == "lentiviral", "batch"].item() == \
        "one vector lot"
    with pytest.raises(capacity.CaseError) as err:
        capacity.load_case(template)
    assert sorted(p.message for p in err.value.problems) == \
        ["has no rows"] * sum(t.required for t in TABLES)


@pytest.mark.solver
def test_filled_template_is_the_default_case(template: Path, tmp_path: Path,
                                             default_plan: Plan) -> None:
    default = capacity.load_case()
    filled = capacity.load_case(fill(template, default, tmp_path / "filled.xlsx"))
    for name, frame in default.tables().items():  # optional sheets left blank included
        pd.testing.assert_frame_equal(getattr(filled, name), frame, obj=name)
    plan = capacity.solve(filled, TEST_OPTIONS)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(default_plan.objective, rel=1e-9)


@pytest.mark.solver
def test_filled_template_holds_site_approvals(template: Path, tmp_path: Path) -> None:
    # data/tiny/approvals typed into the template: regions' approval flags, approvals'
    # blank modality and approved_from read back as given; it solves to its 59.5.
    case = capacity.load_case(capacity.tiny_case_path("approvals"))
    filled = capacity.load_case(fill(template, case, tmp_path / "filled.xlsx"))
    for name, frame in case.tables().items():
        pd.testing.assert_frame_equal(getattr(filled, name), frame, obj=name)
    assert capacity.solve(filled, TEST_OPTIONS).objective == pytest.approx(59.5)


@pytest.mark.solver
def test_filled_template_holds_lanes_by_modality_and_bloc(template: Path,
                                                          tmp_path: Path) -> None:
    # data/tiny/lanes_modality typed into the template: a lane for one modality, bloc
    # defaults with blank modalities; it solves to its 42.8.
    case = capacity.load_case(capacity.tiny_case_path("lanes_modality"))
    filled = capacity.load_case(fill(template, case, tmp_path / "filled.xlsx"))
    for name, frame in case.tables().items():
        pd.testing.assert_frame_equal(getattr(filled, name), frame, obj=name)
    assert capacity.solve(filled, TEST_OPTIONS).objective == pytest.approx(42.8)


def test_template_replaces_only_a_blank_template(template: Path, tmp_path: Path) -> None:
    target = tmp_path / "case.xlsx"
    write_template(target)
    write_template(target)  # still blank: capacity's to replace
    theirs = tmp_path / "theirs.xlsx"
    theirs.write_bytes(b"a workbook of someone else's")
    with pytest.raises(OutputError, match="was not written by capacity"):
        write_template(theirs)
    assert theirs.read_bytes() == b"a workbook of someone else's"
    filled = fill(template, capacity.load_case(capacity.tiny_case_path("two_sites")),
                  tmp_path / "filled.xlsx")
    before = filled.read_bytes()
    with pytest.raises(OutputError, match="holding data"):
        write_template(filled)
    assert filled.read_bytes() == before
    write_template(filled, force=True)
    assert all(t.frame.empty for name, t in read_tables(filled).items() if name != "modalities")
    write_template(filled)  # blank again: its modalities are the built-in list
    with pytest.raises(OutputError, match=r"\.xlsx"):
        write_template(tmp_path / "case.csv")
    (tmp_path / "folder.xlsx").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        write_template(tmp_path / "folder.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.xlsx", "filled.xlsx",
                                                          "folder.xlsx", "theirs.xlsx"]
