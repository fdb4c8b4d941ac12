"""The plan's charts as plotly figures, one function each, for the HTML report
(`capacity.report`) and for notebooks (`Plan.plot`).

Each figure reads plan tables (and, where it places sites or names startups, the case);
plotly is imported when a figure is drawn. Colours are the Okabe–Ito palette (safe for
colour-blind readers) and bars also carry patterns, so the charts stay readable in
greyscale; the heatmap uses cividis.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from capacity.case import Case, load_case

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000")
PATTERNS = ("", "/", "x", ".", "+", "\\", "-", "|")  # second channel for greyscale


# --- figures -----------------------------------------------------------------------------

def layout(fig: Any, title: str, **more: Any) -> Any:
    """``fig`` in the house style, titled ``title`` (``more``: further layout)."""
    fig.update_layout(title={"text": title, "x": 0.0}, template="plotly_white",
                      font={"family": "Helvetica, Arial, sans-serif", "size": 13},
                      margin={"l": 60, "r": 20, "t": 60, "b": 50}, **more)
    return fig


def capacity_figure(builds: pd.DataFrame, case: Case) -> Any:
    """Batches per period added by new modules, by online period: one panel per modality
    built, each on its own axis in the modality's own batches (an AAV vector lot and a
    CAR-T patient lot are not one unit: on one axis, 6 AAV batches vanish beside 200 cell
    lots), stacked by region; the legend lists the regions that built."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    region = case.sites.set_index("site")["region"]
    frame = builds.assign(region=builds["site"].map(region))
    listed = list(case.modalities["modality"])
    built = set(frame["modality"])
    modalities = [q for q in listed if q in built] + sorted(built - set(listed))
    batch = dict(zip(case.modalities["modality"], case.modalities["batch"], strict=True))
    regions = sorted(frame["region"].dropna().unique())
    periods = sorted(int(t) for t in case.periods["period"])
    fig = make_subplots(rows=1, cols=max(1, len(modalities)), shared_yaxes=False,
                        subplot_titles=modalities or ["no modules built"])
    for i, r in enumerate(regions):
        for j, q in enumerate(modalities):
            added = frame[(frame["region"] == r) & (frame["modality"] == q)].groupby(
                "online_period")["batches_added"].sum()
            fig.add_trace(go.Bar(
                x=periods, y=[float(added.get(t, 0.0)) for t in periods], name=str(r),
                legendgroup=str(r), showlegend=j == 0,
                marker={"color": PALETTE[i % len(PALETTE)],
                        "pattern": {"shape": PATTERNS[i % len(PATTERNS)]}},
                hovertemplate=f"{r} {q}, %{{x}}: %{{y:,.1f}} batches/period"
                              + (f" (a batch: {batch[q]})" if batch.get(q) else "")
                              + "<extra></extra>"),
                row=1, col=j + 1)
        if not modalities:
            break
    if not modalities:
        fig.add_trace(go.Bar(x=periods, y=[0.0] * len(periods), showlegend=False))
    fig.update_layout(barmode="stack")
    for j, q in enumerate(modalities):
        fig.update_yaxes(title_text=f"{q} batches per period added", row=1, col=j + 1)
    return layout(fig, "Capacity built: batches per period coming online, by modality "
                   "(each in its own batches) and region")


def utilisation_figure(utilisation: pd.DataFrame) -> Any:
    """Share of each site's capacity used, by period (all its suites together)."""
    import plotly.graph_objects as go

    by_site = utilisation.groupby(["site", "period"])[["capacity_batches", "used_batches"]] \
        .sum().reset_index()
    by_site["share"] = by_site["used_batches"] / by_site["capacity_batches"].where(
        by_site["capacity_batches"] > 0)
    grid = by_site.pivot(index="site", columns="period", values="share").sort_index(
        ascending=False)
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=list(grid.index),
        colorscale="Cividis", zmin=0, zmax=1, colorbar={"title": "used", "tickformat": ".0%"},
        hovertemplate="%{y}, %{x}: %{z:.0%} of capacity used<extra></extra>"))
    return layout(fig, "Suite utilisation by site and period (share of batch slots used)",
                   height=max(320, 26 * len(grid) + 120))


def cost_figure(costs: pd.DataFrame) -> Any:
    """Waterfall from the cost components to the net discounted cost."""
    import plotly.graph_objects as go

    rows = costs[costs["pv_musd"].abs() > 1e-9]
    # a "total" bar's height is the running sum, but its label prints its own y: give it
    # the net cost (0.0 there labelled every report's net cost 0.0)
    fig = go.Figure(go.Waterfall(
        x=[*rows["component"].str.replace("_", " "), "net cost"],
        y=[*rows["pv_musd"], float(rows["pv_musd"].sum())],
        measure=[*(["relative"] * len(rows)), "total"],
        increasing={"marker": {"color": PALETTE[5]}},
        decreasing={"marker": {"color": PALETTE[0]}},
        totals={"marker": {"color": "#444444"}},
        texttemplate="%{y:,.1f}", textposition="outside",
        hovertemplate="%{x}: %{y:,.1f} MUSD<extra></extra>"))
    return layout(fig, "Cost breakdown, present value (MUSD): costs up, savings and value "
                   "served down", yaxis_title="MUSD, present value", showlegend=False)


