"""The uniform case family: seeded case generators at the benchmark tiers of BRIEF.md.

Structure follows the default case, not uniform noise: a few large CDMO regions hold most
capacity; modalities have their own costs, module sizes and lead times; programs start
clinical and some turn commercial with a launch ramp; a minority of commercial programs
carry anchor offtakes; operators in one region are flagged of concern and barred from the
US; Japan has a domestic-share rule and the EU an operator cap; two government funds and
a bank co-invest. Commitments are kept below the capacity that can serve them, so every
generated case is feasible.

    capacity generate --tier M --seed 1 --out DIR

What both families share (`policy_frames`, `Tier`, the modalities and regions) lives
here; `capacity.case.generate.realistic` builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODALITIES = ("antibody", "adc", "aav", "cell", "microbial")
MODALITY_SHARE = (0.35, 0.15, 0.15, 0.2, 0.15)
VARIABLE_COST = {"antibody": 1.5, "adc": 2.8, "aav": 3.5, "cell": 0.9, "microbial": 0.8}
MODULE_CAPEX = {"antibody": 110.0, "adc": 80.0, "aav": 85.0, "cell": 45.0, "microbial": 30.0}
TRANSFER = {"antibody": 4.0, "adc": 6.0, "aav": 7.0, "cell": 5.0, "microbial": 2.0}
VALUE = {"antibody": 4.5, "adc": 8.0, "aav": 9.0, "cell": 3.0, "microbial": 2.0}
REGIONS = ("JP", "KR", "CN", "US", "EU", "SG", "IN", "BR", "GB", "CH", "CA", "AU")
REGION_WEIGHT = (1.0, 1.2, 1.5, 2.0, 2.0, 0.6, 0.6, 0.3, 0.6, 0.5, 0.3, 0.3)


@dataclass(frozen=True)
class Tier:
    """Size of a generated case."""

    name: str
    regions: int
    sites: int
    programs: int
    periods: int


TIERS = {t.name: t for t in (
    Tier("S", 8, 20, 100, 6),
    Tier("M", 10, 60, 500, 10),
    Tier("L", 10, 150, 2000, 10),
    Tier("XL", 12, 300, 10000, 12),
)}


def generate_frames(tier: str | Tier, seed: int = 1) -> dict[str, pd.DataFrame]:
    """The tables of a generated case (validate with `Case.from_frames`)."""
    t = TIERS[tier] if isinstance(tier, str) else tier
    rng = np.random.default_rng(seed)
    periods = list(range(2027, 2027 + t.periods))
    regions = list(REGIONS[:t.regions])
    weight = np.array(REGION_WEIGHT[:t.regions]) / sum(REGION_WEIGHT[:t.regions])

    # operators: about one per three sites; CN-headquartered ones are of concern
    n_ops = max(3, t.sites // 3)
    op_region = rng.choice(regions, size=n_ops, p=weight)
    operators = pd.DataFrame({
        "operator": [f"O{i:03d}" for i in range(n_ops)],
        "kind": rng.choice(["cdmo", "cdmo", "cdmo", "corporate", "public"], size=n_ops),
        "of_concern": [r == "CN" and rng.random() < 0.7 for r in op_region]})

    # sites: each in its operator's region mostly, 20% candidates
    site_op = rng.integers(0, n_ops, size=t.sites)
    site_region = [op_region[o] if rng.random() < 0.8 else rng.choice(regions, p=weight)
                   for o in site_op]
    candidate = rng.random(t.sites) < 0.2
    sites = pd.DataFrame({
        "site": [f"S{i:03d}" for i in range(t.sites)],
        "operator": [f"O{o:03d}" for o in site_op], "region": site_region,
        "status": np.where(candidate, "candidate", "existing"),
        "fixed_cost_musd_per_year": np.round(rng.uniform(2, 15, t.sites), 1),
        "opening_cost_musd": np.where(candidate, np.round(rng.uniform(20, 70, t.sites)), 0.0),
        "lead_time_periods": np.where(candidate, rng.integers(1, 3, t.sites), 0)})

    # suites: 1–4 modality × scale per site
    rows = []
    for i in range(t.sites):
        for q in rng.choice(MODALITIES, size=rng.integers(1, 4), replace=False,
                            p=MODALITY_SHARE):
            for c in ("clinical", "commercial"):
                if c == "clinical" and rng.random() < 0.4:
                    continue
                base = 8.0 if c == "clinical" else 25.0
                rows.append({
                    "site": f"S{i:03d}", "modality": q, "scale": c,
                    "existing_batches_per_period": 0.0 if candidate[i]
                    else float(rng.integers(int(base * 0.5), int(base * 1.5))),
                    "module_batches_per_period": float(rng.integers(4, 13)),
                    "module_capex_musd": round(MODULE_CAPEX[q] * rng.uniform(0.7, 1.3)
                                               * (0.4 if c == "clinical" else 1.0), 1),
                    "max_modules": int(rng.integers(0, 4)) if not candidate[i]
                    else int(rng.integers(1, 4)),
                    "lead_time_periods": int(rng.integers(1, 3)),
                    "variable_cost_musd_per_batch": round(
                        VARIABLE_COST[q] * rng.uniform(0.7, 1.3)
                        * (1.5 if c == "clinical" else 1.0)
                        * (0.7 if site_region[i] in ("CN", "IN") else 1.0), 2)})
    suites = pd.DataFrame(rows)

    # programs: clinical first, 60% turn commercial
    modality = rng.choice(MODALITIES, size=t.programs, p=MODALITY_SHARE)
    start = rng.integers(0, max(1, t.periods // 3), size=t.programs)
    turns = rng.random(t.programs) < 0.6
    commercial = np.minimum(start + rng.integers(2, 5, size=t.programs), t.periods - 1)
    home = rng.choice(regions, size=t.programs, p=weight)
    programs = pd.DataFrame({
        "program": [f"P{j:05d}" for j in range(t.programs)], "startup": [
            f"Startup{j:05d}" for j in range(t.programs)], "modality": modality,
        "earliest_start": [periods[s] for s in start],
        "commercial_from": [periods[c] if turn and c > s else None
                            for s, c, turn in zip(start, commercial, turns, strict=True)],
        "max_sites": np.where(rng.random(t.programs) < 0.15, 2, 1),
        "tech_transfer_musd": [TRANSFER[q] for q in modality]})

    # demand and offtakes; commitments only where the modality has commercial capacity
    have = set(zip(suites["modality"], suites["scale"], strict=True))
    demand, offtakes = [], []
    anchors = [f"A{k:02d}" for k in range(max(3, t.regions // 2))]
    for j in range(t.programs):
        p, q = f"P{j:05d}", modality[j]
        markets = [home[j], *rng.choice([r for r in regions if r != home[j]],
                                        size=rng.integers(0, 3), replace=False)]
        peak = float(rng.uniform(3, 9))
        price = {m: round(VALUE[q] * rng.uniform(0.9, 1.2), 2) for m in markets}
        anchored = turns[j] and (q, "commercial") in have and rng.random() < 0.2
        for k, period in enumerate(periods[start[j]:], start=start[j]):
            is_comm = programs.at[j, "commercial_from"] is not None and \
                period >= programs.at[j, "commercial_from"]
            for n, m in enumerate(markets):
                if is_comm:
                    ramp = min(1.0, 0.5 + 0.25 * (k - commercial[j]))
                    batches = round(peak * ramp * (1.0 if n == 0 else 0.5))
                elif n == 0:
                    batches = int(rng.integers(1, 4))
                else:
                    continue
                if batches > 0:
                    demand.append((p, m, period, batches,
                                   price[m] * (1.3 if not is_comm else 1.0)))
            if anchored and is_comm:
                offtakes.append((anchors[j % len(anchors)], p, home[j], period, 1.0))
    frames = {
        **policy_frames(periods, regions),
        "regions": pd.DataFrame({"region": regions}),
        "operators": operators, "sites": sites, "suites": suites, "programs": programs,
        "demand": pd.DataFrame(demand, columns=["program", "market", "period",
                                                "potential_batches", "value_musd_per_batch"]),
        "anchors": pd.DataFrame({"anchor": anchors}),
        "offtakes": pd.DataFrame(offtakes, columns=["anchor", "program", "market", "period",
                                                    "committed_batches"]),
        "lanes": _lanes(regions, rng),
    }
    return _keep_feasible(frames)


def _lanes(regions: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for o in regions:
        for m in regions:
            if o == m:
                continue
            tariff = 0.25 if (m == "US" and o == "CN") else 0.1 if m in ("US", "CN") else 0.0
            rows.append((o, m, round(float(rng.uniform(0.03, 0.15)), 3), tariff))
    return pd.DataFrame(rows, columns=["origin", "market", "transport_musd_per_batch",
                                       "tariff_rate"])


def _keep_feasible(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Drop commitments in markets that a domestic-share rule would make too hard, and keep
    committed volume per modality well under existing commercial capacity."""
    off, suites = frames["offtakes"], frames["suites"]
    programs = frames["programs"].set_index("program")
    cap = suites[suites["scale"] == "commercial"].groupby("modality")[
        "existing_batches_per_period"].sum()
    off = off[off["market"] != "JP"]  # JP's domestic rule + thin domestic capacity
    per = off.assign(modality=off["program"].map(programs["modality"])).groupby(
        ["modality", "period"])["committed_batches"].transform("sum")
    limit = off["program"].map(programs["modality"]).map(cap).fillna(0) * 0.3
    frames["offtakes"] = off[per <= limit].reset_index(drop=True)
    return frames


