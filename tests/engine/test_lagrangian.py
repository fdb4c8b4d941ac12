"""The Lagrangian bound of the suites' capacity (`capacity.engine.lagrangian`): worked by hand
on two_sites, checked below the optimum of every tiny case and below the exact inner
problem on generated tier S, and through `capacity.solve` where the model is too large
for PDLP and for branch and bound (patched)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

import capacity
from capacity.case.generate import generate_case
from capacity.engine import strategy as strategy_module
from capacity.engine.highs import pass_arrays, pass_linear
from capacity.engine.lagrangian import (
    PROGRAM_COLUMNS,
    PROGRAM_ROWS,
    Decomposition,
    lagrangian_bound,
)
from capacity.engine.lp_bound import implied_bounds
from capacity.model import build_model
from capacity.model.linear import LinearModel

from conftest import TEST_OPTIONS, assert_checked, edited, tiny

pytestmark = pytest.mark.solver

TINY = ["two_sites", "candidate_site", "domestic_share", "pooling", "empty_core",
        "pooled_reservation", "bank_loop", "clinical_bet", "approvals", "clinical_phase",
        "launch_stock"]


def priced_row(lm: LinearModel, key: tuple[object, ...]) -> int:
    """The position of suite_capacity's row ``key`` among the priced rows."""
    return lm.sets["CAPACITY_KT"].keys.index(key)


def test_lagrangian_by_hand() -> None:
    # two_sites (data/tiny/README.md): P1 on one site (transfer 1) ships 5 batches to A in
    # 2030 and 2031; SA makes them at 1, SB at 2 + 0.5 transport; each suite holds 10 a
    # period. Pricing SA's 2030 row at λ: L = −10·λ + min(1 + 5·(1 + λ) + 5·1, 1 + 2·5·2.5)
    # (each priced row's −λ·b, then P1's best single site). No module or opening: the
    # sites' LP is empty.
    lm = build_model(tiny("two_sites")).linear
    compiled = pass_linear(lm)
    split = Decomposition.of(lm, compiled)
    assert split is not None
    sa_2030 = priced_row(lm, ("SA", "antibody", "commercial", 2030))
    sb_2030 = priced_row(lm, ("SB", "antibody", "commercial", 2030))

    def value(row: int, price: float) -> tuple[float, np.ndarray]:
        prices = np.zeros(len(split.priced_upper))
        prices[row] = price
        return split.evaluate(compiled.col_cost, compiled.offset, prices)

    bound, usage = value(sa_2030, 0.0)
    assert bound == pytest.approx(11.0)  # the optimum: capacity does not bind
    assert usage[sa_2030] == pytest.approx(5 - 10) and usage[sb_2030] == pytest.approx(-10)
    assert value(sa_2030, 1.0)[0] == pytest.approx(-10 + 1 + 10 + 5)  # SA still: 6
    # priced at 3, SA costs 1 + 20 + 5 = 26 = SB's 26: −30 + 26
    assert value(sa_2030, 3.0)[0] == pytest.approx(-4.0)
    bound_sb, usage_sb = value(sb_2030, 1.0)
    assert bound_sb == pytest.approx(-10 + 11)  # SB is not used: its price only costs
    assert usage_sb[sb_2030] == pytest.approx(-10)
    # the steps: at λ = 0 the bound is the plan's 11 already, so they end there
    found = lagrangian_bound(compiled, split, 11.0, 10.0)
    assert found is not None and found.value == pytest.approx(11.0) and found.steps == 1
    # what pricing SA's 2030 row charges: its one shipment, one slot a batch
    ship = lm.variables["Ship"]
    tolls = split.tolls(np.eye(len(split.priced_upper))[sa_2030])
    assert {ship.keys[j - ship.start] for j in np.flatnonzero(tolls)} == {
        ("P1", "SA", "A", 2030)}
    assert tolls[np.flatnonzero(tolls)] == pytest.approx([1.0])  # one slot a batch, λ = 1


