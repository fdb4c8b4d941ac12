"""The LP relaxation's proven bound (`capacity.engine.lp_bound`), the dive from its solution
(`capacity.engine.dive`) and the neighbourhood search (`capacity.engine.search`), worked by hand on
models of a few columns, then on the tiny cases through `capacity.solve`."""

from __future__ import annotations

import dataclasses
import importlib
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity import Plan
from capacity.engine import large as large_module
from capacity.engine import strategy as strategy_module
from capacity.engine.companion import Companion
from capacity.engine.dive import dive
from capacity.engine.highs import CompiledModel, complete_start, pass_arrays, pass_linear
from capacity.engine.lp_bound import Relaxation, dual_bound, implied_bounds, solve_relaxation
from capacity.engine.search import STALL, Layout, Search, draw_program, improve, mip_plan, polish
from capacity.engine.start import Start, rounded_start, start_columns
from capacity.model import build_model
from capacity.model.linear import LinearModel

from conftest import TEST_OPTIONS, assert_checked, tiny

pytestmark = pytest.mark.solver


def two_columns() -> CompiledModel:
    """min −X_a − X_b subject to X_a + X_b ≤ 4; Z − X_a ≤ 1 (Z costs 0); X, Z ≥ 0 with no
    upper bounds given. LP optimum −4."""
    lm = LinearModel("hand")
    lm.add_set("I", ["a", "b"])
    lm.add_set("ONE", ["r"])
    lm.add_var("X", "I", "continuous")
    lm.add_var("Z", "ONE", "continuous")
    lm.add_rows("total", "ONE", "<=", lambda _r: ([("X", ["a", "b"], 1.0)], 4.0))
    lm.add_rows("follow", "ONE", "<=", lambda _r: ([("Z", ["r"], 1.0), ("X", ["a"], -1.0)],
                                                   1.0))
    lm.set_objective("cost", [("X", ["a", "b"], -1.0)])
    return pass_linear(lm)


def test_implied_bounds_by_hand() -> None:
    # Pass 1: the row X_a + X_b ≤ 4 bounds each X by 4 (the other is at least 0); the row
    # Z − X_a ≤ 1 cannot bound Z yet (X_a unbounded). Pass 2: Z ≤ 1 + 4 = 5. Lower
    # bounds stay 0; each implied bound is widened by a relative 1e-9.
    lower, upper = implied_bounds(two_columns())
    assert lower.tolist() == [0.0, 0.0, 0.0]
    assert upper == pytest.approx([4.0, 4.0, 5.0], rel=1e-8)


def test_dual_bound_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # With y = (y_total, 0): reduced costs d_X = −1 − y_total, d_Z = 0, and the Lagrangian
    # is 4·y_total + 4·min(0, d_Xa) + 4·min(0, d_Xb) (implied bounds X ≤ 4).
    compiled = two_columns()
    bounds = implied_bounds(compiled)
    # the optimal dual y = −1: d = 0, bound 4·(−1) = −4, the LP optimum
    assert dual_bound(compiled, np.array([-1.0, 0.0]), bounds) == pytest.approx(-4.0)
    # Without repairs: a poor dual y = −0.5 gives −2 + 4·(−0.5) + 4·(−0.5) = −6, still
    # below the optimum; a wrong-signed dual (a ≤ row's must be ≤ 0) counts as 0:
    # 4·(−1) + 4·(−1) = −8; without the implied bounds, X's negative reduced cost meets
    # X ≤ ∞: no bound.
    lp_bound = importlib.import_module("capacity.engine.lp_bound")
    monkeypatch.setattr(lp_bound, "REPAIRS", 0)
    assert dual_bound(compiled, np.array([-0.5, 0.0]), bounds) == pytest.approx(-6.0)
    assert dual_bound(compiled, np.array([1.0, 0.0]), bounds) == pytest.approx(-8.0)
    assert dual_bound(compiled, np.array([-0.5, 0.0]),
                      (compiled.col_lower, compiled.col_upper)) == -np.inf
    # With repairs: X_a and X_b (no upper bound of their own) have d = −0.5 and are
    # limited from above only by `total` (1·X ≤ 4; `follow` bounds X_a from below), so
    # y_total moves by d/1 = −0.5 to −1: d = 0 and the bound is the optimum −4, also
    # from the wrong-signed dual (0 after the sign rule, d = −1, moved by −1) and
    # without the implied bounds (d = 0 meets no bound).
    monkeypatch.setattr(lp_bound, "REPAIRS", 5)
    for dual, column_bounds in (([-0.5, 0.0], bounds), ([1.0, 0.0], bounds),
                                ([-0.5, 0.0], (compiled.col_lower, compiled.col_upper))):
        assert dual_bound(compiled, np.array(dual), column_bounds) == pytest.approx(-4.0)


