"""The independent checker finds what is wrong with a tampered plan, by family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.results.check import check_plan

from conftest import edited, offtakes, solved, tiny, with_program

pytestmark = pytest.mark.solver


def _saved(tmp_path: Path, name: str) -> tuple[capacity.Case, Path]:
    case = tiny(name)
    return case, solved(case).save(tmp_path / "plan")


def _families(case: capacity.Case, plan_dir: Path) -> set[str]:
    return {v.family for v in check_plan(case, plan_dir).violations}


def test_untouched_plan_holds(tmp_path: Path) -> None:
    case, plan_dir = _saved(tmp_path, "candidate_site")
    result = check_plan(case, plan_dir)
    assert result.ok and result.objective_recomputed == pytest.approx(17.0)
    assert result.costs["opening"] == pytest.approx(4.0)


def test_overshipping_breaks_capacity_demand_and_objective(tmp_path: Path) -> None:
    case, plan_dir = _saved(tmp_path, "two_sites")
    ships = pd.read_csv(plan_dir / "shipments.csv")
    ships["batches"] = 12.0  # SA holds 10; 5 are committed and there is no potential demand
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    result = check_plan(case, plan_dir)
    by_family = {v.family: v for v in result.violations}
    assert by_family["suite_capacity"].amount == pytest.approx(2.0)
    assert by_family["demand_balance"].amount == pytest.approx(7.0)
    assert by_family["objective"].amount == pytest.approx(14.0)  # 2 × 7 extra batches at 1


def test_missing_commitment_unassigned_site_and_barred_flow(tmp_path: Path) -> None:
    case, plan_dir = _saved(tmp_path, "domestic_share")
    ships = pd.read_csv(plan_dir / "shipments.csv")
    ships = ships[ships["site"] == "SB"]  # drop the domestic supply
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    pd.read_csv(plan_dir / "assignments.csv").iloc[:0].to_csv(plan_dir / "assignments.csv",
                                                                index=False)
    barred = case.tables()
    barred["operators"] = barred["operators"].assign(of_concern=[False, True])
    barred["rules"] = pd.concat([barred["rules"], pd.DataFrame([{
        "rule": "BAR", "kind": "barred", "market": "A", "subject": "flag:of_concern",
        "share": 0.0, "active": True}])])
    strict = capacity.Case.from_frames(barred)
    assert {"demand_balance", "production_requires_assignment", "min_domestic_share",
            "exclusion", "objective"} <= _families(strict, plan_dir)


def test_cli_exit_codes(tmp_path: Path) -> None:
    _case, plan_dir = _saved(tmp_path, "two_sites")
    where = str(capacity.tiny_case_path("two_sites"))
    run = [sys.executable, "-m", "capacity", "check", where, str(plan_dir), "--json"]
    ok = subprocess.run(run, capture_output=True, text=True)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    (plan_dir / "summary.json").write_text(json.dumps({"objective": 1.0}))
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["violations"][0]["family"] == \
        "objective"
    (plan_dir / "summary.json").unlink()
    unreadable = subprocess.run(run, capture_output=True, text=True)
    assert unreadable.returncode == 2 and "summary.json" in unreadable.stderr


def test_checker_counts_failed_batches(tmp_path: Path) -> None:
    # two_sites with 10 committed a period on two sites: without failures SA makes all 10.
    # With SA's success rate at 0.8 that plan needs 12.5 of SA's 10 slots, and its
    # production costs 1.25 a batch: the checker re-derives both from the raw case.
    case = edited(tiny("two_sites"), offtakes=offtakes(10), programs=with_program(max_sites=2))
    plan_dir = solved(case).save(tmp_path / "plan")
    failing = edited(case, yields=pd.DataFrame([{"program": "P1", "site": "SA",
                                                 "success_rate": 0.8}]))
    by_family = {v.family: v for v in check_plan(failing, plan_dir).violations}
    assert by_family["suite_capacity"].amount == pytest.approx(2.5)
    assert by_family["objective"].amount == pytest.approx(2 * 10 * 0.25)


def _opening_grant(pays: str) -> dict[str, pd.DataFrame]:
    return {"funds": pd.DataFrame([{"fund": "F", "funder": "Gov", "max_capex_share": 0.5,
                                    "pays": pays}]),
            "fund_budgets": pd.DataFrame([{"fund": "F", "period": 2030, "budget_musd": 3.0}])}


def test_checker_rederives_opening_finance(tmp_path: Path) -> None:
    # candidate_site with a grant paying half an opening (budget 3): 2 of SC's 4, 15.
    case = edited(tiny("candidate_site"), **_opening_grant("opening"))
    plan_dir = solved(case).save(tmp_path / "plan")
    result = check_plan(case, plan_dir)
    assert result.ok and result.objective_recomputed == pytest.approx(15.0)
    assert result.costs["co_investment"] == pytest.approx(-2.0)
    # the same plan where the fund pays capex only: it may not pay that opening
    capex_only = edited(case, **_opening_grant("capex"))
    assert "fund_eligibility" in _families(capex_only, plan_dir)
    # 3 of the opening financed: above the fund's half (2) and within its budget;
    # then 5 for F and a second fund together: above the opening's 4 and F's budget
    fin = pd.read_csv(plan_dir / "financing.csv", dtype=str, keep_default_na=False)
    fin["amount_musd"] = "3.0"
    fin.to_csv(plan_dir / "financing.csv", index=False)
    by_family = {v.family: v for v in check_plan(case, plan_dir).violations}
    assert by_family["fund_opening_share_cap"].amount == pytest.approx(1.0)
    assert "financing_within_opening" not in by_family and "fund_budget" not in by_family
    assert by_family["objective"].amount == pytest.approx(-1.0)
    fin["amount_musd"] = "5.0"
    fin.to_csv(plan_dir / "financing.csv", index=False)
    by_family = {v.family: v for v in check_plan(case, plan_dir).violations}
    assert by_family["financing_within_opening"].amount == pytest.approx(1.0)
    assert by_family["fund_budget"].amount == pytest.approx(2.0)
    # an opening row that names a modality, or one of a site the plan does not open
    fin["amount_musd"], fin["modality"] = "1.0", "antibody"
    fin.to_csv(plan_dir / "financing.csv", index=False)
    assert "reference" in _families(case, plan_dir)
    fin["modality"], fin["site"] = "", "SA"
    fin.to_csv(plan_dir / "financing.csv", index=False)
    assert "financing_within_opening" in _families(case, plan_dir)
