"""How a plan shows itself in a notebook (`Plan._repr_html_`): a small HTML summary.

Status, objective, bound, gap and messages, then the first rows of the tables a reader
looks at first (costs, builds, assignments) and the names of the others. Every text
from the plan (case name, messages, identifiers) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd

from capacity.results.costs import decision_cost

# The tables shown, and how many rows of each.
SHOWN_TABLES = (("costs", 12), ("builds", 8), ("assignments", 8))


def money(value: float | None, unit: str) -> str:
    """An amount as a reader sees it: ``-711.5 MUSD``; a dash when there is none."""
    return "—" if value is None else f"{value:,.1f} {unit}"


def plan_html(summary: Mapping[str, Any], tables: Mapping[str, pd.DataFrame]) -> str:
    """The HTML a notebook shows for a plan (``Plan.summary()`` and its tables)."""
    unit = str(summary.get("unit") or "MUSD")
    objective, net_cost = summary.get("objective"), summary.get("net_cost")
    sense = summary.get("sense") or "minimise"
    label = "net discounted cost" if (sense == "minimise" and objective == net_cost) \
        else f"objective ({sense})"
    gap = summary.get("gap")
    seconds = summary.get("seconds") or {}
    rows = [("status", str(summary.get("status"))),
            (label, money(objective, unit))]
    if label != "net discounted cost" and net_cost is not None:
        rows.append(("net discounted cost", money(net_cost, "MUSD")))
    if "costs" in tables and net_cost is not None:
        rows.append(("of which the plan's decisions (without the existing sites' fixed "
                     "cost, a constant)", money(decision_cost(tables["costs"]), "MUSD")))
    rows += [("bound", money(summary.get("bound"), unit)),
             ("gap", "—" if gap is None else f"{gap:.2%}"),
             ("time", f"{sum(seconds.values()):,.1f} s" if seconds else "—")]
    head = "".join(f'<tr><th style="text-align:left">{html.escape(k)}</th>'
                   f'<td style="text-align:left">{html.escape(v)}</td></tr>' for k, v in rows)
    parts = [f"<div><p><b>capacity plan</b> · case "
             f"<code>{html.escape(str(summary.get('case', '')))}</code></p>",
             f"<table>{head}</table>"]
    messages = summary.get("messages") or []
    if messages:
        parts.append("<ul>" + "".join(f"<li>{html.escape(str(m))}</li>" for m in messages)
                     + "</ul>")
    for name, count in SHOWN_TABLES:
        frame = tables.get(name)
        if frame is None:
            continue
        more = f", first {count} shown" if len(frame) > count else ""
        parts.append(f"<p><b>{name}</b> ({_rows(len(frame))}{more})</p>")
        if len(frame):
            parts.append(frame.head(count).to_html(
                index=False, border=0, escape=True, na_rep="",
                float_format=lambda x: f"{x + 0.0:,.3f}"))  # + 0.0: no "-0.000"
    others = [f"{n} ({len(f):,})" for n, f in tables.items()
              if n not in dict(SHOWN_TABLES)]
    if others:
        parts.append("<p>other tables (rows): " + html.escape(", ".join(others))
                     + ". Charts: <code>plan.plot.costs()</code>, <code>capacity()</code>, "
                     "<code>utilisation()</code>, <code>assignments()</code>, "
                     "<code>flows()</code>, <code>map()</code>.</p>")
    parts.append("</div>")
    return "\n".join(parts)


def _rows(count: int) -> str:
    return f"{count:,} row" + ("" if count == 1 else "s")