def test_ascent_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # No repairs, so the ascent alone moves the dual. Along y_total = z (≤ 0: a ≤ row),
    # with y_follow = 0 and the implied bounds X ≤ 4, d_X = −1 − z for both X and
    # L(z) = 4·z + 2·4·min(0, −1 − z): 4·z up to z = −1, −4·z − 8 after, so the row's
    # optimum is z = −1 and the bound the LP optimum −4, from the poor dual −0.5 (−6
    # without the ascent) and from the wrong-signed 1 (counted as 0: −8). Along y_follow
    # then (also ≤ 0) the bound falls both ways: it stays 0.
    lp_bound = importlib.import_module("capacity.engine.lp_bound")
    monkeypatch.setattr(lp_bound, "REPAIRS", 0)
    compiled = two_columns()
    bounds = implied_bounds(compiled)
    for dual, without in (([-0.5, 0.0], -6.0), ([1.0, 0.0], -8.0)):
        assert dual_bound(compiled, np.array(dual), bounds) == pytest.approx(without)
        assert dual_bound(compiled, np.array(dual), bounds, ascent_s=10) == pytest.approx(-4.0)
    # Without the implied bounds X's upper bound is +∞: d_X < 0 would cost −∞, a wall
    # z ≤ −1 (where d_X turns 0), while the slope, 4 from the row, never turns: z = −1.
    assert dual_bound(compiled, np.array([-0.5, 0.0]),
                      (compiled.col_lower, compiled.col_upper), ascent_s=10) \
        == pytest.approx(-4.0)


def test_ascent_on_a_greater_equal_row_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # min X_1 + 0.5·X_2 subject to X_1 + X_2 ≥ 2, 0 ≤ X ≤ 1: optimum 1.5 (both at 1).
    # Along the row's dual z ≥ 0: L(z) = 2·z + min(0, 1 − z) + min(0, 0.5 − z), slope
    # 2 (the row's rl) up to 0.5, 1 up to 1, then 0: the top is z ≥ 1, whose finite end
    # z = 1 is taken, and L = 2 − 0 − 0.5 = 1.5. From y = 0, bound 0.
    lm = LinearModel("hand")
    lm.add_set("I", ["1", "2"])
    lm.add_set("ONE", ["r"])
    lm.add_var("X", "I", "continuous", upper=[1.0, 1.0])
    lm.add_rows("cover", "ONE", ">=", lambda _r: ([("X", ["1", "2"], 1.0)], 2.0))
    lm.set_objective("cost", [("X", ["1", "2"], [1.0, 0.5])])
    compiled = pass_linear(lm)
    lp_bound = importlib.import_module("capacity.engine.lp_bound")
    monkeypatch.setattr(lp_bound, "REPAIRS", 0)
    bounds = implied_bounds(compiled)
    assert dual_bound(compiled, np.zeros(1), bounds) == pytest.approx(0.0)
    assert dual_bound(compiled, np.zeros(1), bounds, ascent_s=10) == pytest.approx(1.5)


@pytest.mark.parametrize("name", ["candidate_site", "two_sites", "domestic_share"])
def test_ascent_raises_a_poor_dual_and_stays_below_the_lp(name: str) -> None:
    # The LP's optimal dual (HiGHS's simplex) with seeded noise: the ascent's bound is at
    # least the noisy dual's, above it here, and never above the LP optimum, for the
    # ascent only ever tries sign-valid duals.
    compiled = pass_linear(build_model(tiny(name)).linear)
    bounds = implied_bounds(compiled)
    highs = compiled.highs
    highs.setOptionValue("solve_relaxation", True)
    highs.run()
    lp = highs.getInfo().objective_function_value
    optimal = np.asarray(highs.getSolution().row_dual, dtype=float)
    assert dual_bound(compiled, optimal, bounds) == pytest.approx(lp, rel=1e-6, abs=1e-6)
    rng = np.random.default_rng(0)
    noisy = optimal + rng.normal(0.0, 0.5 * max(1.0, float(np.abs(optimal).max())),
                                 len(optimal))
    poor = dual_bound(compiled, noisy, bounds)
    raised = dual_bound(compiled, noisy, bounds, ascent_s=30)
    assert poor < raised <= lp + 1e-6 * max(1.0, abs(lp))


def one_demand(cap_a: bool) -> CompiledModel:
    """Columns (Y_a, Y_b, X_a, X_b): open site a or b (10 each) and ship one batch from
    it (1 from a, 2 from b), each site up to 2 batches once open:
    min 10·Y_a + 10·Y_b + X_a + 2·X_b, X_a + X_b = 1, X_i − 2·Y_i ≤ 0, Y binary; with
    ``cap_a`` also Y_a ≤ 0.5, which an integer Y_a meets only at 0."""
    lm = LinearModel("hand")
    lm.add_set("I", ["a", "b"])
    lm.add_set("ONE", ["d"])
    lm.add_var("Y", "I", "binary", upper=1.0)
    lm.add_var("X", "I", "continuous")
    lm.add_rows("demand", "ONE", "==", lambda _d: ([("X", ["a", "b"], 1.0)], 1.0))
    lm.add_rows("open", "I", "<=", lambda i: ([("X", [i], 1.0), ("Y", [i], -2.0)], 0.0))
    if cap_a:
        lm.add_rows("cap_a", "ONE", "<=", lambda _d: ([("Y", ["a"], 1.0)], 0.5))
    lm.set_objective("cost", [("Y", ["a", "b"], 10.0), ("X", ["a", "b"], [1.0, 2.0])])
    return pass_linear(lm)


def test_dive_rounds_the_lp_solution_by_hand() -> None:
    # LP optimum: Y_a = 0.5, X_a = 1, cost 6. The dive fixes Y_b at 0 (whole), rounds
    # Y_a = 0.5 up to 1 and solves the LP left: X_a = 1, cost 10 + 1 = 11 (the optimum).
    compiled = one_demand(cap_a=False)
    done = dive(compiled, np.array([0.5, 0.0, 1.0, 0.0]), time_limit_s=60)
    assert done is not None
    assert done[0].tolist() == [1.0, 0.0, 1.0, 0.0] and done[1] == pytest.approx(11.0)
    # told to stop (the companion, once HiGHS's run has ended), it gives up before its LP
    stopped = threading.Event()
    stopped.set()
    assert dive(one_demand(cap_a=False), np.array([0.5, 0.0, 1.0, 0.0]), time_limit_s=60,
                stop=stopped) is None


