"""The realistic case family (issue 33): seeded cases whose structure is the default case's,
at the default case's size (S), a national network's (N) and a global one's (G).

The uniform family (`capacity.case.generate.uniform`) lets every program go to every site with a
suite of its modality (about 20 sites a program at tier M), draws each site's costs
independently (so many sites are near-equal by accident) and commits about 2 % of demand.
Real programs have a short list of qualified manufacturers, and costs follow the region
and the operator. This family is built to the default case's statistics
(`capacity.studies.bench.case_statistics`, the table in docs/benchmarks.md):

- **qualified sites**: each program lists 2–5 sites (`programs.qualified_sites`), drawn
  mostly from its home region and its zone (East Asia, North America, Europe, ...), at
  least one for each phase it has;
- **costs** = a base per modality and scale × a region factor × an operator factor × a
  small noise (± 5 %): variable costs, fixed costs and opening costs; capex follows the
  region (construction) alone;
- **commitments** (anchor offtakes) take programs in a seeded order until they are 7.9 %
  of the batches demanded, each anchored program at an existing site in its home market
  that can hold it, so every generated case is feasible;
- **capacity** in place is scaled to the default case's share of the peak demand of each
  modality and scale (antibody plentiful; commercial ADC, AAV and cell therapy scarce,
  so the plan decides what to build);
- the **lifecycle features** of the default case: technology transfer takes a period,
  phases are assigned apart, FDA approval for the US (the US sites and about 40 % of the
  others approved, the rest approvable a period later for 3 MUSD), the default case's
  `modalities` table (batch success, shelf lives, changeovers in cell suites), and
  continuity of supply 0.8 for the anchored programs.

    capacity generate --family realistic --tier N --seed 1 --out DIR
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from capacity.case.generate.uniform import MODALITIES, MODALITY_SHARE, REGIONS, Tier, policy_frames

REALISTIC_TIERS = {t.name: t for t in (
    Tier("S", 5, 12, 40, 6),
    Tier("N", 10, 100, 1000, 10),
    Tier("G", 12, 300, 10000, 12),
)}

COMMITTED_SHARE = 0.079  # the default case's committed share of the batches demanded
# existing capacity over the peak demand of a period, by modality and scale: the default
# case's (data/default: antibody plentiful, commercial ADC, AAV and cell capacity scarce,
# so that building it is what the plan decides)
CAPACITY_IN_PLACE = {("antibody", "commercial"): 2.0, ("antibody", "clinical"): 2.0,
                     ("adc", "commercial"): 0.35, ("adc", "clinical"): 1.4,
                     ("aav", "commercial"): 0.25, ("aav", "clinical"): 1.5,
                     ("cell", "commercial"): 0.15, ("cell", "clinical"): 1.5,
                     ("microbial", "commercial"): 1.0, ("microbial", "clinical"): 0.6}
CONTINUITY = 0.8  # the default case's continuity share for anchored programs
COMMITTED_OF_HOME = 0.6  # an anchor buys this share of its program's home demand
ROOM = 0.8  # share of an existing suite that anchored programs may fill at their peak


@dataclass(frozen=True)
class RegionProfile:
    """What the generator assumes of a region: its zone (qualification stays mostly
    within it), its cost level (× the modality's base cost) and its weight (share of
    sites and programs)."""

    zone: str
    cost: float
    weight: float
    bloc: str


PROFILES = {
    "JP": RegionProfile("east_asia", 1.10, 1.0, "Quad"),
    "KR": RegionProfile("east_asia", 0.95, 1.0, "Quad-partner"),
    "CN": RegionProfile("east_asia", 0.70, 1.4, "China"),
    "US": RegionProfile("north_america", 1.20, 2.2, "Quad"),
    "EU": RegionProfile("europe", 1.05, 2.0, "EU"),
    "SG": RegionProfile("east_asia", 0.95, 0.5, "ASEAN"),
    "IN": RegionProfile("south_asia", 0.65, 0.7, "Quad"),
    "BR": RegionProfile("latin_america", 0.80, 0.3, "Mercosur"),
    "GB": RegionProfile("europe", 1.10, 0.6, "Europe"),
    "CH": RegionProfile("europe", 1.35, 0.5, "Europe"),
    "CA": RegionProfile("north_america", 1.05, 0.3, "North America"),
    "AU": RegionProfile("oceania", 1.15, 0.3, "Quad"),
}

# base costs by (modality, scale), the default case's means (data/default/suites.csv)
VARIABLE = {("antibody", "commercial"): 1.5, ("antibody", "clinical"): 2.2,
            ("adc", "commercial"): 2.6, ("adc", "clinical"): 2.6,
            ("aav", "commercial"): 3.1, ("aav", "clinical"): 3.7,
            ("cell", "commercial"): 0.7, ("cell", "clinical"): 0.9,
            ("microbial", "commercial"): 0.8, ("microbial", "clinical"): 1.1}
MODULE = {("antibody", "commercial"): (8, 80.0), ("antibody", "clinical"): (3, 12.0),
          ("adc", "commercial"): (4, 72.0), ("adc", "clinical"): (2, 20.0),
          ("aav", "commercial"): (4, 65.0), ("aav", "clinical"): (2, 24.0),
          ("cell", "commercial"): (12, 48.0), ("cell", "clinical"): (5, 16.0),
          ("microbial", "commercial"): (4, 14.0), ("microbial", "clinical"): (3, 7.5)}
# value per batch (commercial, clinical) and peak commercial batches a period
VALUE = {"antibody": (4.4, 5.9), "adc": (7.7, 10.4), "aav": (9.2, 11.7), "cell": (3.1, 3.9),
         "microbial": (2.1, 2.6)}
PEAK = {"antibody": (3, 7), "adc": (3, 7), "aav": (3, 7), "cell": (4, 12), "microbial": (3, 9)}
TRANSFER = {"antibody": 4.0, "adc": 6.0, "aav": 7.0, "cell": 5.0, "microbial": 2.0}
FAR = 0.12  # transport per batch between zones, MUSD (within a zone: 0.05)


def generate_realistic_frames(tier: str | Tier, seed: int = 1) -> dict[str, pd.DataFrame]:
    """The tables of a realistic-family case (validate with `Case.from_frames`)."""
    t = REALISTIC_TIERS[tier] if isinstance(tier, str) else tier
    rng = np.random.default_rng(seed)
    periods = list(range(2027, 2027 + t.periods))
    regions = list(REGIONS[:t.regions])
    weight = np.array([PROFILES[r].weight for r in regions])
    weight = weight / weight.sum()

    operators, op_factor, op_home = _operators(t, regions, weight, rng)
    sites = _sites(t, regions, weight, operators, op_factor, op_home, rng)
    suites = _suites(sites, op_factor, rng)
    programs, demand = _programs_and_demand(t, periods, regions, weight, rng)
    suites = _scaled_capacity(suites, demand)
    concern = set(operators["operator"][operators["of_concern"]])
    qualified = _qualify(programs, sites, suites, concern, rng)
    offtakes, anchored = _commit(programs, demand, sites, suites, qualified, concern, rng)
    programs = programs.assign(
        qualified_sites=[";".join(qualified[p]) for p in programs["program"]],
        continuity_share=[CONTINUITY if p in anchored else None for p in programs["program"]]
    ).drop(columns=["home"])
    demand = demand.drop(columns=["modality", "scale", "home"])
    scale = t.sites / 22  # the default case's 22 sites hold its funds' budgets
    frames = {
        **policy_frames(periods, regions, scale, jp_domestic_share=0.3),
        "regions": pd.DataFrame({
            "region": regions, "bloc": [PROFILES[r].bloc for r in regions],
            "approval_required": [r == "US" for r in regions]}),
        "operators": operators.drop(columns=["home"]),
        "sites": sites.drop(columns=["size"]),
        "suites": suites,
        "modalities": _modalities(),
        "programs": programs,
        "demand": demand,
        "anchors": pd.DataFrame({"anchor": [f"ANCHOR_{r}" for r in regions],
                                 "region": regions}),
        "offtakes": offtakes,
        "lanes": _lanes(regions),
        "approvals": _approvals(sites, periods),
    }
    return frames


def _operators(t: Tier, regions: list[str], weight: np.ndarray, rng: np.random.Generator
               ) -> tuple[pd.DataFrame, dict[str, float], dict[str, str]]:
    """A few global CDMOs (sites in several regions) and regional operators; each has a
    cost factor (lognormal, σ 0.15); CN-headquartered CDMOs are mostly of concern."""
    n_ops = max(len(regions), t.sites // 2)  # the default case: 12 operators, 22 sites
    n_global = max(2, n_ops // 8)
    # one operator at home in each region, then by weight: every region has a site
    home = np.concatenate([np.array(regions)[rng.permutation(len(regions))],
                           rng.choice(regions, size=n_ops - len(regions), p=weight)])
    kind = np.where(np.arange(n_ops) < n_global, "cdmo",
                    rng.choice(["cdmo", "cdmo", "cdmo", "corporate", "public"], size=n_ops))
    names = [f"O{i:03d}" for i in range(n_ops)]
    factor = np.exp(rng.normal(0.0, 0.15, size=n_ops))
    frame = pd.DataFrame({
        "operator": names, "kind": kind,
        "of_concern": [r == "CN" and k == "cdmo" and rng.random() < 0.7
                       for r, k in zip(home, kind, strict=True)],
        "home": home})
    return (frame, dict(zip(names, factor.round(3), strict=True)),
            dict(zip(names, home, strict=True)))


def _sites(t: Tier, regions: list[str], weight: np.ndarray, operators: pd.DataFrame,
           op_factor: dict[str, float], op_home: dict[str, str], rng: np.random.Generator
           ) -> pd.DataFrame:
    """Sites: global operators anywhere, regional ones at home; 15 % candidates (public
    consortium sites, as in the default case); fixed cost by size × region × operator."""
    names = list(operators["operator"])
    n_global = int((operators["kind"] == "cdmo").iloc[:max(2, len(names) // 8)].sum())
    rows = []
    for i in range(t.sites):
        o = names[i % len(names)] if i < len(names) else names[int(rng.integers(len(names)))]
        # the first site of each region's home operator stays at home
        global_op = len(regions) <= i < len(names) * 2 and names.index(o) < n_global
        region = str(rng.choice(regions, p=weight)) if global_op and rng.random() < 0.7 \
            else op_home[o]
        candidate = rng.random() < 0.15
        size = float(rng.uniform(0.6, 1.6))
        level = PROFILES[region].cost * op_factor[o] * rng.uniform(0.95, 1.05)
        rows.append({
            "site": f"S{i:03d}", "operator": o, "region": region,
            "status": "candidate" if candidate else "existing", "size": size,
            "fixed_cost_musd_per_year": round(8.0 * size * level, 1),
            "opening_cost_musd": round(45.0 * size * level) if candidate else 0.0,
            "lead_time_periods": int(rng.integers(1, 3)) if candidate else 0})
    return pd.DataFrame(rows)


def _suites(sites: pd.DataFrame, op_factor: dict[str, float], rng: np.random.Generator
            ) -> pd.DataFrame:
    """1–3 modalities a site, a commercial suite each and a clinical one at 60 %; raw
    capacity in proportion to the site's size (scaled to demand later)."""
    rows = []
    for s in sites.itertuples(index=False):
        region = PROFILES[s.region].cost
        for q in rng.choice(MODALITIES, size=int(rng.integers(1, 4)), replace=False,
                            p=MODALITY_SHARE):
            for c in ("commercial", "clinical"):
                if c == "clinical" and rng.random() < 0.4:
                    continue
                module, capex = MODULE[(q, c)]
                rows.append({
                    "site": s.site, "modality": str(q), "scale": c,
                    "existing_batches_per_period": 0.0 if s.status == "candidate"
                    else s.size * rng.uniform(0.7, 1.3),
                    "module_batches_per_period": float(module),
                    "module_capex_musd": round(capex * region * rng.uniform(0.95, 1.05), 1),
                    "max_modules": int(rng.integers(1, 4)) if s.status == "candidate"
                    else int(rng.integers(0, 3)),
                    "lead_time_periods": 2 if c == "commercial" else 1,
                    "variable_cost_musd_per_batch": round(
                        VARIABLE[(q, c)] * region * op_factor[s.operator]
                        * rng.uniform(0.95, 1.05), 2)})
    return pd.DataFrame(rows)


