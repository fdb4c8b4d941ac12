"""Scenarios against a base: the price of each policy, from a batch's results store.

    capacity compare DIR [--base NAME]
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from capacity.studies.batch import ResultStore, read_results

DELTA_COLUMNS = ("objective", "modules_built", "capex_musd", "sites_opened",
                 "unmet_potential_batches")


def compare(folder: str | Path, base: str | None = None) -> pd.DataFrame:
    """One row per finished scenario, with its deltas against ``base``.

    Columns: ``scenario``, ``status``, ``objective`` (the case's reported objective, by
    default the net discounted cost, MUSD) and ``delta_objective`` (scenario − base: what
    the scenario's change costs), each cost component ``cost_<component>`` (present value,
    MUSD) with its delta, ``modules_built``, ``capex_musd``, ``sites_opened``,
    ``unmet_potential_batches`` (potential demand left unserved over the horizon, with
    its delta: a scenario that drops a rule shows the rule's price as −delta_objective
    and the patients it leaves unserved as −delta_unmet_potential_batches) and
    ``unmet_potential_batches_<market>`` with their deltas, the
    supply-weighted ``domestic_share_<market>`` (of batches) and the largest
    ``hhi_operator_<market>`` (0–10,000) over the horizon, and ``rule_share_<rule>``:
    each share rule's and service level's share in its tightest period, counted in the
    rule's measure (`rules.measure`: the plan's ``rule_kpis``).

    Args:
        folder: a batch results folder (`capacity.studies.batch.run_batch`).
        base: the scenario to compare against; default ``base`` if present, else the first.

    Raises:
        FileNotFoundError: the folder holds no finished scenario.
        KeyError: ``base`` is not a finished scenario.
    """
    summary = ResultStore(Path(folder)).summary()
    if summary.empty:
        raise FileNotFoundError(f"{folder} holds no finished scenario (run capacity batch)")
    names = list(summary["scenario"])
    if base is None:
        base = "base" if "base" in names else names[0]
    if base not in names:
        raise KeyError(f"no finished scenario {base!r} in {folder}; have: {', '.join(names)}")
    table = summary[["scenario", "status", "objective"]].set_index("scenario")
    table = table.join(_costs(folder)).join(_builds(folder)).join(_openings(folder))
    table = table.join(_unmet(folder)).join(_markets(folder)).join(_rules(folder))
    solved = table["status"].isin(["optimal", "time_limit_feasible"])
    by_market = [c for c in table.columns if c.startswith("unmet_potential_batches_")]
    for col in ("modules_built", "capex_musd", "sites_opened", "unmet_potential_batches",
                *by_market):
        table[col] = table[col].astype("float64").where(~solved, table[col].fillna(0.0))
    deltas = [c for c in table.columns
              if c in DELTA_COLUMNS or c.startswith(("cost_", "unmet_potential_batches_"))]
    for col in deltas:
        table[f"delta_{col}"] = table[col] - table.at[base, col]
    ordered = ["status", "objective", "delta_objective"]
    rest = [c for c in table.columns if c not in ordered]
    return table[ordered + rest].reset_index()


def _costs(folder: str | Path) -> pd.DataFrame:
    costs = read_results(folder, "costs")
    if costs.empty:
        return pd.DataFrame()
    wide = costs.pivot_table(index="scenario", columns="component", values="pv_musd",
                             aggfunc="sum")
    return wide.add_prefix("cost_")


def _builds(folder: str | Path) -> pd.DataFrame:
    builds = read_results(folder, "builds")
    if builds.empty:
        return pd.DataFrame(columns=["modules_built", "capex_musd"])
    return builds.groupby("scenario").agg(modules_built=("modules", "sum"),
                                          capex_musd=("capex_musd", "sum"))


def _openings(folder: str | Path) -> pd.DataFrame:
    openings = read_results(folder, "openings")
    if openings.empty:
        return pd.DataFrame(columns=["sites_opened"])
    return openings.groupby("scenario").size().rename("sites_opened").to_frame()


def _unmet(folder: str | Path) -> pd.DataFrame:
    unmet = read_results(folder, "unmet_demand")
    if unmet.empty:
        return pd.DataFrame(columns=["unmet_potential_batches"])
    total = unmet.groupby("scenario")["unmet_batches"].sum().rename(
        "unmet_potential_batches").to_frame()
    by_market = unmet.pivot_table(index="scenario", columns="market", values="unmet_batches",
                                  aggfunc="sum", fill_value=0.0)
    return total.join(by_market.add_prefix("unmet_potential_batches_"))


def _markets(folder: str | Path) -> pd.DataFrame:
    kpis = read_results(folder, "market_kpis")
    if kpis.empty:
        return pd.DataFrame()
    kpis = kpis.assign(domestic=kpis["domestic_share"] * kpis["supply_batches"])
    g = kpis.groupby(["scenario", "market"])
    share = (g["domestic"].sum() / g["supply_batches"].sum()).unstack("market")
    hhi = g["hhi_operator"].max().unstack("market")
    return share.add_prefix("domestic_share_").join(hhi.add_prefix("hhi_operator_"))


def _rules(folder: str | Path) -> pd.DataFrame:
    kpis = read_results(folder, "rule_kpis")
    if kpis.empty:
        return pd.DataFrame()
    low = kpis["kind"].str.startswith("min_")
    g = kpis.groupby(["scenario", "rule"])["share"]
    lowest, highest = g.min(), g.max()
    tight = lowest.where(low.groupby([kpis["scenario"], kpis["rule"]]).first(), highest)
    return tight.unstack("rule").add_prefix("rule_share_")


# The price of a scenario (delta_objective) next to the potential demand it leaves
# unserved (delta_unmet_potential_batches): a rule met by rationing shows as a saving in
# cost and a rise in unmet demand, one beside the other.
HEADLINE = ("scenario", "status", "objective", "delta_objective", "modules_built",
            "sites_opened", "unmet_potential_batches", "delta_unmet_potential_batches")


def headline_columns(table: pd.DataFrame) -> list[str]:
    """The columns that tell scenarios apart: the headline, then each market's domestic
    share where it varies between scenarios."""
    varying = [c for c in table.columns if c.startswith(("domestic_share_", "rule_share_"))
               and table[c].round(4).nunique(dropna=False) > 1]
    return [*HEADLINE, *varying]


def format_cell(column: str, value: object) -> str:
    """A value as shown in the comparison: shares in %, deltas signed, MUSD to 0.1."""
    if isinstance(value, str):
        return value
    if value is None or value != value:
        return "—"
    x = float(value)  # type: ignore[arg-type]
    if abs(x) < 1e-9:  # rounding noise of a solve: no "-0.0"
        x = 0.0
    if column.startswith(("domestic_share_", "rule_share_")):
        return f"{x:.0%}"
    if column.startswith("delta_"):
        return f"{x:+,.1f}"
    if column in ("modules_built", "sites_opened"):
        return f"{x:,.0f}"
    return f"{x:,.1f}"


def to_markdown(table: pd.DataFrame, columns: list[str] | None = None) -> str:
    """The comparison as a Markdown table (headline columns by default)."""
    columns = columns or headline_columns(table)
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(format_cell(c, row[c]) for c in columns) + " |")
    return "\n".join(lines)