@pytest.mark.parametrize("own", [False, True])
@pytest.mark.parametrize("plan", [None, [0.0, 1.0, 0.0, 1.0]])
def test_dive_tries_a_single_column_the_other_way_by_hand(plan: list[float] | None,
                                                         own: bool) -> None:
    # With Y_a ≤ 0.5 the same LP solution (cost 6) rounds Y_a up to 1, which the row
    # breaks; rounded down, with Y_b fixed at its LP value 0, no site is open. So Y_b is
    # left free (without a plan; with the plan (Y_b = 1), because the plan disagrees with
    # the LP there) and Y_a is tried both ways again: Y_a = 0 forces X_a = 0, so X_b = 1
    # and the LP opens b by half (Y_b = 0.5, cost 5 + 2 = 7); the next round opens b:
    # 10 + 2 = 12. The same where the dive may fix the model's columns in place (``own``):
    # each failed rounding's bounds are then restored before the next is tried.
    compiled = one_demand(cap_a=True)
    done = dive(compiled, np.array([0.5, 0.0, 1.0, 0.0]), time_limit_s=60,
                plan=None if plan is None else np.array(plan), own=own)
    assert done is not None
    assert done[0].tolist() == [0.0, 1.0, 0.0, 1.0] and done[1] == pytest.approx(12.0)


