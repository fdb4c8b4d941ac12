"""Issue 29, classes 3 and 6: a checker that cannot be fooled, and identifiers that are
read back as what the case spells.

Class 3 (the checker fooled): a poisoned or malformed saved plan must exit 2 naming file,
row and column; a well-formed but wrong one (an unknown site or suite, a plan of another
case) must be reported as violations; never exit 0 on poison, never an internal error,
and ``--json`` always strict JSON.

Class 6 (identifiers read back as something else): ``NA`` (North America), ``001``,
``True``, ``null``, ``nan``, ``1e3`` are names. Every plan table round-trips them through
save → read; a case spelt with them solves, saves, checks clean and reports its markets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity import Plan
from capacity.errors import CaseError
from capacity.report import plan_report
from capacity.results.check import check_plan
from capacity.results.plan import PLAN_SCHEMA, TABLE_NAMES, read_saved_plan
from capacity.studies.batch import ResultStore, read_results
from capacity.studies.compare import compare

from conftest import TEST_OPTIONS, solved, tiny

# Text a CSV reader or a YAML/JSON parser likes to turn into a missing value, a number or
# a flag; every one of them is a valid identifier.
# ("-nan" stays in the plan tables' round trip; a case refuses it as an identifier, since
# a spreadsheet would take its leading "-" for a formula.)
TRICKY = ("NA", "N/A", "#N/A", "NULL", "null", "None", "nan", "NaN", "-nan", "True", "false",
          "001", "007", "1e3", "1.0", "2030")

# The tiny cases' identifiers, respelt (list cells such as reservations.members are
# respelt item by item).
RESPELT = {"A": "NA", "B": "1e3", "SA": "001", "SB": "007", "P1": "True", "P2": "null",
           "OA": "None", "OB": "nan", "ANCH": "N/A", "CD": "001", "OT": "007",
           "CDMO": "None", "OTHER": "nan", "S1": "NULL", "S2": "#N/A", "R_S1": "1.0",
           "R_S2": "2030", "R_POOL": "NaN", "BANK": "None", "A_DOMESTIC_60": "false"}


def _strict_json(text: str) -> object:
    """Parse ``text`` as JSON that Python's own `json.dumps(allow_nan=False)` would write."""
    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


def _cli_check(case_dir: Path, plan_dir: Path) -> subprocess.CompletedProcess[str]:
    """``capacity check CASE PLAN --json`` as a user runs it; wide lines so that problems
    are not wrapped."""
    run = subprocess.run(
        [sys.executable, "-m", "capacity", "check", str(case_dir), str(plan_dir), "--json"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "500"})
    assert "internal error" not in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    return run


def _respell(source: Path, target: Path) -> Path:
    """Copy a case folder with every identifier in `RESPELT` respelt."""
    target.mkdir(parents=True)
    for file in source.glob("*.csv"):
        frame = pd.read_csv(file, dtype=str, keep_default_na=False)
        frame = frame.map(lambda cell: ";".join(RESPELT.get(x, x) for x in cell.split(";")))
        frame.to_csv(target / file.name, index=False)
    return target


# --- class 6: identifiers -----------------------------------------------------------------

def _tricky_tables() -> dict[str, pd.DataFrame]:
    """Every plan table, one row per tricky identifier (in every identifier column)."""
    n = len(TRICKY)
    tables = {}
    for name, schema in PLAN_SCHEMA.items():
        columns: dict[str, list[object]] = {}
        for col, kind in schema.kinds.items():
            if kind == "id":
                columns[col] = list(TRICKY)
            elif kind == "optional_id":
                columns[col] = [x if i % 2 else "" for i, x in enumerate(TRICKY)]
            elif kind == "period":
                columns[col] = [2030 + i for i in range(n)]
            elif kind == "optional_period":
                columns[col] = [2030 + i if i % 2 else None for i in range(n)]
            else:
                columns[col] = [(-1.0) ** i * (i + 0.25) for i in range(n)]
        tables[name] = pd.DataFrame(columns)
    return tables



@pytest.mark.unit
def test_schema_covers_the_plan_tables() -> None:
    assert set(PLAN_SCHEMA) == set(TABLE_NAMES)
    for name, schema in PLAN_SCHEMA.items():
        assert set(schema.key) <= set(schema.kinds), name


