"""What a rule's achieved share is called, in the rule's measure, and each rule's
tightest period: read from the plan's ``rule_kpis`` table (`capacity.results.extract`)
by the CLI summary and the report."""

from __future__ import annotations

import pandas as pd

# What one batch counts as in a rule of each measure (`rules.measure`), as a share names it.
MEASURE_NOUNS = {"batches": "batches", "value": "value", "weight": "weighted batches"}


def rule_kpi_label(kind: str, measure: str, basis: str, subject: str, market: str) -> str:
    """The achieved share a ``rule_kpis`` row reports, in words: "domestic share of
    value in A", "OB's share of weighted batches in A", "value of demand served in A"."""
    noun = MEASURE_NOUNS.get(measure, measure)
    if kind == "min_domestic_share":
        return f"domestic share of {noun} in {market}" + (
            " (of demand)" if basis == "demand" else "")
    if kind == "min_service_level":
        what = f"{subject} " if subject else ""
        return f"{what}demand served in {market}, share of {noun}"
    return f"{subject}'s share of {noun} in {market}"


def tightest(rule_kpis: pd.DataFrame) -> pd.DataFrame:
    """Each rule's period (and subject) closest to its limit: the lowest share of a
    minimum rule, the highest of a maximum rule; with the label and the limit in words
    (``label``, ``limit_text``, ``achieved``, ``period``)."""
    columns = ["rule", "kind", "market", "measure", "label", "limit_text", "achieved",
               "period"]
    if rule_kpis.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for rule, g in rule_kpis.groupby("rule", sort=True):
        kind = str(g["kind"].iloc[0])
        low = kind.startswith("min_")
        row = g.loc[g["share"].idxmin() if low else g["share"].idxmax()]
        rows.append((rule, kind, row["market"], row["measure"],
                     rule_kpi_label(kind, str(row["measure"]), str(row["basis"]),
                                    str(row["subject"]), str(row["market"])),
                     f"{'≥' if low else '≤'} {float(row['limit']):.0%}",
                     float(row["share"]), int(row["period"])))
    return pd.DataFrame(rows, columns=columns)
