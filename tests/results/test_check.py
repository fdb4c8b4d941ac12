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

from conftest import edited, offtakes, rows, solved, tiny, with_program

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


def test_shipment_before_its_transfer_is_complete(tmp_path: Path) -> None:
    # two_sites' plan ships from SA in 2030 and 2031; had P1's transfer taken a period
    # (from its start, 2030), the 5 batches of 2030 would come before it was complete, and
    # the transfer printed 2030–2030 would be 2030–2031.
    case, plan_dir = _saved(tmp_path, "two_sites")
    slow = edited(case, programs=with_program(tech_transfer_periods=1))
    found = check_plan(slow, plan_dir).violations
    assert [(v.family, v.entity, v.amount) for v in found if v.family != "demand_balance"] \
        == [("tech_transfer_time", "P1@SA→A 2030", 5.0),
            ("tech_transfer", "P1@SA commercial", 1.0)]


def test_transfer_pv_is_recomputed_at_its_start(tmp_path: Path) -> None:
    # The transfer starts in 2030 (discount 1) and is complete in 2031 (0.79), where the
    # first batch is made: its PV is 1, not the 0.79 of the first batch's period.
    case = edited(tiny("two_sites"), offtakes=offtakes(5).iloc[1:],
                  programs=with_program(tech_transfer_periods=1),
                  periods=rows({"period": 2030, "discount_factor": 1.0},
                               {"period": 2031, "discount_factor": 0.79}))
    plan_dir = solved(case).save(tmp_path / "plan")
    assignments = pd.read_csv(plan_dir / "assignments.csv")
    assert assignments.to_dict("records") == [{
        "program": "P1", "site": "SA", "phase": "commercial",
        "transfer": "technology transfer", "transfer_start_period": 2030,
        "transfer_complete_period": 2031, "start_period": 2031, "tech_transfer_pv_musd": 1.0}]
    assignments.assign(tech_transfer_pv_musd=0.79).to_csv(plan_dir / "assignments.csv",
                                                          index=False)
    found = check_plan(case, plan_dir).violations
    assert [(v.family, v.amount) for v in found] == [("tech_transfer", pytest.approx(-0.21))]


def _violations(case: capacity.Case, plan_dir: Path) -> list[tuple[str, str, float]]:
    return [(v.family, v.entity, pytest.approx(v.amount))
            for v in check_plan(case, plan_dir).violations]


def test_shipments_need_the_approval_the_plan_decides(tmp_path: Path) -> None:
    # data/tiny/approvals: SB approved for the US from 2031 (decided 2030 for 4) ships 10
    # in 2031 and 2032. Without that decision both shipments break the US requirement,
    # and the objective is 4 too high; decided in 2031 instead, the approval holds from
    # 2032 (not the printed 2031), costs 4 × 0.9 (not 4), and 2031's shipment breaks it.
    case, plan_dir = _saved(tmp_path, "approvals")
    assert check_plan(case, plan_dir).costs["approvals"] == pytest.approx(4.0)
    approvals = pd.read_csv(plan_dir / "approvals.csv", dtype=str, keep_default_na=False)
    approvals[approvals["site"] == "SU"].to_csv(plan_dir / "approvals.csv", index=False)
    assert _violations(case, plan_dir) == [
        ("ship_requires_approval", "P1@SB→US 2031", 10.0),
        ("ship_requires_approval", "P1@SB→US 2032", 10.0), ("objective", "summary.json", -4.0)]
    approvals.assign(decided_period=approvals["decided_period"].replace("2030", "2031")).to_csv(
        plan_dir / "approvals.csv", index=False)
    assert _violations(case, plan_dir) == [
        ("approval", "SB→US every modality", 1.0), ("approval", "SB→US every modality", 0.4),
        ("ship_requires_approval", "P1@SB→US 2031", 10.0),
        ("objective", "summary.json", -0.4)]


def test_a_candidate_site_is_approved_only_once_it_can_produce(tmp_path: Path) -> None:
    # SB a candidate opened in 2030 (producing from 2031): an approval printed as decided
    # in 2030 (holding from 2031, at 4) was decided before the site could produce.
    case = edited(tiny("approvals"),
                  sites=lambda df: df.assign(status=["existing", "candidate"],
                                             lead_time_periods=[0, 1]),
                  suites=lambda df: df.assign(existing_batches_per_period=[10, 0],
                                              module_batches_per_period=[0, 10],
                                              max_modules=[0, 1], lead_time_periods=0))
    plan_dir = solved(case).save(tmp_path / "plan")
    approvals = pd.read_csv(plan_dir / "approvals.csv", dtype=str, keep_default_na=False)
    assert approvals["decided_period"].tolist() == ["2031", ""]
    approvals.assign(decided_period=["2030", ""], approved_from_period=["2031", "2030"],
                     cost_pv_musd=["4.0", "0.0"]).to_csv(plan_dir / "approvals.csv",
                                                         index=False)
    found = {v.family for v in check_plan(case, plan_dir).violations}
    assert found == {"approval_requires_open_site", "objective"}