@pytest.mark.solver
def test_schema_names_the_columns_the_engine_writes() -> None:
    plan = solved(tiny("pooled_reservation"))
    assert set(plan.tables) == set(PLAN_SCHEMA)
    for name, frame in plan.tables.items():
        assert list(frame.columns) == list(PLAN_SCHEMA[name].kinds), name
        assert not frame.duplicated(list(PLAN_SCHEMA[name].key)).any(), name


@pytest.mark.unit
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_every_plan_table_round_trips_tricky_ids(tmp_path: Path, fmt: str) -> None:
    tables = _tricky_tables()
    plan = Plan("tricky", "optimal", 1.0, 1.0, 0.0, {}, {}, tables=tables)
    read, summary = read_saved_plan(plan.save(tmp_path / "plan", fmt=fmt), TABLE_NAMES)
    assert summary["objective"] == 1.0
    for name, frame in tables.items():
        back = read[name]
        assert list(back.columns) == list(frame.columns), name
        for col, kind in PLAN_SCHEMA[name].kinds.items():
            if kind in ("id", "optional_id"):
                assert back[col].tolist() == frame[col].tolist(), (name, col)
                assert all(type(v) is str for v in back[col]), (name, col)
            else:
                got = back[col].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
                want = pd.to_numeric(frame[col]).to_numpy(dtype=float, na_value=np.nan)
                np.testing.assert_array_equal(got, want, err_msg=f"{name}.{col}")


@pytest.mark.unit
def test_batch_store_keeps_tricky_ids(tmp_path: Path) -> None:
    tables = _tricky_tables()
    store = ResultStore(tmp_path / "batch")
    for scenario in ("001", "NA", "True"):
        store.write({"scenario": scenario, "status": "optimal", "objective": 1.0}, tables)
    for name in TABLE_NAMES:
        back = read_results(tmp_path / "batch", name)
        assert sorted(set(back["scenario"])) == ["001", "NA", "True"], name
        for col, kind in PLAN_SCHEMA[name].kinds.items():
            if kind == "id":
                assert back[col].tolist() == list(TRICKY) * 3, (name, col)
    table = compare(tmp_path / "batch", base="001")
    assert list(table["scenario"]) == ["001", "NA", "True"]
    assert {"domestic_share_NA", "domestic_share_null", "domestic_share_001"} \
        <= set(table.columns)


@pytest.mark.solver
@pytest.mark.parametrize(("name", "optimum"), [("domestic_share", 50.0),
                                               ("pooled_reservation", 12.4),
                                               ("bank_loop", 30.0)])
def test_tricky_ids_solve_save_check_and_report(tmp_path: Path, name: str,
                                                optimum: float) -> None:
    case_dir = _respell(capacity.tiny_case_path(name), tmp_path / "case")
    case = capacity.load_case(case_dir)
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(optimum)
    for fmt in ("csv", "parquet"):
        plan_dir = plan.save(tmp_path / f"plan_{fmt}", fmt=fmt)
        result = check_plan(case, plan_dir)
        assert result.violations == [] and result.objective_recomputed == pytest.approx(
            optimum)
    run = _cli_check(case_dir, tmp_path / "plan_csv")
    verdict = _strict_json(run.stdout)
    assert run.returncode == 0 and isinstance(verdict, dict) and verdict["ok"] is True
    html = plan_report(tmp_path / "plan_csv", case, price_rules=False)
    markets = html[html.index(">Markets<"):html.index(">Provenance<")]
    assert "<td>NA</td>" in markets
    assert "domestic share of batches in NA" in html


# --- class 3: the checker fooled ----------------------------------------------------------

@pytest.fixture(scope="module")
def saved_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """two_sites solved and saved as CSV and as Parquet; plans of other cases beside."""
    root = tmp_path_factory.mktemp("plans")
    plan = solved(tiny("two_sites"))
    out = {"csv": plan.save(root / "csv"),
           "parquet": plan.save(root / "parquet", fmt="parquet")}
    for other in ("pooled_reservation", "bank_loop", "candidate_site"):
        out[other] = solved(tiny(other)).save(root / other)
    return out


def _edit_csv(table: str, change: Callable[[pd.DataFrame], pd.DataFrame]
              ) -> Callable[[Path], None]:
    def tamper(plan_dir: Path) -> None:
        path = plan_dir / f"{table}.csv"
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(frame).to_csv(path, index=False)
    return tamper


def _set(table: str, column: str, value: str, row: int = 0) -> Callable[[Path], None]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame
    return _edit_csv(table, change)


def _append_line(table: str, line: str) -> Callable[[Path], None]:
    def tamper(plan_dir: Path) -> None:
        with open(plan_dir / f"{table}.csv", "a") as f:
            f.write(line + "\n")
    return tamper