def test_lagrangian_prices_the_slots_of_failed_batches() -> None:
    # two_sites with 80% of SA's batches succeeding: a delivered batch takes 1.25 of SA's
    # slots and costs 1.25. Pricing SA's 2030 row at λ:
    # L = −10·λ + min(1 + 5·1.25·(1 + λ) + 5·1.25, 1 + 2·5·2.5); SA's shipment is tolled
    # 1.25·λ a batch.
    case = edited(tiny("two_sites"), yields=pd.DataFrame(
        [{"program": "P1", "site": "SA", "success_rate": 0.8}]))
    lm = build_model(case).linear
    compiled = pass_linear(lm)
    split = Decomposition.of(lm, compiled)
    assert split is not None
    sa_2030 = priced_row(lm, ("SA", "antibody", "commercial", 2030))
    prices = np.zeros(len(split.priced_upper))
    bound, usage = split.evaluate(compiled.col_cost, compiled.offset, prices)
    assert bound == pytest.approx(13.5) and usage[sa_2030] == pytest.approx(6.25 - 10)
    prices[sa_2030] = 1.0
    assert split.evaluate(compiled.col_cost, compiled.offset, prices)[0] == \
        pytest.approx(-10 + 1 + 12.5 + 6.25)
    tolls = split.tolls(prices)
    assert tolls[np.flatnonzero(tolls)] == pytest.approx([1.25])


@pytest.mark.parametrize("name", TINY)
def test_lagrangian_bound_is_below_the_optimum(name: str) -> None:
    # Whatever the prices (seeded, up to twice the largest cost), L(λ) is a lower bound;
    # the steps' best one too, and at least L(0).
    case = tiny(name)
    optimum = capacity.solve(case, TEST_OPTIONS)
    assert optimum.status == "optimal" and optimum.objective is not None
    lm = build_model(case).linear
    compiled = pass_linear(lm)
    split = Decomposition.of(lm, compiled)
    assert split is not None
    rng = np.random.default_rng(0)
    scale = 2 * float(np.abs(compiled.col_cost).max())
    n = len(split.priced_upper)
    at_zero = split.evaluate(compiled.col_cost, compiled.offset, np.zeros(n))[0]
    for _ in range(20):
        prices = rng.uniform(0, scale, n) * (rng.random(n) < 0.5)
        assert split.evaluate(compiled.col_cost, compiled.offset, prices)[0] \
            <= optimum.objective + 1e-6
    found = lagrangian_bound(compiled, split, optimum.objective, 10.0)
    assert found is not None and at_zero - 1e-9 <= found.value <= optimum.objective + 1e-6


def test_phases_assigned_apart_are_programs_of_their_own() -> None:
    # clinical_phase (data/tiny/README.md): assigned apart, each phase has its own Assign
    # columns and site limit, so the closed form holds each to one site on its own; moving
    # as one, the program is one. With CLIN's commercial suite (the scale-up variant, −5)
    # ScaleUp is left to the sites' LP, rows dropped: still a bound.
    def split_of(case: capacity.Case) -> Decomposition:
        lm = build_model(case).linear
        split = Decomposition.of(lm, pass_linear(lm))
        assert split is not None
        return split

    case = tiny("clinical_phase")
    assert split_of(case).single.tolist() == [True, True]
    together = edited(case, programs=lambda df: df.assign(phases_at_one_site=True))
    assert split_of(together).single.tolist() == [True]
    scaled = edited(case, suites=lambda df: pd.concat([df, pd.DataFrame([
        {"site": "CLIN", "modality": "antibody", "scale": "commercial",
         "existing_batches_per_period": 20, "variable_cost_musd_per_batch": 1.1}])]))
    lm = build_model(scaled).linear
    compiled = pass_linear(lm)
    split = Decomposition.of(lm, compiled)
    assert split is not None
    found = lagrangian_bound(compiled, split, -5.0, 10.0)
    assert found is not None and found.value <= -5.0 + 1e-6


