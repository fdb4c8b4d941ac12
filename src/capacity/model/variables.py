"""Decision variables (PascalCase) over the sparse sets (UPPER case)."""

from __future__ import annotations

from capacity.model.index_sets import IndexSets
from capacity.model.linear import LinearModel


def add_sets(lm: LinearModel, ix: IndexSets) -> None:
    """Declare the sparse index sets the variables are over (sorted), and CAPACITY_KT,
    which both `add_suite_capacity` and elastic mode's `add_early_modules` read."""
    lm.add_set("PERIODS", ix.periods)
    lm.add_set("BUILD", ix.build, 4)
    lm.add_set("OPEN", ix.open, 2)
    lm.add_set("ASSIGN", ix.assign, 3)
    lm.add_set("SHIP", ix.ship, 4)
    lm.add_set("SERVE", ix.serve, 3)
    lm.add_set("FINANCE", ix.finance, 5)
    lm.add_set("FINANCE_OPENING", ix.finance_opening, 3)
    lm.add_set("RESERVE_VT", ix.reservations.reserve, 2)
    lm.add_set("RESERVE_USE_VPT", ix.reservations.use, 3)
    lm.add_set("REINVEST_FT", ix.reinvestment.reinvest, 2)
    lm.add_set("MARGIN_T", ix.reinvestment.margin_periods)
    lm.add_set("CAPACITY_KT", ix.capacity_rows, 4)


def add_variables(lm: LinearModel, ix: IndexSets) -> None:
    """Declare every decision variable with its domain and bounds.

    - ``Build[s,q,c,t]`` ∈ {0..max_modules} (+ the elastic allowance in elastic mode):
      modules ordered in t at suite (s,q,c).
    - ``Open[s,t]`` ∈ {0,1}: candidate site s is opened (decided) in t.
    - ``Assign[p,s,c]`` ∈ {0,1}: phase c of program p is transferred to site s (c
      ``both``: the program, whose phases move as one; `capacity.model.phases`).
    - ``Ship[p,s,m,t]`` ≥ 0: batches of p made at s for market m in t.
    - ``Serve[p,m,t]`` ∈ [0, potential]: potential demand served.
    - ``Finance[f,s,q,c,t]`` ≥ 0: module capex paid by fund f, MUSD.
    - ``FinanceOpening[f,s,t]`` ≥ 0: cost of opening candidate site s in t paid by fund
      f, MUSD.
    - ``Reserve[v,t]`` ∈ {0..max_blocks[v]}: blocks of reservation v held in t.
    - ``ReservedUse[v,p,t]`` ≥ 0: reserved slots of v that program p uses in t.
    - ``Margin[t]`` ∈ [lower_t, upper_t]: the consortium's operating margin in t, MUSD.
    - ``Profitable[t]`` ∈ {0,1}: the margin of t counts for reinvestment (it is ≥ 0).
    - ``Reinvest[f,t]`` ≥ 0: budget fund f gains in t from the margin of t−1, MUSD.
    """
    res, loop = ix.reservations, ix.reinvestment
    lm.add_var("Build", "BUILD", "integer", upper=[ix.build_upper[b[:3]] for b in ix.build])
    lm.add_var("Open", "OPEN", "binary", upper=1.0)
    lm.add_var("Assign", "ASSIGN", "binary", upper=1.0)
    lm.add_var("Ship", "SHIP", "continuous")
    lm.add_var("Serve", "SERVE", "continuous", upper=[ix.potential[d] for d in ix.serve])
    lm.add_var("Finance", "FINANCE", "continuous")
    lm.add_var("FinanceOpening", "FINANCE_OPENING", "continuous")
    lm.add_var("Reserve", "RESERVE_VT", "integer",
               upper=[res.max_blocks[v] for v, _t in res.reserve])
    lm.add_var("ReservedUse", "RESERVE_USE_VPT", "continuous")
    margin = loop.margin_periods
    lm.add_var("Margin", "MARGIN_T", "continuous", lower=[loop.lower[t] for t in margin],
               upper=[loop.upper[t] for t in margin], free=True)
    lm.add_var("Profitable", "MARGIN_T", "binary", upper=1.0)
    lm.add_var("Reinvest", "REINVEST_FT", "continuous")
