"""The LP relaxation's proven bound (`capacity.lp_bound`) and the dive from its solution
(`capacity.dive`), worked by hand on models of a few columns, then on the tiny cases
through `capacity.solve`."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import capacity
from capacity.compiled import CompiledModel, pass_linear
from capacity.dive import dive
from capacity.lp_bound import dual_bound, implied_bounds, solve_relaxation
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


def test_dual_bound_by_hand() -> None:
    # With y = (y_total, 0): reduced costs d_X = −1 − y_total, d_Z = 0, and the bound is
    # 4·y_total + 4·min(0, d_Xa) + 4·min(0, d_Xb).
    compiled = two_columns()
    bounds = implied_bounds(compiled)
    # the optimal dual y = −1: d = 0, bound 4·(−1) = −4, the LP optimum
    assert dual_bound(compiled, np.array([-1.0, 0.0]), bounds) == pytest.approx(-4.0)
    # a poor dual y = −0.5: −2 + 4·(−0.5) + 4·(−0.5) = −6, still below the optimum
    assert dual_bound(compiled, np.array([-0.5, 0.0]), bounds) == pytest.approx(-6.0)
    # a wrong-signed dual (a ≤ row's must be ≤ 0) counts as 0: 4·(−1) + 4·(−1) = −8
    assert dual_bound(compiled, np.array([1.0, 0.0]), bounds) == pytest.approx(-8.0)
    # without the implied bounds, X's negative reduced cost meets X ≤ ∞: no bound
    assert dual_bound(compiled, np.array([-0.5, 0.0]),
                      (compiled.col_lower, compiled.col_upper)) == -np.inf


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


@pytest.mark.parametrize("plan", [None, [0.0, 1.0, 0.0, 1.0]])
def test_dive_tries_a_single_column_the_other_way_by_hand(plan: list[float] | None) -> None:
    # With Y_a ≤ 0.5 the same LP solution (cost 6) rounds Y_a up to 1, which the row
    # breaks; rounded down, with Y_b fixed at its LP value 0, no site is open. So Y_b is
    # left free (without a plan; with the plan (Y_b = 1), because the plan disagrees with
    # the LP there) and Y_a is tried both ways again: Y_a = 0 forces X_a = 0, so X_b = 1
    # and the LP opens b by half (Y_b = 0.5, cost 5 + 2 = 7); the next round opens b:
    # 10 + 2 = 12.
    compiled = one_demand(cap_a=True)
    done = dive(compiled, np.array([0.5, 0.0, 1.0, 0.0]), time_limit_s=60,
                plan=None if plan is None else np.array(plan))
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


def test_large_model_path_on_a_tiny_case(monkeypatch: pytest.MonkeyPatch) -> None:
    # The path of models from 500,000 nonzeros (relaxation by PDLP, dive, then HiGHS),
    # forced onto a tiny case: the same optimum (17) as the plain path, checked.
    solve_module = importlib.import_module("capacity.solve")
    monkeypatch.setattr(solve_module, "LARGE_MODEL_NONZEROS", 0)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert_checked(case, plan)


def test_relaxation_bound_stands_in_for_branch_and_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Branch and bound too large for memory (patched to need 10¹⁵ bytes a nonzero), on
    # the large model path: the plan comes with the relaxation's proven bound and its gap.
    solve_module = importlib.import_module("capacity.solve")
    monkeypatch.setattr(solve_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(solve_module, "MIP_BYTES_PER_NONZERO", 10**15)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "time_limit_feasible" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.gap is not None and "(no bound)" not in plan.messages[0]
    assert_checked(case, plan)


def test_failed_relaxation_leaves_the_solve_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    # Failure injection: PDLP's copy of the model does not fit in memory. The solve goes
    # on with the completed start and HiGHS, to the same optimum, and says what it skipped.
    solve_module = importlib.import_module("capacity.solve")
    monkeypatch.setattr(solve_module, "LARGE_MODEL_NONZEROS", 0)

    def out_of_memory(*_args: object, **_kwargs: object) -> None:
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(solve_module, "solve_relaxation", out_of_memory)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert plan.messages[0] == "the LP relaxation was skipped (MemoryError: std::bad_alloc)"
    assert_checked(case, plan)


def test_relaxation_too_large_for_memory_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Free memory patched to 1 byte: neither PDLP's copy (150 bytes a nonzero) nor branch
    # and bound is started; the completed start (17) is the plan, without a bound.
    solve_module = importlib.import_module("capacity.solve")
    monkeypatch.setattr(solve_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(solve_module, "available_memory", lambda: 1)
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
    solve_module = importlib.import_module("capacity.solve")
    monkeypatch.setattr(solve_module, "LARGE_MODEL_NONZEROS", 0)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"mip_rel_gap": 0.9}))
    assert plan.status == "optimal" and plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.messages[0] == ("the plan is within the 0.9 gap of the LP relaxation's bound "
                                "(PDLP); HiGHS's branch and bound was not needed")
    assert_checked(case, plan)
