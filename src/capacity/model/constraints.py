"""One builder per constraint family: ``add_<family>`` builds constraint ``<family>``.

Each docstring gives the family's math; ``models/formulation.md`` is the reference.
Rows are created only for the sparse row sets of `IndexSets`, so no rule ever returns
``Constraint.Skip``. Code letters: ``mk`` is the market (``m`` is the model).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import pyomo.environ as pyo

from capacity.index_sets import IndexSets


def _group(keys: list[tuple], by: Callable[[tuple], tuple]) -> dict[tuple, list[tuple]]:  # type: ignore[type-arg]
    groups: dict[tuple, list[tuple]] = defaultdict(list)  # type: ignore[type-arg]
    for key in keys:
        groups[by(key)].append(key)
    return groups


def _online_builds(ix: IndexSets) -> dict[tuple[str, str, str], list[tuple[str, str, str, int]]]:
    return _group(ix.build, lambda b: b[:3])


def add_suite_capacity(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Suite capacity: batch slots used never exceed existing plus online modules.

    ∀(k,t) ∈ CAPACITY_KT:
        Σ_{(p,s,m,t) ∈ SHIP, suite(p,s,t)=k} slots_per_batch[p,s]·Ship[p,s,m,t]
          − Σ_{(v,p,t) ∈ RESERVE_USE_VPT, suite(v)=k} ReservedUse[v,p,t]
            ≤ existing_batches[k] + module_batches[k]·Σ_{t' : pos(t')+lead[k] ≤ pos(t)} Build[k,t']
    (slots used under a reservation come on top of the suite's own capacity)
    Elastic: + module_batches[k]·EarlyModules[k,t] on the right, with
    EarlyModules[k,t] ≤ Σ_t' Build[k,t'] (early_modules_built).
    """
    ships = _group(ix.ship, lambda key: (*ix.suite_of_ship[key], key[3]))
    reserved = _group(ix.reservations.use, lambda u: (*ix.reservations.suite[u[0]], u[2]))
    builds = _online_builds(ix)
    pos = ix.position
    m.CAPACITY_KT = pyo.Set(dimen=4, initialize=ix.capacity_rows, ordered=True)
    if ix.elastic:
        # Elastic: modules the plan builds may be counted before their lead time allows.
        early = [r for r in ix.capacity_rows if r[:3] in builds]
        m.EARLY_KT = pyo.Set(dimen=4, initialize=early, ordered=True)
        m.EarlyModules = pyo.Var(m.EARLY_KT, domain=pyo.NonNegativeReals)
        m.early_modules_built = pyo.Constraint(
            m.EARLY_KT, rule=lambda m, s, q, c, t: m.EarlyModules[s, q, c, t]
            <= pyo.quicksum(m.Build[b] for b in builds[(s, q, c)]))

    def rule(m: pyo.ConcreteModel, s: str, q: str, c: str, t: int) -> object:
        k = (s, q, c)
        used = pyo.quicksum(ix.slots_per_batch.get((p, s), 1.0) * m.Ship[p, s, mk, t]
                            for (p, s, mk, t) in ships[(s, q, c, t)]) \
            - pyo.quicksum(m.ReservedUse[u] for u in reserved.get((s, q, c, t), ()))
        online = pyo.quicksum(m.Build[b] for b in builds.get(k, ())
                              if pos[b[3]] + ix.suite_lead[k] <= pos[t])
        if ix.elastic and (s, q, c, t) in m.EARLY_KT:
            online += m.EarlyModules[s, q, c, t]
        return used <= ix.suite_existing[k] + ix.suite_module[k] * online

    m.suite_capacity = pyo.Constraint(m.CAPACITY_KT, rule=rule)