def assignment_figure(production: pd.DataFrame, case: Case) -> Any:
    """Gantt-like: each program's production at each site, over the periods it runs."""
    import plotly.graph_objects as go

    startup = case.programs.set_index("program")["startup"]
    periods = sorted(int(t) for t in case.periods["period"])
    nxt = {t: periods[i + 1] if i + 1 < len(periods) else t + 1
           for i, t in enumerate(periods)}
    spans = []
    for (p, s), g in production.groupby(["program", "site"]):
        run = sorted(int(t) for t in g["period"])
        start = prev = run[0]
        for t in [*run[1:], None]:
            if t is not None and periods.index(t) == periods.index(prev) + 1:
                prev = t
                continue
            total = float(g[(g["period"] >= start) & (g["period"] <= prev)]["batches"].sum())
            spans.append((f"{startup.get(p, '')} · {p}", s, start, nxt[prev], total))
            if t is not None:
                start = prev = t
    frame = pd.DataFrame(spans, columns=["program", "site", "start", "end", "batches"])
    fig = go.Figure()
    sites = sorted(frame["site"].unique())
    for i, s in enumerate(sites):
        mine = frame[frame["site"] == s]
        fig.add_trace(go.Bar(
            y=mine["program"], x=mine["end"] - mine["start"], base=mine["start"],
            orientation="h", name=s, customdata=mine[["start", "end", "batches"]],
            marker={"color": PALETTE[i % len(PALETTE)],
                    "pattern": {"shape": PATTERNS[(i // len(PALETTE)) % len(PATTERNS)]},
                    "line": {"color": "#ffffff", "width": 0.5}},
            hovertemplate=f"%{{y}} at {s}: %{{customdata[0]}}–%{{customdata[1]}}, "
                          "%{customdata[2]:,.1f} batches<extra></extra>"))
    fig.update_yaxes(categoryorder="category descending", title_text="startup · program")
    fig.update_xaxes(title_text="period", dtick=1)
    return layout(fig, "Startup slot assignments over time (bar = producing at a site)",
                   barmode="overlay", height=max(360, 18 * frame["program"].nunique() + 140))


def flow_figure(shipments: pd.DataFrame) -> Any:
    """Sankey: batches from producing sites to markets over the horizon."""
    import plotly.graph_objects as go

    flows = shipments.groupby(["site", "market"])["batches"].sum().reset_index()
    sites = sorted(flows["site"].unique())
    markets = sorted(flows["market"].unique())
    index = {**{s: i for i, s in enumerate(sites)},
             **{f"→{m}": len(sites) + j for j, m in enumerate(markets)}}
    fig = go.Figure(go.Sankey(
        valueformat=",.1f", valuesuffix=" batches",
        node={"label": [*sites, *(f"market {m}" for m in markets)], "pad": 12,
              "color": [*(["#9a9a9a"] * len(sites)),
                        *(PALETTE[j % len(PALETTE)] for j in range(len(markets)))]},
        link={"source": [index[s] for s in flows["site"]],
              "target": [index[f"→{m}"] for m in flows["market"]],
              "value": flows["batches"].tolist(), "color": "rgba(120,120,120,0.35)"}))
    return layout(fig, "Flows from sites to markets, batches over the horizon",
                   height=max(420, 22 * len(sites) + 120))


def stress_figure(lost: pd.DataFrame, labels: Mapping[str, str] | None = None) -> Any:
    """Supply lost (committed + potential batches, summed over periods) by contingency
    and market: a heat map, the contingencies losing most on top (`capacity stress`)."""
    import plotly.graph_objects as go

    grid = lost.pivot_table(index="scenario", columns="market", values="supply_lost",
                            aggfunc="sum", fill_value=0.0) if not lost.empty else \
        pd.DataFrame()
    if not grid.empty:
        grid = grid.loc[grid.sum(axis=1).sort_values(kind="stable").index]
    names = [(labels or {}).get(str(c), str(c)) for c in grid.index]
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=[str(c) for c in grid.columns], y=names,
        colorscale="Reds", zmin=0, colorbar={"title": "batches"},
        hovertemplate="%{y}: %{z:,.1f} batches lost in %{x}<extra></extra>"))
    return layout(fig, "Supply lost by contingency and market (committed + potential "
                  "batches against the plan, all periods)",
                  height=max(320, 26 * len(grid) + 120))


def map_figure(case: Case, utilisation: pd.DataFrame, shipments: pd.DataFrame) -> Any | None:
    """Sites sized by their largest capacity in the plan, lanes used drawn to each market's
    centre; None when the case gives no coordinates."""
    import plotly.graph_objects as go

    sites = case.sites.dropna(subset=["latitude", "longitude"]).set_index("site")
    if sites.empty:
        return None
    regions = case.regions.dropna(subset=["latitude", "longitude"]).set_index("region")
    most = utilisation.groupby(["site", "period"])["capacity_batches"].sum() \
        .groupby("site").max()
    fig = go.Figure()
    lanes = shipments.groupby(["site", "market"])["batches"].sum().reset_index()
    lanes = lanes[lanes["site"].isin(sites.index) & lanes["market"].isin(regions.index)
                  & (lanes["batches"] > 0)]
    widest = float(lanes["batches"].max()) if not lanes.empty else 1.0
    for r in lanes.itertuples(index=False):
        fig.add_trace(go.Scattergeo(
            lon=[sites.at[r.site, "longitude"], regions.at[r.market, "longitude"]],
            lat=[sites.at[r.site, "latitude"], regions.at[r.market, "latitude"]],
            mode="lines", line={"width": 0.5 + 3.5 * r.batches / widest, "color": PALETTE[0]},
            opacity=0.45, showlegend=False, hoverinfo="text",
            text=f"{r.site} → {r.market}: {r.batches:,.1f} batches"))
    size = sites.index.map(lambda s: float(most.get(s, 0.0)))
    scale = max(max(size), 1.0)
    for i, (status, symbol) in enumerate((("existing", "circle"), ("candidate", "diamond"))):
        mine = sites[sites["status"] == status]
        cap = [float(most.get(s, 0.0)) for s in mine.index]
        fig.add_trace(go.Scattergeo(
            lon=mine["longitude"], lat=mine["latitude"], mode="markers",
            name=f"{status} site", text=[f"{s}: {c:,.0f} batches/period at most"
                                         for s, c in zip(mine.index, cap, strict=True)],
            hoverinfo="text",
            marker={"size": [6 + 30 * (c / scale) ** 0.5 for c in cap], "symbol": symbol,
                    "color": PALETTE[1 + 4 * i], "line": {"color": "#222222", "width": 1},
                    "opacity": 0.85}))
    if not regions.empty:
        fig.add_trace(go.Scattergeo(
            lon=regions["longitude"], lat=regions["latitude"], mode="markers+text",
            text=list(regions.index), textposition="top center", name="market",
            marker={"symbol": "square", "size": 8, "color": "#000000"}, hoverinfo="text"))
    fig.update_geos(projection_type="natural earth", fitbounds="locations", showcountries=True,
                    countrycolor="#bbbbbb", showland=True, landcolor="#f2f2f2",
                    showocean=True, oceancolor="#e8f1f8", resolution=110)
    return layout(fig, "Sites sized by capacity, and the lanes the plan uses", height=520)




# --- notebooks ---------------------------------------------------------------------------

class PlanFigures:
    """A plan's charts one by one, as plotly figures (``plan.plot.costs()``): the figures
    of `capacity report`, to show in a notebook, restyle or save with plotly.

    The charts that place sites or name startups (``capacity``, ``assignments``, ``map``)
    need the case: pass it, or it is loaded from where the plan records it was loaded
    from (``Plan.case_source``) on each call.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame], case_source: str = "",
                 status: str = "") -> None:
        self._tables = tables
        self._case_source = case_source
        self._status = status

    def _table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            raise ValueError(f"the plan has no {name} table to plot: status is "
                             f"{self._status or 'unknown'}")
        return self._tables[name]

    def _case(self, case: Case | None) -> Case:
        if case is not None:
            return case
        if not self._case_source or not Path(self._case_source).exists():
            where = repr(self._case_source) if self._case_source else "not recorded (it " \
                "was built in memory)"
            raise ValueError(f"this chart needs the plan's case, whose source is {where}: "
                             "pass it, e.g. plan.plot.capacity(case)")
        return load_case(self._case_source)

    def capacity(self, case: Case | None = None) -> Any:
        """Capacity built: batches per period coming online, by region and modality
        (`capacity_figure`)."""
        return capacity_figure(self._table("builds"), self._case(case))

    def utilisation(self) -> Any:
        """Share of each site's capacity used, by period (`utilisation_figure`)."""
        return utilisation_figure(self._table("utilisation"))

    def costs(self) -> Any:
        """Waterfall from the cost components to the net discounted cost
        (`cost_figure`)."""
        return cost_figure(self._table("costs"))

    def assignments(self, case: Case | None = None) -> Any:
        """Each program's production at each site over time (`assignment_figure`)."""
        return assignment_figure(self._table("production"), self._case(case))

    def flows(self) -> Any:
        """Batches from producing sites to markets over the horizon (`flow_figure`)."""
        return flow_figure(self._table("shipments"))

    def map(self, case: Case | None = None) -> Any | None:
        """Sites and the lanes the plan uses on a world map; None when the case gives no
        coordinates (`map_figure`)."""
        return map_figure(self._case(case), self._table("utilisation"),
                          self._table("shipments"))
