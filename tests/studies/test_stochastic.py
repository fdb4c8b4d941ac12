"""Two-stage stochastic planning, checked by hand on `clinical_bet`.

`clinical_bet` (data/tiny/clinical_bet): one site SA with no capacity of its own; modules
of 2 batches for capex 12, ordered in 2030 for 2031; program P1 (success 0.5, readout
2031) could sell 4 batches in 2031 worth 11 each, made at 1. A module earns 2 × 10 = 20
if P1 succeeds. With n modules, cost = 12n − 10·min(4, 2n) on success, 12n on failure:
- RP: 12n − 0.5·20n = 2n ≥ 0, so build nothing: RP = 0.
- WS: success builds 2 (24 − 40 = −16), failure builds none (0): WS = −8; EVPI = 8.
- EV: expected demand 2 batches: 1 module (12 − 20 = −8). EEV = 0.5·(−8) + 0.5·12 = 2;
  VSS = EEV − RP = 2.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.errors import CaseError
from capacity.model.index_sets import build_index_sets
from capacity.studies.stochastic import (
    StochasticOptions,
    draw_scenarios,
    expected_case,
    first_stage_keys,
    program_outcomes,
    risk_measure,
    solve_progressive_hedging,
    solve_stochastic,
)

from conftest import TEST_OPTIONS, edited, rows, run, tiny, with_program

pytestmark = pytest.mark.solver


def _modules(result: capacity.studies.stochastic.StochasticResult) -> int:
    return int(result.first_stage["builds"]["modules"].sum())


def _with_success(p: float) -> capacity.Case:
    return edited(tiny("clinical_bet"), programs=lambda t: t.assign(success_probability=p))


def _committed() -> capacity.Case:
    """clinical_bet with 4 batches committed in 2031 instead of the potential demand."""
    return edited(tiny("clinical_bet"), demand=lambda t: t.iloc[0:0],
                  anchors=rows({"anchor": "ANCH", "region": "A"}),
                  offtakes=rows({"anchor": "ANCH", "program": "P1", "market": "A",
                                 "period": 2031, "committed_batches": 4}))


def test_vss_and_evpi_worked_out_by_hand() -> None:
    result = solve_stochastic(tiny("clinical_bet"), solve_options=TEST_OPTIONS)
    assert result.status == "optimal" and result.exact
    assert (result.objective, result.wait_and_see, result.eev) == pytest.approx((0, -8, 2))
    assert (result.evpi, result.vss) == pytest.approx((8, 2))
    assert _modules(result) == 0
    assert int(result.ev_builds["modules"].sum()) == 1
    by_name = result.scenarios.set_index("failed")
    assert by_name.loc["all succeed", ["probability", "wait_and_see", "expected_value_plan"]] \
        .tolist() == pytest.approx([0.5, -16, -8])
    assert by_name.loc["P1 fails (2031)", "expected_value_plan"] == pytest.approx(12)


def test_each_phase_transfer_decided_before_the_readout() -> None:
    # clinical_phase (data/tiny/README.md) with success 0.5 at its readout, commercial_from
    # 2029: failed, it has no commercial demand. Both phases' transfers are first stage,
    # so the commercial transfer to COMM (2, started just in time) is paid in either
    # outcome: success −4, failure −16 + 2: RP = 0.5·(−4) + 0.5·(−14) = −9; knowing the
    # outcome (WS) the failure skips it: −10, EVPI 1. Decided after the readout
    # (transfer_before_readout false) the plan is the wait-and-see one: −10.
    case = edited(tiny("clinical_phase"), programs=with_program(success_probability=0.5))
    ix = build_index_sets(case)
    assert first_stage_keys(case, ix)["Assign"] == [("BISPEC_1", "CLIN", "clinical"),
                                                    ("BISPEC_1", "COMM", "commercial")]
    result = solve_stochastic(case, solve_options=TEST_OPTIONS)
    assert (result.objective, result.wait_and_see, result.evpi) == pytest.approx((-9, -10, 1))
    later = edited(case, programs=with_program(transfer_before_readout=False))
    assert first_stage_keys(later, build_index_sets(later))["Assign"] == []
    assert solve_stochastic(later, solve_options=TEST_OPTIONS).objective == pytest.approx(-10)


def test_a_likelier_success_builds_for_it() -> None:
    """At success 0.8 a module is worth 0.8·20 − 12 = 4 > 0: both are built; expected
    cost 0.2·24 + 0.8·(24 − 40) = −8, and the plan is the EV plan (VSS 0)."""
    result = solve_stochastic(_with_success(0.8), solve_options=TEST_OPTIONS)
    assert _modules(result) == 2
    assert result.objective == pytest.approx(-8)
    assert result.vss == pytest.approx(0)
    assert result.cvar == pytest.approx(24)  # CVaR_0.9: the failure (p = 0.2) is the tail


def test_cvar_makes_the_plan_cautious() -> None:
    """CVaR_0.8 of the 0.8 case is the failure's cost 12n alone: λ = 1 builds nothing;
    λ = 0.5 weighs E (−4n for n ≤ 2) against CVaR (12n): still nothing."""
    case = _with_success(0.8)
    for weight in (1.0, 0.5):
        options = StochasticOptions(cvar_alpha=0.8, cvar_weight=weight, evaluate=False)
        result = solve_stochastic(case, options, TEST_OPTIONS)
        assert _modules(result) == 0 and result.objective == pytest.approx(0)


def test_commitments_hold_in_every_scenario_unless_priced() -> None:
    """4 batches committed in 2031. Hard: both modules (24) and production in success
    (0.5·4): RP 26; WS 0.5·28 = 14; the EV plan (1 module for 2 expected batches)
    cannot serve success: VSS unbounded. At 10 per unmet batch: RP = 0.5·40 = 20 (build
    nothing), WS 14, EV builds 1, EEV = 0.5·(12 + 2 + 20) + 0.5·12 = 23, VSS 3."""
    hard = solve_stochastic(_committed(), solve_options=TEST_OPTIONS)
    assert (hard.objective, hard.wait_and_see) == pytest.approx((26, 14))
    assert hard.eev is None and hard.vss is None
    assert any("VSS is unbounded" in m for m in hard.messages)

    priced = solve_stochastic(_committed(), StochasticOptions(unmet_penalty=10),
                              TEST_OPTIONS)
    assert (priced.objective, priced.wait_and_see, priced.eev) == pytest.approx((20, 14, 23))
    assert priced.vss == pytest.approx(3)
    success = priced.scenarios.set_index("failed").loc["all succeed"]
    assert success["unmet_committed"] == pytest.approx(4)


def test_phase_readouts_give_each_failure_its_probability() -> None:
    """Readouts 2030 (pass 0.8) and 2031 (pass 0.5): fail in 2030 with 0.2, in 2031 with
    0.8·0.5 = 0.4, succeed with 0.4."""
    case = edited(_with_success(1.0), readouts=rows(
        {"program": "P1", "period": 2030, "success_probability": 0.8},
        {"program": "P1", "period": 2031, "success_probability": 0.5}))
    outcomes = program_outcomes(case)["P1"]
    assert [t for t, _q in outcomes] == [2030, 2031, None]
    assert [q for _t, q in outcomes] == pytest.approx([0.2, 0.4, 0.4])
    scenarios, exact = draw_scenarios(case, 8)
    assert exact and sum(s.probability for s in scenarios) == pytest.approx(1)
    assert expected_case(case).demand["potential_batches"].tolist() == pytest.approx([1.6])


def test_site_approvals_are_first_stage() -> None:
    """data/tiny/approvals with P1 read out in 2031 (pass 0.5): a failure leaves only
    2030's 10 batches (from SU, approved: 30). Approving SB in 2030 (4, one decision for
    both scenarios): success 30 + 25.5 + 4 = 59.5, failure 30 + 4 = 34, expected 46.75;
    never: 0.5·81 + 0.5·30 = 55.5; in 2031: 0.5·72.6 + 0.5·33.6 = 53.1. RP = 46.75.
    Knowing the outcome, the failure approves nothing: WS = 0.5·59.5 + 0.5·30 = 44.75.
    The EV plan (5 batches expected in 2031 and 2032) approves in 2030 too: EEV = RP."""
    case = edited(tiny("approvals"), readouts=rows(
        {"program": "P1", "period": 2031, "success_probability": 0.5}))
    result = solve_stochastic(case, solve_options=TEST_OPTIONS)
    assert (result.objective, result.wait_and_see, result.eev) == \
        pytest.approx((46.75, 44.75, 46.75))
    decided = result.first_stage["approvals"]
    assert decided.loc[decided["status"] == "new", ["site", "decided_period"]].values.tolist() \
        == [["SB", 2030]]


def test_readouts_must_agree_with_the_overall_probability() -> None:
    with pytest.raises(CaseError) as info:
        edited(_with_success(0.3), readouts=rows(
            {"program": "P1", "period": 2031, "success_probability": 0.5}))
    problem = info.value.problems[0]
    assert (problem.row, problem.column) == (2, "success_probability")
    assert "multiply to 0.5" in problem.message


def test_many_programs_are_sampled_reproducibly() -> None:
    case = capacity.load_case()
    first, exact = draw_scenarios(case, 20, seed=3)
    again, _ = draw_scenarios(case, 20, seed=3)
    other, _ = draw_scenarios(case, 20, seed=4)
    assert not exact and first == again and first != other
    assert sum(s.probability for s in first) == pytest.approx(1)
    assert all(s.probability * 20 == pytest.approx(round(s.probability * 20)) for s in first)


def test_one_certain_scenario_is_the_deterministic_model(default_plan: capacity.Plan) -> None:
    """With every program certain to succeed, the extensive form is the deterministic
    model: same optimum as `capacity solve`."""
    case = edited(capacity.load_case(), programs=lambda t: t.assign(success_probability=1.0))
    result = solve_stochastic(case, StochasticOptions(evaluate=False), TEST_OPTIONS)
    assert len(result.scenarios) == 1
    assert result.objective == pytest.approx(default_plan.net_cost, rel=1e-6)


def test_risk_measure_by_hand() -> None:
    # worst 30 % of [10 (0.5), 20 (0.3), 40 (0.2)]: 0.2 of 40 and 0.1 of 20 → 10/0.3
    assert risk_measure([10, 20, 40], [0.5, 0.3, 0.2], 0.7, 1.0) == pytest.approx(100 / 3)
    assert risk_measure([10, 20, 40], [0.5, 0.3, 0.2], 0.7, 0.0) == pytest.approx(19)
    assert risk_measure([10, 20, 40], [0.5, 0.3, 0.2], 0.7, 0.5) == pytest.approx(
        (19 + 100 / 3) / 2)


def test_progressive_hedging_finds_the_extensive_form_plan() -> None:
    result = solve_progressive_hedging(tiny("clinical_bet"), solve_options=TEST_OPTIONS)
    assert result is not None  # rank 0 (the only rank here) gets the result
    assert result.status == "feasible"
    assert (result.objective, result.bound) == pytest.approx((0, -8))  # RP, and WS bound
    assert result.first_stage["builds"].empty


def test_progressive_hedging_under_mpiexec(tmp_path: Path) -> None:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) \
        or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("no mpiexec: install the mpi extra (pip install -e '.[mpi]')")
    done = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, "-m", "capacity", "stochastic",
         str(capacity.tiny_case_path("clinical_bet")), "--decompose", "ph", "--json"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # one JSON object: rank 1 stays silent
    assert summary["objective"] == pytest.approx(0) and summary["bound"] == pytest.approx(-8)


def test_cli_reports_and_saves(tmp_path: Path) -> None:
    done = run("stochastic", str(capacity.tiny_case_path("clinical_bet")), "--json",
               "--out", str(tmp_path / "plan"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["evpi"], summary["vss"]) == pytest.approx((8, 2))
    saved = pd.read_csv(tmp_path / "plan" / "scenarios.csv")
    assert saved["probability"].sum() == pytest.approx(1)
    assert (tmp_path / "plan" / "scenarios" / "s1" / "shipments.csv").exists()
    text = run("stochastic", str(capacity.tiny_case_path("clinical_bet")))
    assert "VSS = EEV − RP = 2.0 MUSD" in text.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("--decompose", "benders"), "--decompose must be ef or ph"),
    (("--scenarios", "0"), "--scenarios"),
    (("--cvar-alpha", "1.5", "--cvar-weight", "1"), "--cvar-alpha"),
    (("--decompose", "ph", "--cvar-weight", "0.5"), "expected cost"),
])
def test_cli_bad_options_exit_2(args: tuple[str, ...], says: str) -> None:
    done = run("stochastic", str(capacity.tiny_case_path("clinical_bet")), *args)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_continuity_binds_each_scenarios_own_demand() -> None:
    # launch_dropped with continuity 0.8 and TIL passing a readout in 2031 with
    # probability 0.5 (tests/model/test_families.py works both plans out): if TIL fails
    # it has no 2031 demand to keep, CART fills SA (−800); if it succeeds it keeps 136 of
    # its 170 (−664). Launches are second stage: RP = WS = ½(−800) + ½(−664) = −732.
    case = edited(tiny("launch_dropped"), settings=rows({"continuity_share": 0.8}),
                  readouts=rows({"program": "TIL", "period": 2031, "success_probability": 0.5}))
    result = solve_stochastic(case, solve_options=TEST_OPTIONS)
    assert result.status == "optimal"
    assert (result.objective, result.wait_and_see) == pytest.approx((-732, -732))
    costs = result.scenarios.set_index("failed")["cost"]
    assert costs.to_dict() == pytest.approx({"TIL fails (2031)": -800, "all succeed": -664})