def _summary(**values: object) -> Callable[[Path], None]:
    def tamper(plan_dir: Path) -> None:
        path = plan_dir / "summary.json"
        summary = json.loads(path.read_text())
        path.write_text(json.dumps({**summary, **values}))
    return tamper


def _write(file: str, text: str | bytes) -> Callable[[Path], None]:
    def tamper(plan_dir: Path) -> None:
        path = plan_dir / file
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return tamper


def _parquet_nan(plan_dir: Path) -> None:
    path = plan_dir / "shipments.parquet"
    frame = pd.read_parquet(path)
    frame.loc[1, "batches"] = np.nan
    frame.to_parquet(path, index=False)


def _parquet_missing_site(plan_dir: Path) -> None:
    path = plan_dir / "shipments.parquet"
    frame = pd.read_parquet(path)
    frame["site"] = frame["site"].astype(object)
    frame.loc[0, "site"] = None
    frame.to_parquet(path, index=False)


# (attack, plan, where the problem is: file, row, column). two_sites ships P1 from SA to
# A, 5 batches in 2030 (row 2) and in 2031 (row 3).
MALFORMED = {
    "nan appended": (_append_line("shipments", "P1,SB,B,A,2030,NaN"), "csv",
                     ("shipments.csv", 4, "batches")),
    "bare NaN line appended": (_append_line("shipments", "NaN"), "csv",
                               ("shipments.csv", 4, "site")),
    "nan in a cell": (_set("shipments", "batches", "nan"), "csv",
                      ("shipments.csv", 2, "batches")),
    "infinity": (_set("shipments", "batches", "inf", 1), "csv",
                 ("shipments.csv", 3, "batches")),
    "1e999": (_set("shipments", "batches", "1e999"), "csv", ("shipments.csv", 2, "batches")),
    "1e300": (_set("shipments", "batches", "1e300"), "csv", ("shipments.csv", 2, "batches")),
    "empty number": (_set("shipments", "batches", ""), "csv",
                     ("shipments.csv", 2, "batches")),
    "period abc": (_set("shipments", "period", "abc"), "csv", ("shipments.csv", 2, "period")),
    "period 2030.5": (_set("shipments", "period", "2030.5"), "csv",
                      ("shipments.csv", 2, "period")),
    "empty site": (_set("shipments", "site", ""), "csv", ("shipments.csv", 2, "site")),
    "missing column": (_edit_csv("shipments", lambda f: f.drop(columns="batches")), "csv",
                       ("shipments.csv", 1, "batches")),
    "unknown column": (_edit_csv("shipments", lambda f: f.assign(note="x")), "csv",
                       ("shipments.csv", 1, "note")),
    "repeated row": (_edit_csv("shipments", lambda f: pd.concat([f, f.iloc[:1]])), "csv",
                     ("shipments.csv", 4, "program, site, market, period")),
    "nan in assignments": (_set("assignments", "tech_transfer_pv_musd", "NaN"), "csv",
                           ("assignments.csv", 2, "tech_transfer_pv_musd")),
    "empty file": (_write("shipments.csv", ""), "csv", ("shipments.csv", None, None)),
    "not utf-8": (_write("shipments.csv", b"program,site\n\xff\xfe,1\n"), "csv",
                  ("shipments.csv", None, None)),
    "summary objective NaN": (_summary(objective=float("nan")), "csv",
                              ("summary.json", None, "objective")),
    "summary objective 1e999": (_write("summary.json", '{"objective": 1e999}'), "csv",
                                ("summary.json", None, "objective")),
    "summary objective text": (_summary(objective="abc"), "csv",
                               ("summary.json", None, "objective")),
    "summary objective true": (_summary(objective=True), "csv",
                               ("summary.json", None, "objective")),
    "summary not an object": (_write("summary.json", "[1, 2]"), "csv",
                              ("summary.json", None, None)),
    "parquet nan": (_parquet_nan, "parquet", ("shipments.parquet", 3, "batches")),
    "parquet missing site": (_parquet_missing_site, "parquet",
                             ("shipments.parquet", 2, "site")),
}


