"""Decision variables (PascalCase) over the sparse sets (UPPER case)."""

from __future__ import annotations

import pyomo.environ as pyo

from capacity.index_sets import IndexSets


def add_sets(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Declare the sparse index sets of the formulation as Pyomo sets (sorted, ordered)."""
    m.PERIODS = pyo.Set(initialize=ix.periods, ordered=True)
    m.BUILD = pyo.Set(dimen=4, initialize=ix.build, ordered=True)
    m.OPEN = pyo.Set(dimen=2, initialize=ix.open, ordered=True)
    m.ASSIGN = pyo.Set(dimen=2, initialize=ix.assign, ordered=True)
    m.SHIP = pyo.Set(dimen=4, initialize=ix.ship, ordered=True)
    m.SERVE = pyo.Set(dimen=3, initialize=ix.serve, ordered=True)
    m.FINANCE = pyo.Set(dimen=5, initialize=ix.finance, ordered=True)
    m.RESERVE_VT = pyo.Set(dimen=2, initialize=ix.reservations.reserve, ordered=True)
    m.RESERVE_USE_VPT = pyo.Set(dimen=3, initialize=ix.reservations.use, ordered=True)
    m.REINVEST_FT = pyo.Set(dimen=2, initialize=ix.reinvestment.reinvest, ordered=True)
    m.MARGIN_T = pyo.Set(initialize=ix.reinvestment.margin_periods, ordered=True)


def add_variables(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Declare every decision variable with its domain and bounds.

    - ``Build[s,q,c,t]`` ∈ {0..max_modules} (+ the elastic allowance in elastic mode):
      modules ordered in t at suite (s,q,c).
    - ``Open[s,t]`` ∈ {0,1}: candidate site s is opened (decided) in t.
    - ``Assign[p,s]`` ∈ {0,1}: program p is transferred to site s.
    - ``Ship[p,s,m,t]`` ≥ 0: batches of p made at s for market m in t.
    - ``Serve[p,m,t]`` ∈ [0, potential]: potential demand served.
    - ``Finance[f,s,q,c,t]`` ≥ 0: module capex paid by fund f, MUSD.
    - ``Reserve[v,t]`` ∈ {0..max_blocks[v]}: blocks of reservation v held in t.
    - ``ReservedUse[v,p,t]`` ≥ 0: reserved slots of v that program p uses in t.
    - ``Margin[t]`` ∈ [lower_t, upper_t]: the consortium's operating margin in t, MUSD.
    - ``Profitable[t]`` ∈ {0,1}: the margin of t counts for reinvestment (it is ≥ 0).
    - ``Reinvest[f,t]`` ≥ 0: budget fund f gains in t from the margin of t−1, MUSD.
    """
    m.Build = pyo.Var(m.BUILD, domain=pyo.NonNegativeIntegers,
                      bounds=lambda _m, s, q, c, t: (0, ix.build_upper[(s, q, c)]))
    m.Open = pyo.Var(m.OPEN, domain=pyo.Binary)
    m.Assign = pyo.Var(m.ASSIGN, domain=pyo.Binary)
    m.Ship = pyo.Var(m.SHIP, domain=pyo.NonNegativeReals)
    m.Serve = pyo.Var(m.SERVE, domain=pyo.NonNegativeReals,
                      bounds=lambda _m, p, mk, t: (0, ix.potential[(p, mk, t)]))
    m.Finance = pyo.Var(m.FINANCE, domain=pyo.NonNegativeReals)
    res, loop = ix.reservations, ix.reinvestment
    m.Reserve = pyo.Var(m.RESERVE_VT, domain=pyo.NonNegativeIntegers,
                        bounds=lambda _m, v, t: (0, res.max_blocks[v]))
    m.ReservedUse = pyo.Var(m.RESERVE_USE_VPT, domain=pyo.NonNegativeReals)
    m.Margin = pyo.Var(m.MARGIN_T, domain=pyo.Reals,
                       bounds=lambda _m, t: (loop.lower[t], loop.upper[t]))
    m.Profitable = pyo.Var(m.MARGIN_T, domain=pyo.Binary)
    m.Reinvest = pyo.Var(m.REINVEST_FT, domain=pyo.NonNegativeReals)