def test_a_plan_from_before_approvals_still_checks(tmp_path: Path) -> None:
    _case, plan_dir = _saved(tmp_path, "two_sites")
    (plan_dir / "approvals.csv").unlink()
    assert check_plan(tiny("two_sites"), plan_dir).ok


def test_phases_assignments_rederived(tmp_path: Path) -> None:
    # clinical_phase, phases apart (data/tiny/README.md): CLIN clinical from 2027 (PV 4),
    # COMM commercial, a second transfer started just in time in 2029 (PV 4 × 0.5 = 2).
    case, plan_dir = _saved(tmp_path, "clinical_phase")
    assert check_plan(case, plan_dir).ok
    original = pd.read_csv(plan_dir / "assignments.csv")

    def tampered(frame: pd.DataFrame) -> list[tuple[str, str, float]]:
        frame.to_csv(plan_dir / "assignments.csv", index=False)
        return [(v.family, v.entity, round(v.amount, 6))
                for v in check_plan(case, plan_dir).violations if v.family != "objective"]

    # the commercial transfer's PV discounted at the program's start, not its own
    early = original.copy()
    early.loc[1, "tech_transfer_pv_musd"] = 4.0
    assert tampered(early) == [("tech_transfer", "BISPEC_1@COMM commercial", 2.0)]
    # claimed as a scale-up in place, at a site that does not run the clinical phase
    scaled = original.copy()
    scaled.loc[1, ["transfer", "tech_transfer_pv_musd"]] = ["scale-up at site", 0.0]
    assert tampered(scaled) == [("tech_transfer", "BISPEC_1@COMM commercial", 1.0)]
    # the clinical phase made at CLIN without its assignment
    assert tampered(original.iloc[1:]) == [
        ("production_requires_assignment", "BISPEC_1@CLIN", 1.0)]
    # the same plan for the program moving as one: two sites for max_sites 1, and COMM's
    # one transfer starts at 2027, where it costs 4
    original.to_csv(plan_dir / "assignments.csv", index=False)
    together = edited(case, programs=with_program(phases_at_one_site=True))
    found = [(v.family, v.entity, round(v.amount, 6))
             for v in check_plan(together, plan_dir).violations]
    assert found == [("tech_transfer", "BISPEC_1@COMM commercial", 1.0),
                     ("program_site_limit", "BISPEC_1", 1.0), ("objective", "summary.json", 2.0)]


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


def test_service_level_and_domestic_share_of_demand(tmp_path: Path) -> None:
    # rationing (data/tiny/rationing) with its service level of 100% on: 62, every
    # potential batch served, 12 of 20 made in A a period. Drop the 2030 shipments from
    # SB (8 batches, all potential): 12 of 20 served (8 short of the level) and a
    # domestic share of demand of 0.6 still met (12 ≥ 0.6 × 20); also drop 2 of SA's
    # 2030 batches: 10 made in A, 2 short of 60% of the demand.
    case = capacity.Case.from_frames({**tiny("rationing").tables(), "rules": tiny(
        "rationing").rules.assign(active=True)})
    plan_dir = solved(case).save(tmp_path / "plan")
    ships = pd.read_csv(plan_dir / "shipments.csv")
    ships = ships[(ships["site"] == "SA") | (ships["period"] == 2031)]
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    by_demand = capacity.Case.from_frames({**case.tables(), "rules": case.rules.assign(
        basis=["demand", "supply"])})
    found = {(v.family, v.entity): v.amount for v in check_plan(by_demand, plan_dir).violations}
    assert found[("min_service_level", "A_SERVICE_100 2030")] == pytest.approx(8.0)
    assert ("min_domestic_share", "A_DOMESTIC_60 2030") not in found
    ships.loc[(ships["site"] == "SA") & (ships["period"] == 2030), "batches"] -= 2.0
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    found = {(v.family, v.entity): v.amount for v in check_plan(by_demand, plan_dir).violations}
    assert found[("min_domestic_share", "A_DOMESTIC_60 2030")] == pytest.approx(2.0)
    assert found[("min_service_level", "A_SERVICE_100 2030")] == pytest.approx(10.0)
    # on a supply basis 10 of 10 supplied is 100% domestic: no violation
    assert ("min_domestic_share", "A_DOMESTIC_60 2030") not in \
        {(v.family, v.entity) for v in check_plan(case, plan_dir).violations}


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