@pytest.mark.parametrize("name", ["candidate_site", "two_sites", "domestic_share"])
def test_relaxation_bound_is_below_the_optimum_and_at_the_lp(name: str) -> None:
    # The bound from PDLP's dual is proven for any dual, so it may not exceed the MIP's
    # optimum; on these small cases PDLP converges, and the bound is the LP optimum
    # (HiGHS's simplex on the same relaxation) to PDLP's tolerance.
    case = tiny(name)
    compiled = pass_linear(build_model(case).linear)
    relaxed = solve_relaxation(compiled, time_limit_s=60)
    assert relaxed is not None and relaxed.converged
    optimum = capacity.solve(case, TEST_OPTIONS).objective
    assert optimum is not None and relaxed.bound <= optimum + 1e-6
    highs = compiled.highs
    highs.setOptionValue("solve_relaxation", True)
    highs.run()
    lp = highs.getInfo().objective_function_value
    assert relaxed.bound <= lp + 1e-6
    assert relaxed.bound == pytest.approx(lp, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize(("nonzeros", "integers", "large"), [
    (684_971, 12_405, True),  # uniform tier M: large by its nonzeros
    (481_483, 13_714, True),  # realistic tier N: by nonzeros and integer columns
    (400_600, 200, False),  # OR-Library capb-5000: few integers, branch and bound
    (30_239, 896, False),  # the default case
    (249_999, 50_000, False),  # too small however many integers
    (250_000, 5_000, True),  # both thresholds met exactly
    (499_999, 4_999, False),  # just under both
])
def test_which_models_are_large_by_hand(nonzeros: int, integers: int, large: bool) -> None:
    assert strategy_module.is_large(nonzeros, integers) is large


def test_large_model_path_on_a_tiny_case(monkeypatch: pytest.MonkeyPatch) -> None:
    # The path of large models (relaxation by PDLP, dive, then HiGHS),
    # forced onto a tiny case: the same optimum (17) as the plain path, checked.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert_checked(case, plan)


def test_relaxation_bound_stands_in_for_branch_and_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Branch and bound too large for memory (patched to need 10¹⁵ bytes a nonzero), on
    # the large model path: the plan comes with the relaxation's proven bound and its gap.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "MIP_BYTES_PER_NONZERO", 10**15)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.gap is not None and "(no bound)" not in plan.messages[0]
    assert_checked(case, plan)


def out_of_memory(*_args: object, **_kwargs: object) -> None:
    """Stands in for a step of the solve whose HiGHS copy does not fit in memory."""
    raise MemoryError("std::bad_alloc")


def solved_with_failing(monkeypatch: pytest.MonkeyPatch, step: str) -> Plan:
    """candidate_site on the large-model path (forced), with `capacity.solve`'s ``step``
    failing for lack of memory; the plan is checked."""
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(large_module, step, out_of_memory)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert_checked(case, plan)
    return plan


def test_failed_relaxation_leaves_the_solve_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection: PDLP's copy of the model does not fit in memory. The solve goes
    # on with the completed start and HiGHS, to the same optimum, and says what it skipped.
    plan = solved_with_failing(monkeypatch, "solve_relaxation")
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert plan.messages[0] == "the LP relaxation was skipped (MemoryError: std::bad_alloc)"


def test_relaxation_too_large_for_memory_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Free memory patched to 1 byte: neither PDLP's copy (150 bytes a nonzero) nor branch
    # and bound is started; the completed start (17) is the plan, without a bound.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "available_memory", lambda: 1)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.bound is None and plan.messages[0].endswith("(no bound)")
    assert plan.messages[1] == ("the LP relaxation was skipped: PDLP would need about 0 GiB "
                                "(150 bytes a nonzero), 0 GiB are free")
    assert_checked(case, plan)


def test_relaxation_bound_can_end_the_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    # Asked for a loose gap (90%), the completed start (17) is already that close to the
    # relaxation's bound (the LP optimum, below 17): the plan is optimal within the gap
    # and HiGHS's branch and bound is not run.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"mip_rel_gap": 0.9}))
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.messages[0] == ("the plan is within the 0.9 gap of the LP relaxation's bound "
                                "(PDLP); HiGHS's branch and bound was not needed")
    assert_checked(case, plan)


def plan_at_sb(lm: LinearModel, compiled: CompiledModel) -> tuple[np.ndarray, float]:
    """two_sites's plan with P1 at SB, completed (1 + 10·2.5 = 26, see below)."""
    assign = lm.variables["Assign"]
    plan = complete_start(compiled, [(assign.start + i, float(key == ("P1", "SB", "commercial")))
                                     for i, key in enumerate(assign.keys)], 60)
    assert plan is not None
    return plan


def test_improve_moves_a_program_to_its_cheaper_site_by_hand() -> None:
    # two_sites: P1 (max 1 site, transfer 1 MUSD to either) owes 5 batches to market A in
    # each of two periods; SA (region A) makes them at 1 MUSD, SB at 2 plus 0.5 transport.
    # A plan with P1 at SB costs 1 + 10·2.5 = 26. The only neighbourhood (P1's sites SB
    # and SA) has the LP optimum 1 + 10·1 = 11 < 26; its dive gives that plan, and
    # nothing improves on it afterwards: one plan kept, and the search stops after 10
    # neighbourhoods in a row without a better plan (`STALL`).
    built = build_model(tiny("two_sites"))
    compiled = pass_linear(built.linear)
    layout = Layout.of(built.linear, built.index_sets.ship_assign)
    plan = plan_at_sb(built.linear, compiled)
    assert plan[1] == pytest.approx(26.0)
    told: list[float] = []  # each better plan, as found
    search = improve(compiled, layout, plan, time_limit_s=60, found=told.append)
    (x, objective), tried, kept = search.plan, search.tried, search.kept
    assert objective == pytest.approx(11.0) and kept == 1 and tried == 1 + STALL
    assert search.error is None and told == [pytest.approx(11.0)]
    assign = built.linear.variables["Assign"]
    assert x[assign.start + assign.keys.index(("P1", "SA", "commercial"))] == 1.0


def test_improve_moves_programs_with_their_campaigns_by_hand() -> None:
    # changeovers (data/tiny/changeovers): the plan with P1 at SB and P2 at SA (their
    # campaigns there) costs 2 × (6 × 2.5 + 4 × 1) + 2 = 40. A neighbourhood around
    # either program holds SA and SB, so both programs move, their campaigns (Produce)
    # freed with them: the best plan, P1 at SA and P2 at SB, 34. Were their campaigns
    # fixed as in the plan, neither could be made anywhere else.
    built = build_model(tiny("changeovers"))
    lm, compiled = built.linear, pass_linear(built.linear)
    at = {("P1", "SB"), ("P2", "SA")}
    assign, produce = lm.variables["Assign"], lm.variables["Produce"]
    plan = complete_start(compiled, [(assign.start + i, float(key[:2] in at))
                                     for i, key in enumerate(assign.keys)]
                          + [(produce.start + i, float(key[:2] in at))
                             for i, key in enumerate(produce.keys)], 60)
    assert plan is not None and plan[1] == pytest.approx(40.0)
    search = improve(compiled, Layout.of(lm, built.index_sets.ship_assign), plan,
                     time_limit_s=60)
    assert search.plan[1] == pytest.approx(34.0) and search.kept == 1
    x = search.plan[0]
    assert {key[:2] for i, key in enumerate(assign.keys) if x[assign.start + i] > 0.5} == \
        {("P1", "SA"), ("P2", "SB")}


def test_improve_branches_where_the_dive_finds_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # two_sites as above, with the dive made to find nothing: the neighbourhood's LP (11)
    # is below the plan (26), so the search solves the neighbourhood as a MIP by HiGHS's
    # branch and bound, from the plan, and finds P1 at SA (11). Later neighbourhoods'
    # LPs are no better than 11, so they branch no more: one branch and bound in all.
    improve_module = importlib.import_module("capacity.engine.search")
    branched = []
    real_branch = improve_module._branch

    def branch(*args: object, **kwargs: object) -> object:
        branched.append(1)
        return real_branch(*args, **kwargs)

    monkeypatch.setattr(improve_module, "dive", lambda *args, **kwargs: None)
    monkeypatch.setattr(improve_module, "_branch", branch)
    built = build_model(tiny("two_sites"))
    compiled = pass_linear(built.linear)
    search = improve(compiled, Layout.of(built.linear, built.index_sets.ship_assign),
                     plan_at_sb(built.linear, compiled), time_limit_s=60)
    assert search.plan[1] == pytest.approx(11.0) and search.kept == 1
    assert len(branched) == 1
    assign = built.linear.variables["Assign"]
    assert search.plan[0][assign.start + assign.keys.index(("P1", "SA", "commercial"))] == 1.0
    # out of time, branching reduces and runs nothing (so it needs no plan)
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    assert real_branch(compiled, lower, upper, np.zeros(0), time.perf_counter()) is None


def test_mip_plan_is_valued_by_its_own_columns() -> None:
    # max 3a + 5b + 7c + 9d + x (minimised as its negative) s.t. 3a + 5b + 7c + 9d ≤ 13,
    # x − a ≤ 1; a..d binary, x in [0, 1]. Started from the plan 0 (everything 0) and
    # stopped before any node: HiGHS's presolve drops the redundant row x − a ≤ 1 and
    # sets x = 1, so it values the start at −1 in its own space, finds nothing better,
    # and returns the start as given, whose cost is 0. `mip_plan` values what it returns.
    weights = np.array([3.0, 5.0, 7.0, 9.0])
    cost = np.concatenate([-weights, [-1.0]])
    model = pass_arrays(cost, 0.0, np.zeros(5), np.ones(5), np.array([True] * 4 + [False]),
                        (np.array([0, 4, 6], dtype=np.int32),
                         np.array([0, 1, 2, 3, 4, 0], dtype=np.int32),
                         np.array([*weights, 1.0, -1.0])),
                        np.array([-np.inf, -np.inf]), np.array([13.0, 1.0]))
    model.set_incumbent(np.zeros(5))
    model.highs.setOptionValue("mip_max_nodes", 0)
    model.highs.run()
    found = mip_plan(model)
    assert found is not None
    x, objective = found
    assert objective == pytest.approx(float(cost @ x)) == pytest.approx(0.0)


def test_polish_reoptimises_the_continuous_columns_by_hand() -> None:
    # min B − 2X subject to X ≤ 3B; B binary, X in [0, 2]. The plan B = 1, X = 1 costs
    # −1; with B fixed at 1 the LP sets X = 2: −3. A plan already at that LP's optimum
    # comes back as it was (the same object).
    lm = LinearModel("hand")
    lm.add_set("ONE", ["r"])
    lm.add_var("B", "ONE", "binary", upper=1.0)
    lm.add_var("X", "ONE", "continuous", upper=2.0)
    lm.add_rows("link", "ONE", "<=", lambda _r: ([("X", ["r"], 1.0), ("B", ["r"], -3.0)], 0.0))
    lm.set_objective("cost", [("B", ["r"], 1.0), ("X", ["r"], -2.0)])
    compiled = pass_linear(lm)
    x, objective = polish(compiled, (np.array([1.0, 1.0]), -1.0), 60)
    assert objective == pytest.approx(-3.0) and x.tolist() == pytest.approx([1.0, 2.0])
    best = (x, objective)
    assert polish(compiled, best, 60) is best


def two_programs() -> LinearModel:
    """Programs p (sites X, Y) and q (sites Y, Z), one market: Assign columns 0-3 (p-X,
    p-Y, q-Y, q-Z), a shipment per pair (4-7), a Serve per program (8-9)."""
    lm = LinearModel("hand")
    pairs = [("p", "X"), ("p", "Y"), ("q", "Y"), ("q", "Z")]
    for name, keys, dimen in (("BUILD", [], 4), ("OPEN", [], 2), ("ASSIGN", pairs, 2),
                              ("SHIP", [(p, s, "m", 1) for p, s in pairs], 4),
                              ("SERVE", [("p", "m", 1), ("q", "m", 1)], 3)):
        lm.add_set(name, keys, dimen)
    lm.add_var("Build", "BUILD", "integer")
    lm.add_var("Open", "OPEN", "binary", upper=1.0)
    lm.add_var("Assign", "ASSIGN", "binary", upper=1.0)
    lm.add_var("Ship", "SHIP", "continuous")
    lm.add_var("Serve", "SERVE", "continuous")
    return lm


def test_programs_drawn_by_their_shortfall_against_the_lp_by_hand() -> None:
    # Costs: Assign 1, Ship 1, Serve -3 a batch. The plan: p at X and q at Z, each
    # shipping and serving 5; the LP: p the same, q half at Y and half at Z, shipping 4
    # from each and serving 8. Plan less LP: p 0; q, Assign (0 - 0.5) + (1 - 0.5) = 0,
    # Ship (0 - 4) + (5 - 4) = -3, Serve -3·(5 - 8) = 9: 6.
    lm = two_programs()
    layout = Layout.of(lm, np.arange(4))
    cost = np.array([1.0, 1, 1, 1, 1, 1, 1, 1, -3, -3])
    plan = np.array([1.0, 0, 0, 1, 5, 0, 0, 5, 5, 5])
    lp = np.array([1.0, 0, 0.5, 0.5, 5, 0, 4, 4, 5, 8])
    shortfall = layout.shortfalls(cost, plan, lp)
    assert shortfall.tolist() == pytest.approx([0.0, 6.0])
    rng = np.random.default_rng(0)
    drawn = [draw_program(layout, rng, lambda: shortfall) for _ in range(400)]
    # half the draws by shortfall (all q), half uniform (half q): about 3/4 q
    assert 0.65 < np.mean(drawn) < 0.85
    # no program short of the LP: uniform draws, both programs
    uniform = [draw_program(layout, rng, lambda: -shortfall) for _ in range(400)]
    assert 0.4 < np.mean(uniform) < 0.6


def test_neighbourhood_frees_a_program_and_fixes_the_others_by_hand() -> None:
    # Programs p (sites X, Y) and q (sites Y, Z), the plan: p at X, q at Z; one shipment
    # per pair. Drawing p: its site X and one more it could use, Y; p is the only program
    # assigned at X or Y, so both of p's Assign columns are freed and q's shipments (at
    # Y and Z) and Serve (9) stay fixed. Drawing q: sites Z and Y, q's Assign freed, p's
    # shipments and Serve (8) fixed.
    layout = Layout.of(two_programs(), np.arange(4))
    plan = np.array([1.0, 0.0, 0.0, 1.0, 5.0, 0.0, 0.0, 5.0, 5.0, 5.0])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        free, staying = layout.neighbourhood(plan, rng, int(rng.integers(2)))
        seen.add((tuple(sorted(free.tolist())), tuple(sorted(staying.tolist()))))
    assert seen == {((0, 1), (6, 7, 9)), ((2, 3), (4, 5, 8))}


def test_neighbourhood_frees_the_moving_programs_launches() -> None:
    # launch_dropped with continuity 0.8, transfers that cost (so both programs have
    # Assign columns) and two more sites like SA; the plan: TIL at SA, CART at SB. TIL's
    # one Launch (2030) is freed exactly when TIL moves: always when TIL is drawn, and
    # when CART is drawn with SA as its extra site (not with SC).
    base = tiny("launch_dropped")
    case = capacity.Case.from_frames({
        **base.tables(), "settings": base.settings.assign(continuity_share=0.8),
        "programs": base.programs.assign(tech_transfer_musd=1.0),
        "sites": pd.concat([base.sites, base.sites.assign(site="SB"),
                            base.sites.assign(site="SC")]),
        "suites": pd.concat([base.suites, base.suites.assign(site="SB"),
                             base.suites.assign(site="SC")])})
    built = build_model(case)
    lm = built.linear
    launch = lm.column("Launch", ("TIL", "A", 2030))
    layout = Layout.of(lm, built.index_sets.ship_assign)
    assert layout.launch.tolist() == [launch]
    plan = np.zeros(lm.n_cols)
    # Assign keys are (program, site, phase): TIL is commercial throughout, CART moves as one
    plan[lm.column("Assign", ("TIL", "SA", "commercial"))] = 1
    plan[lm.column("Assign", ("CART", "SB", "both"))] = 1  # CART: clinical, then commercial
    til_assign = [lm.column("Assign", ("TIL", s, "commercial")) for s in ("SA", "SB", "SC")]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        free = layout.neighbourhood(plan, rng, int(rng.integers(2)))[0].tolist()
        moves = bool(set(til_assign) & set(free))
        assert (launch in free) == moves
        seen.add(moves)
    assert seen == {True, False}


def test_failed_search_keeps_the_plan_in_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection: HiGHS's copy of the first neighbourhood's model does not fit in
    # memory. The search ends there with the plan it was given (26, as above) and says why.
    built = build_model(tiny("two_sites"))
    compiled = pass_linear(built.linear)
    plan = plan_at_sb(built.linear, compiled)
    monkeypatch.setattr(importlib.import_module("capacity.engine.search"), "reduce_fixed",
                        out_of_memory)
    search = improve(compiled, Layout.of(built.linear, built.index_sets.ship_assign), plan,
                     time_limit_s=60)
    assert search.plan[1] == pytest.approx(26.0) and (search.tried, search.kept) == (1, 0)
    assert search.error == "MemoryError: std::bad_alloc"


def test_failed_dive_keeps_the_bound_and_the_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection in the dive on the large-model path (forced onto a tiny case): the
    # relaxation's bound stands, HiGHS goes on from the completed start to the optimum
    # (17), and the plan's messages say what failed.
    plan = solved_with_failing(monkeypatch, "dive")
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert plan.messages[0] == ("the dive from the LP relaxation failed (MemoryError: "
                                "std::bad_alloc)")


def test_dive_not_tried_beyond_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # The large-model path forced onto a tiny case, with the dive's size limit patched to
    # 0 nonzeros (tier L in practice): PDLP's bound comes, no dive is tried (the wrapper
    # counts calls), the message says why, and HiGHS reaches the optimum 17 as before.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "DIVE_MAX_NONZEROS", 0)
    dives: list[int] = []
    real_dive = large_module.dive

    def counted(*args: Any, **kwargs: Any) -> tuple[np.ndarray, float] | None:
        dives.append(1)
        return real_dive(*args, **kwargs)

    monkeypatch.setattr(large_module, "dive", counted)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert dives == []
    assert any(m.startswith("no dive from the LP relaxation: ") for m in plan.messages)
    assert_checked(case, plan)


def test_branch_and_bound_not_started_without_time_to_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # HiGHS's start-up patched to 1,000 s a nonzero: with 120 s it could not heed the time
    # limit, so it is not started; the completed start (17, the optimum here) is the plan,
    # feasible and not proven optimal, the message says why, and there are no HiGHS work
    # counters to report.
    monkeypatch.setattr(strategy_module, "MIP_STARTUP_SECONDS_PER_NONZERO", 1000.0)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.messages[0].startswith("HiGHS's branch and bound was not started: 120 s were "
                                       "left, and on ")
    assert plan.messages[0].endswith("the completed constructive start is returned, "
                                     "feasible, not proven optimal (no bound)")
    assert plan.counters == {}
    assert_checked(case, plan)


def test_branch_and_bound_not_started_where_pdlp_did_not_converge(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # PDLP's relaxation reported as stopped by its time limit (its bound and solution are
    # the real ones): HiGHS's root LP would take longer still, so its branch and bound is
    # not started; the engine's plan (17) comes with the relaxation's bound and says why.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    real = large_module.solve_relaxation

    def unconverged(*args: object, **kwargs: object) -> Relaxation | None:
        relaxed = real(*args, **kwargs)
        return None if relaxed is None else dataclasses.replace(relaxed, converged=False)

    monkeypatch.setattr(large_module, "solve_relaxation", unconverged)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.messages[0].startswith("HiGHS's branch and bound was not started: PDLP did "
                                       "not solve the LP relaxation")
    assert plan.counters == {}
    assert_checked(case, plan)


def test_branch_and_bound_not_started_where_its_root_lp_cannot_finish(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The root LP's time patched to 10⁹ times PDLP's: with 120 s it would not finish, so
    # HiGHS's branch and bound is not started; the engine's plan (17, the optimum here)
    # comes with the relaxation's bound, the message says why, no work counters.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "ROOT_LP_PER_PDLP_SECOND", 1e9)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.messages[0].startswith("HiGHS's branch and bound was not started: ")
    assert "its root LP, which comes before any bound or cut of its own, takes over " \
        "1e+09× as long as PDLP took" in plan.messages[0]
    assert plan.counters == {}
    assert_checked(case, plan)


def test_relaxation_runs_beside_the_search_with_two_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # threads=2 on the large-model path (forced onto a tiny case): PDLP runs in a thread
    # of its own while the search, in the caller's thread, improves the completed start
    # until PDLP is done (it is given a stop); then the search goes on from the best plan.
    # The real PDLP and search run; the wrappers only note where. The optimum 17 holds.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "IMPROVE_SHARE_ALONE", 0.01)  # the second search short
    calls: list[tuple[str, int, bool]] = []
    real_relaxation, real_improve = large_module.solve_relaxation, large_module.improve

    def relaxation(*args: Any, **kwargs: Any) -> Relaxation | None:
        calls.append(("relaxation", threading.get_ident(), False))
        return real_relaxation(*args, **kwargs)

    def search(*args: Any, **kwargs: Any) -> Search:
        stop = args[5] if len(args) > 5 else kwargs.get("stop")
        calls.append(("search", threading.get_ident(), stop is not None))
        return real_improve(*args, **kwargs)

    monkeypatch.setattr(large_module, "solve_relaxation", relaxation)
    monkeypatch.setattr(large_module, "improve", search)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"threads": 2}))
    assert plan.objective == pytest.approx(17.0)
    assert_checked(case, plan)
    here = threading.get_ident()
    relaxations = [ident for name, ident, _ in calls if name == "relaxation"]
    assert len(relaxations) == 1 and relaxations[0] != here
    searches = [(ident, stop) for name, ident, stop in calls if name == "search"]
    assert searches[0] == (here, True)
    assert all(ident == here and not stop for ident, stop in searches[1:])