def add_module_cap(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Module cap: no more modules over the horizon than the suite allows.

    ∀k with more than one build period:  Σ_t Build[k,t] ≤ max_modules[k]
    (with one build period the variable's upper bound already says it).
    Elastic: every suite with builds gets a row, + ExtraModules[k] on the right.
    """
    builds = _online_builds(ix)
    rows = sorted(k for k, b in builds.items() if len(b) > 1 or ix.elastic)
    m.MODULE_CAP_K = pyo.Set(dimen=3, initialize=rows, ordered=True)
    if ix.elastic:
        m.ExtraModules = pyo.Var(m.MODULE_CAP_K, domain=pyo.NonNegativeReals)

    def rule(m: pyo.ConcreteModel, s: str, q: str, c: str) -> object:
        extra = m.ExtraModules[s, q, c] if ix.elastic else 0.0
        return pyo.quicksum(m.Build[b] for b in builds[(s, q, c)]) \
            <= ix.suite_max_modules[(s, q, c)] + extra

    m.module_cap = pyo.Constraint(m.MODULE_CAP_K, rule=rule)


def add_site_opens_once(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A candidate site is opened at most once.

    ∀ candidate s with more than one opening period:  Σ_t Open[s,t] ≤ 1
    """
    opens = _group(ix.open, lambda o: (o[0],))
    rows = sorted(s for (s,), o in opens.items() if len(o) > 1)
    m.OPENS_ONCE_S = pyo.Set(initialize=rows, ordered=True)
    m.site_opens_once = pyo.Constraint(
        m.OPENS_ONCE_S, rule=lambda m, s: pyo.quicksum(m.Open[o] for o in opens[(s,)]) <= 1)


def add_module_requires_open_site(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Modules at a candidate site come online only once the site is open.

    ∀(k,t) ∈ BUILD, site(k) candidate:
        Build[k,t] ≤ max_modules[k]·Σ_{t0 : pos(t0)+lead[s] ≤ pos(t)+lead[k]} Open[s,t0]

    The bound max_modules[k] is the variable's own upper bound, the tightest big-M
    (in elastic mode the bound includes the elastic allowance).
    """
    opens = _group(ix.open, lambda o: (o[0],))
    pos = ix.position
    rows = [b for b in ix.build if ix.site_status[b[0]] == "candidate"]
    m.REQUIRES_OPEN_KT = pyo.Set(dimen=4, initialize=rows, ordered=True)

    def rule(m: pyo.ConcreteModel, s: str, q: str, c: str, t: int) -> object:
        k = (s, q, c)
        online = pos[t] + ix.suite_lead[k]
        opened = pyo.quicksum(m.Open[o] for o in opens[(s,)]
                              if pos[o[1]] + ix.site_lead[s] <= online)
        return m.Build[s, q, c, t] <= ix.build_upper[k] * opened

    m.module_requires_open_site = pyo.Constraint(m.REQUIRES_OPEN_KT, rule=rule)


def add_site_open_by(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Whether a candidate site is open (producing) in a period, as one variable.

    ∀(s,t) ∈ OPEN_BY_ST:  OpenBy[s,t] ≤ Σ_{t0 : pos(t0)+lead[s] ≤ pos(t)} Open[s,t0]

    OPEN_BY_ST holds the (s,t) of shipments from candidate sites. An exact reformulation
    (OpenBy = the sum is always allowed, and OpenBy only bounds shipments from above, so
    the LP relaxation is unchanged): `ship_requires_open_site` then has two terms per row
    instead of one per opening period (tier M: ~80k nonzeros fewer). "≤" rather than "=":
    with equality rows HiGHS's feasibility jump found no first plan at tier M in 300 s.
    """
    opens = _group(ix.open, lambda o: (o[0],))
    pos = ix.position
    rows = sorted({(k[1], k[3]) for k in ix.ship if ix.site_status[k[1]] == "candidate"},
                  key=lambda st: (st[0], pos[st[1]]))
    m.OPEN_BY_ST = pyo.Set(dimen=2, initialize=rows, ordered=True)
    m.OpenBy = pyo.Var(m.OPEN_BY_ST, bounds=(0, 1))
    m.site_open_by = pyo.Constraint(
        m.OPEN_BY_ST, rule=lambda m, s, t: m.OpenBy[s, t] <= pyo.quicksum(
            m.Open[o] for o in opens.get((s,), ()) if pos[o[1]] + ix.site_lead[s] <= pos[t]))


def add_ship_requires_open_site(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """No shipment from a candidate site before it is open (disaggregated linking).

    ∀(p,s,m,t) ∈ SHIP, s candidate:  Ship[p,s,m,t] ≤ V[p,s,m,t]·OpenBy[s,t]

    V[p,s,m,t] = min(committed + potential of (p,m,t), most capacity of the suite /
    slots_per_batch). Implied by suite_capacity and module_requires_open_site for integer
    solutions, but much tighter in the LP relaxation: it is the x_ij ≤ y_i inequality of
    the strong facility-location formulation.
    """
    rows = [k for k in ix.ship if ix.site_status[k[1]] == "candidate"]
    m.SHIP_OPEN_PSMT = pyo.Set(dimen=4, initialize=rows, ordered=True)
    m.ship_requires_open_site = pyo.Constraint(
        m.SHIP_OPEN_PSMT, rule=lambda m, p, s, mk, t: m.Ship[p, s, mk, t]
        <= ix.ship_bound[(p, s, mk, t)] * m.OpenBy[s, t])


def add_production_requires_assignment(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A program is produced only at sites it has been transferred to.

    ∀(p,s,t) ∈ PRODUCTION_PST:  Σ_m Ship[p,s,m,t] ≤ U[p,s,t]·Assign[p,s]

    U[p,s,t] = min(demand of p reachable from s in t, most capacity of the suite /
    slots_per_batch): no feasible plan ships more, so the big-M is as tight as the data
    allows without knowing other programs' use. Disaggregated by period for a tighter
    LP relaxation than one row per (p,s).
    """
    ships = _group(ix.ship, lambda key: (key[0], key[1], key[3]))
    m.PRODUCTION_PST = pyo.Set(dimen=3, initialize=ix.production_rows, ordered=True)
    m.production_requires_assignment = pyo.Constraint(
        m.PRODUCTION_PST,
        rule=lambda m, p, s, t: pyo.quicksum(m.Ship[key] for key in ships[(p, s, t)])
        <= ix.production_bound[(p, s, t)] * m.Assign[p, s])


def add_program_site_limit(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A program is transferred to at most ``max_sites`` sites.

    ∀p with more eligible sites than max_sites[p]:  Σ_s Assign[p,s] ≤ max_sites[p]
    """
    assigns = _group(ix.assign, lambda a: (a[0],))
    rows = sorted(p for (p,), a in assigns.items() if len(a) > ix.program_max_sites[p])
    m.SITE_LIMIT_P = pyo.Set(initialize=rows, ordered=True)
    m.program_site_limit = pyo.Constraint(
        m.SITE_LIMIT_P, rule=lambda m, p: pyo.quicksum(m.Assign[a] for a in assigns[(p,)])
        <= ix.program_max_sites[p])


def add_demand_balance(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Shipments meet committed offtake in full, plus any potential demand served.

    ∀(p,m,t) ∈ DEMAND_PMT:  Σ_s Ship[p,s,m,t] = committed[p,m,t] + Serve[p,m,t]

    Serve ≤ potential is the variable's bound, so potential demand is an upper bound.
    Elastic: + Shortfall[p,m,t] on the left where committed > 0. With an unmet penalty
    (stochastic model): + Shortfall[p,m,t] on the left for (p,m,t) ∈ SHORTFALL_PMT, the
    commitments allowed to go unmet at a cost (`add_total_cost`).
    """
    ships = _group(ix.ship, lambda key: (key[0], key[2], key[3]))
    serve = set(ix.serve)
    m.DEMAND_PMT = pyo.Set(dimen=3, initialize=ix.demand_rows, ordered=True)
    unmet = sorted(ix.committed) if ix.elastic else sorted(ix.shortfall_cost)
    m.SHORTFALL_PMT = pyo.Set(dimen=3, initialize=unmet, ordered=True)
    m.Shortfall = pyo.Var(m.SHORTFALL_PMT, domain=pyo.NonNegativeReals)
    may_fall_short = set(unmet)

    def rule(m: pyo.ConcreteModel, p: str, mk: str, t: int) -> object:
        supplied = pyo.quicksum(m.Ship[key] for key in ships[(p, mk, t)])
        if (p, mk, t) in may_fall_short:
            supplied += m.Shortfall[p, mk, t]
        served = m.Serve[p, mk, t] if (p, mk, t) in serve else 0.0
        return supplied == ix.committed.get((p, mk, t), 0.0) + served

    m.demand_balance = pyo.Constraint(m.DEMAND_PMT, rule=rule)


def _market_ships(ix: IndexSets) -> dict[tuple[str, int], list[tuple[str, str, str, int]]]:
    return _group(ix.ship, lambda key: (key[2], key[3]))


def add_min_domestic_share(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Minimum domestic share: supply to a market made in that market's region.

    ∀ rule u (min_domestic_share, market m), t with supply to m:
        Σ_{(p,s,m,t) ∈ SHIP, region(s)=m} Ship ≥ share[u]·Σ_{(p,s,m,t) ∈ SHIP} Ship
    Elastic: + DomesticShortfall[u,t] on the left.
    """
    by_market = _market_ships(ix)
    rules = {u.rule: u for u in ix.share_rules if u.kind == "min_domestic_share"}
    rows = sorted((u.rule, t) for u in rules.values() for t in ix.periods
                  if (u.market, t) in by_market)
    m.DOMESTIC_SHARE_UT = pyo.Set(dimen=2, initialize=rows, ordered=True)
    if ix.elastic:
        m.DomesticShortfall = pyo.Var(m.DOMESTIC_SHARE_UT, domain=pyo.NonNegativeReals)

    def rule(m: pyo.ConcreteModel, u: str, t: int) -> object:
        r = rules[u]
        keys = by_market[(r.market, t)]
        domestic = pyo.quicksum(m.Ship[k] for k in keys if ix.site_region[k[1]] == r.market)
        if ix.elastic:
            domestic += m.DomesticShortfall[u, t]
        return domestic >= r.share * pyo.quicksum(m.Ship[k] for k in keys)

    m.min_domestic_share = pyo.Constraint(m.DOMESTIC_SHARE_UT, rule=rule)


def _max_share_markets(ix: IndexSets) -> list[tuple[str, int]]:
    """(m,t) of markets with a max-share rule, in periods with supply to them."""
    markets = {u.market for u in ix.share_rules
               if u.kind in ("max_operator_share", "max_country_share")}
    return sorted(mt for mt in _market_ships(ix) if mt[0] in markets)


def add_market_supply(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Total supply to a market with a max-share rule, as one variable.

    ∀(m,t) ∈ SUPPLY_MT:  Supply[m,t] ≤ Σ_{(p,s,m,t) ∈ SHIP} Ship[p,s,m,t]

    An exact reformulation (Supply = the sum is always allowed, and Supply only bounds
    the max-share rows from above): each max-share row then holds its own shipments and
    Supply instead of every shipment to the market (tier M: 425k → ~43k nonzeros). "≤"
    rather than "=" for the same reason as `site_open_by`.
    """
    by_market = _market_ships(ix)
    m.SUPPLY_MT = pyo.Set(dimen=2, initialize=_max_share_markets(ix), ordered=True)
    m.Supply = pyo.Var(m.SUPPLY_MT, domain=pyo.NonNegativeReals)
    m.market_supply = pyo.Constraint(
        m.SUPPLY_MT, rule=lambda m, mk, t: m.Supply[mk, t]
        <= pyo.quicksum(m.Ship[k] for k in by_market[(mk, t)]))


def _add_max_share(m: pyo.ConcreteModel, ix: IndexSets, kind: str, set_name: str,
                   con_name: str, slack_name: str, owner: Callable[[str], str]) -> None:
    by_market = _market_ships(ix)
    rules = {u.rule: u for u in ix.share_rules if u.kind == kind}
    rows = sorted((u.rule, who, t) for u in rules.values() for who in u.subjects
                  for t in ix.periods
                  if any(owner(k[1]) == who for k in by_market.get((u.market, t), ())))

    setattr(m, set_name, pyo.Set(dimen=3, initialize=rows, ordered=True))
    if ix.elastic:
        setattr(m, slack_name, pyo.Var(getattr(m, set_name), domain=pyo.NonNegativeReals))

    def rule(m: pyo.ConcreteModel, u: str, who: str, t: int) -> object:
        r = rules[u]
        mine = pyo.quicksum(m.Ship[k] for k in by_market[(r.market, t)] if owner(k[1]) == who)
        if ix.elastic:
            mine -= getattr(m, slack_name)[u, who, t]
        return mine <= r.share * m.Supply[r.market, t]

    setattr(m, con_name, pyo.Constraint(getattr(m, set_name), rule=rule))


def add_max_operator_share(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Maximum share of one operator in a market's supply.

    ∀ rule u (max_operator_share, market m), operator o ∈ subjects[u], t:
        Σ_{(p,s,m,t) ∈ SHIP, operator(s)=o} Ship ≤ share[u]·Supply[m,t]
    Elastic: − OperatorExcess[u,o,t] on the left.
    """
    _add_max_share(m, ix, "max_operator_share", "OPERATOR_SHARE_UOT", "max_operator_share",
                   "OperatorExcess", ix.site_operator.__getitem__)


def add_max_country_share(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Maximum share of one producing region (country) in a market's supply.

    ∀ rule u (max_country_share, market m), region r ∈ subjects[u], t:
        Σ_{(p,s,m,t) ∈ SHIP, region(s)=r} Ship ≤ share[u]·Supply[m,t]
    Elastic: − CountryExcess[u,r,t] on the left.
    """
    _add_max_share(m, ix, "max_country_share", "COUNTRY_SHARE_URT", "max_country_share",
                   "CountryExcess", ix.site_region.__getitem__)


def add_max_time_to_market(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Time to market: the programs' mean years of a market's potential demand left
    unserved stays within the rule's limit (a linear proxy: a program launched L years
    after its demand starts scores L; partly served periods count in part).

    ∀ rule u (max_time_to_market, market m) with SERVE keys in m:
        constant[u] − Σ_{(p,m,t) ∈ SERVE} weight[u,p,t]·Serve[p,m,t] ≤ limit[u]
    weight = years_t / (|P_m|·(committed + potential)[p,m,t]), P_m the programs with
    potential demand in m; constant[u] = Σ weight·potential over all of m's potential
    demand (`TimeToMarketRule`). Elastic: + LateExcess[u] on the right.
    """
    rules = {r.rule: r for r in ix.time_to_market_rules if r.weight}
    m.TIME_TO_MARKET_U = pyo.Set(initialize=sorted(rules), ordered=True)
    if ix.elastic:
        m.LateExcess = pyo.Var(m.TIME_TO_MARKET_U, domain=pyo.NonNegativeReals)

    def rule(m: pyo.ConcreteModel, u: str) -> object:
        r = rules[u]
        late = r.constant - pyo.quicksum(w * m.Serve[d] for d, w in r.weight.items())
        return late <= r.limit + (m.LateExcess[u] if ix.elastic else 0.0)

    m.max_time_to_market = pyo.Constraint(m.TIME_TO_MARKET_U, rule=rule)


def add_financing_within_capex(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Funds together cover at most the capex actually spent.

    ∀(k,t) ∈ BUILD with eligible funds:  Σ_f Finance[f,k,t] ≤ module_capex[k]·Build[k,t]
    """
    by_build = _group(ix.finance, lambda x: x[1:])
    m.FINANCED_KT = pyo.Set(dimen=4, initialize=sorted(by_build), ordered=True)
    m.financing_within_capex = pyo.Constraint(
        m.FINANCED_KT,
        rule=lambda m, s, q, c, t: pyo.quicksum(m.Finance[x] for x in by_build[(s, q, c, t)])
        <= ix.suite_capex[(s, q, c)] * m.Build[s, q, c, t])


def add_fund_share_cap(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A fund covers at most its maximum share of any one investment.

    ∀(f,k,t) ∈ FINANCE, max_capex_share[f] < 1:
        Finance[f,k,t] ≤ max_capex_share[f]·module_capex[k]·Build[k,t]
    (at share 1 the row is implied by financing_within_capex).
    """
    rows = [x for x in ix.finance if ix.fund_max_share[x[0]] < 1.0]
    m.FUND_SHARE_FKT = pyo.Set(dimen=5, initialize=rows, ordered=True)
    m.fund_share_cap = pyo.Constraint(
        m.FUND_SHARE_FKT,
        rule=lambda m, f, s, q, c, t: m.Finance[f, s, q, c, t]
        <= ix.fund_max_share[f] * ix.suite_capex[(s, q, c)] * m.Build[s, q, c, t])


def add_fund_budget(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A fund spends at most its budget in each period.

    ∀(f,t) with eligible investments:  Σ_k Finance[f,k,t] ≤ budget[f,t]
    """
    by_fund = _group(ix.finance, lambda x: (x[0], x[4]))
    reinvested = set(ix.reinvestment.reinvest)
    m.FUND_BUDGET_FT = pyo.Set(dimen=2, initialize=ix.fund_budget_rows, ordered=True)
    m.fund_budget = pyo.Constraint(
        m.FUND_BUDGET_FT,
        rule=lambda m, f, t: pyo.quicksum(m.Finance[x] for x in by_fund[(f, t)])
        <= ix.fund_budget.get((f, t), 0.0) + (m.Reinvest[f, t] if (f, t) in reinvested else 0))


def add_reservation_capacity(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A reservation's members use at most the slots it reserves.

    ∀(v,t) ∈ RESERVE_VT:  Σ_p ReservedUse[v,p,t] ≤ block[v]·Reserve[v,t]
    """
    res = ix.reservations
    users = _group(res.use, lambda u: (u[0], u[2]))
    m.reservation_capacity = pyo.Constraint(
        m.RESERVE_VT, rule=lambda m, v, t: pyo.quicksum(m.ReservedUse[u] for u in users[(v, t)])
        <= res.block[v] * m.Reserve[v, t])


def add_reservation_min_take(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Take-or-pay: members use at least the minimum take of what they reserve.

    ∀(v,t) ∈ RESERVE_VT, min_take[v] > 0:
        Σ_p ReservedUse[v,p,t] ≥ min_take[v]·block[v]·Reserve[v,t]
    """
    res = ix.reservations
    users = _group(res.use, lambda u: (u[0], u[2]))
    rows = [r for r in res.reserve if res.min_take[r[0]] > 0]
    m.MIN_TAKE_VT = pyo.Set(dimen=2, initialize=rows, ordered=True)
    m.reservation_min_take = pyo.Constraint(
        m.MIN_TAKE_VT, rule=lambda m, v, t: pyo.quicksum(m.ReservedUse[u] for u in users[(v, t)])
        >= res.min_take[v] * res.block[v] * m.Reserve[v, t])


def add_reserved_use_is_production(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """A program uses reserved slots only for what it makes at that suite.

    ∀(p,s,t) ∈ RESERVED_PST:
        Σ_{v at s: (v,p,t) ∈ RESERVE_USE_VPT} ReservedUse[v,p,t] ≤ Σ_m slots[p,s]·Ship[p,s,m,t]
    """
    res = ix.reservations
    uses = _group(res.use, lambda u: (u[1], res.suite[u[0]][0], u[2]))
    ships = _group(ix.ship, lambda key: (key[0], key[1], key[3]))
    m.RESERVED_PST = pyo.Set(dimen=3, initialize=res.use_rows, ordered=True)
    m.reserved_use_is_production = pyo.Constraint(
        m.RESERVED_PST, rule=lambda m, p, s, t: pyo.quicksum(m.ReservedUse[u]
                                                             for u in uses[(p, s, t)])
        <= pyo.quicksum(ix.slots_per_batch.get((p, s), 1.0) * m.Ship[k] for k in ships[(p, s, t)]))


def add_operating_margin(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """The consortium's operating margin of a period (undiscounted MUSD), where it feeds
    a bank's reinvestment.

    ∀t ∈ MARGIN_T:  Margin[t] = Σ_offtakes committed·price − Σ_existing s years_t·fixed[s]
        + Σ_{SERVE at t} value·Serve − Σ_{SHIP at t} cost·Ship
        − Σ_{(s,t0): pos(t0)+lead[s] ≤ pos(t)} years_t·fixed[s]·Open[s,t0]
        − Σ_{RESERVE at t} fee[v]·block[v]·Reserve[v,t]
    (cost = production + transport + tariffs per batch, undiscounted)
    """
    loop, res = ix.reinvestment, ix.reservations
    ships = _group(list(loop.ship_cost), lambda key: (key[3],))
    serves = _group(list(loop.serve_value), lambda d: (d[2],))
    opens = _group(list(loop.open_fixed), lambda o: (o[2],))
    reserves = _group(res.reserve, lambda r: (r[1],))

    def rule(m: pyo.ConcreteModel, t: int) -> object:
        return m.Margin[t] == loop.revenue_fixed[t] \
            + pyo.quicksum(loop.serve_value[d] * m.Serve[d] for d in serves.get((t,), ())) \
            - pyo.quicksum(loop.ship_cost[k] * m.Ship[k] for k in ships.get((t,), ())) \
            - pyo.quicksum(loop.open_fixed[o] * m.Open[o[:2]] for o in opens.get((t,), ())) \
            - pyo.quicksum(res.fee[r[0]] * res.block[r[0]] * m.Reserve[r]
                           for r in reserves.get((t,), ()))

    m.operating_margin = pyo.Constraint(m.MARGIN_T, rule=rule)


def add_reinvest_from_margin(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Reinvestment is at most the fund's share of last period's margin, when positive.

    ∀(f,t) ∈ REINVEST_FT, τ = the period before t:
        Reinvest[f,t] ≤ share[f]·(Margin[τ] − lower_τ·(1 − Profitable[τ]))
        Reinvest[f,t] ≤ share[f]·upper_τ·Profitable[τ]         (reinvest_only_from_profit)
    Together: Reinvest[f,t] ≤ share[f]·max(0, Margin[τ]); lower_τ ≤ Margin[τ] ≤ upper_τ
    are the margin's bounds from the data, so each row is the tightest of its form.
    """
    loop = ix.reinvestment
    before = {t: ix.periods[ix.position[t] - 1] for (_f, t) in loop.reinvest}
    m.reinvest_from_margin = pyo.Constraint(
        m.REINVEST_FT, rule=lambda m, f, t: m.Reinvest[f, t] <= loop.share[f] * (
            m.Margin[before[t]] - loop.lower[before[t]] * (1 - m.Profitable[before[t]])))
    m.reinvest_only_from_profit = pyo.Constraint(
        m.REINVEST_FT, rule=lambda m, f, t: m.Reinvest[f, t]
        <= loop.share[f] * loop.upper[before[t]] * m.Profitable[before[t]])


CONSTRAINT_BUILDERS: tuple[Callable[[pyo.ConcreteModel, IndexSets], None], ...] = (
    add_suite_capacity,
    add_module_cap,
    add_site_opens_once,
    add_module_requires_open_site,
    add_site_open_by,
    add_ship_requires_open_site,
    add_production_requires_assignment,
    add_program_site_limit,
    add_demand_balance,
    add_min_domestic_share,
    add_market_supply,
    add_max_operator_share,
    add_max_country_share,
    add_max_time_to_market,
    add_financing_within_capex,
    add_fund_share_cap,
    add_fund_budget,
    add_reservation_capacity,
    add_reservation_min_take,
    add_reserved_use_is_production,
    add_operating_margin,
    add_reinvest_from_margin,
)