@pytest.mark.solver
@pytest.mark.parametrize("attack", list(MALFORMED))
def test_malformed_plan_exits_2_naming_file_row_and_column(
        saved_plans: dict[str, Path], tmp_path: Path, attack: str) -> None:
    tamper, fmt, (file, row, column) = MALFORMED[attack]
    plan_dir = shutil.copytree(saved_plans[fmt], tmp_path / "plan")
    tamper(plan_dir)
    with pytest.raises(CaseError) as caught:
        check_plan(tiny("two_sites"), plan_dir)
    located = [(Path(p.source).name, p.row, p.column) for p in caught.value.problems]
    assert (file, row, column) in located, caught.value.describe()
    run = _cli_check(capacity.tiny_case_path("two_sites"), plan_dir)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""  # no verdict, least of all "ok" or a NaN
    where = " ".join(run.stderr.split())
    assert file in where
    if row is not None:
        assert f"row {row}," in where or f"row {row}:" in where
    if column is not None:
        assert f"column {column!r}" in where


def _add_build(plan_dir: Path) -> None:
    _append_line("builds", "SA,cell,commercial,2030,2030,1,10,5")(plan_dir)


# (attack, the violation families it must raise at least)
WRONG = {
    "unknown site": (_set("shipments", "site", "SX"), {"reference"}),
    "unknown market": (_set("shipments", "market", "ZZ"), {"reference"}),
    "unknown period": (_set("shipments", "period", "1999"), {"reference"}),
    "unknown suite": (_add_build, {"reference"}),
    "unknown program assigned": (_set("assignments", "program", "PX"), {"reference"}),
    "origin not the site's region": (_set("shipments", "origin", "B"), {"reference"}),
    "tricky ids that the case lacks": (_set("shipments", "program", "NA"), {"reference"}),
}


@pytest.mark.solver
@pytest.mark.parametrize("attack", list(WRONG))
def test_wrong_plan_is_a_violation_not_an_internal_error(
        saved_plans: dict[str, Path], tmp_path: Path, attack: str) -> None:
    tamper, families = WRONG[attack]
    plan_dir = shutil.copytree(saved_plans["csv"], tmp_path / "plan")
    tamper(plan_dir)
    run = _cli_check(capacity.tiny_case_path("two_sites"), plan_dir)
    assert run.returncode == 1, (run.stdout, run.stderr)
    verdict = _strict_json(run.stdout)
    assert isinstance(verdict, dict) and verdict["ok"] is False
    assert families <= {v["family"] for v in verdict["violations"]}


@pytest.mark.solver
@pytest.mark.parametrize("other", ["pooled_reservation", "bank_loop", "candidate_site"])
def test_plan_of_another_case_is_violations(saved_plans: dict[str, Path], other: str) -> None:
    run = _cli_check(capacity.tiny_case_path("two_sites"), saved_plans[other])
    assert run.returncode == 1, (run.stdout, run.stderr)
    verdict = _strict_json(run.stdout)
    assert isinstance(verdict, dict) and verdict["ok"] is False
    assert "reference" in {v["family"] for v in verdict["violations"]}
    json.dumps(verdict, allow_nan=False)


@pytest.mark.solver
def test_json_verdict_is_strict_json_for_a_good_plan(saved_plans: dict[str, Path]) -> None:
    run = _cli_check(capacity.tiny_case_path("two_sites"), saved_plans["parquet"])
    assert run.returncode == 0
    verdict = _strict_json(run.stdout)
    assert isinstance(verdict, dict) and verdict["ok"] is True
    assert verdict["objective_recomputed"] == pytest.approx(11.0)


@pytest.mark.solver
@pytest.mark.parametrize(("tamper", "column"), [
    (_summary(gap="abc"), "gap"),
    (_summary(net_cost=float("inf")), "net_cost"),
    (_summary(options={"time_limit_s": -1}), "options.time_limit_s"),
    (_summary(messages=[1, 2]), "messages"),
    (_set("market_kpis", "domestic_share", "NaN"), "domestic_share"),
], ids=["gap text", "net cost infinite", "bad option", "messages not text", "NaN share"])
def test_report_refuses_a_poisoned_plan(saved_plans: dict[str, Path], tmp_path: Path,
                                        tamper: Callable[[Path], None], column: str) -> None:
    plan_dir = shutil.copytree(saved_plans["csv"], tmp_path / "plan")
    tamper(plan_dir)
    run = subprocess.run(
        [sys.executable, "-m", "capacity", "report", str(plan_dir), "--case",
         str(capacity.tiny_case_path("two_sites")), "--out", str(tmp_path / "r.html")],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "500"})
    assert run.returncode == 2 and "internal error" not in run.stderr, run.stderr
    assert f"column {column!r}" in " ".join(run.stderr.split())
    assert not (tmp_path / "r.html").exists()
