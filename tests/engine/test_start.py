"""The constructive start (`capacity.engine.start`) and how a solve uses it
(`capacity.engine.highs`).

Worked by hand on the tiny cases (data/tiny/README.md): the greedy's choice, and the
completed plan's cost, which HiGHS must then accept as its first incumbent.
"""

from __future__ import annotations

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

import capacity
from capacity.case.generate import generate_case
from capacity.engine.highs import compile_to_highs, complete_start, pass_linear
from capacity.engine.solve import unplaced_note
from capacity.engine.start import START_PASSES, _greedy, constructive_start, start_columns
from capacity.model import build_model

from conftest import TEST_OPTIONS, assert_checked, edited, offtakes, rows, tiny

pytestmark = pytest.mark.solver


def completed(case: capacity.Case) -> float | None:
    """The cost of the constructive start once HiGHS completes it (None: not completed)."""
    built = build_model(case)
    values = start_columns(built.linear, constructive_start(built.index_sets))
    done = complete_start(pass_linear(built.linear), values, time_limit_s=60)
    return None if done is None else done[1]


def test_two_sites_start_is_the_cheapest_site() -> None:
    # SA makes a batch for 1, SB for 2 + 0.5 lane: 5 committed batches a period go to SA,
    # 2 × 5 × 1 + transfer 1 = 11, the optimum.
    built = build_model(tiny("two_sites"))
    start = constructive_start(built.index_sets)
    assert {a for a, x in start.assign.items() if x} == {("P1", "SA", "commercial")}
    assert sum(start.build.values()) == 0 and not start.unplaced
    assert completed(tiny("two_sites")) == pytest.approx(11.0)


def test_tolls_steer_the_start_by_hand() -> None:
    # two_sites: SA makes a batch for 1, SB for 2.5 (2 + 0.5 lane). A toll of 2 a batch on
    # SA's shipments (its suite's capacity priced at 2 a slot, as a Lagrangian bound's
    # prices would) makes SA 3: the greedy goes to SB, whose plan then costs
    # 2 × 5 × 2.5 + transfer 1 = 26 at the true costs. At 1.4 SA (2.4) is still cheaper;
    # zero tolls change nothing.
    built = build_model(tiny("two_sites"))
    ix = built.index_sets
    at_sa = np.array([key[1] == "SA" for key in ix.ship], dtype=float)

    def sites(tolls: np.ndarray) -> set[str]:
        return {a[1] for a, x in constructive_start(ix, tolls).assign.items() if x}

    assert sites(0.0 * at_sa) == sites(1.4 * at_sa) == {"SA"}
    assert sites(2.0 * at_sa) == {"SB"}
    steered = start_columns(built.linear, constructive_start(ix, 2.0 * at_sa))
    done = complete_start(pass_linear(built.linear), steered, time_limit_s=60)
    assert done is not None and done[1] == pytest.approx(26.0)


def test_start_waits_for_the_transfer() -> None:
    # Transferring P1 to SA takes a period, so SA cannot serve 2030's commitment: the
    # greedy takes SB (one site allowed), 2 × 5 × 2.5 + transfer 1 = 26, the optimum. Were
    # it to take the cheaper SA, the start could not be completed.
    case = edited(tiny("two_sites"), tech_transfers=rows(
        {"program": "P1", "site": "SA", "tech_transfer_periods": 1}))
    start = constructive_start(build_model(case).index_sets)
    assert {a for a, x in start.assign.items() if x} == {("P1", "SB", "commercial")}
    assert completed(case) == pytest.approx(26.0)


def test_start_counts_failed_batches() -> None:
    # two_sites with 10 batches a period and 80% of SA's batches succeeding: 10 delivered
    # need 12.5 of SA's 10 slots, so the one site P1 may use is SB: 2 × 10 × 2.5 + 1 = 51,
    # the optimum (at SA's slots per batch of 1 the greedy would overfill SA).
    case = edited(tiny("two_sites"), offtakes=offtakes(10),
                  yields=pd.DataFrame([{"program": "P1", "site": "SA", "success_rate": 0.8}]))
    start = constructive_start(build_model(case).index_sets)
    assert {a[1] for a, x in start.assign.items() if x} == {"SB"}
    assert completed(case) == pytest.approx(51.0)