def policy_frames(periods: list[int], regions: list[str], scale: float = 1.0,
                  jp_domestic_share: float = 0.2) -> dict[str, pd.DataFrame]:
    """What both families share: the periods (8 % discount rate), two government funds
    and a bank (budgets × ``scale``), and the rules: operators of concern barred from the
    US, a domestic-share rule for Japan, an operator cap in the EU (each where the case
    has the region)."""
    del regions  # the rules name markets; a case without one simply has no rows there
    budgets = (("GOV_JP", 60.0), ("GOV_KR", 25.0), ("BANK", 80.0))
    return {
        "periods": pd.DataFrame({"period": periods, "years": 1.0, "discount_factor": [
            round(1 / 1.08**k, 4) for k in range(len(periods))]}),
        "funds": pd.DataFrame([
            {"fund": "GOV_JP", "funder": "Japan", "max_capex_share": 0.5,
             "eligible_regions": "JP"},
            {"fund": "GOV_KR", "funder": "Korea", "max_capex_share": 0.3,
             "eligible_regions": "KR"},
            {"fund": "BANK", "funder": "Bio-industrial bank", "kind": "bank",
             "max_capex_share": 0.6, "repayment_share": 0.85}]),
        "fund_budgets": pd.DataFrame([(f, p, round(b * scale, 1)) for p in periods
                                      for f, b in budgets],
                                     columns=["fund", "period", "budget_musd"]),
        "rules": pd.DataFrame([
            {"rule": "BAR_US", "kind": "barred", "market": "US", "subject": "flag:of_concern"},
            {"rule": "JP_DOMESTIC", "kind": "min_domestic_share", "market": "JP",
             "share": jp_domestic_share},
            {"rule": "EU_OPERATOR_CAP", "kind": "max_operator_share", "market": "EU",
             "subject": "*", "share": 0.6}]),
    }