def _inventory(plan_dir: Path) -> pd.DataFrame:
    return pd.read_csv(plan_dir / "inventory.csv", dtype={"scale": str})


def _found(case: capacity.Case, plan_dir: Path) -> dict[tuple[str, str], float]:
    return {(v.family, v.entity): v.amount for v in check_plan(case, plan_dir).violations}


def test_checker_rederives_stock_and_shelf_life(tmp_path: Path) -> None:
    # launch_stock (data/tiny/launch_stock): SA makes 10 in 2031 (held, 1.8) and 10 in
    # 2032, ships 20 in 2032: 19.8, production where made (0.9 × 10 + 0.8 × 10 = 17).
    case, plan_dir = _saved(tmp_path, "launch_stock")
    result = check_plan(case, plan_dir)
    assert result.ok and result.objective_recomputed == pytest.approx(19.8)
    assert (result.costs["production"], result.costs["holding"]) == pytest.approx((17.0, 1.8))
    original = _inventory(plan_dir)
    # 15 made in 2031: 5 slots beyond SA's 10, and 5 more in stock than the balance says
    more = original.copy()
    more.loc[more["period"] == 2031, "made_batches"] = 15.0
    more.to_csv(plan_dir / "inventory.csv", index=False)
    found = _found(case, plan_dir)
    assert found[("suite_capacity", "SA antibody commercial 2031")] == pytest.approx(5.0)
    assert found[("stock_balance", "P1@SA commercial 2031")] == pytest.approx(-5.0)
    assert found[("objective", "summary.json")] == pytest.approx(4.5)  # 5 × 0.9 more
    # the 2031 batches made in 2030 instead: held two periods with a shelf life of one
    early = original.copy()
    early["period"] = early["period"].replace({2031: 2030})
    early = pd.concat([early, early[early["period"] == 2030].assign(
        period=2031, made_batches=0.0)]).sort_values("period")
    early.to_csv(plan_dir / "inventory.csv", index=False)
    found = _found(case, plan_dir)
    assert found[("shelf_life", "P1@SA commercial 2031")] == pytest.approx(10.0)
    assert ("stock_balance", "P1@SA commercial 2031") not in found
    # a holding cost printed wrong; the same plan checked with a 15-batch stock target
    original.assign(holding_cost_pv_musd=[2.0, 0.0]).to_csv(plan_dir / "inventory.csv",
                                                            index=False)
    assert _found(case, plan_dir)[("holding_cost", "P1@SA commercial 2031")] == \
        pytest.approx(0.2)
    original.to_csv(plan_dir / "inventory.csv", index=False)
    target = edited(case, stock_targets=rows({"program": "P1", "market": "A", "period": 2031,
                                              "min_batches": 15}))
    assert _found(target, plan_dir) == {("stock_target", "P1 in A, 2031"): pytest.approx(5.0)}


def test_checker_needs_storable_batches_made(tmp_path: Path) -> None:
    # Without its inventory table the plan's 20 shipped batches were never made; checked
    # against a case where P1 cannot be stored, the plan's stock is not allowed and the 20
    # shipped in 2032 overfill SA's 10 slots.
    case, plan_dir = _saved(tmp_path, "launch_stock")
    unstored = edited(case, programs=with_program(shelf_life_periods=0))
    found = _found(unstored, plan_dir)
    assert found[("shelf_life", "P1@SA commercial 2031")] == pytest.approx(10.0)
    assert found[("suite_capacity", "SA antibody commercial 2032")] == pytest.approx(10.0)
    (plan_dir / "inventory.csv").unlink()
    found = check_plan(case, plan_dir).violations
    assert [(v.family, v.entity, v.amount, v.message) for v in found] == [
        ("stock_balance", "P1@SA commercial 2032", -20.0,
         "inventory says 0 shipped, the shipments 20"),
        ("stock_balance", "P1@SA commercial 2032", 20.0,
         "0 in stock; 0 before + 0 made − 20 shipped − 0 written off is -20"),
        ("objective", "summary.json", pytest.approx(-18.8),
         "reported 19.8, recomputed 1")]  # neither made (17) nor held (1.8)
