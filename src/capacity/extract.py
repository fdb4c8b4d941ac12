"""Solved model → tidy plan tables (decisions, costs, utilisation, market KPIs).

Values below `ZERO` are solver noise and dropped; integer decisions are rounded.
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from capacity.model import BuiltModel

ZERO = 1e-6


def _values(var: object, keys: list[tuple]) -> list[float]:  # type: ignore[type-arg]
    return [float(var[k].value or 0.0) for k in keys]  # type: ignore[index]


def extract_tables(built: BuiltModel) -> dict[str, pd.DataFrame]:
    """Read a solved model into the plan's tables (see `capacity.plan.Plan`)."""
    m, ix, case = built.pyomo, built.index_sets, built.case
    pos = ix.position

    build_vals = [round(v) for v in _values(m.Build, ix.build)]
    builds = pd.DataFrame(
        [(s, q, c, t, ix.periods[pos[t] + ix.suite_lead[(s, q, c)]], n,
          n * ix.suite_module[(s, q, c)], n * ix.suite_capex[(s, q, c)])
         for (s, q, c, t), n in zip(ix.build, build_vals, strict=True) if n > 0],
        columns=["site", "modality", "scale", "period", "online_period", "modules",
                 "batches_added", "capex_musd"])

    open_vals = [round(v) for v in _values(m.Open, ix.open)]
    sites = case.sites.set_index("site")
    openings = pd.DataFrame(
        [(s, t, ix.periods[pos[t] + ix.site_lead[s]], float(sites.at[s, "opening_cost_musd"]))
         for (s, t), v in zip(ix.open, open_vals, strict=True) if v > 0],
        columns=["site", "period", "online_period", "opening_cost_musd"])

    fin_vals = _values(m.Finance, ix.finance)
    financing = pd.DataFrame(
        [(*x, v) for x, v in zip(ix.finance, fin_vals, strict=True) if v > ZERO],
        columns=["fund", "site", "modality", "scale", "period", "amount_musd"])

    ship_vals = _values(m.Ship, ix.ship)
    shipments = pd.DataFrame(
        [(p, s, ix.site_region[s], mk, t, v) for (p, s, mk, t), v in
         zip(ix.ship, ship_vals, strict=True) if v > ZERO],
        columns=["program", "site", "origin", "market", "period", "batches"])
    production = (shipments.groupby(["program", "site", "period"], as_index=False)["batches"]
                  .sum())

    assign_vals = [round(v) for v in _values(m.Assign, ix.assign)]
    first_batch = production.groupby(["program", "site"])["period"].min().to_dict()
    # Programs without Assign variables (no transfer cost, no binding site limit) are
    # assigned wherever they produce.
    modelled = {p for (p, _s) in ix.assign}
    chosen = {a for a, v in zip(ix.assign, assign_vals, strict=True) if v > 0}
    chosen |= {a for a in first_batch if a[0] not in modelled}
    assignments = pd.DataFrame(
        [(p, s, first_batch.get((p, s)), ix.assign_cost.get((p, s), 0.0))
         for (p, s) in sorted(chosen)],
        columns=["program", "site", "start_period", "tech_transfer_pv_musd"])

    serve_vals = dict(zip(ix.serve, _values(m.Serve, ix.serve), strict=True))
    unmet = pd.DataFrame(
        [(p, mk, t, pot, serve_vals.get((p, mk, t), 0.0),
          max(pot - serve_vals.get((p, mk, t), 0.0), 0.0))
         for (p, mk, t), pot in sorted(ix.potential.items())],
        columns=["program", "market", "period", "potential_batches", "served_batches",
                 "unmet_batches"])

    costs = _cost_breakdown(built, build_vals, open_vals, fin_vals, assign_vals, ship_vals,
                            serve_vals)
    return {
        "builds": builds, "openings": openings, "financing": financing,
        "assignments": assignments, "shipments": shipments, "production": production,
        "unmet_demand": unmet, "costs": costs,
        "utilisation": _utilisation(built, build_vals, ship_vals),
        "market_kpis": _market_kpis(shipments, case.sites),
    }


def _cost_breakdown(built: BuiltModel, build_vals: list[int], open_vals: list[int],
                    fin_vals: list[float], assign_vals: list[int], ship_vals: list[float],
                    serve_vals: dict[tuple[str, str, int], float]) -> pd.DataFrame:
    """Discounted cost by component, MUSD; the components sum to the objective."""
    ix = built.index_sets

    def dot(coef: dict, keys: list, vals: list) -> float:  # type: ignore[type-arg]
        return float(sum(coef[k] * v for k, v in zip(keys, vals, strict=True)))

    rows = [
        ("capex", dot(ix.build_cost, ix.build, build_vals)),
        ("co_investment", -dot(ix.finance_saving, ix.finance, fin_vals)),
        ("opening", dot(ix.open_cost_parts["opening"], ix.open, open_vals)),
        ("fixed", ix.existing_fixed_cost + dot(ix.open_cost_parts["fixed"], ix.open, open_vals)),
        ("tech_transfer", dot(ix.assign_cost, ix.assign, assign_vals)),
        ("production", dot(ix.ship_cost_parts["production"], ix.ship, ship_vals)),
        ("transport", dot(ix.ship_cost_parts["transport"], ix.ship, ship_vals)),
        ("tariffs", dot(ix.ship_cost_parts["tariffs"], ix.ship, ship_vals)),
        ("served_value", -float(sum(ix.serve_value[d] * v for d, v in serve_vals.items()))),
    ]
    return pd.DataFrame(rows, columns=["component", "pv_musd"])


def _utilisation(built: BuiltModel, build_vals: list[int],
                 ship_vals: list[float]) -> pd.DataFrame:
    """Capacity and use by suite and period, for every suite that has or gets capacity."""
    ix = built.index_sets
    pos = ix.position
    added: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for (s, q, c, t), n in zip(ix.build, build_vals, strict=True):
        if n:
            online = pos[t] + ix.suite_lead[(s, q, c)]
            for tau in ix.periods[online:]:
                added[(s, q, c, tau)] += n * ix.suite_module[(s, q, c)]
    used: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for key, v in zip(ix.ship, ship_vals, strict=True):
        if v > ZERO:
            used[(*ix.suite_of_ship[key], key[3])] += ix.slots_per_batch.get(key[:2], 1.0) * v
    rows = []
    for k, existing in sorted(ix.suite_existing.items()):
        if ix.site_status[k[0]] == "candidate":
            existing = 0.0
        for t in ix.periods:
            cap = existing + added.get((*k, t), 0.0)
            if cap <= 0:
                continue
            u = used.get((*k, t), 0.0)
            rows.append((*k, t, cap, u, u / cap))
    return pd.DataFrame(rows, columns=["site", "modality", "scale", "period",
                                       "capacity_batches", "used_batches", "utilisation"])


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
