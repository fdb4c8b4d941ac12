"""One builder per constraint family: ``add_<family>`` builds constraint ``<family>``.

Each docstring gives the family's math; ``models/formulation.md`` is the reference.
Rows are created only for the sparse row sets of `IndexSets`. A rule returns the row's
terms, all variables on the left, and its right-hand side (`capacity.model.linear`):
``("Ship", keys, coefs)`` is Σ_i coefs_i·Ship[keys_i]. Code letters: ``mk`` is the market.

What each builder reads from the model and what it adds to it is declared in
`capacity.model.BUILDERS`, which runs them in that order. They write the hard model only;
elastic mode's slacks are an overlay (`capacity.model.elastic`) that the same list runs
right after each family they relax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from capacity.model.index_sets import IndexSets, group, rule_demand
from capacity.model.linear import Key, LinearModel, Term
from capacity.model.measures import ship_weights


def _positions_by_row(rows: list[Key], row_of_each: Iterable[Key], count: int,
                      ) -> dict[Key, np.ndarray]:
    """For each of ``rows``, the positions i whose ``row_of_each[i]`` it is, ascending."""
    number = {row: i for i, row in enumerate(rows)}
    of_each = np.fromiter((number[r] for r in row_of_each), dtype=np.int64, count=count)
    order = np.argsort(of_each, kind="stable")
    cuts = np.searchsorted(of_each[order], np.arange(len(rows) + 1))
    return {row: order[cuts[i]:cuts[i + 1]] for i, row in enumerate(rows)}


def _online_builds(ix: IndexSets) -> dict[tuple[str, str, str], list[tuple[str, str, str, int]]]:
    return group(ix.build, lambda b: b[:3])


def _online_by(ix: IndexSets, builds: dict[tuple[str, str, str], list[tuple[str, str, str, int]]],
               k: Key, t: int) -> list[tuple[str, str, str, int]]:
    """Suite k's build keys whose modules are online in period t (pos(t')+lead[k] ≤ pos(t))."""
    return [b for b in builds.get(k, ()) if ix.position[b[3]] + ix.suite_lead[k] <= ix.position[t]]


def add_suite_capacity(lm: LinearModel, ix: IndexSets) -> None:
    """Suite capacity: batch slots used never exceed existing plus online modules.

    ∀(k,t) ∈ CAPACITY_KT:
        Σ_{(p,s,m,t) ∈ SHIP, suite(p,s,t)=k, L[p]=0} slots[p,s]·Ship[p,s,m,t]
          + Σ_{(p,s,c,t) ∈ MAKE, (s,modality(p),c)=k} slots[p,s]·Make[p,s,c,t]
          − Σ_{(v,p,t) ∈ RESERVE_USE_VPT, suite(v)=k} ReservedUse[v,p,t]
            ≤ existing_batches[k] + module_batches[k]·Σ_{t' : pos(t')+lead[k] ≤ pos(t)} Build[k,t']
    (slots used under a reservation come on top of the suite's own capacity);
    slots[p,s] = slots_per_batch ÷ success rate: Ship counts delivered batches, and the
    failed ones take their slots too (`capacity.model.index_sets.slot_use`). A storable
    program (shelf life L[p] ≥ 1) takes its slots in the period a batch is made, not the
    one it ships in (`capacity.model.inventory`).
    Elastic mode counts modules early: `add_early_modules`, `add_early_modules_to_capacity`.
    """
    inv = ix.inventory
    made_ahead = np.zeros(len(ix.ship), dtype=bool)
    made_ahead[list(inv.made_when_shipped)] = True  # shipments of storable programs
    ships = _positions_by_row(ix.capacity_rows, (
        (*k, key[3]) for key, k in zip(ix.ship, ix.ship_suite, strict=True)), len(ix.ship))
    made = group(inv.make, lambda m: (m[1], inv.modality[m[0]], m[2], m[3]))
    reserved = group(ix.reservations.use, lambda u: (*ix.reservations.suite[u[0]], u[2]))
    builds = _online_builds(ix)

    def rule(row: Key) -> tuple[list[Term], float]:
        s, q, c, t = row
        k = (s, q, c)
        shipped = ships[row]
        if inv.made_when_shipped:
            shipped = shipped[~made_ahead[shipped]]
        making = made.get(row, [])
        online = _online_by(ix, builds, k, t)
        return [("Ship", shipped, ix.ship_slots[shipped]),
                ("Make", making, [ix.slots(m[0], m[1]) for m in making]),
                ("ReservedUse", reserved.get(row, ()), -1.0),
                ("Build", online, -ix.suite_module[k])], ix.suite_existing[k]

    lm.add_rows("suite_capacity", "CAPACITY_KT", "<=", rule)


def add_committed_cover(lm: LinearModel, ix: IndexSets) -> None:
    """Committed cover: the capacity of a modality and scale covers what must be made in it.

    ∀(q,c,t) ∈ COVER_QCT:
        Σ_{k=(s,q,c)} module_batches[k]·Σ_{t' : pos(t')+lead[k] ≤ pos(t)} Build[k,t']
          + Σ_{(v,t) ∈ RESERVE_VT, suite(v)=(·,q,c)} block[v]·Reserve[v,t]
            ≥ need[q,c,t] − Σ_{k=(s,q,c)} existing_batches[k]
    need[q,c,t] = Σ_{(p,m,t) committed, not in SHORTFALL_PMT} min_s slots[p,s]·committed[p,m,t]
    over (p,m,t) whose shipments are made in suites of (q,c), of programs that ship when
    they make (L[p] = 0: a storable batch may be made in an earlier period); rows only
    where need exceeds the existing capacity.

    A valid inequality: the sum of `suite_capacity` over the suites of (q,c) and of
    `reservation_capacity`, with `demand_balance`, implies it, so the LP bound is the same.
    Written out, it is a knapsack row over the integer Build and Reserve, which HiGHS
    rounds and separates covers from: where modules are of one size it says "at least
    ⌈(need − existing)/module⌉ modules". On OR-Library capb (capacity 5000) it took
    HiGHS from 299 s to 26 s to optimality (benchmarks/RESULTS.md). Elastic: no rows
    (every commitment may go short: `IndexSets.may_go_short`).
    """
    unmet = set(ix.may_go_short)
    cheapest: dict[Key, tuple[Key, float]] = {}  # (p,m,t) -> ((q,c,t), fewest slots)
    for (p, _s, mk, t), (_site, q, c), slots in zip(ix.ship, ix.ship_suite,
                                                    ix.ship_slots.tolist(), strict=True):
        demand = (p, mk, t)
        if demand not in ix.committed or demand in unmet or ix.inventory.stores(p):
            continue
        known = cheapest.get(demand)
        if known is None or slots < known[1]:
            cheapest[demand] = ((q, c, t), slots)
    need: dict[Key, float] = {}
    for demand, (qct, slots) in cheapest.items():
        need[qct] = need.get(qct, 0.0) + slots * ix.committed[demand]
    suites = group(ix.suite_existing, lambda k: k[1:])
    existing = {qc: sum(ix.suite_existing[k] for k in ks) for qc, ks in suites.items()}
    builds = _online_builds(ix)
    res = ix.reservations
    reserves = group(res.reserve, lambda vt: (*res.suite[vt[0]][1:], vt[1]))
    rows = sorted(qct for qct, slots in need.items()
                  if slots > existing.get(qct[:2], 0.0) + 1e-9)
    lm.add_set("COVER_QCT", rows, 3)

    def rule(row: Key) -> tuple[list[Term], float]:
        q, c, t = row
        terms: list[Term] = [("Build", _online_by(ix, builds, k, t), ix.suite_module[k])
                             for k in suites.get((q, c), ())]
        terms += [("Reserve", [vt], res.block[vt[0]]) for vt in reserves.get(row, ())]
        return terms, need[row] - existing.get((q, c), 0.0)

    lm.add_rows("committed_cover", "COVER_QCT", ">=", rule)


def add_module_cap(lm: LinearModel, ix: IndexSets) -> None:
    """Module cap: no more modules over the horizon than the suite allows.

    ∀k ∈ MODULE_CAP_K (suites with more than one build period):
        Σ_t Build[k,t] ≤ max_modules[k]
    (with one build period the variable's upper bound already says it). Elastic: every
    suite with builds gets a row (`IndexSets.module_cap_rows`), relaxed by
    `add_extra_modules`.
    """
    builds = _online_builds(ix)
    lm.add_set("MODULE_CAP_K", ix.module_cap_rows, 3)
    lm.add_rows("module_cap", "MODULE_CAP_K", "<=", lambda k: (
        [("Build", builds[k], 1.0)], ix.suite_max_modules[k]))


def add_site_opens_once(lm: LinearModel, ix: IndexSets) -> None:
    """A candidate site is opened at most once.

    ∀ candidate s with more than one opening period:  Σ_t Open[s,t] ≤ 1
    """
    opens = group(ix.open, lambda o: (o[0],))
    lm.add_set("OPENS_ONCE_S", sorted(s for (s,), o in opens.items() if len(o) > 1))
    lm.add_rows("site_opens_once", "OPENS_ONCE_S", "<=",
                lambda s: ([("Open", opens[(s,)], 1.0)], 1.0))


def add_module_requires_open_site(lm: LinearModel, ix: IndexSets) -> None:
    """Modules at a candidate site come online only once the site is open.

    ∀(k,t) ∈ BUILD, site(k) candidate:
        Build[k,t] ≤ max_modules[k]·Σ_{t0 : pos(t0)+lead[s] ≤ pos(t)+lead[k]} Open[s,t0]

    The bound max_modules[k] is the variable's own upper bound, the tightest big-M
    (in elastic mode the bound includes the elastic allowance).
    """
    opens = group(ix.open, lambda o: (o[0],))
    pos = ix.position
    lm.add_set("REQUIRES_OPEN_KT",
               [b for b in ix.build if ix.site_status[b[0]] == "candidate"], 4)

    def rule(b: Key) -> tuple[list[Term], float]:
        s, q, c, t = b
        k = (s, q, c)
        online = pos[t] + ix.suite_lead[k]
        opened = [o for o in opens[(s,)] if pos[o[1]] + ix.site_lead[s] <= online]
        return [("Build", [b], 1.0), ("Open", opened, -ix.build_upper[k])], 0.0

    lm.add_rows("module_requires_open_site", "REQUIRES_OPEN_KT", "<=", rule)


def add_site_open_by(lm: LinearModel, ix: IndexSets) -> None:
    """Whether a candidate site is open (producing) in a period, as one variable.

    ∀(s,t) ∈ OPEN_BY_ST:  OpenBy[s,t] ≤ Σ_{t0 : pos(t0)+lead[s] ≤ pos(t)} Open[s,t0]

    OPEN_BY_ST holds the (s,t) of shipments from candidate sites. An exact reformulation
    (OpenBy = the sum is always allowed, and OpenBy only bounds shipments from above, so
    the LP relaxation is unchanged): `ship_requires_open_site` then has two terms per row
    instead of one per opening period (tier M: ~80k nonzeros fewer). "≤" rather than "=":
    with equality rows HiGHS's feasibility jump found no first plan at tier M in 300 s.
    """
    opens = group(ix.open, lambda o: (o[0],))
    pos = ix.position
    rows = sorted({(k[1], k[3]) for k in ix.ship if ix.site_status[k[1]] == "candidate"},
                  key=lambda st: (st[0], pos[st[1]]))
    lm.add_set("OPEN_BY_ST", rows, 2)
    lm.add_var("OpenBy", "OPEN_BY_ST", "continuous", upper=1.0)
    lm.add_rows("site_open_by", "OPEN_BY_ST", "<=", lambda st: (
        [("OpenBy", [st], 1.0),
         ("Open", [o for o in opens.get((st[0],), ())
                   if pos[o[1]] + ix.site_lead[st[0]] <= pos[st[1]]], -1.0)], 0.0))


def add_ship_requires_open_site(lm: LinearModel, ix: IndexSets) -> None:
    """No shipment from a candidate site before it is open (disaggregated linking).

    ∀(p,s,m,t) ∈ SHIP, s candidate:  Ship[p,s,m,t] ≤ V[p,s,m,t]·OpenBy[s,t]

    V[p,s,m,t] = min(committed + potential of (p,m,t), most capacity of the suite /
    slots[p,s]). Implied by suite_capacity and module_requires_open_site for integer
    solutions, but much tighter in the LP relaxation: it is the x_ij ≤ y_i inequality of
    the strong facility-location formulation.
    """
    ship, status = ix.ship, ix.site_status
    shipped = np.flatnonzero(np.fromiter((status[k[1]] == "candidate" for k in ship),
                                         dtype=bool, count=len(ship)))
    keys = lm.add_set("SHIP_OPEN_PSMT", [ship[i] for i in shipped.tolist()], 4)
    open_by = {st: i for i, st in enumerate(lm.sets["OPEN_BY_ST"].keys)}
    rows = np.arange(len(keys))
    lm.add_rows_from_arrays("ship_requires_open_site", "SHIP_OPEN_PSMT", "<=",
                            np.zeros(len(keys)), [
        ("Ship", rows, shipped, 1.0),
        ("OpenBy", rows, np.fromiter((open_by[(k[1], k[3])] for k in keys), dtype=np.int64,
                                     count=len(keys)), -ix.ship_bound[shipped])])


def add_ship_requires_assignment(lm: LinearModel, ix: IndexSets) -> None:
    """A program is shipped only from sites it has been transferred to (disaggregated
    linking, per shipment).

    ∀(p,s,m,t) ∈ SHIP with (p,s,c) ∈ ASSIGN:  Ship[p,s,m,t] ≤ V[p,s,m,t]·Assign[p,s,c]
    c = the phase of p in t (``both`` where p's phases move as one:
    `capacity.model.phases`).

    The x_ij ≤ y_i inequality of the strong facility-location formulation, as
    `ship_requires_open_site` is for opening. One row per (p,s,t) summed over markets
    is what integer plans need, but its LP relaxation lets a program with max_sites 1
    be half-assigned to two sites and ship all of each market's demand from the better
    one; per market, half an assignment carries at most half the demand. On generated
    tier M this raised the LP bound by 0.45% (benchmarks/RESULTS.md).
    """
    linked = np.flatnonzero(ix.ship_assign >= 0)
    keys = lm.add_set("SHIP_ASSIGN_PSMT", [ix.ship[i] for i in linked.tolist()], 4)
    rows = np.arange(len(keys))
    lm.add_rows_from_arrays("ship_requires_assignment", "SHIP_ASSIGN_PSMT", "<=",
                            np.zeros(len(keys)), [
        ("Ship", rows, linked, 1.0),
        ("Assign", rows, ix.ship_assign[linked], -ix.ship_bound[linked])])


def add_production_requires_assignment(lm: LinearModel, ix: IndexSets) -> None:
    """A program's production at a site within what the suite can ever make of it.

    ∀(p,s,t) ∈ PRODUCTION_PST:  Σ_m Ship[p,s,m,t] ≤ U[p,s,t]·Assign[p,s,c]
    (c as in `add_ship_requires_assignment`)

    U[p,s,t] = min(demand of p reachable from s in t, most capacity of the suite /
    slots[p,s]). Built only where the capacity term is the smaller, below Σ_m V of
    the shipments' `ship_requires_assignment` rows: elsewhere it is their sum.
    """
    rows = lm.add_set("PRODUCTION_PST", ix.production_rows, 3)
    made = np.flatnonzero(ix.ship_production_row >= 0)  # shipments with a row here
    lm.add_rows_from_arrays("production_requires_assignment", "PRODUCTION_PST", "<=",
                            np.zeros(len(rows)), [
        ("Ship", ix.ship_production_row[made], made, 1.0),
        ("Assign", np.arange(len(rows)), ix.production_assign, -ix.production_bound)])


def add_program_site_limit(lm: LinearModel, ix: IndexSets) -> None:
    """Each phase of a program is transferred to at most ``max_sites`` sites.

    ∀(p,c) with more eligible sites than max_sites[p]:  Σ_s Assign[p,s,c] ≤ max_sites[p]
    (c ``both``: the sites of a program whose phases move as one, the rule before phases)
    """
    assigns = group(ix.assign, lambda a: (a[0], a[2]))
    lm.add_set("SITE_LIMIT_PC", sorted(pc for pc, a in assigns.items()
                                       if len(a) > ix.program_max_sites[pc[0]]), 2)
    lm.add_rows("program_site_limit", "SITE_LIMIT_PC", "<=", lambda pc: (
        [("Assign", assigns[pc], 1.0)], ix.program_max_sites[pc[0]]))


def add_demand_balance(lm: LinearModel, ix: IndexSets) -> None:
    """Shipments meet committed offtake in full, plus any potential demand served.

    ∀(p,m,t) ∈ DEMAND_PMT:  Σ_s Ship[p,s,m,t] = committed[p,m,t] + Serve[p,m,t]

    Serve ≤ potential is the variable's bound, so potential demand is an upper bound.
    Elastic: + Shortfall[p,m,t] on the left where committed > 0. With an unmet penalty
    (stochastic model): + Shortfall[p,m,t] on the left for (p,m,t) ∈ SHORTFALL_PMT, the
    commitments allowed to go unmet at a cost (`add_total_cost`).
    """
    rows = lm.add_set("DEMAND_PMT", ix.demand_rows, 3)
    unmet = lm.add_set("SHORTFALL_PMT", ix.may_go_short, 3)
    lm.add_var("Shortfall", "SHORTFALL_PMT", "continuous")
    row = {d: i for i, d in enumerate(rows)}  # every SHIP, SERVE and SHORTFALL key has one

    def numbers(keys: Iterable[Key], count: int) -> np.ndarray:
        return np.fromiter((row[d] for d in keys), dtype=np.int64, count=count)

    lm.add_rows_from_arrays("demand_balance", "DEMAND_PMT", "==",
                            np.array([ix.committed.get(d, 0.0) for d in rows]), [
        ("Ship", numbers(((k[0], k[2], k[3]) for k in ix.ship), len(ix.ship)),
         np.arange(len(ix.ship)), 1.0),
        ("Shortfall", numbers(unmet, len(unmet)), np.arange(len(unmet)), 1.0),
        ("Serve", numbers(ix.serve, len(ix.serve)), np.arange(len(ix.serve)), -1.0)])


def _market_ships(ix: IndexSets) -> dict[tuple[str, int], np.ndarray]:
    return ix.ships_by_market


def add_min_domestic_share(lm: LinearModel, ix: IndexSets) -> None:
    """Minimum domestic share: supply to a market made in that market's region, each
    batch counted in the rule's measure, w[p,m,t] (1 for ``batches``:
    `capacity.model.measures`).

    Basis ``supply`` (the default), ∀ rule u (min_domestic_share, market m), t with
    supply to m:
        Σ_{(p,s,m,t) ∈ SHIP, region(s)=m} w·Ship ≥ share[u]·Σ_{(p,s,m,t) ∈ SHIP} w·Ship
    Basis ``demand``, ∀ u, t with demand in m (D_w[m,t] = Σ_p w·(committed + potential)
    > 0):
        Σ_{(p,s,m,t) ∈ SHIP, region(s)=m} w·Ship ≥ share[u]·D_w[m,t]
    (a constant on the right: supplying less does not help meet it).
    Elastic: relaxed by `add_domestic_shortfall`.
    """
    by_market = _market_ships(ix)
    rules = {u.rule: u for u in ix.share_rules if u.kind == "min_domestic_share"}
    demand = {u.rule: _rule_demand(ix, u.market, None, u.measure) for u in rules.values()
              if u.basis == "demand"}

    def has_row(u: str, t: int) -> bool:
        if u in demand:
            return rules[u].share * demand[u].get(t, 0.0) > 0
        return (rules[u].market, t) in by_market

    lm.add_set("DOMESTIC_SHARE_UT", sorted((u, t) for u in rules for t in ix.periods
                                           if has_row(u, t)), 2)

    def rule(ut: Key) -> tuple[list[Term], float]:
        u, t = ut
        r = rules[u]
        shipped = by_market.get((r.market, t), np.array([], dtype=np.int64))
        domestic = [1.0 if ix.site_region[ix.ship[i][1]] == r.market else 0.0
                    for i in shipped.tolist()]
        if r.measure != "batches":
            w = ship_weights(ix, r.measure, shipped)
            if u in demand:
                return [("Ship", shipped, w * np.array(domestic))], r.share * demand[u][t]
            return [("Ship", shipped, w * (np.array(domestic) - r.share))], 0.0
        if u in demand:  # domestic ≥ share·D
            return [("Ship", shipped, domestic)], r.share * demand[u][t]
        # domestic − share·all ≥ 0, one coefficient per shipment
        return [("Ship", shipped, [d - r.share for d in domestic])], 0.0

    lm.add_rows("min_domestic_share", "DOMESTIC_SHARE_UT", ">=", rule)


def _rule_demand(ix: IndexSets, market: str, programs: Iterable[str] | None,
                 measure: str = "batches") -> dict[int, float]:
    """D[m,t]: committed + potential demand of ``market`` (of ``programs``: all when None)
    by period, each batch counted in ``measure``."""
    keys = set(ix.committed) | {d for d, b in ix.potential.items() if b > 0}
    demand = {d: ix.committed.get(d, 0.0) + ix.potential.get(d, 0.0) for d in keys}
    if measure != "batches":
        demand = {d: ix.measures.of(measure, d) * b for d, b in demand.items()
                  if d[1] == market}
    return rule_demand(keys, market, programs, demand)


def add_min_service_level(lm: LinearModel, ix: IndexSets) -> None:
    """Minimum service level: a market's demand served, committed and potential, is at
    least a share of that demand, in every period, each batch counted in the rule's
    measure, w[p,m,t] (1 for ``batches``: `capacity.model.measures`); rules out meeting a
    share rule by serving less.

    ∀ rule u (min_service_level, market m, programs P_u: of its modality, or all), t:
        Σ_{(p,m,t) ∈ SERVE, p ∈ P_u} w·Serve[p,m,t] − Σ_{(p,m,t) ∈ SHORTFALL_PMT, p ∈ P_u}
            w·Shortfall[p,m,t] ≥ level[u]·D[u,t] − C[u,t]
    C[u,t] = Σ_{p ∈ P_u} w·committed[p,m,t], D[u,t] = C[u,t] + Σ_{p ∈ P_u}
    w·potential[p,m,t] (by `demand_balance` the left plus C is Σ_s w·Ship: what is
    served). Rows where level·D > C, or where a commitment may go short; where no plan
    can reach the level the case is infeasible before any solve (`unservable`).
    Elastic: relaxed by `add_service_shortfall`.
    """
    serves = group(ix.serve, lambda d: (d[1], d[2]))
    shorts = group(ix.may_go_short, lambda d: (d[1], d[2]))
    rules = {r.rule: r for r in ix.service_rules}
    rhs: dict[Key, float] = {}
    terms: dict[Key, tuple[list[Key], list[Key]]] = {}
    for u, r in rules.items():
        mine = set(r.programs)
        demand = _rule_demand(ix, r.market, mine, r.measure)
        weighted = ix.committed if r.measure == "batches" else {
            d: ix.measures.of(r.measure, d) * b for d, b in ix.committed.items()
            if d[1] == r.market}
        committed = rule_demand(weighted, r.market, mine, weighted)
        for t in ix.periods:
            need = r.level * demand.get(t, 0.0)
            served = [d for d in serves.get((r.market, t), ()) if d[0] in mine]
            short = [d for d in shorts.get((r.market, t), ()) if d[0] in mine]
            if need > 0 and (need - committed.get(t, 0.0) > 1e-9 or short):
                rhs[(u, t)] = need - committed.get(t, 0.0)
                terms[(u, t)] = (served, short)

    def row(ut: Key) -> tuple[list[Term], float]:
        served, short = terms[ut]
        r = rules[ut[0]]
        if r.measure == "batches":
            return [("Serve", served, 1.0), ("Shortfall", short, -1.0)], rhs[ut]
        return [("Serve", served, [ix.measures.of(r.measure, d) for d in served]),
                ("Shortfall", short, [-ix.measures.of(r.measure, d) for d in short])], rhs[ut]

    lm.add_set("SERVICE_LEVEL_UT", sorted(rhs), 2)
    lm.add_rows("min_service_level", "SERVICE_LEVEL_UT", ">=", row)


def _max_share_markets(ix: IndexSets) -> list[tuple[str, int]]:
    """(m,t) of markets with a max-share rule counted in batches, in periods with supply
    to them (rules in another measure use `MeasuredSupply`: `capacity.model.measures`)."""
    markets = {u.market for u in ix.share_rules
               if u.kind in ("max_operator_share", "max_country_share")
               and u.measure == "batches"}
    return sorted(mt for mt in _market_ships(ix) if mt[0] in markets)


def add_market_supply(lm: LinearModel, ix: IndexSets) -> None:
    """Total supply to a market with a max-share rule counted in batches, as one variable.

    ∀(m,t) ∈ SUPPLY_MT:  Supply[m,t] ≤ Σ_{(p,s,m,t) ∈ SHIP} Ship[p,s,m,t]

    An exact reformulation (Supply = the sum is always allowed, and Supply only bounds
    the max-share rows from above): each max-share row then holds its own shipments and
    Supply instead of every shipment to the market (tier M: 425k → ~43k nonzeros). "≤"
    rather than "=" for the same reason as `site_open_by`.
    """
    by_market = _market_ships(ix)
    lm.add_set("SUPPLY_MT", _max_share_markets(ix), 2)
    lm.add_var("Supply", "SUPPLY_MT", "continuous")
    lm.add_rows("market_supply", "SUPPLY_MT", "<=", lambda mt: (
        [("Supply", [mt], 1.0), ("Ship", by_market[mt], -1.0)], 0.0))


def _add_max_share(lm: LinearModel, ix: IndexSets, kind: str, set_name: str,
                   con_name: str, owner: Callable[[str], str]) -> None:
    rules = {u.rule: u for u in ix.share_rules if u.kind == kind}
    markets = {u.market for u in rules.values()}
    ship = ix.ship
    owned = {row: np.array(positions) for row, positions in group(
        (i for i, k in enumerate(ship) if k[2] in markets),
        lambda i: (ship[i][2], ship[i][3], owner(ship[i][1]))).items()}
    lm.add_set(set_name, sorted((u.rule, who, t) for u in rules.values() for who in u.subjects
                                for t in ix.periods if (u.market, t, who) in owned), 3)

    def rule(row: Key) -> tuple[list[Term], float]:
        u, who, t = row
        r = rules[u]
        mine = owned[(r.market, t, who)]
        if r.measure != "batches":  # Σ_own w·Ship ≤ share·MeasuredSupply[n,m,t]
            return [("Ship", mine, ship_weights(ix, r.measure, mine)),
                    ("MeasuredSupply", [(r.measure, r.market, t)], -r.share)], 0.0
        return [("Ship", mine, 1.0), ("Supply", [(r.market, t)], -r.share)], 0.0

    lm.add_rows(con_name, set_name, "<=", rule)


def add_max_operator_share(lm: LinearModel, ix: IndexSets) -> None:
    """Maximum share of one operator in a market's supply.

    ∀ rule u (max_operator_share, market m), operator o ∈ subjects[u], t:
        Σ_{(p,s,m,t) ∈ SHIP, operator(s)=o} Ship ≤ share[u]·Supply[m,t]
    in batches; in another measure n, Σ w_n·Ship ≤ share[u]·MeasuredSupply[n,m,t].
    Elastic: relaxed by `add_operator_excess`.
    """
    _add_max_share(lm, ix, "max_operator_share", "OPERATOR_SHARE_UOT", "max_operator_share",
                   ix.site_operator.__getitem__)


def add_max_country_share(lm: LinearModel, ix: IndexSets) -> None:
    """Maximum share of one producing region (country) in a market's supply.

    ∀ rule u (max_country_share, market m), region r ∈ subjects[u], t:
        Σ_{(p,s,m,t) ∈ SHIP, region(s)=r} Ship ≤ share[u]·Supply[m,t]
    in batches; in another measure n, Σ w_n·Ship ≤ share[u]·MeasuredSupply[n,m,t].
    Elastic: relaxed by `add_country_excess`.
    """
    _add_max_share(lm, ix, "max_country_share", "COUNTRY_SHARE_URT", "max_country_share",
                   ix.site_region.__getitem__)


def add_max_time_to_market(lm: LinearModel, ix: IndexSets) -> None:
    """Time to market: the programs' mean years of a market's potential demand left
    unserved stays within the rule's limit (a linear proxy: a program launched L years
    after its demand starts scores L; partly served periods count in part).

    ∀ rule u (max_time_to_market, market m) with SERVE keys in m:
        constant[u] − Σ_{(p,m,t) ∈ SERVE} weight[u,p,t]·Serve[p,m,t] ≤ limit[u]
    weight = years_t / (|P_m|·(committed + potential)[p,m,t]), P_m the programs with
    potential demand in m; constant[u] = Σ weight·potential over all of m's potential
    demand (`TimeToMarketRule`). Elastic: relaxed by `add_late_excess`.
    """
    rules = {r.rule: r for r in ix.time_to_market_rules if r.weight}
    lm.add_set("TIME_TO_MARKET_U", sorted(rules))
    lm.add_rows("max_time_to_market", "TIME_TO_MARKET_U", "<=", lambda u: (
        [("Serve", list(rules[u].weight), [-w for w in rules[u].weight.values()])],
        rules[u].limit - rules[u].constant))


def add_financing_within_capex(lm: LinearModel, ix: IndexSets) -> None:
    """Funds together cover at most the capex actually spent.

    ∀(k,t) ∈ BUILD with eligible funds:  Σ_f Finance[f,k,t] ≤ module_capex[k]·Build[k,t]
    """
    by_build = group(ix.finance, lambda x: x[1:])
    lm.add_set("FINANCED_KT", sorted(by_build), 4)
    lm.add_rows("financing_within_capex", "FINANCED_KT", "<=", lambda b: (
        [("Finance", by_build[b], 1.0), ("Build", [b], -ix.suite_capex[b[:3]])], 0.0))


def add_fund_share_cap(lm: LinearModel, ix: IndexSets) -> None:
    """A fund covers at most its maximum share of any one investment.

    ∀(f,k,t) ∈ FINANCE, max_capex_share[f] < 1:
        Finance[f,k,t] ≤ max_capex_share[f]·module_capex[k]·Build[k,t]
    (at share 1 the row is implied by financing_within_capex).
    """
    lm.add_set("FUND_SHARE_FKT", [x for x in ix.finance if ix.fund_max_share[x[0]] < 1.0], 5)
    lm.add_rows("fund_share_cap", "FUND_SHARE_FKT", "<=", lambda x: (
        [("Finance", [x], 1.0),
         ("Build", [x[1:]], -ix.fund_max_share[x[0]] * ix.suite_capex[x[1:4]])], 0.0))


def add_financing_within_opening(lm: LinearModel, ix: IndexSets) -> None:
    """Funds together cover at most the opening cost actually spent.

    ∀(s,t) ∈ OPEN with eligible funds:
        Σ_f FinanceOpening[f,s,t] ≤ opening_cost[s]·Open[s,t]
    """
    by_opening = group(ix.finance_opening, lambda x: x[1:])
    lm.add_set("FINANCED_OPENING_ST", sorted(by_opening), 2)
    lm.add_rows("financing_within_opening", "FINANCED_OPENING_ST", "<=", lambda o: (
        [("FinanceOpening", by_opening[o], 1.0),
         ("Open", [o], -ix.financed_opening[o[0]])], 0.0))


def add_fund_opening_share_cap(lm: LinearModel, ix: IndexSets) -> None:
    """A fund covers at most its maximum share of any one site's opening cost.

    ∀(f,s,t) ∈ FINANCE_OPENING, max_capex_share[f] < 1:
        FinanceOpening[f,s,t] ≤ max_capex_share[f]·opening_cost[s]·Open[s,t]
    (at share 1 the row is implied by financing_within_opening).
    """
    lm.add_set("FUND_OPENING_SHARE_FST",
               [x for x in ix.finance_opening if ix.fund_max_share[x[0]] < 1.0], 3)
    lm.add_rows("fund_opening_share_cap", "FUND_OPENING_SHARE_FST", "<=", lambda x: (
        [("FinanceOpening", [x], 1.0),
         ("Open", [x[1:]], -ix.fund_max_share[x[0]] * ix.financed_opening[x[1]])], 0.0))


def add_fund_budget(lm: LinearModel, ix: IndexSets) -> None:
    """A fund spends at most its budget in each period, modules and openings together.

    ∀(f,t) with eligible investments:
        Σ_k Finance[f,k,t] + Σ_s FinanceOpening[f,s,t] ≤ budget[f,t] + Reinvest[f,t]
    (Reinvest only where the fund reinvests: `add_reinvest_from_margin`)
    """
    by_fund = group(ix.finance, lambda x: (x[0], x[4]))
    openings = group(ix.finance_opening, lambda x: (x[0], x[2]))
    reinvested = set(ix.reinvestment.reinvest)
    lm.add_set("FUND_BUDGET_FT", ix.fund_budget_rows, 2)
    lm.add_rows("fund_budget", "FUND_BUDGET_FT", "<=", lambda ft: (
        [("Finance", by_fund.get(ft, []), 1.0),
         ("FinanceOpening", openings.get(ft, []), 1.0),
         ("Reinvest", [ft] if ft in reinvested else [], -1.0)], ix.fund_budget.get(ft, 0.0)))


def add_reservation_capacity(lm: LinearModel, ix: IndexSets) -> None:
    """A reservation's members use at most the slots it reserves.

    ∀(v,t) ∈ RESERVE_VT:  Σ_p ReservedUse[v,p,t] ≤ block[v]·Reserve[v,t]
    """
    res = ix.reservations
    users = group(res.use, lambda u: (u[0], u[2]))
    lm.add_rows("reservation_capacity", "RESERVE_VT", "<=", lambda vt: (
        [("ReservedUse", users[vt], 1.0), ("Reserve", [vt], -res.block[vt[0]])], 0.0))


def add_reservation_min_take(lm: LinearModel, ix: IndexSets) -> None:
    """Take-or-pay: members use at least the minimum take of what they reserve.

    ∀(v,t) ∈ RESERVE_VT, min_take[v] > 0:
        Σ_p ReservedUse[v,p,t] ≥ min_take[v]·block[v]·Reserve[v,t]
    """
    res = ix.reservations
    users = group(res.use, lambda u: (u[0], u[2]))
    lm.add_set("MIN_TAKE_VT", [r for r in res.reserve if res.min_take[r[0]] > 0], 2)
    lm.add_rows("reservation_min_take", "MIN_TAKE_VT", ">=", lambda vt: (
        [("ReservedUse", users[vt], 1.0),
         ("Reserve", [vt], -res.min_take[vt[0]] * res.block[vt[0]])], 0.0))


def add_reserved_use_is_production(lm: LinearModel, ix: IndexSets) -> None:
    """A program uses reserved slots only for what it makes at that suite.

    ∀(p,s,t) ∈ RESERVED_PST:
        Σ_{v at s: (v,p,t) ∈ RESERVE_USE_VPT} ReservedUse[v,p,t] ≤ Σ_m slots[p,s]·Ship[p,s,m,t]
    """
    res = ix.reservations
    uses = group(res.use, lambda u: (u[1], res.suite[u[0]][0], u[2]))
    wanted = set(res.use_rows)
    ships = {pst: np.array(positions) for pst, positions in group(
        (i for i, k in enumerate(ix.ship) if wanted and (k[0], k[1], k[3]) in wanted),
        lambda i: (ix.ship[i][0], ix.ship[i][1], ix.ship[i][3])).items()}
    lm.add_set("RESERVED_PST", res.use_rows, 3)
    lm.add_rows("reserved_use_is_production", "RESERVED_PST", "<=", lambda pst: (
        [("ReservedUse", uses[pst], 1.0),
         ("Ship", ships[pst], -ix.slots(pst[0], pst[1]))], 0.0))


def add_operating_margin(lm: LinearModel, ix: IndexSets) -> None:
    """The consortium's operating margin of a period (undiscounted MUSD), where it feeds
    a bank's reinvestment.

    ∀t ∈ MARGIN_T:  Margin[t] = Σ_offtakes committed·price − Σ_existing s years_t·fixed[s]
        + Σ_{SERVE at t} value·Serve − Σ_{SHIP at t} cost·Ship
        − Σ_{MAKE at t} make·Make − Σ_{STOCK at t} h[p]·Stock
        − Σ_{(s,t0): pos(t0)+lead[s] ≤ pos(t)} years_t·fixed[s]·Open[s,t0]
        − Σ_{RESERVE at t} fee[v]·block[v]·Reserve[v,t]
    (cost = production + transport + tariffs per batch, undiscounted; a storable
    program's production is its Make's, `make` = variable cost·slots, paid when made)
    """
    loop, res = ix.reinvestment, ix.reservations
    makes = group(list(loop.make_cost), lambda k: (k[3],))
    stocks = group(list(loop.hold_cost), lambda k: (k[3],))
    ships = group(list(loop.ship_cost), lambda key: (key[3],))
    serves = group(list(loop.serve_value), lambda d: (d[2],))
    opens = group(list(loop.open_fixed), lambda o: (o[2],))
    reserves = group(res.reserve, lambda r: (r[1],))

    def rule(t: Key) -> tuple[list[Term], float]:
        shipped, served = ships.get((t,), []), serves.get((t,), [])
        opened, reserved = opens.get((t,), []), reserves.get((t,), [])
        return [("Margin", [t], 1.0),
                ("Serve", served, [-loop.serve_value[d] for d in served]),
                ("Ship", shipped, [loop.ship_cost[k] for k in shipped]),
                ("Make", makes.get((t,), []), [loop.make_cost[k] for k in makes.get((t,), [])]),
                ("Stock", stocks.get((t,), []),
                 [loop.hold_cost[k] for k in stocks.get((t,), [])]),
                ("Open", [o[:2] for o in opened], [loop.open_fixed[o] for o in opened]),
                ("Reserve", reserved, [res.fee[r[0]] * res.block[r[0]] for r in reserved])], \
            loop.revenue_fixed[t]

    lm.add_rows("operating_margin", "MARGIN_T", "==", rule)


def add_reinvest_from_margin(lm: LinearModel, ix: IndexSets) -> None:
    """Reinvestment is at most the fund's share of last period's margin, when positive.

    ∀(f,t) ∈ REINVEST_FT, τ = the period before t:
        Reinvest[f,t] ≤ share[f]·(Margin[τ] − lower_τ·(1 − Profitable[τ]))
        Reinvest[f,t] ≤ share[f]·upper_τ·Profitable[τ]         (reinvest_only_from_profit)
    Together: Reinvest[f,t] ≤ share[f]·max(0, Margin[τ]); lower_τ ≤ Margin[τ] ≤ upper_τ
    are the margin's bounds from the data, so each row is the tightest of its form.
    """
    loop = ix.reinvestment
    before = {t: ix.periods[ix.position[t] - 1] for (_f, t) in loop.reinvest}
    # Reinvest − share·Margin[τ] − share·lower_τ·Profitable[τ] ≤ −share·lower_τ
    lm.add_rows("reinvest_from_margin", "REINVEST_FT", "<=", lambda ft: (
        [("Reinvest", [ft], 1.0), ("Margin", [before[ft[1]]], -loop.share[ft[0]]),
         ("Profitable", [before[ft[1]]], -loop.share[ft[0]] * loop.lower[before[ft[1]]])],
        -loop.share[ft[0]] * loop.lower[before[ft[1]]]))
    lm.add_rows("reinvest_only_from_profit", "REINVEST_FT", "<=", lambda ft: (
        [("Reinvest", [ft], 1.0),
         ("Profitable", [before[ft[1]]], -loop.share[ft[0]] * loop.upper[before[ft[1]]])], 0.0))