def test_candidate_site_start_opens_and_builds() -> None:
    # 10 batches a period: SA alone costs 2 × 10 × 1 + 1 = 21; SC opens (4), one module of
    # 10 batches (capex 2) at 0.5 a batch: 4 + 2 + 2 × 10 × 0.5 + 1 = 17, the optimum.
    built = build_model(tiny("candidate_site"))
    start = constructive_start(built.index_sets)
    assert {a[1] for a, x in start.assign.items() if x} == {"SC"}
    assert sum(start.build.values()) == 1 and sum(start.open.values()) == 1
    assert completed(tiny("candidate_site")) == pytest.approx(17.0)


def test_domestic_share_start_keeps_the_rule() -> None:
    # The rule wants 60% of A's 10 batches made in A: P1 goes to SA (3/batch) with one
    # site, all 10 from SA: 2 × 10 × 3 + 1 = 61 (the optimum, 50, splits over two sites).
    assert completed(tiny("domestic_share")) == pytest.approx(61.0)


def test_default_case_start_keeps_every_rule() -> None:
    # JP's 30% domestic share and the EU operator cap both bind on the default case; a
    # start that broke either would not complete. It is a start, not the optimum.
    cost = completed(capacity.load_case())
    assert cost is not None and cost > -711.6


def test_generated_case_start_is_a_plan_and_solve_improves_on_it() -> None:
    # Whatever the time limit, the plan returned is at least as good as the start.
    case = generate_case("S", 1)
    start_cost = completed(case)
    assert start_cost is not None
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"time_limit_s": 5.0}))
    assert plan.has_solution and plan.net_cost <= start_cost + 1e-6


