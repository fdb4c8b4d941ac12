"""Infeasible cases get an explanation: one crafted case per relaxable family, the
minimal set and the amounts worked out by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import capacity

from conftest import edited, expandable, offtakes, rows, tiny, with_program

pytestmark = pytest.mark.solver


def conflicts(case: capacity.Case) -> list[tuple[str, float]]:
    why = capacity.explain(case)
    assert not why.feasible and why.minimal
    return [(c.family, round(c.amount, 6)) for c in why.conflicts]


def test_feasible_case_has_nothing_to_explain() -> None:
    why = capacity.explain(tiny("two_sites"))
    assert why.feasible and why.conflicts == [] and why.solves == 1


def test_committed_offtake_beyond_capacity() -> None:
    # 25/period committed, SA + SB hold 20: 5 short in each period, both suites full.
    case = edited(tiny("two_sites"), offtakes=offtakes(25), programs=with_program(max_sites=2))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 5.0)] * 2
    assert why.conflicts[0].message == (
        "committed offtake of ANCH for P1 in A, period 2030: 25 batches; at most 20 can be "
        "supplied given full antibody commercial capacity at SA, SB")


def test_model_file_holds_the_plain_model_when_solve_explains(tmp_path: Path) -> None:
    # The elastic model of the explanation has slack columns; the file asked for is the
    # model the plan was solved on, whatever happens after.
    import highspy

    case = edited(tiny("domestic_share"),
                  suites=lambda df: df.assign(existing_batches_per_period=[5, 10]))
    path = tmp_path / "model.mps"
    plan = capacity.solve(case, capacity.SolveOptions(model_file=str(path)))
    assert plan.status == "infeasible"
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(path))
    # the plan's columns and the file's column for the objective's constant
    assert h.getNumCol() == plan.size["variables"] + 1


def test_no_plan_within_time_limit_is_not_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only a proven infeasibility is explained; a time limit without a plan is not
    # (an explanation would spend another time limit on an elastic model).
    calls: list[object] = []
    monkeypatch.setattr(sys.modules["capacity.engine.explain"], "explain",
                        lambda *args: calls.append(args))
    plan = capacity.solve(capacity.load_case(), capacity.SolveOptions(time_limit_s=1e-6))
    assert calls == []
    assert plan.status == "no_solution"


def test_domestic_share_rule() -> None:
    # Only 5 domestic batches for 10 committed at a 60% rule: 6 − 5 = 1 short per period
    # (giving way on the commitment instead would cost 10 − 5/0.6 = 1.67 per period).
    case = edited(tiny("domestic_share"),
                  suites=lambda df: df.assign(existing_batches_per_period=[5, 10]))
    assert conflicts(case) == [("min_domestic_share", 1.0)] * 2
    # it names the commitment that pushes supply abroad, and why (issue 31, friction 8)
    assert capacity.explain(case).conflicts[0].message == (
        "minimum domestic share A_DOMESTIC_60 (60% of supply to A), period 2030: 1 batches "
        "of domestic supply short, given the committed offtake of ANCH for P1 (10 batches, "
        "5 made abroad: domestic capacity for it is full)")
    plan = capacity.solve(case)  # solve explains automatically, in short form
    assert plan.status == "infeasible"
    assert any("minimum domestic share A_DOMESTIC_60" in m for m in plan.messages)


def test_service_level_rule() -> None:
    # rationing (data/tiny/rationing) with its service level of 100% on, SB cut to 5 and
    # no module at SA: 15 of A's 20 batches a period can be made, 5 short of the level
    # (the domestic rule holds: 10 of 15 made in A).
    case = edited(tiny("rationing"), rules=lambda df: df.assign(active=True),
                  suites=lambda df: df.assign(existing_batches_per_period=[10, 5],
                                              module_batches_per_period=0, max_modules=0))
    assert conflicts(case) == [("min_service_level", 5.0)] * 2
    assert capacity.explain(case).conflicts[0].message == (
        "minimum service level A_SERVICE_100 (100% of A's demand served), period 2030: "
        "5 batches short")


def test_domestic_share_of_demand() -> None:
    # rationing on a demand basis without the module: 60% of 20 is 12, SA makes 10.
    case = edited(tiny("rationing"), rules=lambda df: df.assign(basis=["demand", "supply"]),
                  suites=lambda df: df.assign(max_modules=0, module_batches_per_period=0))
    why = capacity.explain(case)
    assert [(c.family, round(c.amount, 6)) for c in why.conflicts] == \
        [("min_domestic_share", 2.0)] * 2
    assert "(60% of demand in A), period 2030: 2 batches of domestic supply short" in \
        why.conflicts[0].message


def test_operator_share_cap() -> None:
    # Two operators, each at most 30% of A's 10 batches: 4 batches must exceed a cap.
    case = edited(tiny("domestic_share"), rules=rows(
        {"rule": "CAP", "kind": "max_operator_share", "market": "A", "subject": "*",
         "share": 0.3}))
    assert [f for f, _ in conflicts(case)] == ["max_operator_share"] * 2
    assert sum(a for _, a in conflicts(case)) == pytest.approx(8.0)


def test_country_share_cap() -> None:
    # Region B at most 30% of A, SA (region A) holds only 5 of 10: B must exceed by 2.
    case = edited(tiny("domestic_share"),
                  suites=lambda df: df.assign(existing_batches_per_period=[5, 10]),
                  rules=rows({"rule": "CAP_B", "kind": "max_country_share", "market": "A",
                              "subject": "B", "share": 0.3}))
    assert conflicts(case) == [("max_country_share", 2.0)] * 2


def test_exclusion() -> None:
    # OB barred from A, SA holds 4 of the 10 committed: OB would have to ship 6 per period.
    case = edited(tiny("domestic_share"),
                  operators=lambda df: df.assign(of_concern=[False, True]),
                  suites=lambda df: df.assign(existing_batches_per_period=[4, 10]),
                  rules=rows({"rule": "SECURE", "kind": "barred", "market": "A",
                              "subject": "flag:of_concern"}))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("exclusion", 12.0)]
    assert why.conflicts[0].entities["operator"] == "OB"


def test_module_cap() -> None:
    # One site, 15/period, SA holds 10 and may build no module of 5: one module too few.
    case = edited(tiny("two_sites"), offtakes=offtakes(15),
                  suites=expandable(max_modules=0, lead=0))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("module_cap", 1.0)]
    assert why.conflicts[0].message == (
        "the committed offtake of ANCH for P1 in A (2030–2031) needs 1 more module at SA "
        "(antibody, commercial) beyond its module cap of 0")


def test_unservable_commitment_is_explained_too() -> None:
    # Committed before the program can start: nothing can serve it (shortfall = all 5).
    case = edited(tiny("two_sites"),
                  programs=with_program(earliest_start=2031, commercial_from=2031))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 5.0)]
    assert "no allowed suite" in why.conflicts[0].message


def test_transfer_time_that_misses_a_commitment() -> None:
    # ANCH commits 5 in 2030, P1 starts in 2030 and its transfers take a period.
    case = edited(tiny("two_sites"), programs=with_program(tech_transfer_periods=1))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 5.0)]
    assert why.conflicts[0].message.endswith(
        "P1's technology transfer (1 period, from its earliest start 2030) cannot be "
        "complete before 2031")


def test_a_market_no_site_can_be_approved_for_in_time() -> None:
    # data/tiny/approvals with SU approvable too (1 period): nothing holds a US approval
    # in 2030, so ANCH's 10 batches there are short, for the reason given before solving.
    case = edited(tiny("approvals"), approvals=lambda df: df.assign(
        approved_from=[None, None], lead_time_periods=[1, 1]))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 10.0)]
    assert why.conflicts[0].message.endswith(
        "no allowed suite that can supply it: US requires approval "
        "(regions.approval_required), and no site is approved for US antibody commercial "
        "supply by 2030: SB can be approved from 2031 at the earliest (a 1-period inspection "
        "and review from 2030); SU can be approved from 2031 at the earliest (a 1-period "
        "inspection and review from 2030)")


def test_approved_capacity_short_and_an_unapproved_site_that_could_help() -> None:
    # 15 committed a period: SU (approved, 10) is full in 2030 and SB, with room, holds its
    # US approval from 2031 at the earliest: 5 short in 2030, both named.
    case = edited(tiny("approvals"), offtakes=lambda df: df.assign(committed_batches=15))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 5.0)]
    assert why.conflicts[0].message == (
        "committed offtake of ANCH for P1 in US, period 2030: 15 batches; at most 10 can be "
        "supplied given full antibody commercial capacity at SU and US's approval "
        "requirement: SB can be approved from 2031 at the earliest (a 1-period inspection "
        "and review from 2030)")


def test_phases_kept_at_one_site_are_named() -> None:
    # clinical_phase (data/tiny/README.md) with committed clinical batches in 2027-28 and
    # the phases moving as one: no site makes both, so one phase must go short; the
    # clinical one is the smaller (5 + 5 against 10 + 10), and each shortfall names the
    # planner's choice.
    case = edited(tiny("clinical_phase"), programs=with_program(phases_at_one_site=True),
                  offtakes=lambda df: pd.concat([df, rows(
                      *({"anchor": "ANCH", "program": "BISPEC_1", "market": "A", "period": t,
                         "committed_batches": 5} for t in (2027, 2028)))]))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("committed_offtake", 5.0)] * 2
    assert why.conflicts[0].message == (
        "committed offtake of ANCH for BISPEC_1 in A, period 2027: 5 batches; at most 0 can "
        "be supplied given BISPEC_1's phases move as one (programs.phases_at_one_site, "
        "max_sites 1) and no site makes both its committed clinical batches (CLIN can) and "
        "its committed commercial batches (COMM can)")
    assert capacity.explain(edited(case, programs=with_program(
        phases_at_one_site=False))).feasible


def test_explain_cli(tmp_path: Path) -> None:
    case = tmp_path / "inf"
    edited(tiny("domestic_share"),
           suites=lambda df: df.assign(existing_batches_per_period=[5, 10])).save(case)
    run = subprocess.run([sys.executable, "-m", "capacity", "explain", str(case), "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 3
    assert [c["family"] for c in json.loads(run.stdout)["conflicts"]] == \
        ["min_domestic_share"] * 2
    ok = subprocess.run([sys.executable, "-m", "capacity", "explain",
                         str(capacity.tiny_case_path("two_sites"))], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and "feasible" in ok.stdout


def test_infeasibility_from_an_added_constraint_is_attributed_to_it() -> None:
    import pyomo.environ as pyo

    built = capacity.build_model(tiny("two_sites"))
    m = built.pyomo
    m.no_shipping = pyo.Constraint(expr=sum(m.Ship.values()) <= 0)  # the planner's own rule
    plan = capacity.solve(built)
    assert plan.status == "infeasible"
    assert "constraints added to the model after build_model" in plan.messages[0]


def test_lead_time() -> None:
    # 15/period at one site; SA's 5-batch module takes a period to come online, so 2030 is
    # one module short (giving way on the lead time: 5 × 0.999 < 5 short batches).
    case = edited(tiny("two_sites"), offtakes=offtakes(15),
                  suites=expandable(max_modules=1, lead=1))
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("lead_time", 1.0)]
    assert why.conflicts[0].message == (
        "the committed offtake of ANCH for P1 in A (2030) needs 1 more module at SA "
        "(antibody, commercial) in period 2030, before the 1-period lead time lets it "
        "produce")


def test_module_conflicts_lead_with_the_commitment_in_whole_modules() -> None:
    # 12 a period at SA alone (max_sites 1), 10 in place, a module of 5 a period later: in
    # 2030 the offtake needs 2 batches more, 0.4 of a module, which is 1 module to order
    # (issue 31, friction 7: "1.25 module(s)" at a site that was not named for what).
    case = edited(tiny("two_sites"), offtakes=offtakes(12),
                  suites=expandable(max_modules=1, lead=1))
    (conflict,) = capacity.explain(case).conflicts
    assert (conflict.family, round(conflict.amount, 6)) == ("lead_time", 0.4)
    assert conflict.message == (
        "the committed offtake of ANCH for P1 in A (2030) needs 1 more module (the capacity "
        "of 0.40) at SA (antibody, commercial) in period 2030, before the 1-period lead "
        "time lets it produce")


def test_continuity_of_supply() -> None:
    # launch_dropped with continuity 0.8: a hospital commits 100 TIL batches in 2030 (so
    # TIL is launched) and 200 CAR-T batches in 2031, all SA's 200 slots: TIL's 170
    # batches of 2031 demand need 136, none is left. Giving way on the continuity (136 ×
    # 0.999) is cheaper than on the CAR-T commitment (136), so the rule is named.
    case = edited(
        tiny("launch_dropped"), settings=rows({"continuity_share": 0.8}),
        anchors=rows({"anchor": "HOSP"}),
        offtakes=rows({"anchor": "HOSP", "program": "TIL", "market": "A", "period": 2030,
                       "committed_batches": 100},
                      {"anchor": "HOSP", "program": "CART", "market": "A", "period": 2031,
                       "committed_batches": 200}),
        demand=rows({"program": "TIL", "market": "A", "period": 2031,
                     "potential_batches": 170, "value_musd_per_batch": 3.0}))
    assert conflicts(case) == [("continuity_of_supply", 136.0)]
    why = capacity.explain(case).conflicts[0]
    assert why.entities == {"program": "TIL", "market": "A", "period": 2031,
                            "launch_period": 2030}
    assert why.message == ("continuity of supply of TIL in A (share 80%, launched in 2030 by "
                           "the committed offtake of HOSP), period 2031: 136 batches "
                           "needed, 136 short")
    plan = capacity.solve(case)
    assert plan.status == "infeasible" and plan.messages[1] == why.message
    # with continuity off the same commitments hold
    assert capacity.solve(edited(case, settings=rows({"continuity_share": 0.0}))).status \
        == "optimal"


def test_changeovers_that_overfill_a_suite() -> None:
    # changeovers (data/tiny/changeovers) with SA alone and no module: P1's 6 and P2's 4
    # committed batches fit SA's 10 slots, their 2 changeovers do not. Making both loses
    # 2 slots (8 batches), making one loses the other's 4 or 6: 2 batches short in each
    # period, said to be the changeovers (which program gives way is a tie).
    case = edited(tiny("changeovers"), sites=lambda df: df[df["site"] == "SA"],
                  suites=lambda df: df[df["site"] == "SA"].assign(max_modules=0),
                  lanes=lambda df: df.iloc[:0])
    why = capacity.explain(case)
    assert not why.feasible and why.minimal
    assert [(c.family, c.entities["period"], c.amount) for c in why.conflicts] == \
        [("committed_offtake", 2030, 2.0), ("committed_offtake", 2031, 2.0)]
    for c in why.conflicts:
        assert c.message.endswith("can be supplied given full antibody commercial capacity "
                                  "at SA, where changeovers take 2 of 10 slots at SA (2 "
                                  "programs × changeover_slots 1)"), c.message
    # without the changeovers the case is feasible
    assert capacity.explain(edited(case, modalities=lambda df: df.assign(
        changeover_slots=0.0))).feasible
