"""Solved model → tidy plan tables (decisions, costs, utilisation, market KPIs).

Values below `ZERO` are solver noise and dropped; integer decisions are rounded; every
number in the tables is rounded to `DECIMALS` places (`without_float_noise`), far inside
HiGHS's tolerances (1e-6), so a plan shows 20, not 20.000000000000107, and 0, not
-4.1e-12 or -0.0. (The checker reads the plan with its own tolerance.)
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from capacity.model import BuiltModel
from capacity.model.index_sets import IndexSets
from capacity.model.measures import MEASURE_UNIT
from capacity.model.phases import BOTH, CLINICAL, COMMERCIAL
from capacity.results.costs import FIXED_EXISTING

ZERO = 1e-6
DECIMALS = 9
# A suite whose changeovers take this share of its batch slots in a period or more is
# named in the plan's messages (`changeover_messages`): a planner would rather know.
CHANGEOVER_NOTE_SHARE = 0.2


def without_float_noise(
        extract: Callable[[BuiltModel, np.ndarray], dict[str, pd.DataFrame]],
) -> Callable[[BuiltModel, np.ndarray], dict[str, pd.DataFrame]]:
    """``extract`` with every float column of every table it returns rounded to
    `DECIMALS` places, negative zeros made 0."""
    @functools.wraps(extract)
    def tidy(built: BuiltModel, x: np.ndarray) -> dict[str, pd.DataFrame]:
        tables = extract(built, x)
        for frame in tables.values():
            for col in frame.columns:
                if frame[col].dtype == float:
                    frame[col] = frame[col].round(DECIMALS) + 0.0
        return tables
    return tidy



@without_float_noise
def extract_tables(built: BuiltModel, x: np.ndarray) -> dict[str, pd.DataFrame]:
    """Read a solution (``x``: the values of ``built.linear``'s columns) into the plan's
    tables (see `capacity.results.plan.Plan`)."""
    ix, case = built.index_sets, built.case

    def values(var: str) -> list[float]:  # in the order of the variable's set
        return built.linear.values(x, var).tolist()  # type: ignore[no-any-return]
    pos = ix.position

    build_vals = [round(v) for v in values("Build")]
    builds = pd.DataFrame(
        [(s, q, c, t, ix.periods[pos[t] + ix.suite_lead[(s, q, c)]], n,
          n * ix.suite_module[(s, q, c)], n * ix.suite_capex[(s, q, c)])
         for (s, q, c, t), n in zip(ix.build, build_vals, strict=True) if n > 0],
        columns=["site", "modality", "scale", "period", "online_period", "modules",
                 "batches_added", "capex_musd"])

    open_vals = [round(v) for v in values("Open")]
    sites = case.sites.set_index("site")
    openings = pd.DataFrame(
        [(s, t, ix.periods[pos[t] + ix.site_lead[s]], float(sites.at[s, "opening_cost_musd"]))
         for (s, t), v in zip(ix.open, open_vals, strict=True) if v > 0],
        columns=["site", "period", "online_period", "opening_cost_musd"])

    fin_vals = values("Finance")
    opening_fin_vals = values("FinanceOpening")
    # What each fund paid for: module capex at a suite, or opening a site (no modality
    # or scale: blank).
    financing = pd.DataFrame(
        [(f, "capex", s, q, c, t, v) for (f, s, q, c, t), v in
         zip(ix.finance, fin_vals, strict=True) if v > ZERO]
        + [(f, "opening", s, "", "", t, v) for (f, s, t), v in
           zip(ix.finance_opening, opening_fin_vals, strict=True) if v > ZERO],
        columns=["fund", "cost_type", "site", "modality", "scale", "period", "amount_musd"])
    financing = financing.sort_values(["fund", "cost_type"], kind="stable", ignore_index=True)

    ship_vals = values("Ship")
    shipments = pd.DataFrame(
        [(p, s, ix.site_region[s], mk, t, v) for (p, s, mk, t), v in
         zip(ix.ship, ship_vals, strict=True) if v > ZERO],
        columns=["program", "site", "origin", "market", "period", "batches"])
    inventory = _inventory(built, values("Make"), values("Stock"), values("WriteOff"),
                           ship_vals)
    production = _production(built, shipments, inventory)
    campaigns = _campaigns(built, ship_vals, values("Make"))

    assign_vals = [round(v) for v in values("Assign")]
    scale_up_vals = [round(v) for v in values("ScaleUp")]
    assignments = _assignments(ix, production, assign_vals, scale_up_vals, inventory)

    serve_vals = dict(zip(ix.serve, values("Serve"), strict=True))
    unmet = pd.DataFrame(
        [(p, mk, t, pot, serve_vals.get((p, mk, t), 0.0),
          max(pot - serve_vals.get((p, mk, t), 0.0), 0.0))
         for (p, mk, t), pot in sorted(ix.potential.items()) if pot > 0],
        columns=["program", "market", "period", "potential_batches", "served_batches",
                 "unmet_batches"])

    reserve_vals = [round(v) for v in values("Reserve")]
    use_vals = values("ReservedUse")
    approve_vals = [round(v) for v in values("Approve")]
    costs = _cost_breakdown(built, build_vals, open_vals, fin_vals, opening_fin_vals,
                            assign_vals, scale_up_vals, ship_vals, serve_vals, reserve_vals,
                            values("Shortfall"), approve_vals, values("Make"),
                            values("Stock"))
    return {
        "builds": builds, "openings": openings, "financing": financing,
        "assignments": assignments, "shipments": shipments, "production": production,
        "campaigns": campaigns, "unmet_demand": unmet, "costs": costs,
        "utilisation": _utilisation(built, build_vals, use_vals, campaigns),
        "market_kpis": _market_kpis(shipments, case.sites),
        "rule_kpis": rule_kpis(ix, shipments),
        **_reservation_tables(built, reserve_vals, use_vals),
        "operating_margin": _operating_margin(built, open_vals, ship_vals, serve_vals,
                                              reserve_vals, values("Make"), values("Stock")),
        "fund_use": _fund_use(built, financing, values("Reinvest")),
        "approvals": _approvals(built, approve_vals),
        "inventory": inventory,
        "launches": _launches(built, shipments),
    }


def _approvals(built: BuiltModel, approve_vals: list[int]) -> pd.DataFrame:
    """The site approvals the plan holds for markets that require approval: those the
    case gives (status ``approved``, from their period) and those the plan decides
    (``new``: decided in a period, approved lead periods later, at the cost discounted at
    the decision). ``modality`` blank: the approval covers every modality of the site."""
    ap, periods, pos = built.index_sets.approvals, built.index_sets.periods, \
        built.index_sets.position
    rows: list[tuple[str, str, str, str, int, int | None, float]] = [
        (s, m, "approved", q, t, None, 0.0) for (s, m, q), t in ap.approved_from.items()]
    rows += [(s, m, "new", q, periods[pos[t] + ap.lead[(s, m, q)]], t, ap.cost[(s, m, q, t)])
             for (s, m, q, t), v in zip(ap.decide, approve_vals, strict=True) if v > 0]
    frame = pd.DataFrame(sorted(rows, key=lambda r: (r[0], r[1], r[3])),
                         columns=["site", "market", "status", "modality",
                                  "approved_from_period", "decided_period", "cost_pv_musd"])
    return frame.astype({"decided_period": "Int64"})


TRANSFER, SCALE_UP = "technology transfer", "scale-up at site"
# Most program phases `phase_messages` names one by one (a generated tier XL case has
# hundreds); the rest are counted.
MOST_PHASE_MESSAGES = 20


def _assignments(ix: IndexSets, production: pd.DataFrame, assign_vals: list[int],
                 scale_up_vals: list[int], inventory: pd.DataFrame) -> pd.DataFrame:
    """Each program's transfers, one row per (program, site, phase): ``transfer`` says
    whether the phase came by a technology transfer or scaled up in place at the site of
    its clinical phase (no second transfer: no cost); the transfer's start and completion
    (a scale-up's are its clinical transfer's), the phase's first batch there and the
    transfer's cost discounted at its start (`capacity.model.phases`).

    A transfer starts at the program's start, or, the commercial phase of a program whose
    phases are assigned apart at a site not running its clinical phase, just in time for
    its commercial_from; it is complete L[p,s] periods later. An assignment of a program
    whose phases move as one (``both``) gives a row for each phase the site makes, the
    first by the transfer, the commercial one (after a clinical one) by scale-up.
    Programs without Assign variables (no transfer cost, no binding site limit) are
    assigned wherever they produce, in the phases they produce.
    """
    phases, pos, periods = ix.phases, ix.position, ix.periods
    made = production.assign(phase=[phases.phase(p, int(t)) for p, t in zip(
        production["program"], production["period"], strict=True)])
    first_batch = made.groupby(["program", "site", "phase"])["period"].min().to_dict()
    # a storable program's batches are of the scale they are made for (launch stock is
    # commercial, made before commercial_from: `capacity.model.inventory`)
    stored = inventory[inventory["made_batches"] > ZERO]
    stored_programs = set(stored["program"])
    first_batch = {k: t for k, t in first_batch.items() if k[0] not in stored_programs}
    first_batch |= stored.groupby(["program", "site", "scale"])["period"].min().to_dict()
    chosen = [a for a, v in zip(ix.assign, assign_vals, strict=True) if v > 0]
    chosen_at = set(chosen)
    # the phases each chosen `both` assignment's site makes (its shipments' suites)
    together = {i for i, a in enumerate(ix.assign) if a[2] == BOTH and a in chosen_at}
    makes: dict[tuple[str, str], set[str]] = defaultdict(set)
    if together:
        for i in np.flatnonzero(np.isin(ix.ship_assign, list(together))).tolist():
            makes[ix.ship[i][:2]].add(ix.ship_suite[i][2])
    modelled = {a[0] for a in ix.assign}
    free: dict[tuple[str, str], set[str]] = defaultdict(set)  # produced, no Assign column
    for (p, s, c) in first_batch:
        if p not in modelled:
            free[(p, s)].add(c)
    scaled = {ps for ps, v in zip(ix.phases.scale_up, scale_up_vals, strict=True) if v > 0}
    saving = set(ix.phases.scale_up)
    rows: dict[tuple[str, str], list[tuple[str, str, float]]] = defaultdict(list)
    for (p, s, c) in chosen:
        if c == BOTH:
            there = sorted(makes[(p, s)])  # clinical before commercial
            rows[(p, s)].append((there[0], TRANSFER, ix.assign_cost[(p, s, c)]))
            rows[(p, s)] += [(later, SCALE_UP, 0.0) for later in there[1:]]
        elif c == COMMERCIAL and (p, s, CLINICAL) in chosen_at \
                and ((p, s) in scaled or (p, s) not in saving):
            rows[(p, s)].append((c, SCALE_UP, 0.0))
        else:
            rows[(p, s)].append((c, TRANSFER, ix.assign_cost[(p, s, c)]))
    for (p, s), produced in free.items():
        there = sorted(produced)
        scale_up = there == [CLINICAL, COMMERCIAL]
        rows[(p, s)] += [(c, SCALE_UP if scale_up and c == COMMERCIAL else TRANSFER, 0.0)
                         for c in there]
    out = []
    for (p, s), phase_rows in sorted(rows.items()):
        lead = ix.transfer_periods.get((p, s), 0)
        for c, how, pv in sorted(phase_rows):
            # a scale-up rides on the site's clinical (or whole-program) transfer
            key = (p, s, BOTH if p in phases.one_site else c if how == TRANSFER
                   else CLINICAL)
            begun = phases.transfer_start.get(key, ix.program_start[p])
            out.append((p, s, c, how, begun, periods[pos[begun] + lead],
                        first_batch.get((p, s, c)), pv))
    return pd.DataFrame(out, columns=["program", "site", "phase", "transfer",
                                      "transfer_start_period", "transfer_complete_period",
                                      "start_period", "tech_transfer_pv_musd"])


def phase_messages(built: BuiltModel, tables: dict[str, pd.DataFrame]) -> list[str]:
    """The plan's word on each program phase whose potential demand goes unserved because
    no site makes that phase: none is assigned to it (its phases assigned apart, or the
    program assigned nowhere), or the sites its program moves to as one cannot make it
    (`programs.phases_at_one_site`: a site with no suite of that scale). Periods from the
    program's start on; e.g. "BISPEC-1's clinical phase: 0 of 12 potential batches
    served in 2027–2028: its site COMM has no antibody clinical suite"."""
    ix, case = built.index_sets, built.case
    unmet, assigned = tables["unmet_demand"], tables["assignments"]
    if unmet.empty:
        return []
    phases = ix.phases
    modality = case.programs.set_index("program")["modality"].to_dict()
    suites = set(zip(case.suites["site"], case.suites["modality"], case.suites["scale"],
                     strict=True))
    has_row = set(zip(assigned["program"], assigned["phase"], strict=True))
    sites_of = assigned.groupby("program")["site"].agg(lambda s: sorted(set(s))).to_dict()
    wanted: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
    for p, t, pot, got in unmet[["program", "period", "potential_batches",
                                 "served_batches"]].itertuples(index=False):
        if int(t) >= ix.program_start[p]:
            wanted[(p, phases.phase(p, int(t)))].append((int(t), float(pot), float(got)))
    out = []
    for (p, c), rows in sorted(wanted.items()):
        potential, served = sum(r[1] for r in rows), sum(r[2] for r in rows)
        if (p, c) in has_row or served >= potential - 1e-6:
            continue
        first, last = min(r[0] for r in rows), max(r[0] for r in rows)
        when = f"{first}" if first == last else f"{first}–{last}"
        sites = sites_of.get(p, [])
        if p in phases.one_site and sites:
            lacking = [s for s in sites if (s, modality[p], c) not in suites]
            named = f"site{'s' if len(sites) > 1 else ''} {', '.join(sites)}"
            why = (f"its {named} {'have' if len(sites) > 1 else 'has'} no {modality[p]} {c} "
                   "suite" if lacking == sites else f"its {named} cannot make it then")
        else:
            why = "no site assigned to it"
        out.append(f"{p}'s {c} phase: {_batches(served)} of {_batches(potential)} potential "
                   f"batches served in {when}: {why}")
    if len(out) > MOST_PHASE_MESSAGES:  # a large case: the first ones, and how many more
        more = len(out) - MOST_PHASE_MESSAGES
        out = [*out[:MOST_PHASE_MESSAGES], f"... and {more} more program phase"
               f"{'s' if more > 1 else ''} unserved for want of a site that makes them "
               "(unmet_demand and assignments have them all)"]
    return out


def _batches(x: float) -> str:
    """Batches as a message prints them: solver noise (below 10⁻⁶) is 0."""
    return f"{round(x, 6) + 0.0:g}"


INVENTORY_COLUMNS = ["program", "site", "scale", "period", "made_batches", "shipped_batches",
                     "written_off_batches", "stock_batches", "holding_cost_pv_musd"]


def _inventory(built: BuiltModel, make_vals: list[float], stock_vals: list[float],
               write_off_vals: list[float], ship_vals: list[float]) -> pd.DataFrame:
    """Storable programs' batches by site, scale and period: made, shipped, written off,
    in stock at the end of the period, and the stock's holding cost (discounted): one row
    per period where any is above zero (`capacity.model.inventory`). Empty where no
    program can be stored."""
    ix = built.index_sets
    inv = ix.inventory
    if not inv.balance:
        return pd.DataFrame(columns=INVENTORY_COLUMNS)
    made = dict(zip(inv.make, make_vals, strict=True))
    stock = dict(zip(inv.stock, stock_vals, strict=True))
    off = dict(zip(inv.write_off, write_off_vals, strict=True))
    shipped: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for i in inv.made_when_shipped:
        p, s, _m, t = ix.ship[i]
        shipped[(p, s, ix.ship_suite[i][2], t)] += ship_vals[i]
    rows = []
    for key in inv.balance:
        values = [made.get(key, 0.0), shipped.get(key, 0.0), off.get(key, 0.0),
                  stock.get(key, 0.0)]
        values = [v if v > ZERO else 0.0 for v in values]
        if any(values):
            rows.append((*key, *values, inv.hold_cost.get(key, 0.0) * values[3]))
    return pd.DataFrame(rows, columns=INVENTORY_COLUMNS)


def inventory_messages(built: BuiltModel, inventory: pd.DataFrame) -> list[str]:
    """What a planner must be told about the stock: batches written off (held for a
    stock target, they could not ship within their shelf life) and batches left in stock
    at the horizon's end for a target (they have no value after it)."""
    inv, last = built.index_sets.inventory, built.index_sets.periods[-1]
    out = []
    for r in inventory.itertuples(index=False):
        life = inv.shelf_life[r.program]
        if r.written_off_batches > 0:
            out.append(f"{r.program}: {r.written_off_batches:g} {r.scale} batches written off "
                       f"at {r.site} in {r.period}: held for a stock target, they could not "
                       f"ship within their shelf life of {life} period{'' if life == 1 else 's'}")
        if r.period == last and r.stock_batches > 0:
            out.append(f"{r.program}: {r.stock_batches:g} {r.scale} batches left in stock at "
                       f"{r.site} at the end of the horizon ({last}) for a stock target")
    return out


def _production(built: BuiltModel, shipments: pd.DataFrame,
                inventory: pd.DataFrame) -> pd.DataFrame:
    """Batches made by program, site and period: those shipped, for programs that ship
    in the period they make; those made (``inventory``), for storable programs."""
    inv = built.index_sets.inventory
    shipped = shipments[~shipments["program"].map(inv.stores).astype(bool)] \
        if inv.shelf_life else shipments
    frames = [shipped[["program", "site", "period", "batches"]]]
    if not inventory.empty:
        made = inventory[inventory["made_batches"] > 0]
        frames.append(made[["program", "site", "period", "made_batches"]]
                      .rename(columns={"made_batches": "batches"}))
    both = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return both.groupby(["program", "site", "period"], as_index=False)["batches"].sum()




def _launches(built: BuiltModel, shipments: pd.DataFrame) -> pd.DataFrame:
    """Each product launched in a market, and what it was served from then on: one row
    per period from its launch (the first period of commercial supply to the market)
    with demand there, its demand (committed + potential), the batches served, their
    share of the demand and the program's continuity share (models/formulation.md,
    "Continuity of supply"; the rows are there whether continuity is on or off)."""
    ix = built.index_sets
    c = ix.continuity
    columns = ["program", "market", "period", "launch_period", "demand_batches",
               "served_batches", "served_share", "continuity_share"]
    served = shipments.groupby(["program", "market", "period"])["batches"].sum().to_dict()
    launched: dict[tuple[str, str], int] = {}
    for (p, mk, t) in sorted(served):
        if p in c.commercial_from and t >= c.commercial_from[p] and (p, mk) not in launched:
            launched[(p, mk)] = t
    rows = []
    for d in set(ix.committed) | set(ix.potential):
        p, mk, t = d
        first = launched.get((p, mk))
        demand = ix.committed.get(d, 0.0) + ix.potential.get(d, 0.0)
        if first is None or t < first or demand <= 0:
            continue
        got = min(float(served.get(d, 0.0)), demand)
        rows.append((p, mk, t, first, demand, got, got / demand, c.share[p]))
    return pd.DataFrame(sorted(rows), columns=columns)


# Continuity off, a launched product served below this share of its demand in a later
# period is reported in the plan's messages (`launch_messages`).
DROPPED_SHARE = 0.5
# At most this many such products are named; the rest are counted.
DROPPED_NAMED = 3


def launch_messages(launches: pd.DataFrame) -> list[str]:
    """What the planner must be told about launched products dropped: where continuity
    of supply is off (share 0) and a product launched in a market gets less than
    `DROPPED_SHARE` of its demand there in a later period, one line per product and
    market (the first such period), at most `DROPPED_NAMED`, and how many more."""
    later = launches[(launches["period"] > launches["launch_period"])
                     & (launches["continuity_share"] <= 0)
                     & (launches["served_share"] < DROPPED_SHARE)]
    first = later.drop_duplicates(["program", "market"], keep="first")
    lines = [f"{r.program} launched in {r.market} in {r.launch_period} gets "
             f"{r.served_batches:.4g} of its {r.demand_batches:.4g} batches of demand in "
             f"{r.period}: set programs.continuity_share (or settings.continuity_share) "
             "to keep supplying a launched product"
             for r in first.head(DROPPED_NAMED).itertuples(index=False)]
    if len(first) > DROPPED_NAMED:
        lines.append(f"... and {len(first) - DROPPED_NAMED} more launched products get "
                     f"less than {DROPPED_SHARE:.0%} of their demand in a later period "
                     "(the plan's launches table)")
    return lines


def _reservation_tables(built: BuiltModel, reserve_vals: list[int],
                        use_vals: list[float]) -> dict[str, pd.DataFrame]:
    """Reservations held (blocks, slots reserved and used, fee) and who used them."""
    res, case = built.index_sets.reservations, built.case
    startup = case.programs.set_index("program")["startup"]
    used: dict[tuple[str, int], float] = defaultdict(float)
    use_rows = []
    for (v, p, t), x in zip(res.use, use_vals, strict=True):
        if x > ZERO:
            used[(v, t)] += x
            use_rows.append((v, p, startup[p], t, x))
    held = [(v, *res.suite[v], t, n, n * res.block[v], used.get((v, t), 0.0),
             n * res.cost[(v, t)])
            for (v, t), n in zip(res.reserve, reserve_vals, strict=True) if n > 0]
    return {
        "reservations": pd.DataFrame(held, columns=[
            "reservation", "site", "modality", "scale", "period", "blocks",
            "reserved_batches", "used_batches", "fee_pv_musd"]),
        "reservation_use": pd.DataFrame(use_rows, columns=[
            "reservation", "program", "startup", "period", "batches"]),
    }


def _operating_margin(built: BuiltModel, open_vals: list[int], ship_vals: list[float],
                      serve_vals: dict[tuple[str, str, int], float],
                      reserve_vals: list[int], make_vals: list[float],
                      stock_vals: list[float]) -> pd.DataFrame:
    """Revenue, operating cost and margin by period, undiscounted MUSD (the margin the
    bank's reinvestment loop reads; models/formulation.md, `operating_margin`)."""
    ix, case = built.index_sets, built.case
    df = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
    years = dict(zip(case.periods["period"], case.periods["years"], strict=True))
    revenue: dict[int, float] = defaultdict(float)
    cost: dict[int, float] = defaultdict(float)
    for t, b, price in zip(case.offtakes["period"], case.offtakes["committed_batches"],
                           case.offtakes["price_musd_per_batch"], strict=True):
        revenue[int(t)] += float(b * price)
    for d, x in serve_vals.items():
        revenue[d[2]] += ix.serve_value[d] / float(df[d[2]]) * x
    for key, c, x in zip(ix.ship, ix.ship_cost.tolist(), ship_vals, strict=True):
        cost[key[3]] += c / float(df[key[3]]) * x
    inv = ix.inventory  # storable programs: production when made, holding on the stock
    for key, x in zip(inv.make, make_vals, strict=True):
        cost[key[3]] += inv.make_cost[key] / float(df[key[3]]) * x
    for key, x in zip(inv.stock, stock_vals, strict=True):
        cost[key[3]] += inv.holding[key[0]] * x
    fixed = case.sites.set_index("site")["fixed_cost_musd_per_year"]
    open_from = {s: ix.position[t] + ix.site_lead[s]
                 for (s, t), v in zip(ix.open, open_vals, strict=True) if v > 0}
    for s in fixed.index:
        first = 0 if ix.site_status[s] == "existing" else open_from.get(s)
        for t in ix.periods[first:] if first is not None else ():
            cost[t] += float(years[t] * fixed[s])
    res = ix.reservations
    for (v, t), n in zip(res.reserve, reserve_vals, strict=True):
        cost[t] += n * res.fee[v] * res.block[v]
    return pd.DataFrame([(t, revenue[t], cost[t], revenue[t] - cost[t]) for t in ix.periods],
                        columns=["period", "revenue_musd", "operating_cost_musd",
                                 "margin_musd"])


def _fund_use(built: BuiltModel, financing: pd.DataFrame,
              reinvest_vals: list[float]) -> pd.DataFrame:
    """Each fund's money by period: its budget, what the reinvestment loop added, what it
    financed in all and of it for module capex and for openings (the `financing` table
    says which investments)."""
    ix, case = built.index_sets, built.case
    funds = case.funds.set_index("fund")
    spent: dict[tuple[str, int, str], float] = defaultdict(float)
    for f, kind, t, v in financing[["fund", "cost_type", "period", "amount_musd"]].itertuples(
            index=False):
        spent[(f, int(t), kind)] += float(v)
    added = dict(zip(ix.reinvestment.reinvest, reinvest_vals, strict=True))
    keys = sorted(set(ix.fund_budget) | {(f, t) for f, t, _k in spent} | set(added))
    return pd.DataFrame(
        [(f, funds.at[f, "funder"], funds.at[f, "kind"], t, ix.fund_budget.get((f, t), 0.0),
          added.get((f, t), 0.0), spent[(f, t, "capex")] + spent[(f, t, "opening")],
          spent[(f, t, "capex")], spent[(f, t, "opening")]) for (f, t) in keys],
        columns=["fund", "funder", "kind", "period", "budget_musd", "reinvested_musd",
                 "financed_musd", "financed_capex_musd", "financed_opening_musd"])


def _cost_breakdown(built: BuiltModel, build_vals: list[int], open_vals: list[int],
                    fin_vals: list[float], opening_fin_vals: list[float],
                    assign_vals: list[int], scale_up_vals: list[int],
                    ship_vals: list[float],
                    serve_vals: dict[tuple[str, str, int], float],
                    reserve_vals: list[int], shortfall_vals: list[float],
                    approve_vals: list[int], make_vals: list[float],
                    stock_vals: list[float]) -> pd.DataFrame:
    """Discounted cost by component, MUSD; the components sum to the objective
    (``co_investment``: what funds save the consortium, on modules and openings alike;
    ``fixed_existing``: the existing sites' fixed cost, a constant of the case that no
    decision changes; ``fixed_opened``: that of the candidate sites the plan opens;
    ``approvals``, where a market requires approval: pre-approval inspections;
    ``production`` of a storable batch where it is made; ``holding``, where a program can
    be stored, its stock's)."""
    ix = built.index_sets
    inv = ix.inventory

    def dot(coef: dict, keys: list, vals: list) -> float:  # type: ignore[type-arg]
        return float(sum(coef[k] * v for k, v in zip(keys, vals, strict=True)))

    shipped = np.asarray(ship_vals, dtype=float)

    rows = [
        ("capex", dot(ix.build_cost, ix.build, build_vals)),
        ("co_investment", -dot(ix.finance_saving, ix.finance, fin_vals)
         - dot(ix.finance_opening_saving, ix.finance_opening, opening_fin_vals)),
        ("opening", dot(ix.open_cost_parts["opening"], ix.open, open_vals)),
        # the existing sites' fixed cost is a constant no decision changes (`FIXED_EXISTING`)
        (FIXED_EXISTING, ix.existing_fixed_cost),
        ("fixed_opened", dot(ix.open_cost_parts["fixed"], ix.open, open_vals)),
        ("tech_transfer", dot(ix.assign_cost, ix.assign, assign_vals)
         - dot(ix.phases.scale_up_saving, ix.phases.scale_up, scale_up_vals)),
        ("production", float(ix.ship_cost_parts["production"] @ shipped)
         + dot(inv.make_cost, inv.make, make_vals)),
        ("transport", float(ix.ship_cost_parts["transport"] @ shipped)),
        ("tariffs", float(ix.ship_cost_parts["tariffs"] @ shipped)),
        ("served_value", -float(sum(ix.serve_value[d] * v for d, v in serve_vals.items()))),
        ("reservations", dot(ix.reservations.cost, ix.reservations.reserve, reserve_vals)),
    ]
    if ix.approvals.gated:  # a market requires approval: inspections decided
        rows.append(("approvals", dot(ix.approvals.cost, ix.approvals.decide, approve_vals)))
    if inv.shelf_life:  # some program can be stored
        rows.append(("holding", dot(inv.hold_cost, inv.stock, stock_vals)))
    if ix.shortfall_cost:  # the stochastic model's penalty on unmet commitments
        keys = built.linear.variables["Shortfall"].keys
        rows.append(("unmet_commitments", dot(ix.shortfall_cost, keys, shortfall_vals)))
    return pd.DataFrame(rows, columns=["component", "pv_musd"])


def _campaigns(built: BuiltModel, ship_vals: list[float],
               make_vals: list[float]) -> pd.DataFrame:
    """Each program made in a suite in a period (a campaign): its delivered batches, the
    batch slots it uses (its batches ÷ their success rate, and its changeover) and of
    them the changeover (`capacity.model.changeovers`: the suite's changeover_slots,
    once per program and period; 0 where the suite charges none). A storable program is
    made when `Make` says (`capacity.model.inventory`), every other when it ships."""
    ix = built.index_sets
    inv = ix.inventory
    made: dict[tuple[str, str, str, str, int], list[float]] = {}
    for (p, _s, _m, t), k, slots, v in zip(ix.ship, ix.ship_suite, ix.ship_slots.tolist(),
                                           ship_vals, strict=True):
        if v > ZERO and not inv.stores(p):
            row = made.setdefault((p, *k, t), [0.0, 0.0])
            row[0] += v
            row[1] += slots * v
    for (p, s, c, t), v in zip(inv.make, make_vals, strict=True):
        if v > ZERO:
            row = made.setdefault((p, s, inv.modality[p], c, t), [0.0, 0.0])
            row[0] += v
            row[1] += ix.slots(p, s) * v
    changeover = ix.changeovers.slots
    rows = []
    for (p, s, q, c, t), (batches, used) in sorted(made.items()):
        extra = changeover.get((s, q, c), 0.0)
        rows.append((p, s, q, c, t, batches, used + extra, extra))
    return pd.DataFrame(rows, columns=["program", "site", "modality", "scale", "period",
                                       "batches", "used_batches", "changeover_batches"])


def _utilisation(built: BuiltModel, build_vals: list[int], use_vals: list[float],
                 campaigns: pd.DataFrame) -> pd.DataFrame:
    """Capacity and use by suite and period, for every suite that has or gets capacity
    (reserved slots in use count as capacity: they come on top of the suite's own).
    ``used_batches`` counts batch slots used, failed batches and changeovers included: a
    delivered batch uses slots_per_batch ÷ its success rate (`IndexSets.slots`), in the
    period it is made (a storable program's: `capacity.model.inventory`), and each
    program made in the suite its changeover (``changeover_batches``, of ``campaigns``
    programs: the `campaigns` table)."""
    ix = built.index_sets
    pos = ix.position
    added: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for (s, q, c, t), n in zip(ix.build, build_vals, strict=True):
        if n:
            online = pos[t] + ix.suite_lead[(s, q, c)]
            for tau in ix.periods[online:]:
                added[(s, q, c, tau)] += n * ix.suite_module[(s, q, c)]
    for (res, _p, t), x in zip(ix.reservations.use, use_vals, strict=True):
        added[(*ix.reservations.suite[res], t)] += x
    used: dict[tuple[str, str, str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for s, q, c, t, u, extra in campaigns[["site", "modality", "scale", "period",
                                           "used_batches", "changeover_batches"]].itertuples(
            index=False):
        row = used[(s, q, c, int(t))]
        row[0] += u
        row[1] += extra
        row[2] += 1
    rows = []
    for k, existing in sorted(ix.suite_existing.items()):
        if ix.site_status[k[0]] == "candidate":
            existing = 0.0
        for t in ix.periods:
            cap = existing + added.get((*k, t), 0.0)
            if cap <= 0:
                continue
            u, extra, programs = used.get((*k, t), (0.0, 0.0, 0))
            rows.append((*k, t, cap, u, u / cap, extra, programs))
    return pd.DataFrame(rows, columns=["site", "modality", "scale", "period",
                                       "capacity_batches", "used_batches", "utilisation",
                                       "changeover_batches", "campaigns"])


def changeover_messages(utilisation: pd.DataFrame) -> list[str]:
    """A message where changeovers take `CHANGEOVER_NOTE_SHARE` of a suite's batch slots
    or more in some period: how many suite-periods, and the one they take most of."""
    shares = utilisation.assign(
        share=utilisation["changeover_batches"] / utilisation["capacity_batches"])
    eaten = shares[shares["share"] >= CHANGEOVER_NOTE_SHARE - 1e-9]
    if eaten.empty:
        return []
    top = eaten.sort_values("share", ascending=False, kind="stable").iloc[0]
    n = int(top["campaigns"])
    return [f"changeovers take {CHANGEOVER_NOTE_SHARE:.0%} or more of a suite's batch slots "
            f"in {len(eaten)} suite-period{'s' if len(eaten) > 1 else ''}; the most: "
            f"{top['site']} ({top['modality']}, {top['scale']}) in {top['period']}, "
            f"{top['changeover_batches']:g} of {top['capacity_batches']:g} slots for {n} "
            f"program{'s' if n != 1 else ''} (utilisation.changeover_batches; fewer, larger "
            "campaigns per suite free them)"]


def _hhi(shares: pd.Series) -> float:
    return float((shares**2).sum() * 10_000)


def _market_kpis(shipments: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """Supply, domestic share and concentration (HHI, 0–10,000) by market and period."""
    columns = ["market", "period", "supply_batches", "domestic_share", "hhi_operator",
               "hhi_country"]
    if shipments.empty:
        return pd.DataFrame(columns=columns)
    ops = sites.set_index("site")["operator"]
    df = shipments.assign(operator=shipments["site"].map(ops))
    rows = []
    for (mk, t), g in df.groupby(["market", "period"], sort=True):
        total = g["batches"].sum()
        domestic = g.loc[g["origin"] == mk, "batches"].sum() / total
        by_op = g.groupby("operator")["batches"].sum() / total
        by_country = g.groupby("origin")["batches"].sum() / total
        rows.append((mk, t, total, domestic, _hhi(by_op), _hhi(by_country)))
    return pd.DataFrame(rows, columns=columns)


RULE_KPI_COLUMNS = ["rule", "kind", "market", "measure", "basis", "unit", "subject",
                    "period", "amount", "total", "share", "limit"]


def rule_kpis(ix: IndexSets, shipments: pd.DataFrame) -> pd.DataFrame:
    """Each active share rule's and service level's achieved share, per period, counted
    in the rule's measure (`capacity.model.measures`): ``amount`` of ``total`` in
    ``unit`` (batches, MUSD of value, weighted batches), ``share`` = amount ÷ total and
    the rule's ``limit``. ``subject``: the market (domestic share), each operator or
    region the rule bounds (a max-share rule; `*`: each supplier), the modality or blank
    (service level). ``basis``: what ``total`` is, the supply to the market (``supply``:
    a domestic share of supply, a max share) or its committed + potential demand
    (``demand``: a domestic share of demand, a service level, whose ``amount`` is the
    demand served); periods with a total of 0 are left out."""
    rows: list[tuple[Any, ...]] = []
    shipped = shipments.assign(origin_operator=shipments["site"].map(ix.site_operator))

    def weights(measure: str, frame: pd.DataFrame) -> pd.Series:
        if measure == "batches" or frame.empty:
            return frame["batches"].astype(float)
        w = [ix.measures.of(measure, (p, m, int(t))) for p, m, t in
             zip(frame["program"], frame["market"], frame["period"], strict=True)]
        return frame["batches"].astype(float) * w

    def demand(market: str, programs: set[str] | None, measure: str) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for d in set(ix.committed) | set(ix.potential):
            if d[1] == market and (programs is None or d[0] in programs):
                b = ix.committed.get(d, 0.0) + ix.potential.get(d, 0.0)
                if b > 0:
                    out[d[2]] += b * ix.measures.of(measure, d)
        return out

    for u in ix.share_rules:
        into = shipped[shipped["market"] == u.market]
        into = into.assign(amount=weights(u.measure, into))
        supply = into.groupby("period")["amount"].sum()
        unit = MEASURE_UNIT[u.measure]
        if u.kind == "min_domestic_share":
            made = into[into["origin"] == u.market].groupby("period")["amount"].sum()
            totals = demand(u.market, None, u.measure) if u.basis == "demand" \
                else supply.to_dict()
            rows += [(u.rule, u.kind, u.market, u.measure, u.basis, unit, u.market, int(t),
                      float(made.get(t, 0.0)), total, float(made.get(t, 0.0)) / total,
                      u.share) for t, total in sorted(totals.items()) if total > 0]
            continue
        column = "origin_operator" if u.kind == "max_operator_share" else "origin"
        mine = into.groupby([column, "period"])["amount"].sum()
        for who in u.subjects:
            rows += [(u.rule, u.kind, u.market, u.measure, "supply", unit, who, int(t),
                      float(mine.get((who, t), 0.0)), float(total),
                      float(mine.get((who, t), 0.0)) / float(total), u.share)
                     for t, total in supply.items() if total > 0]
    for r in ix.service_rules:
        mine = set(r.programs)
        into = shipped[(shipped["market"] == r.market) & shipped["program"].isin(mine)]
        into = into.assign(amount=weights(r.measure, into))
        served = into.groupby("period")["amount"].sum()
        rows += [(r.rule, "min_service_level", r.market, r.measure, "demand",
                  MEASURE_UNIT[r.measure],
                  r.subject, int(t), float(served.get(t, 0.0)), total,
                  float(served.get(t, 0.0)) / total, r.level)
                 for t, total in sorted(demand(r.market, mine, r.measure).items())
                 if total > 0]
    return pd.DataFrame(rows, columns=RULE_KPI_COLUMNS).sort_values(
        ["rule", "subject", "period"], kind="stable", ignore_index=True)