def test_start_broken_by_a_user_constraint_is_dropped() -> None:
    # Forcing P1 onto SB makes the greedy's SA start infeasible: HiGHS starts on its own
    # and finds SB's cost, 2 × 5 × 2.5 + 1 = 26.
    built = build_model(tiny("two_sites"))
    m = built.pyomo
    m.use_sb = pyo.Constraint(expr=m.Assign["P1", "SB", "commercial"] == 1)
    compiled = compile_to_highs(m)
    values = compiled.map_columns(start_columns(built.linear, constructive_start(
        built.index_sets)), built.pyomo_columns())
    assert complete_start(compiled, values, time_limit_s=60) is None
    plan = capacity.solve(built, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(26.0)


def test_commitments_no_single_site_holds_are_left_to_highs() -> None:
    # 15 committed batches a period, 10 slots at each site: the greedy (one site a
    # program) cannot place P1, so no start is tried; HiGHS splits it over two sites:
    # 2 × (10 × 1 + 5 × 2.5) + 2 transfers = 47.
    case = edited(tiny("two_sites"),
                  offtakes=lambda df: df.assign(committed_batches=15),
                  programs=lambda df: df.assign(max_sites=2))
    assert constructive_start(build_model(case).index_sets).unplaced == ["P1"]
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(47.0)


def test_start_decides_the_approvals_its_site_needs() -> None:
    # data/tiny/approvals with commitments in 2031 and 2032 only (one site each program in
    # the greedy): SU costs 10 × 3 × (0.9 + 0.8) = 51; SB 10 × 1.5 × 1.7 = 25.5 plus its
    # US approval, decided in 2030 to hold by 2031 (4): 29.5, the optimum.
    case = edited(tiny("approvals"), offtakes=lambda df: df[df["period"] > 2030])
    start = constructive_start(build_model(case).index_sets)
    assert start.approve == {("SB", "US", "", 2030): 1.0, ("SB", "US", "", 2031): 0.0}
    assert completed(case) == pytest.approx(29.5)
    # at an inspection of 30 SB (55.5) loses to SU (51): nothing approved
    dear = edited(case, approvals=lambda df: df.assign(cost_musd=[0.0, 30.0]))
    assert sum(constructive_start(build_model(dear).index_sets).approve.values()) == 0
    assert completed(dear) == pytest.approx(51.0)


def test_start_opens_a_candidate_in_time_for_its_inspection() -> None:
    # SB a candidate (opening lead 1, free; one free module of 10) and ANCH committing in
    # 2032 only: SB's US approval must be decided in 2031 (4 × 0.9 = 3.6), once SB can
    # produce, so SB opens in 2030: 10 × 1.5 × 0.8 + 3.6 = 15.6 (SU: 24), the optimum.
    case = edited(tiny("approvals"), offtakes=lambda df: df[df["period"] == 2032],
                  sites=lambda df: df.assign(status=["existing", "candidate"],
                                             lead_time_periods=[0, 1]),
                  suites=lambda df: df.assign(existing_batches_per_period=[10, 0],
                                              module_batches_per_period=[0, 10],
                                              max_modules=[0, 1], lead_time_periods=0))
    start = constructive_start(build_model(case).index_sets)
    assert {k for k, x in start.open.items() if x} == {("SB", 2030)}
    assert {k for k, x in start.approve.items() if x} == {("SB", "US", "", 2031)}
    assert completed(case) == pytest.approx(15.6)


@pytest.mark.parametrize("name", ["two_sites", "candidate_site", "domestic_share",
                                  "pooled_reservation", "bank_loop", "pooling", "approvals"])
def test_same_optimum_with_and_without_start(name: str) -> None:
    case = tiny(name)
    with_start = capacity.solve(case, TEST_OPTIONS)
    without = capacity.solve(case, TEST_OPTIONS.model_copy(update={"mip_start": False}))
    assert with_start.status == without.status == "optimal"
    assert with_start.objective == pytest.approx(without.objective)
    assert "start" in with_start.seconds and "start" not in without.seconds
    assert_checked(case, with_start)


def test_reduction_of_a_start_by_hand() -> None:
    # min A_a + A_b + S_a + 2·S_b, S_a ≤ 10·A_a, S_b ≤ 10·A_b, S_a + S_b = 5; A binary,
    # S ≥ 0 continuous. Columns 0-3: A_a, A_b, S_a, S_b.
    # - A_a = 1, A_b = 0 fixed: the row S_b − 10·A_b ≤ 0 forces S_b = 0; the demand row is
    #   then left with S_a alone and fixes it at 5 (and S_a ≤ 10 becomes its bound): no
    #   column is left, the plan costs 1 + 5 = 6.
    # - A_a = 1 fixed, A_b free: S_a ≤ 10 becomes S_a's bound (its row goes); the rows
    #   S_b − 10·A_b ≤ 0 and S_a + S_b = 5 keep two free columns each and stay.
    # - A_a = 1, A_b = 0 fixed and S_a given the bound 4: the demand row wants S_a = 5,
    #   beyond it: no plan. Both A at 0: the demand row, left without a free column,
    #   fails: no plan.
    from capacity.engine.highs import reduce_fixed
    from capacity.model.linear import LinearModel

    lm = LinearModel("hand")
    lm.add_set("I", ["a", "b"])
    lm.add_set("ONE", ["d"])
    lm.add_var("A", "I", "binary", upper=1.0)
    lm.add_var("S", "I", "continuous")
    lm.add_rows("link", "I", "<=", lambda i: ([("S", [i], 1.0), ("A", [i], -10.0)], 0.0))
    lm.add_rows("demand", "ONE", "==", lambda _d: ([("S", ["a", "b"], 1.0)], 5.0))
    lm.set_objective("total", [("A", ["a", "b"], 1.0), ("S", ["a", "b"], [1.0, 2.0])])
    compiled = pass_linear(lm)
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    lower[:2] = upper[:2] = [1.0, 0.0]
    reduced = reduce_fixed(compiled, lower, upper)
    assert reduced is not None
    sub, free, x = reduced
    assert free.tolist() == [] and x.tolist() == [1.0, 0.0, 5.0, 0.0]
    assert len(sub.row_lower) == 0 and sub.offset == pytest.approx(6.0)
    done = complete_start(compiled, [(0, 1.0), (1, 0.0)], time_limit_s=60)
    assert done is not None
    assert done[0].tolist() == [1.0, 0.0, 5.0, 0.0] and done[1] == pytest.approx(6.0)

    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    lower[0] = upper[0] = 1.0
    reduced = reduce_fixed(compiled, lower, upper)
    assert reduced is not None
    sub, free, x = reduced
    assert free.tolist() == [1, 2, 3]
    assert sub.col_upper.tolist() == [1.0, 10.0, np.inf]
    assert sub.row_lower.tolist() == [-np.inf, 5.0] and sub.row_upper.tolist() == [0.0, 5.0]

    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    lower[:2] = upper[:2] = [1.0, 0.0]
    upper[2] = 4.0
    assert reduce_fixed(compiled, lower, upper) is None
    lower[:2] = upper[:2] = [0.0, 0.0]
    assert reduce_fixed(compiled, lower, upper) is None

    # Only S_b free (A_a = A_b = 1, S_a = 5): the rows holding it (4 of the 6 entries)
    # are reduced alone, link a is only checked. The demand row fixes S_b at 0: no column
    # is left, the plan costs 1 + 1 + 5 = 7. With A_a = 0, link a (5 − 0 ≤ 0), which
    # holds no free column, fails: no plan (the rows holding S_b still hold).
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    lower[:3] = upper[:3] = [1.0, 1.0, 5.0]
    reduced = reduce_fixed(compiled, lower, upper)
    assert reduced is not None
    sub, free, x = reduced
    assert free.tolist() == [] and x.tolist() == [1.0, 1.0, 5.0, 0.0]
    assert sub.offset == pytest.approx(7.0)
    lower[0] = upper[0] = 0.0
    assert reduce_fixed(compiled, lower, upper) is None


def test_completed_start_stands_when_highs_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection: HiGHS completes the start (17, test above), then its run on the
    # whole model fails (as tier XL's does, out of memory): the completed start is the plan.
    real_run = highspy.Highs.run
    runs: list[object] = []

    def run_then_fail(self: highspy.Highs) -> highspy.HighsStatus:
        runs.append(self)
        return real_run(self) if len(runs) == 1 else highspy.HighsStatus.kError

    monkeypatch.setattr(highspy.Highs, "run", run_then_fail)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert len(runs) == 2 and plan.status == "time_limit_feasible"
    assert plan.objective == pytest.approx(17.0)
    assert "the completed constructive start is returned" in plan.messages[0]
    assert_checked(case, plan)


def test_branch_and_bound_too_large_for_memory_is_not_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The whole model's estimated need (700 bytes a nonzero) against the memory free,
    # here made 1 byte: HiGHS's branch and bound is skipped (at tier XL it would need
    # ~46 GiB) and the completed start (17) is the plan, checked independently.
    import importlib

    monkeypatch.setattr(importlib.import_module("capacity.engine.strategy"), "available_memory",
                        lambda: 1)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.messages[0].startswith("HiGHS's branch and bound was not started: the whole "
                                       "model would need about 0 GiB (700 bytes a nonzero)")
    assert plan.bound is None
    assert_checked(case, plan)


def test_start_counts_changeovers() -> None:
    # changeovers (data/tiny/changeovers): P1 (6 a period) first takes SA, 7 of its 10
    # slots with its changeover; P2 (4 + 1) no longer fits there, and SA's module (16)
    # costs more than SB's dearer batches (4 × 1.5 a period): P2 goes to SB. The start
    # runs those four campaigns and completes to the optimum, 34. Counting batches
    # alone, P2 would go to SA too, a start no plan can complete.
    built = build_model(tiny("changeovers"))
    start = constructive_start(built.index_sets)
    assert {a[:2] for a, x in start.assign.items() if x} == {("P1", "SA"), ("P2", "SB")}
    assert sorted(c for c, x in start.produce.items() if x) == [
        ("P1", "SA", 2030), ("P1", "SA", 2031), ("P2", "SB", 2030), ("P2", "SB", 2031)]
    assert completed(tiny("changeovers")) == pytest.approx(34.0)
    # the module at capex 4 is cheaper than SB: both at SA, the module in 2030, 26
    cheap = edited(tiny("changeovers"), suites=lambda df: df.assign(module_capex_musd=[4.0, 0]))
    assert completed(cheap) == pytest.approx(26.0)


def test_a_program_left_unplaced_goes_first_in_the_next_pass() -> None:
    # two_sites with two committed programs in market A, 2030 and 2031: P1 owes 8
    # batches a period and may go to SA or SB; P2 owes 5 and is qualified at SA alone
    # (10 a period). The first pass places P1 first (more commitments) at SA, cheaper
    # (1 against 2 + 0.5 transport), and leaves P2 no room. The second places P2 first
    # at SA, then P1 at SB: the optimum, 2·5·1 + 1 + 2·8·2.5 + 1 = 52.
    def program(name: str, sites: str) -> dict[str, object]:
        return {"program": name, "startup": name, "modality": "antibody",
                "commercial_from": 2030, "max_sites": 1, "tech_transfer_musd": 1.0,
                "qualified_sites": sites}

    case = edited(tiny("two_sites"),
                  programs=rows(program("P1", "SA;SB"), program("P2", "SA")),
                  offtakes=rows(*({"anchor": "ANCH", "program": p, "market": "A",
                                   "period": t, "committed_batches": b}
                                  for p, b in (("P1", 8), ("P2", 5)) for t in (2030, 2031))))
    ix = build_model(case).index_sets
    assert _greedy(ix, None, []).unplaced == ["P2"]
    start = constructive_start(ix)
    assert start.unplaced == []
    assert {k for k, v in start.assign.items() if v} == {("P1", "SB", "commercial"),
                                                         ("P2", "SA", "commercial")}
    assert completed(case) == pytest.approx(52.0)


def test_programs_left_unplaced_are_named_only_where_the_plan_is_not_optimal() -> None:
    # two_sites with P1 owing 15 batches a period to A and allowed 2 sites: no single
    # site holds 15 (10 each), so no greedy pass places it, but HiGHS splits it, 10 at SA
    # (1 MUSD) and 5 at SB (2.5), with both transfers: 2·(10 + 12.5) + 2 = 47. The
    # greedy's failure is no news on an optimal plan, nor on an infeasible case (25 a
    # period), whose reasons say it all; a plan cut short by the time limit, or none
    # found, would carry the note (`unplaced_note`).
    def owing(batches: float) -> capacity.Case:
        return edited(tiny("two_sites"), offtakes=offtakes(batches),
                      programs=lambda df: df.assign(max_sites=2))

    plan = capacity.solve(owing(15), TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(47.0)
    assert constructive_start(build_model(owing(15)).index_sets).unplaced == ["P1"]
    assert not any("greedy start" in m for m in plan.messages)
    note = unplaced_note(["P1"])
    assert note.startswith("the engine's greedy start could not place P1 (no single site")
    assert f"in up to {START_PASSES} passes), so HiGHS searched" in note
    infeasible = capacity.solve(owing(25), TEST_OPTIONS)
    assert infeasible.status == "infeasible"
    assert not any("greedy start" in m for m in infeasible.messages)
    many = unplaced_note([f"P{i}" for i in range(7)])
    assert many.startswith("the engine's greedy start could not place P0, P1, P2, P3, P4 "
                           "and 2 more (")