def _programs_and_demand(t: Tier, periods: list[int], regions: list[str],
                         weight: np.ndarray, rng: np.random.Generator
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Programs start clinical (1–3 batches a period at home); 60 % turn commercial 2–4
    periods later with a launch ramp (50 %, 75 %, 100 % of peak) at home and in 0–3 more
    markets at 30–60 % of it."""
    n = t.programs
    modality = rng.choice(MODALITIES, size=n, p=MODALITY_SHARE)
    start = rng.integers(0, max(1, t.periods // 3), size=n)
    turns = rng.random(n) < 0.6
    commercial = start + rng.integers(2, 5, size=n)
    turns &= commercial <= t.periods - 1
    home = rng.choice(regions, size=n, p=weight)
    names = [f"P{j:05d}" for j in range(n)]
    programs = pd.DataFrame({
        "program": names, "startup": [f"Startup{j:05d}" for j in range(n)],
        "modality": modality, "earliest_start": [periods[s] for s in start],
        "commercial_from": [periods[c] if turn else None
                            for c, turn in zip(commercial, turns, strict=True)],
        "max_sites": np.where(rng.random(n) < 0.1, 2, 1),
        "tech_transfer_musd": [TRANSFER[q] for q in modality],
        "success_probability": np.round(rng.uniform(0.3, 0.9, size=n), 2),
        "tech_transfer_periods": 1, "phases_at_one_site": False, "home": home})
    rows = []
    for j in range(n):
        q = str(modality[j])
        others = [r for r in regions if r != home[j]]
        extra = rng.choice(others, size=min(len(others), int(rng.choice([0, 0, 1, 2, 3]))),
                           replace=False)
        markets = [str(home[j]), *(str(m) for m in extra)]
        reach = {m: 1.0 if k == 0 else float(rng.uniform(0.3, 0.6))
                 for k, m in enumerate(markets)}
        price = {m: float(rng.uniform(0.9, 1.15)) for m in markets}
        peak = float(rng.uniform(*PEAK[q]))
        for k in range(int(start[j]), t.periods):
            if turns[j] and k >= commercial[j]:
                ramp = min(1.0, 0.5 + 0.25 * (k - commercial[j]))
                for m in markets:
                    batches = round(peak * ramp * reach[m])
                    if batches > 0:
                        rows.append((names[j], m, periods[k], float(batches),
                                     round(VALUE[q][0] * price[m], 2), q, "commercial",
                                     home[j]))
            else:
                rows.append((names[j], str(home[j]), periods[k],
                             float(rng.integers(1, 4)), round(VALUE[q][1] * price[home[j]], 2),
                             q, "clinical", home[j]))
    demand = pd.DataFrame(rows, columns=["program", "market", "period", "potential_batches",
                                         "value_musd_per_batch", "modality", "scale", "home"])
    return programs, demand


def _scaled_capacity(suites: pd.DataFrame, demand: pd.DataFrame) -> pd.DataFrame:
    """Existing capacity of each modality and scale, in proportion to the raw draw, summing
    to its `CAPACITY_IN_PLACE` × its peak demand in a period (whole batches, at least 1
    where a site has any)."""
    peak = demand.groupby(["modality", "scale", "period"])["potential_batches"].sum() \
        .groupby(level=[0, 1]).max()
    raw = suites.groupby(["modality", "scale"])["existing_batches_per_period"].transform("sum")
    key = list(zip(suites["modality"], suites["scale"], strict=True))
    target = np.array([peak.get(k, 0.0) * CAPACITY_IN_PLACE[k] for k in key])
    share = suites["existing_batches_per_period"].to_numpy() / np.maximum(raw.to_numpy(), 1e-9)
    existing = np.where(share > 0, np.maximum(1.0, np.round(share * target)), 0.0)
    return suites.assign(existing_batches_per_period=existing)


def _qualify(programs: pd.DataFrame, sites: pd.DataFrame, suites: pd.DataFrame,
             concern: set[str], rng: np.random.Generator) -> dict[str, list[str]]:
    """Each program's short list: 2–5 sites with a suite of its modality, drawn by weight
    (home region 6, same zone 2, elsewhere 0.3; a site of an operator of concern 0.1 of
    that for a US program), then a site for each phase it has if the draw left one out."""
    region = sites.set_index("site")["region"].to_dict()
    suspect = set(sites["site"][sites["operator"].isin(concern)])
    by_phase: dict[tuple[str, str], list[str]] = {
        (str(q), str(c)): sorted(g["site"])
        for (q, c), g in suites.groupby(["modality", "scale"])}
    out: dict[str, list[str]] = {}
    for p, q, cf, home in programs[["program", "modality", "commercial_from",
                                    "home"]].itertuples(index=False):
        phases = ["clinical", "commercial"] if pd.notna(cf) else ["clinical"]
        pool = sorted(set().union(*(by_phase.get((q, c), []) for c in phases)))
        if not pool:
            out[p] = []
            continue
        w = np.array([6.0 if region[s] == home else
                      2.0 if PROFILES[region[s]].zone == PROFILES[home].zone else 0.3
                      for s in pool])
        if home == "US":
            w = np.where([s in suspect for s in pool], w * 0.1, w)
        k = min(len(pool), int(rng.integers(2, 6)))
        chosen = set(rng.choice(pool, size=k, replace=False, p=w / w.sum()).tolist())
        for c in phases:
            options = by_phase.get((q, c), [])
            if options and not chosen.intersection(options):
                ow = np.array([w[pool.index(s)] for s in options])
                chosen.add(str(rng.choice(options, p=ow / ow.sum())))
        out[p] = sorted(chosen)
    return out


def _commit(programs: pd.DataFrame, demand: pd.DataFrame, sites: pd.DataFrame,
            suites: pd.DataFrame, qualified: dict[str, list[str]], concern: set[str],
            rng: np.random.Generator) -> tuple[pd.DataFrame, set[str]]:
    """Anchor offtakes: commercial programs in a seeded order, each anchor buying
    `COMMITTED_OF_HOME` of its program's home-market commercial demand (which the
    potential demand no longer holds), until commitments are `COMMITTED_SHARE` of the
    batches demanded. A program is anchored only where an existing, approved (for the
    US), unbarred site in its home region on its list has the room left (`ROOM` of the
    suite, shared among the programs anchored there) for its whole home demand at its
    peak, failed batches and changeovers included: continuity then holds too, and every
    generated case is feasible. ``demand`` is edited in place."""
    site = sites.set_index("site")
    us_approved = _approved_sites(sites)
    success = _modalities().set_index("modality")["success_rate"].to_dict()
    changeover = _modalities().set_index("modality")["changeover_slots"].to_dict()
    room = {(s, q): ROOM * e for s, q, c, e in suites[
        ["site", "modality", "scale", "existing_batches_per_period"]].itertuples(index=False)
        if c == "commercial"}
    home = (demand["scale"] == "commercial") & (demand["market"] == demand["home"])
    by_program = {p: g.index for p, g in demand[home].groupby("program")}
    goal = COMMITTED_SHARE * float(demand["potential_batches"].sum())
    potential = demand["potential_batches"].to_numpy().copy()
    committed = 0.0
    rows, anchored = [], set()
    for j in rng.permutation(len(programs)):
        if committed >= goal:
            break
        p, q, region = (programs.at[j, name] for name in ("program", "modality", "home"))
        if p not in by_program:
            continue
        at = by_program[p]
        # the slots its home demand takes at its peak: failed batches and a changeover too
        need = float(potential[at].max()) / success[q] + changeover[q]
        fits = [s for s in qualified[p] if room.get((s, q), 0.0) >= need
                and site.at[s, "region"] == region and site.at[s, "status"] == "existing"
                and not (region == "US" and (site.at[s, "operator"] in concern
                                             or s not in us_approved))]
        if not fits:
            continue
        room[(fits[0], q)] -= need
        anchored.add(p)
        for i in at:
            c = round(COMMITTED_OF_HOME * potential[i])
            if c > 0:  # the anchor buys part of the home market's demand
                rows.append((f"ANCHOR_{region}", p, region, int(demand.at[i, "period"]),
                             float(c)))
                potential[i] -= c
                committed += c
    demand["potential_batches"] = potential
    offtakes = pd.DataFrame(rows, columns=["anchor", "program", "market", "period",
                                           "committed_batches"])
    return offtakes, anchored


def _approved_sites(sites: pd.DataFrame) -> set[str]:
    """Sites approved for the US from the first period: the US's own and every existing
    site whose number is divisible by 5 or 2 (about 60 %: a deterministic rule, so the
    commitments and the approvals table agree)."""
    return {s for s, r, st in sites[["site", "region", "status"]].itertuples(index=False)
            if r == "US" or (st == "existing" and int(s[1:]) % 5 in (0, 2))}


def _approvals(sites: pd.DataFrame, periods: list[int]) -> pd.DataFrame:
    """FDA approval for the US: approved sites from the first period, every other site
    approvable a period after the decision for 3 MUSD (the default case's terms)."""
    approved = _approved_sites(sites)
    return pd.DataFrame([
        {"site": s, "market": "US", "approved_from": periods[0] if s in approved else None,
         "lead_time_periods": None if s in approved else 1,
         "cost_musd": None if s in approved else 3.0} for s in sites["site"]])


def _modalities() -> pd.DataFrame:
    """The default case's modalities table (one source: data/default/modalities.csv)."""
    from capacity.case.default import default_case_path

    return pd.read_csv(default_case_path() / "modalities.csv")


def _lanes(regions: list[str]) -> pd.DataFrame:
    """Every lane between regions: 0.05 MUSD a batch within a zone, `FAR` between zones;
    tariffs as in the default case (into the US 15 %, 25 % from China, none from Canada;
    into China 10 %; China into Europe 5 %)."""
    rows = []
    for o in regions:
        for m in regions:
            if o == m:
                continue
            near = PROFILES[o].zone == PROFILES[m].zone
            tariff = (0.25 if o == "CN" else 0.0 if o == "CA" else 0.15) if m == "US" else \
                0.10 if m == "CN" else 0.05 if (o == "CN" and PROFILES[m].zone == "europe") \
                else 0.0
            rows.append((o, m, 0.05 if near else FAR, tariff))
    return pd.DataFrame(rows, columns=["origin", "market", "transport_musd_per_batch",
                                       "tariff_rate"])
