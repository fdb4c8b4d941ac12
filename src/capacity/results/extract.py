"""Solved model → tidy plan tables (decisions, costs, utilisation, market KPIs).

Values below `ZERO` are solver noise and dropped; integer decisions are rounded.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from capacity.model import BuiltModel

ZERO = 1e-6
# A suite whose changeovers take this share of its batch slots in a period or more is
# named in the plan's messages (`changeover_messages`): a planner would rather know.
CHANGEOVER_NOTE_SHARE = 0.2


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
    production = (shipments.groupby(["program", "site", "period"], as_index=False)["batches"]
                  .sum())
    campaigns = _campaigns(built, ship_vals)

    assign_vals = [round(v) for v in values("Assign")]
    first_batch = production.groupby(["program", "site"])["period"].min().to_dict()
    # Programs without Assign variables (no transfer cost, no binding site limit) are
    # assigned wherever they produce.
    modelled = {p for (p, _s) in ix.assign}
    chosen = {a for a, v in zip(ix.assign, assign_vals, strict=True) if v > 0}
    chosen |= {a for a in first_batch if a[0] not in modelled}
    # A transfer starts at the program's start and is complete L[p,s] periods later; its
    # cost is discounted at its start (assign_cost), the period printed beside it.
    start = ix.program_start
    assignments = pd.DataFrame(
        [(p, s, start[p], ix.periods[pos[start[p]] + ix.transfer_periods.get((p, s), 0)],
          first_batch.get((p, s)), ix.assign_cost.get((p, s), 0.0))
         for (p, s) in sorted(chosen)],
        columns=["program", "site", "transfer_start_period", "transfer_complete_period",
                 "start_period", "tech_transfer_pv_musd"])

    serve_vals = dict(zip(ix.serve, values("Serve"), strict=True))
    unmet = pd.DataFrame(
        [(p, mk, t, pot, serve_vals.get((p, mk, t), 0.0),
          max(pot - serve_vals.get((p, mk, t), 0.0), 0.0))
         for (p, mk, t), pot in sorted(ix.potential.items()) if pot > 0],
        columns=["program", "market", "period", "potential_batches", "served_batches",
                 "unmet_batches"])

    reserve_vals = [round(v) for v in values("Reserve")]
    use_vals = values("ReservedUse")
    costs = _cost_breakdown(built, build_vals, open_vals, fin_vals, opening_fin_vals,
                            assign_vals, ship_vals, serve_vals, reserve_vals,
                            values("Shortfall"))
    return {
        "builds": builds, "openings": openings, "financing": financing,
        "assignments": assignments, "shipments": shipments, "production": production,
        "campaigns": campaigns, "unmet_demand": unmet, "costs": costs,
        "utilisation": _utilisation(built, build_vals, use_vals, campaigns),
        "market_kpis": _market_kpis(shipments, case.sites),
        **_reservation_tables(built, reserve_vals, use_vals),
        "operating_margin": _operating_margin(built, open_vals, ship_vals, serve_vals,
                                              reserve_vals),
        "fund_use": _fund_use(built, financing, values("Reinvest")),
    }


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
                      reserve_vals: list[int]) -> pd.DataFrame:
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
                    assign_vals: list[int], ship_vals: list[float],
                    serve_vals: dict[tuple[str, str, int], float],
                    reserve_vals: list[int], shortfall_vals: list[float]) -> pd.DataFrame:
    """Discounted cost by component, MUSD; the components sum to the objective
    (``co_investment``: what funds save the consortium, on modules and openings alike)."""
    ix = built.index_sets

    def dot(coef: dict, keys: list, vals: list) -> float:  # type: ignore[type-arg]
        return float(sum(coef[k] * v for k, v in zip(keys, vals, strict=True)))

    shipped = np.asarray(ship_vals, dtype=float)

    rows = [
        ("capex", dot(ix.build_cost, ix.build, build_vals)),
        ("co_investment", -dot(ix.finance_saving, ix.finance, fin_vals)
         - dot(ix.finance_opening_saving, ix.finance_opening, opening_fin_vals)),
        ("opening", dot(ix.open_cost_parts["opening"], ix.open, open_vals)),
        ("fixed", ix.existing_fixed_cost + dot(ix.open_cost_parts["fixed"], ix.open, open_vals)),
        ("tech_transfer", dot(ix.assign_cost, ix.assign, assign_vals)),
        ("production", float(ix.ship_cost_parts["production"] @ shipped)),
        ("transport", float(ix.ship_cost_parts["transport"] @ shipped)),
        ("tariffs", float(ix.ship_cost_parts["tariffs"] @ shipped)),
        ("served_value", -float(sum(ix.serve_value[d] * v for d, v in serve_vals.items()))),
        ("reservations", dot(ix.reservations.cost, ix.reservations.reserve, reserve_vals)),
    ]
    if ix.shortfall_cost:  # the stochastic model's penalty on unmet commitments
        keys = built.linear.variables["Shortfall"].keys
        rows.append(("unmet_commitments", dot(ix.shortfall_cost, keys, shortfall_vals)))
    return pd.DataFrame(rows, columns=["component", "pv_musd"])


def _campaigns(built: BuiltModel, ship_vals: list[float]) -> pd.DataFrame:
    """Each program made in a suite in a period (a campaign): its delivered batches, the
    batch slots it uses (its batches ÷ their success rate, and its changeover) and of
    them the changeover (`capacity.model.changeovers`: the suite's changeover_slots,
    once per program and period; 0 where the suite charges none)."""
    ix = built.index_sets
    made: dict[tuple[str, str, str, str, int], list[float]] = {}
    for (p, _s, _m, t), k, slots, v in zip(ix.ship, ix.ship_suite, ix.ship_slots.tolist(),
                                           ship_vals, strict=True):
        if v > ZERO:
            row = made.setdefault((p, *k, t), [0.0, 0.0])
            row[0] += v
            row[1] += slots * v
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
    delivered batch uses slots_per_batch ÷ its success rate (`IndexSets.slots`), and each
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