def test_closed_form_is_below_the_exact_inner_problem_on_tier_s() -> None:
    # Generated tier S: the programs' part of L in closed form against the same part
    # solved exactly by HiGHS as a MIP (its rows, Assign integer, the implied bounds), at
    # seeded prices. It may be lower (programs on two sites relaxed, production rows
    # dropped), never higher; and it is close (within 3% here).
    lm = build_model(generate_case("S", 1)).linear
    compiled = pass_linear(lm)
    split = Decomposition.of(lm, compiled)
    assert split is not None
    program = np.zeros(len(compiled.col_cost), dtype=bool)
    for name in PROGRAM_COLUMNS:
        v = lm.variables[name]
        program[v.start:v.start + len(v.keys)] = True
    rows = np.concatenate([np.arange(lm.constraints[n].start, lm.constraints[n].stop)
                           for n in PROGRAM_ROWS])
    inner = csr_matrix(compiled.sparse()[rows][:, np.flatnonzero(program)])
    lower, upper = implied_bounds(compiled)
    rng = np.random.default_rng(1)
    for _ in range(3):
        prices = rng.uniform(0, 0.2, len(split.priced_upper))
        d = compiled.col_cost + split.priced.T @ prices
        closed = split._programs(d)[0]
        exact = pass_arrays(d[program], 0.0, lower[program], upper[program],
                            compiled.integer[program],
                            (inner.indptr, inner.indices, inner.data),
                            compiled.row_lower[rows], compiled.row_upper[rows])
        exact.highs.setOptionValue("mip_rel_gap", 0.0)
        exact.highs.run()
        best = exact.highs.getInfo().objective_function_value
        assert closed <= best + 1e-6 * abs(best)
        assert closed >= best - 0.03 * abs(best)


def test_lagrangian_bound_through_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    # A model beyond PDLP's limit and branch and bound's memory (both patched): the search
    # gives the plan, the Lagrangian bound its gap, and the messages say where the bound
    # came from. candidate_site's optimum is 17.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "RELAXATION_MAX_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "MIP_BYTES_PER_NONZERO", 10**15)
    case = tiny("candidate_site")
    told: list[tuple[float | None, float | None]] = []
    plan = capacity.solve(case, TEST_OPTIONS, progress=lambda _s, plan, bound: told.append(
        (plan, bound)))
    assert plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6 and plan.gap is not None
    assert told[-1] == (pytest.approx(17.0), pytest.approx(plan.bound))  # progress heard it
    assert any(m.startswith("the bound is the Lagrangian bound of the suites' capacity (")
               for m in plan.messages)
    # its prices steered a second greedy start (SA's and SC's suites priced: here the
    # first start, already optimal, stays)
    assert any(m.startswith("the greedy start steered by the Lagrangian bound's prices: ")
               and m.endswith("against 17.0 unsteered; the search went on from the better")
               for m in plan.messages)
    assert_checked(case, plan)
    # the elastic model's Shortfall columns are not priced: no bound, and why
    elastic = build_model(case, elastic=True).linear
    assert Decomposition.of(elastic, pass_linear(elastic)) is None
    # too little memory for it: no bound, and why
    monkeypatch.setattr(strategy_module, "LAGRANGIAN_BYTES_PER_NONZERO", 10**15)
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.bound is None and any(m.startswith("no bound: the Lagrangian bound would need")
                                      for m in plan.messages)


def test_lagrangian_bound_where_pdlp_lacks_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    # PDLP's copy (patched to 10¹⁵ bytes a nonzero) and branch and bound both short of
    # memory on a model below PDLP's size limit: the Lagrangian bound (45 bytes a nonzero)
    # still gives the plan its gap.
    monkeypatch.setattr(strategy_module, "LARGE_MODEL_NONZEROS", 0)
    monkeypatch.setattr(strategy_module, "RELAXATION_BYTES_PER_NONZERO", 10**15)
    monkeypatch.setattr(strategy_module, "MIP_BYTES_PER_NONZERO", 10**15)
    case = tiny("candidate_site")
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.objective == pytest.approx(17.0)
    assert plan.bound is not None and plan.bound <= 17.0 + 1e-6
    assert plan.messages[1].startswith("the LP relaxation was skipped: PDLP would need")
    assert plan.messages[2].startswith("the bound is the Lagrangian bound")
    assert_checked(case, plan)