def test_search_runs_where_the_relaxation_is_not_solved(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A model beyond the relaxation's size limit (patched to 0 nonzeros; tier XL in
    # practice): no bound from PDLP, but the neighbourhood search still improves the
    # completed start before HiGHS (the real search runs; the wrapper only counts it),
    # and the message says why there is no relaxation. The optimum 17 holds.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "RELAXATION_MAX_NONZEROS", 0)
    searches: list[float] = []
    real_improve = large_module.improve

    def search(*args: Any, **kwargs: Any) -> Search:
        searches.append(args[3])
        return real_improve(*args, **kwargs)

    monkeypatch.setattr(large_module, "improve", search)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.objective == pytest.approx(17.0)
    assert len(searches) == 1 and searches[0] > 0
    assert any(m.startswith("the LP relaxation was not solved: ") for m in plan.messages)
    assert_checked(case, plan)


def test_rounded_start_by_hand() -> None:
    # candidate_site (data/tiny/README.md): SC may open in 2030 or 2031 and build its one
    # module in either; P1 goes to one site (max_sites 1). From a made-up LP solution:
    # SC's openings sum to 0.3005 > 0.01, the first above 1e-3 is 2031; its cumulative
    # modules 0.005 then 0.505 round up (less 0.01) to 0 then 1; P1's larger Assign is SC.
    built = build_model(tiny("candidate_site"))
    lm = built.linear
    x = np.zeros(len(lm.objective.cost))
    for name, key, value in (("Open", ("SC", 2030), 0.0005), ("Open", ("SC", 2031), 0.3),
                             ("Build", ("SC", "antibody", "commercial", 2030), 0.005),
                             ("Build", ("SC", "antibody", "commercial", 2031), 0.5),
                             ("Assign", ("P1", "SA", "commercial"), 0.4),
                             ("Assign", ("P1", "SC", "commercial"), 0.6)):
        x[lm.column(name, key)] = value
    start = rounded_start(lm, built.index_sets, x)
    assert start.open == {("SC", 2030): 0.0, ("SC", 2031): 1.0}
    assert start.build == {("SC", "antibody", "commercial", 2030): 0.0,
                           ("SC", "antibody", "commercial", 2031): 1.0}
    assert start.assign == {("P1", "SA", "commercial"): 0.0, ("P1", "SC", "commercial"): 1.0}
    # a site whose openings sum to 0.01 or less stays closed, whatever its first period
    x[lm.column("Open", ("SC", 2031))] = 0.009
    assert set(rounded_start(lm, built.index_sets, x).open.values()) == {0.0}
    # from PDLP's solution (here whole: open SC in 2030, one module, P1 at SC) the
    # completion is the optimum 17, and HiGHS's incumbent is left alone
    compiled = pass_linear(lm)
    relaxed = solve_relaxation(compiled, 10.0)
    assert relaxed is not None
    rounded = rounded_start(lm, built.index_sets, relaxed.x)
    assert rounded.open == {("SC", 2030): 1.0, ("SC", 2031): 0.0}
    plan = complete_start(compiled, start_columns(lm, rounded), 10.0, incumbent=False)
    assert plan is not None and plan[1] == pytest.approx(17.0)


def test_rounded_start_decides_approvals_like_openings() -> None:
    # data/tiny/approvals: SB's US approval may be decided in 2030 or 2031. Its LP
    # decisions sum to 0.4005 > 0.01, the first above 1e-3 is 2031: decided in 2031, the
    # completion then ships SB in 2032 only: 30 + 27 + 12 + 3.6 = 72.6.
    built = build_model(tiny("approvals"))
    lm = built.linear
    x = np.zeros(len(lm.objective.cost))
    x[lm.column("Approve", ("SB", "US", "", 2030))] = 0.0005
    x[lm.column("Approve", ("SB", "US", "", 2031))] = 0.4
    start = rounded_start(lm, built.index_sets, x)
    assert start.approve == {("SB", "US", "", 2030): 0.0, ("SB", "US", "", 2031): 1.0}
    plan = complete_start(pass_linear(lm), start_columns(lm, start), 10.0, incumbent=False)
    assert plan is not None and plan[1] == pytest.approx(72.6)
    # a site's approvals are freed with its modules and openings in a neighbourhood
    layout = Layout.of(lm, built.index_sets.ship_assign)
    approve = lm.variables["Approve"]
    assert sorted(np.concatenate(layout.site_columns).tolist()) == \
        list(range(approve.start, approve.start + 2))


def test_rounded_plan_where_no_dive_is_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    # The large-model path of candidate_site with the dive's size limit at 0 (tier L in
    # practice), from a start that keeps SC closed (SA alone: 21): the plan rounded from
    # PDLP's solution is the optimum 17; without a rounding the path gives no plan.
    monkeypatch.setattr(strategy_module, "DIVE_MAX_NONZEROS", 0)
    built = build_model(tiny("candidate_site"))
    lm = built.linear
    compiled = pass_linear(lm)
    sa_alone = Start(build={("SC", "antibody", "commercial", t): 0.0 for t in (2030, 2031)},
                     open={("SC", 2030): 0.0, ("SC", 2031): 0.0},
                     assign={("P1", "SA", "commercial"): 1.0, ("P1", "SC", "commercial"): 0.0})
    started = complete_start(compiled, start_columns(lm, sa_alone), 10.0)
    assert started is not None and started[1] == pytest.approx(21.0)

    def rounding(x: np.ndarray) -> list[tuple[int, float]]:
        return start_columns(lm, rounded_start(lm, built.index_sets, x))

    deadline = time.perf_counter() + 30.0
    relaxed, plan, notes = large_module._relax_and_dive(compiled, started, deadline, 0.5,
                                                       rounding)
    assert relaxed is not None and plan is not None and plan[1] == pytest.approx(17.0)
    assert notes[0].startswith("no dive from the LP relaxation: ")
    assert large_module._relax_and_dive(compiled, started, deadline, 0.5)[1] is None


def test_companion_offers_its_dive_to_highs_by_hand() -> None:
    # one_demand: the companion's LP optimum is 6 (Y_a = 0.5, X_a = 1, its bound) and its
    # dive 11 (above). With presolve off, HiGHS's branch and bound asks for a user plan
    # after its setup, before it holds one: the companion hands over 11, the optimum.
    # HiGHS then never reports an improving plan of its own (on its own it reports 11 as
    # one: `improving` below).
    def improving(offer: bool) -> list[float]:
        compiled = one_demand(cap_a=False)
        companion = Companion(compiled, time.perf_counter() + 60).start()
        companion.wait()
        assert companion.bound == pytest.approx(6.0)
        assert companion.plan is not None
        assert companion.plan[0].tolist() == [1.0, 0.0, 1.0, 0.0]
        highs = compiled.highs
        highs.setOptionValue("presolve", "off")
        found: list[float] = []
        highs.cbMipImprovingSolution.subscribe(
            lambda e: found.append(e.data_out.objective_function_value))
        if offer:
            highs.cbMipUserSolution.subscribe(companion.offer)
        highs.run()
        companion.stop()
        assert highs.getInfo().objective_function_value == pytest.approx(11.0)
        assert companion.given == (pytest.approx(11.0) if offer else None)
        if offer:
            assert companion.note() == ("a dive from the LP relaxation on a second thread "
                                        "gave HiGHS its first plan")
            companion.replaced = 12.5  # had HiGHS held a plan at 12.5: (12.5 − 11)/12.5
            assert companion.note().endswith("gave HiGHS a plan 12.00% better than its own")
        return found

    assert improving(offer=False) == [pytest.approx(11.0)]
    assert improving(offer=True) == []


def test_solve_with_two_threads_runs_the_companion(monkeypatch: pytest.MonkeyPatch) -> None:
    # Below its size the companion is not started; with its threshold lowered it runs
    # beside HiGHS on two threads, and whatever it gives in time, the plan is the optimum
    # (candidate_site: 17, data/tiny/README.md) and the messages say what it gave.
    options = TEST_OPTIONS.model_copy(update={"threads": 2})
    plain = capacity.solve(tiny("candidate_site"), options)
    assert not any("second thread" in m for m in plain.messages)
    monkeypatch.setattr(importlib.import_module("capacity.engine.strategy"),
                        "COMPANION_MIN_NONZEROS", 1)
    plan = capacity.solve(tiny("candidate_site"), options)
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert sum("on a second thread" in m for m in plan.messages) == 1