def test_continuity_of_supply_and_printed_launches(tmp_path: Path) -> None:
    """launch_dropped with continuity 0.8: TIL, launched in 2030, keeps 136 of its 170
    batches in 2031. Dropping them breaks continuity by 136 (and the objective); the same
    untouched plan checked against the case with continuity off holds; a launches table
    printing another launch period is caught."""
    on = edited(tiny("launch_dropped"), settings=rows({"continuity_share": 0.8}))
    plan_dir = solved(on).save(tmp_path / "plan")
    assert check_plan(on, plan_dir).ok
    ships = pd.read_csv(plan_dir / "shipments.csv")
    ships[~((ships["program"] == "TIL") & (ships["period"] == 2031))].to_csv(
        plan_dir / "shipments.csv", index=False)
    found = {v.family: v for v in check_plan(on, plan_dir).violations}
    assert found["continuity_of_supply"].amount == pytest.approx(136.0)
    assert found["continuity_of_supply"].entity == "TIL in A 2031"
    assert "since its launch in 2030" in found["continuity_of_supply"].message
    assert "continuity_of_supply" not in _families(tiny("launch_dropped"), plan_dir)
    launches = pd.read_csv(plan_dir / "launches.csv")
    launches.assign(launch_period=2031).to_csv(plan_dir / "launches.csv", index=False)
    assert "launch" in _families(tiny("launch_dropped"), plan_dir)


def test_checker_charges_each_program_a_changeover(tmp_path: Path) -> None:
    # changeovers (data/tiny/changeovers) planned without changeovers: both programs at
    # SA, 6 + 4 = 10 batches in its 10 slots (22). Checked against the case with its
    # changeover of 1 slot per program and period, SA uses 12 slots in each period: 2 over,
    # both of them changeovers; the plan that sends P2 to SB (34) holds.
    case = tiny("changeovers")
    free = edited(case, modalities=lambda df: df.assign(changeover_slots=0.0))
    plan_dir = solved(free).save(tmp_path / "shared")
    found = [(v.family, v.entity, v.amount, v.message)
             for v in check_plan(case, plan_dir).violations]
    assert found == [("suite_capacity", f"SA antibody commercial {t}", pytest.approx(2.0),
                      "uses 12 batch slots of 10 (2 of them changeovers of the 2 programs "
                      "made there)") for t in (2030, 2031)]
    assert check_plan(case, solved(case).save(tmp_path / "split")).ok
    # SA's own changeover of 0 (suites.changeover_slots) wins over the modality's 1
    own = edited(case, suites=lambda df: df.assign(changeover_slots=[0.0, None]))
    assert check_plan(own, plan_dir).ok


def test_checker_lets_reserved_slots_carry_a_changeover(tmp_path: Path) -> None:
    # pooled_reservation with 1 changeover slot per program: each program uses 4 of
    # R_POOL's slots at CD (3 batches + its changeover). Its reserved use (4) is more than
    # its batches' slots (3), which the changeover makes good; a use of 5 is not.
    case = edited(tiny("pooled_reservation"), modalities=rows(
        {"modality": "antibody", "changeover_slots": 1.0}))
    plan_dir = solved(case).save(tmp_path / "plan")
    assert check_plan(case, plan_dir).ok
    use = pd.read_csv(plan_dir / "reservation_use.csv")
    use.loc[use["program"] == "P1", "batches"] = 5.0
    use.to_csv(plan_dir / "reservation_use.csv", index=False)
    found = {(v.family, v.entity): v.amount for v in check_plan(case, plan_dir).violations}
    assert found[("reserved_use_is_production", "P1@CD 2030")] == pytest.approx(1.0)


def test_shipment_from_a_site_the_program_is_not_qualified_at(tmp_path: Path) -> None:
    # qualified_sites' plan makes P1 at SB; moved to SC (on no list) it breaks the list
    case, plan_dir = _saved(tmp_path, "qualified_sites")
    ships = pd.read_csv(plan_dir / "shipments.csv")
    ships.loc[ships["program"] == "P1", "site"] = "SC"
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    found = [(v.family, v.entity, v.amount) for v in check_plan(case, plan_dir).violations
             if v.family == "qualification"]
    assert found == [("qualification", "P1@SC→A 2030", 5.0),
                     ("qualification", "P1@SC→A 2031", 5.0)]
