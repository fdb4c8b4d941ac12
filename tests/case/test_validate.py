"""The boundary: every case format loads the same, every problem is located and collected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.case.schema import format_markdown

from conftest import tiny

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["two_sites", "candidate_site", "domestic_share",
                                  "rationing", "approvals"])
def test_tiny_cases_load(name: str) -> None:
    assert tiny(name).programs["program"].tolist() == ["P1"]


def test_default_case_meets_the_brief() -> None:
    case = capacity.load_case()
    assert {"JP", "KR", "CN", "US", "EU", "SG"} <= set(case.regions["region"])
    assert len(case.sites) >= 15 and len(case.programs) >= 30 and len(case.anchors) >= 3
    assert set(case.programs["modality"]) == {"antibody", "adc", "aav", "cell", "microbial"}
    assert {"existing", "candidate"} == set(case.sites["status"])
    assert 6 <= len(case.periods) <= 10
    rules = case.rules.set_index("rule")
    assert rules.at["BIOSECURE_US", "kind"] == "barred"
    assert rules.at["JP_DOMESTIC_30", "kind"] == "min_domestic_share"


def _case_copy(tmp_path: Path, name: str = "two_sites") -> Path:
    target = tmp_path / name
    shutil.copytree(capacity.tiny_case_path(name), target)
    return target


def _problems(path: Path) -> list[str]:
    with pytest.raises(capacity.CaseError) as info:
        capacity.load_case(path)
    return [str(p) for p in info.value.problems]


def test_all_problems_are_collected_with_file_row_and_column(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    (case / "sites.csv").write_text("site,operator,region,status,fixd\n"
                                    "SA,OA,A,existing,1\n"
                                    "SB,OX,B,open,2\n"
                                    "SA,OA,Z,existing,3\n")
    (case / "suites.csv").write_text("site,modality,scale,existing_batches_per_period\n"
                                     "SA,antibody,commercial,-3\n"
                                     "SB,antibody,commercial,1e30\n")
    assert _problems(case) == [
        "sites.csv, row 1, column 'fixd': unknown column; sites has site, operator, region, "
        "status, name, fixed_cost_musd_per_year, opening_cost_musd, lead_time_periods, "
        "latitude, longitude",
        "sites.csv, row 3, column 'operator': unknown operator 'OX': not in operators",
        "sites.csv, row 3, column 'status': 'open' is not one of existing, candidate",
        "sites.csv, row 4, column 'region': unknown region 'Z': not in regions",
        "sites.csv, row 4, column 'site': duplicate key 'SA'; first given in row 2",
        "suites.csv, row 2, column 'existing_batches_per_period': -3 is out of range: "
        "must be ≥ 0",
        "suites.csv, row 3, column 'existing_batches_per_period': 1e30 is out of range: "
        "must be ≤ 1e+06",
    ]


@pytest.mark.parametrize(("table", "content", "expected"), [
    ("periods", "period,discount_factor\n2031,1\n2030,1\n", "periods must be in ascending order"),
    ("periods", "period,discount_factor\n2030,abc\n2031,\n", "'abc' is not a finite number"),
    ("periods", "period,discount_factor\n2030,nan\n2031,1\n", "'nan' is not a finite number"),
    ("periods", "period,discount_factor\n2030.5,1\n2031,1\n", "'2030.5' is not a whole number"),
    ("periods", "period\n", "has no rows"),
    ("offtakes", "anchor,program,market,period,committed_batches\nANCH,P1,A,2040,5\n",
     "unknown period 2040: not in periods"),
    ("offtakes", "anchor,program,market,period,committed_batches\nANCH,P1,A,2030,\n",
     "column 'committed_batches': is empty"),
    ("programs", "program,startup\nP1,S\n", "column 'modality': required column is missing"),
    ("rules", "rule,kind,market,subject,share\nR,barred,A,flag:nope,0\n",
     "'flag:nope' is not valid for a barred rule"),
    ("rules", "rule,kind,market,subject,share\nR,min_service_level,A,OA,0.9\n",
     "'OA' is not valid for a min_service_level rule: expected a modality (antibody, "),
    ("rules", "rule,kind,market,share,basis\nR,min_service_level,A,0.9,demand\n",
     "basis 'demand' is for min_domestic_share rules only, not min_service_level"),
    ("rules", "rule,kind,market,share,basis\nR,min_domestic_share,A,0.6,stock\n",
     "'stock' is not one of supply, demand"),
    ("suites", "site,modality,scale\nSA,antibody,pilot\n", "'pilot' is not one of clinical"),
    ("operators", "operator,of_concern\nOA,maybe\nOB,false\n", "'maybe' is not true/false"),
    ("modalities", "modality,success_rate\nantibody,0\n", "0 is out of range: must be > 0"),
    ("modalities", "modality,success_rate\nantibody,1.2\n", "1.2 is out of range: must be ≤ 1"),
    ("modalities", "modality\naav\n", "unknown modality 'antibody': not in modalities"),
    ("programs", "program,startup,modality\nP1,S,protein\n",
     "unknown modality 'protein': not in the built-in modalities (aav, adc, antibody, cell, "),
    ("batch_success", "modality,success_rate\nantibody,0.9\n",
     "the 'batch_success' table is retired: its rows are the `success_rate` column of the "
     "`modalities` table now"),
    ("yields", "program,site,success_rate\nP1,SA,0\n", "0 is out of range: must be > 0"),
    ("funds", "fund,funder,pays\nF,Gov,capex;fixed\n", "'fixed' is not one of capex, opening"),
    ("modalities", "modality,changeover_slots\nantibody,-1\n",
     "changeover_slots': -1 is out of range: must be ≥ 0"),
    ("suites", "site,modality,scale,changeover_slots\nSA,antibody,commercial,-0.5\n",
     "changeover_slots': -0.5 is out of range: must be ≥ 0"),
    ("programs", "program,startup,modality,qualified_sites\nP1,S,antibody,SA;SX\n",
     "programs.csv, row 2, column 'qualified_sites': unknown site 'SX': not in sites"),
])
def test_each_class_of_bad_input(tmp_path: Path, table: str, content: str,
                                 expected: str) -> None:
    case = _case_copy(tmp_path)
    (case / f"{table}.csv").write_text(content)
    assert any(expected in p for p in _problems(case)), _problems(case)


def test_lanes_by_modality_and_bloc_are_checked_where_written(tmp_path: Path) -> None:
    # lanes_modality: an unknown modality, a second row for the same (origin, market,
    # modality), and a default naming a bloc no region is in, each located.
    case = _case_copy(tmp_path, "lanes_modality")
    with (case / "lanes.csv").open("a") as f:
        f.write("JP,KR,cryo,1.0,0\nJP,KR,cell_autologous,2.0,0\nJP,KR,,0.4,0\n")
    with (case / "lane_defaults.csv").open("a") as f:
        f.write("EU,Asia,,0.2,0\n")
    assert _problems(case) == [
        "lane_defaults.csv, row 5, column 'origin_bloc': unknown bloc 'EU': not in regions",
        "lanes.csv, row 3, column 'modality': unknown modality 'cryo': not in the built-in "
        "modalities (aav, adc, antibody, cell, cell_allogeneic, cell_autologous, lentiviral, "
        "microbial, mrna, oligonucleotide, plasmid_dna); a case may list its own in a "
        "modalities table",
        "lanes.csv, row 4, column 'origin, market, modality': duplicate key ('JP', 'KR', "
        "'cell_autologous'); first given in row 2"]


def test_candidate_site_cannot_have_existing_capacity(tmp_path: Path) -> None:
    case = _case_copy(tmp_path, "candidate_site")
    suites = pd.read_csv(case / "suites.csv")
    suites.loc[1, "existing_batches_per_period"] = 5
    suites.to_csv(case / "suites.csv", index=False)
    assert any("site 'SC' is a candidate" in p for p in _problems(case))


def test_changeover_that_fills_a_suite_is_refused(tmp_path: Path) -> None:
    # two_sites: SA and SB hold 10 batch slots a period and cannot grow. A changeover of
    # 10 slots would leave none for a batch: a unit slip (days typed as slots), located
    # at the suite whether the suite gives it or takes its modality's; 9.5 is allowed.
    case = _case_copy(tmp_path)
    suites = pd.read_csv(case / "suites.csv").assign(changeover_slots=[10.0, None])
    suites.to_csv(case / "suites.csv", index=False)
    assert _problems(case) == [
        "suites.csv, row 2, column 'changeover_slots': a changeover of 10 slots takes all 10 "
        "batch slots a period the suite can ever have (existing, every module, "
        "reservations): no program could be made there"]
    suites.assign(changeover_slots=[None, None]).to_csv(case / "suites.csv", index=False)
    (case / "modalities.csv").write_text("modality,changeover_slots\nantibody,12\n")
    assert [p.split(": ", 1)[1] for p in _problems(case)] == [
        "a changeover of 12 slots (the antibody modality's, modalities.changeover_slots) "
        "takes all 10 batch slots a period the suite can ever have (existing, every module, "
        "reservations): no program could be made there"] * 2
    (case / "modalities.csv").write_text("modality,changeover_slots\nantibody,9.5\n")
    assert capacity.load_case(case).modalities["changeover_slots"].tolist() == [9.5]


def test_missing_table_and_not_a_case(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    (case / "sites.csv").unlink()
    assert "sites.csv: required table is missing" in _problems(case)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert any("is not a case" in p for p in _problems(empty))
    assert any("is not a case" in p for p in _problems(tmp_path / "nowhere"))


def test_non_utf8_and_unknown_table(tmp_path: Path) -> None:
    case = _case_copy(tmp_path)
    (case / "regions.csv").write_bytes("region,name\nA,R\xe9gion\n".encode("latin-1"))
    (case / "sitez.csv").write_text("site\n")
    problems = _problems(case)
    assert any("regions.csv: is not UTF-8" in p for p in problems)
    assert any("unknown table 'sitez'" in p for p in problems)


def test_xlsx_and_parquet_load_like_csv(tmp_path: Path) -> None:
    csv_case = capacity.load_case()
    workbook = tmp_path / "default.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        for name in sorted(p.stem for p in capacity.default_case_path().glob("*.csv")):
            pd.read_csv(capacity.default_case_path() / f"{name}.csv", dtype=str,
                        keep_default_na=False).to_excel(writer, sheet_name=name, index=False)
    csv_case.save(tmp_path / "pq", fmt="parquet")
    for other in (capacity.load_case(workbook), capacity.load_case(tmp_path / "pq")):
        for name, frame in csv_case.tables().items():
            pd.testing.assert_frame_equal(frame, other.tables()[name], check_dtype=False,
                                          obj=name)


def test_xlsx_problems_name_the_sheet(tmp_path: Path) -> None:
    workbook = tmp_path / "bad.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        for path in sorted(capacity.tiny_case_path("two_sites").glob("*.csv")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if path.stem == "suites":
                frame.loc[0, "variable_cost_musd_per_batch"] = "cheap"
            frame.to_excel(writer, sheet_name=path.stem, index=False)
    assert any(p.startswith("bad.xlsx[suites], row 2, column 'variable_cost_musd_per_batch'")
               for p in _problems(workbook))


def test_case_format_doc_is_generated_from_the_schema() -> None:
    assert (ROOT / "docs" / "case-format.md").read_text() == format_markdown() + "\n", \
        "regenerate: python -m capacity.case.schema > docs/case-format.md"


def test_unit_slip_is_caught(tmp_path: Path) -> None:
    # One module capex typed in USD (110,000,000) among MUSD values (~100).
    case = tmp_path / "default"
    shutil.copytree(capacity.default_case_path(), case)
    suites = pd.read_csv(case / "suites.csv")
    suites.loc[0, "module_capex_musd"] = 110_000_000
    suites.to_csv(case / "suites.csv", index=False)
    assert any(p.startswith("suites.csv, row 2, column 'module_capex_musd': 1.1e+08 is")
               and "inconsistent units?" in p for p in _problems(case))


def test_duplicate_sheets_and_mixed_forms(tmp_path: Path) -> None:
    workbook = tmp_path / "dup.xlsx"
    with pd.ExcelWriter(workbook) as writer:
        for path in sorted(capacity.tiny_case_path("two_sites").glob("*.csv")):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frame.to_excel(writer, sheet_name=path.stem, index=False)
            if path.stem == "sites":
                frame.to_excel(writer, sheet_name="Sites ", index=False)
    assert any("table 'sites' is given twice" in p for p in _problems(workbook))
    mixed = _case_copy(tmp_path)
    shutil.copy(workbook, mixed / "case.xlsx")
    assert any("holds both table files and case.xlsx" in p for p in _problems(mixed))


def test_a_fund_pays_capex_unless_told(tmp_path: Path) -> None:
    case = _case_copy(tmp_path, "candidate_site")
    (case / "funds.csv").write_text("fund,funder,pays\nF,Gov,\nG,Bank,capex;opening\n"
                                    "H,Gov,opening\n")
    pays = capacity.load_case(case).funds.set_index("fund")["pays"]
    assert pays.to_dict() == {"F": ("capex",), "G": ("capex", "opening"), "H": ("opening",)}
    (case / "funds.csv").write_text("fund,funder\nF,Gov\n")
    assert capacity.load_case(case).funds["pays"].tolist() == [("capex",)]


def test_approvals_name_a_suite_and_are_approved_or_approvable(tmp_path: Path) -> None:
    case = _case_copy(tmp_path, "approvals")
    (case / "approvals.csv").write_text(
        "site,market,modality,approved_from,lead_time_periods,cost_musd\n"
        "SU,US,aav,,1,2\n"  # SU has no aav suite
        "SB,US,,2030,1,4\n"  # approved and approvable at once
        "SB,US,cell,,,\n")  # nor a cell suite
    assert _problems(case) == [
        "approvals.csv, row 2, column 'modality': SU has no aav suite in suites: "
        "there is nothing to approve",
        "approvals.csv, row 3, column 'cost_musd': SB is approved for US from "
        "2030: an approved row has no cost_musd (leave approved_from empty for an approvable "
        "one)",
        "approvals.csv, row 3, column 'lead_time_periods': SB is approved for US "
        "from 2030: an approved row has no lead_time_periods (leave approved_from empty for "
        "an approvable one)",
        "approvals.csv, row 4, column 'modality': SB has no cell suite in suites: "
        "there is nothing to approve"]


def test_approvals_default_to_none_required(tmp_path: Path) -> None:
    # Without the new columns and table a case requires no approval anywhere.
    regions = tiny("two_sites").regions
    assert not regions["approval_required"].any()
    assert not regions["clinical_approval_required"].any()
    assert tiny("two_sites").approvals.empty
    # a row for a market that requires none is not used (a scenario may drop the
    # requirement and keep the table): it loads
    case = _case_copy(tmp_path, "approvals")
    (case / "regions.csv").write_text("region,name\nUS,United States\nB,Region B\n")
    assert len(capacity.load_case(case).approvals) == 2


def test_shelf_lives_default_to_none_and_stock_needs_one(tmp_path: Path) -> None:
    # The built-in modalities store nothing; a case's own may. An autologous lot is never
    # stored, and a stock target names a program that can be.
    builtin = capacity.load_case(capacity.tiny_case_path("two_sites")).modalities
    assert set(builtin["shelf_life_periods"]) == {0}
    assert set(builtin["holding_cost_musd_per_batch_period"]) == {0.0}
    case = _case_copy(tmp_path, "launch_stock")
    programs = capacity.load_case(case).programs
    assert programs["shelf_life_periods"].isna().all()  # the modality's
    (case / "modalities.csv").write_text(
        "modality,shelf_life_periods\nantibody,1\ncell_autologous,2\n")
    (case / "stock_targets.csv").write_text(
        "program,market,period,min_batches\nP1,A,2031,5\n")
    (case / "programs.csv").write_text(
        "program,startup,modality,commercial_from,shelf_life_periods\n"
        "P1,One,antibody,2032,0\n")
    assert _problems(case) == [
        "modalities.csv, row 3, column 'shelf_life_periods': cell_autologous batches are "
        "made for one patient and cannot be stored: the shelf life must be 0",
        "stock_targets.csv, row 2, column 'program': P1 cannot be stored (its shelf life "
        "is 0 periods): give programs.shelf_life_periods or its modality's "
        "shelf_life_periods of 1 or more"]
def test_settings_one_row_and_continuity_shares(tmp_path: Path) -> None:
    """`settings` is optional and holds one row; its continuity_share is the default of
    the programs that leave theirs empty; both are shares."""
    case = _case_copy(tmp_path)
    assert capacity.load_case(case).setting("continuity_share") == 0.0  # no table: off
    (case / "settings.csv").write_text("continuity_share\n\n")
    assert capacity.load_case(case).setting("continuity_share") == 0.0  # empty cell
    (case / "settings.csv").write_text("continuity_share\n0.8\n")
    loaded = capacity.load_case(case)
    assert loaded.setting("continuity_share") == 0.8
    assert loaded.programs["continuity_share"].isna().all()  # empty: the setting's
    (case / "settings.csv").write_text("continuity_share\n0.8\n0.5\n")
    assert any(p.endswith("settings.csv, row 3: settings holds one row; this is a second")
               for p in _problems(case)), _problems(case)
    (case / "settings.csv").write_text("continuity_share\n1.5\n")
    assert any("settings.csv, row 2, column 'continuity_share': 1.5 is out of range" in p
               for p in _problems(case)), _problems(case)
    (case / "settings.csv").unlink()
    programs = pd.read_csv(case / "programs.csv").assign(continuity_share=-0.1)
    programs.to_csv(case / "programs.csv", index=False)
    assert any("programs.csv, row 2, column 'continuity_share': -0.1 is out of range" in p
               for p in _problems(case)), _problems(case)
