"""An independent plan checker: is a saved plan feasible for the raw case, and what does
it cost?

This module deliberately shares no code with the model (`index_sets`, `model/`,
`extract`, `solve`): it reads the case through the documented format (`load_case`) and
the plan from its files, and re-derives every constraint family of
``models/formulation.md`` and the objective from the raw data, with plain pandas. A
disagreement with the solver is a bug in one of the two.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from capacity.case import Case
from capacity.results.plan import read_saved_plan

PLAN_TABLES = ("shipments", "builds", "openings", "financing", "assignments", "reservations",
               "reservation_use")

# What each decision table's rows name in the case (``suite``: site, modality and scale
# together), and the row's amount a violation reports.
REFERENCES: dict[str, tuple[str, ...]] = {
    "shipments": ("program", "site", "market", "period"),
    "builds": ("suite", "period"),
    "openings": ("site", "period"),
    "financing": ("fund", "investment", "period"),
    "assignments": ("program", "site"),
    "reservations": ("reservation", "period"),
    "reservation_use": ("reservation", "program", "period"),
    "approvals": ("site", "market"),
    "inventory": ("program", "site", "period"),
}
AMOUNTS = {"shipments": "batches", "builds": "modules", "financing": "amount_musd",
           "reservations": "blocks", "reservation_use": "batches",
           "inventory": "made_batches"}
# A plan saved before storable programs existed has no inventory table: nothing stored.
INVENTORY_COLUMNS = ("program", "site", "scale", "period", "made_batches", "shipped_batches",
                     "written_off_batches", "stock_batches", "holding_cost_pv_musd")


@dataclass(frozen=True)
class Violation:
    """One broken promise: the constraint family, who, by how much (in the family's unit)."""

    family: str
    entity: str
    amount: float
    message: str


@dataclass
class CheckResult:
    """Outcome of `check_plan`.

    Attributes:
        violations: every violation found (empty when the plan holds).
        objective_reported: the objective in ``summary.json``.
        objective_recomputed: the objective recomputed from the raw case, reported the way
            the case asks (its ``objective`` table).
        costs: the recomputed net cost by component (PV, case money unit).
    """

    violations: list[Violation] = field(default_factory=list)
    objective_reported: float | None = None
    objective_recomputed: float | None = None
    costs: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the plan is feasible and its objective is what the data say."""
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: strict JSON (``json.dumps(..., allow_nan=False)`` holds), a
        number that is not finite shown as null."""
        return {"ok": self.ok, "objective_reported": _finite(self.objective_reported),
                "objective_recomputed": _finite(self.objective_recomputed),
                "costs": {k: _finite(v) for k, v in self.costs.items()},
                "violations": [asdict(v) | {"amount": _finite(v.amount)}
                               for v in self.violations]}


def _finite(x: float | None) -> float | None:
    # Read plans and cases hold finite, bounded numbers, so sums cannot overflow; this is
    # the last guard that keeps NaN and Infinity (not JSON) out of the output.
    return x if x is not None and math.isfinite(x) else None


def read_plan(plan_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read a saved plan's decision tables and summary (CSV or Parquet), typed by
    `capacity.results.plan.read_saved_plan`.

    Raises:
        CaseError: a file is missing, unreadable or malformed (a number that is not
            finite, a missing column, ...): every problem with file, row and column.
    """
    return read_saved_plan(plan_dir, PLAN_TABLES)


def check_plan(case: Case, plan_dir: Path, tolerance: float = 1e-6) -> CheckResult:
    """Verify a saved plan against a case, family by family, and recompute its objective.

    Args:
        case: the case, loaded from its raw files.
        plan_dir: a folder written by `Plan.save`.
        tolerance: absolute slack for batches and MUSD (relative for the objective).

    Returns:
        The `CheckResult`; ``ok`` when nothing is violated. A row naming what the case
        does not have (a plan of another case) is a ``reference`` violation.

    Raises:
        CaseError: the plan is not a well-formed saved plan (`read_plan`).
    """
    tables, summary = read_plan(plan_dir)
    return _Checker(case, tables, summary, tolerance).run()


class _Checker:
    def __init__(self, case: Case, plan: dict[str, pd.DataFrame], summary: dict[str, Any],
                 tol: float) -> None:
        self.case, self.plan, self.summary, self.tol = case, plan, summary, tol
        self.result = CheckResult(objective_reported=summary.get("objective"))
        periods = list(case.periods["period"])
        self.pos = {int(t): i for i, t in enumerate(periods)}
        self.periods = [int(t) for t in periods]
        self.df = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
        self.years = dict(zip(case.periods["period"], case.periods["years"], strict=True))
        self.sites = case.sites.set_index("site")
        self.suites = case.suites.set_index(["site", "modality", "scale"])
        self.programs = case.programs.set_index("program")
        self.operators = case.operators.set_index("operator")
        # Success rates: a yields row's own, else its program's modality's.
        self.success = {q: float(r) for q, r in case.modalities[
            ["modality", "success_rate"]].itertuples(index=False)}
        self.slots: dict[tuple[str, str], float] = {}
        for p, s, use, given in case.yields[["program", "site", "slots_per_batch",
                                             "success_rate"]].itertuples(index=False):
            rate = self.success.get(self.programs.at[p, "modality"], 1.0) \
                if pd.isna(given) else float(given)
            self.slots[(p, s)] = float(use) / rate
        # Changeover slots by suite: its own, else its modality's (0: none).
        by_modality = {q: float(v) for q, v in case.modalities[
            ["modality", "changeover_slots"]].itertuples(index=False)}
        self.changeovers = {(s, q, c): float(own) if pd.notna(own) else by_modality.get(q, 0.0)
                            for s, q, c, own in case.suites[
                                ["site", "modality", "scale", "changeover_slots"]].itertuples(
                                index=False)}
        self.reservations = case.reservations.set_index("reservation")
        self.transfers = {(p, s): (float(c) if pd.notna(c) else None,
                                   int(n) if pd.notna(n) else None)
                          for p, s, c, n in case.tech_transfers[
                              ["program", "site", "tech_transfer_musd",
                               "tech_transfer_periods"]].itertuples(index=False)}
        self.lanes = {(o, m): (c, r) for o, m, c, r in case.lanes[
            ["origin", "market", "transport_musd_per_batch", "tariff_rate"]].itertuples(
            index=False)}
        self.shelf, self.holding = _shelf_lives(case)
        if "inventory" not in plan:
            plan = {**plan, "inventory": pd.DataFrame({c: [] for c in INVENTORY_COLUMNS})}
        self.plan = self.known_rows(plan)

    def flag(self, family: str, entity: str, amount: float, message: str) -> None:
        self.result.violations.append(Violation(family, entity, float(amount), message))

    # -- helpers on raw data --------------------------------------------------------------
    def slot_use(self, p: str, s: str) -> float:
        """Suite slots one delivered batch of p uses at s: slots per batch started ÷ the
        expected success rate (the failed batches' slots are used too)."""
        if (p, s) in self.slots:
            return self.slots[(p, s)]
        return 1.0 / self.success.get(self.programs.at[p, "modality"], 1.0)

    def stores(self, p: str) -> bool:
        """Whether p's batches may be made ahead and held in stock (shelf life ≥ 1)."""
        return self.shelf.get(p, 0) >= 1

    def scale(self, p: str, t: int) -> str:
        cf = self.programs.at[p, "commercial_from"]
        return "commercial" if pd.notna(cf) and t >= int(cf) else "clinical"

    def start(self, p: str) -> int:
        v = self.programs.at[p, "earliest_start"]
        return int(v) if pd.notna(v) else self.periods[0]

    def transfer(self, p: str, s: str) -> tuple[float, int]:
        """The transfer of p to s: its cost (undiscounted MUSD) and how many periods it
        takes, from the site's `tech_transfers` row where it gives them, else the
        program's."""
        cost, periods = self.transfers.get((p, s), (None, None))
        return (float(self.programs.at[p, "tech_transfer_musd"]) if cost is None else cost,
                int(self.programs.at[p, "tech_transfer_periods"]) if periods is None
                else periods)

    def transfer_done(self, p: str, s: str) -> int:
        """Position of the first period p can be made at s: transfers start at the
        program's start and take their periods (may lie beyond the horizon)."""
        return self.pos[self.start(p)] + self.transfer(p, s)[1]

    def campaigns(self, ships: pd.DataFrame) -> dict[tuple[str, str, int], tuple[
            tuple[str, str, str], float]]:
        """Each program made at a site in a period (its shipments there sum to more than
        the tolerance): a campaign in its suite, and the changeover slots it costs the
        suite (the suite's `changeover_slots`, else its modality's; 0 where none)."""
        made = ships.groupby(["program", "site", "period"])["batches"].sum()
        out = {}
        for (p, s, t), batches in made.items():
            if batches > self.tol and p in self.programs.index:
                k = (s, self.programs.at[p, "modality"], self.scale(p, int(t)))
                out[(p, s, int(t))] = (k, self.changeovers.get(k, 0.0))
        return out

    def check_timing(self, who: str, p: str, s: str, t: int, batches: float) -> None:
        """Batches of p at s in t (shipped, or made for stock) come no earlier than p's
        earliest start and its technology transfer to s."""
        if t < self.start(p):
            self.flag("earliest_start", who, batches,
                      f"before the program's earliest start {self.start(p)}")
        elif self.pos[t] < self.transfer_done(p, s):
            self.flag("tech_transfer_time", who, batches,
                      f"before its technology transfer to {s}, started {self.start(p)}, is "
                      "complete")

    def lane(self, s: str, mkt: str) -> tuple[float, float] | None:
        origin = self.sites.at[s, "region"]
        if (origin, mkt) in self.lanes:
            return self.lanes[(origin, mkt)]
        return (0.0, 0.0) if origin == mkt else None

    def open_from(self) -> dict[str, int]:
        """Position from which each opened candidate site produces."""
        out = {}
        for s, t in self.plan["openings"][["site", "period"]].itertuples(index=False):
            out[s] = self.pos[int(t)] + int(self.sites.at[s, "lead_time_periods"])
        return out

    def barred(self) -> set[tuple[str, str]]:
        out = set()
        for r in self.case.rules.itertuples(index=False):
            if not r.active or r.kind != "barred":
                continue
            if r.subject.startswith("flag:"):
                flag = r.subject[5:]
                named = [o for o in self.operators.index
                         if (flag == "of_concern" and self.operators.at[o, "of_concern"])
                         or flag in self.operators.at[o, "flags"]]
            else:
                named = [r.subject]
            out |= {(o, r.market) for o in named}
        return out

    def known_rows(self, plan: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """The plan with only the rows whose entities the case has; each other row is a
        ``reference`` violation (the families look entities up in the case)."""
        known: dict[str, set[Any]] = {
            "program": set(self.programs.index), "site": set(self.sites.index),
            "market": set(self.case.regions["region"]), "period": set(self.pos),
            "fund": set(self.case.funds["fund"]), "reservation": set(self.reservations.index),
            "suite": set(self.suites.index),
            # what a financing row pays for: a suite's modules or a site's opening
            "investment": {("capex", *k) for k in self.suites.index}
            | {("opening", s, "", "") for s in self.sites.index}}
        out = dict(plan)
        for name, refs in REFERENCES.items():
            if name not in plan:  # an optional table (approvals: a plan from before them)
                continue
            frame = plan[name]
            keep = []
            for i, row in enumerate(frame.itertuples(index=False)):
                unknown = [f"{what} {value!r}" for what in refs
                           if (value := _named(row, what)) not in known[what]]
                if unknown:
                    amount = getattr(row, AMOUNTS[name]) if name in AMOUNTS else 1.0
                    self.flag("reference", f"{name} row {i + 2}", amount,
                              f"the case has no {', '.join(unknown)}")
                else:
                    keep.append(i)
            out[name] = frame.iloc[keep].reset_index(drop=True)
        inventory = out["inventory"]
        for r in inventory[~inventory["scale"].isin(("clinical", "commercial"))].itertuples(
                index=False):
            self.flag("reference", f"{r.program}@{r.site} {r.period}", r.made_batches,
                      f"scale {r.scale!r} is neither clinical nor commercial")
        out["inventory"] = inventory[inventory["scale"].isin(("clinical", "commercial"))] \
            .reset_index(drop=True)
        ships = out["shipments"]
        for r in ships.itertuples(index=False):
            region = self.sites.at[r.site, "region"]
            if r.origin != region:
                self.flag("reference", f"{r.program}@{r.site}→{r.market} {r.period}",
                          r.batches, f"origin {r.origin!r} is not {r.site}'s region {region!r}")
        return out

    # -- the families ---------------------------------------------------------------------
    def run(self) -> CheckResult:
        ships = self.plan["shipments"]
        if (ships["batches"] < -self.tol).any():
            for r in ships[ships["batches"] < -self.tol].itertuples(index=False):
                self.flag("domain", f"{r.program}@{r.site}→{r.market} {r.period}", r.batches,
                          "negative shipment")
        self.check_shipments(ships)
        self.check_inventory(ships)
        self.check_demand(ships)
        self.check_capacity(ships)
        self.check_sites_and_builds(ships)
        self.check_assignments(ships)
        self.check_shares(ships)
        self.check_service_level(ships)
        self.check_time_to_market(ships)
        self.check_continuity(ships)
        self.check_reservations(ships)
        self.check_funds(ships)
        self.check_approvals(ships)
        self.recompute_objective(ships)
        return self.result

    def check_shipments(self, ships: pd.DataFrame) -> None:
        barred = self.barred()
        for r in ships.itertuples(index=False):
            who = f"{r.program}@{r.site}→{r.market} {r.period}"
            modality = self.programs.at[r.program, "modality"]
            if (r.site, modality, self.scale(r.program, int(r.period))) not in self.suites.index:
                self.flag("compatibility", who, r.batches,
                          f"{r.site} has no {modality} {self.scale(r.program, int(r.period))} "
                          "suite")
            self.check_timing(who, r.program, r.site, int(r.period), r.batches)
            if self.lane(r.site, r.market) is None:
                self.flag("lane", who, r.batches, "no lane from the site's region to the market")
            if (self.sites.at[r.site, "operator"], r.market) in barred:
                self.flag("exclusion", who, r.batches,
                          f"operator {self.sites.at[r.site, 'operator']} is barred from "
                          f"{r.market}")
            cut = self.cut_by(r.site, r.market, int(r.period))
            if cut is not None and r.batches > self.tol:
                self.flag("outage", who, r.batches, f"shipped while cut off: {cut}")

    def cut_by(self, s: str, mkt: str | None, t: int) -> str | None:
        """The first active row of the case's `outages` table that cuts site s off from
        market ``mkt`` in period t (``mkt`` None: that loses the site, so it makes
        nothing), in words; None where none does. A row names a site, an operator (its
        sites) or a region (its sites); with a market it bans only shipments there."""
        for r in self.case.outages.itertuples(index=False):
            if not r.active or t < int(r.from_period) or (
                    pd.notna(r.until_period) and t > int(r.until_period)):
                continue
            if r.market and r.market != mkt:
                continue
            owner = {"site": s, "operator": self.sites.at[s, "operator"],
                     "country": self.sites.at[s, "region"]}[r.kind]
            if owner == r.subject:
                until = "" if pd.isna(r.until_period) else f" until {int(r.until_period)}"
                what = "lost" if not r.market else f"barred from {r.market}"
                return (f"outage {r.outage} ({r.kind} {r.subject} {what} from "
                        f"{int(r.from_period)}{until})")
        return None

    def check_inventory(self, ships: pd.DataFrame) -> None:
        """Storable programs (shelf life L ≥ 1, `capacity.model.inventory`), per program,
        site and scale in period order: the stock balance (stock = stock before + made −
        shipped − written off, the shipped column what the shipments say), first in first
        out within the shelf life (stock at the end of t ≤ made in the last L periods),
        batches made only where and when the program can be made, write-offs and stock
        left at the horizon's end only after a stock target, the printed holding cost,
        and the stock targets. A program that cannot be stored has no inventory rows."""
        inventory = self.plan["inventory"]
        for r in inventory.itertuples(index=False):
            who = f"{r.program}@{r.site} {r.scale} {r.period}"
            values = (r.made_batches, r.shipped_batches, r.written_off_batches,
                      r.stock_batches)
            if min(values) < -self.tol:
                self.flag("domain", who, min(values), "negative batches in inventory")
            if not self.stores(r.program):
                if any(abs(v) > self.tol for v in values):
                    self.flag("shelf_life", who, r.stock_batches or r.made_batches,
                              f"{r.program} cannot be stored (shelf life 0): it ships in "
                              "the period it is made")
                continue
            self.check_making(r, who)
            pv = self.df[int(r.period)] * self.holding[r.program] * r.stock_batches
            if abs(r.holding_cost_pv_musd - pv) > self.tol * max(1.0, abs(pv)):
                self.flag("holding_cost", who, r.holding_cost_pv_musd - pv,
                          f"holding cost printed {r.holding_cost_pv_musd:.10g}, "
                          f"{r.stock_batches:g} batches held is {pv:.10g}")
        rows = {(r.program, r.site, r.scale, int(r.period)): r
                for r in inventory.itertuples(index=False) if self.stores(r.program)}
        shipped: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for r in ships.itertuples(index=False):
            if self.stores(r.program):
                shipped[(r.program, r.site, self.scale(r.program, int(r.period)),
                         int(r.period))] += r.batches
        targets = self.stock_targets()
        goals: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        for (p, _m, t), (_b, c, sites) in targets.items():
            for s in sites:
                goals[(p, s, c)].append(self.pos[t])
        last = len(self.periods) - 1
        for chain in sorted({k[:3] for k in rows} | {k[:3] for k in shipped}):
            p, s, c = chain
            life = self.shelf[p]
            stock, made = 0.0, []
            for i, t in enumerate(self.periods):
                r = rows.get((*chain, t))
                got = (0.0, 0.0, 0.0, 0.0) if r is None else (
                    r.made_batches, r.shipped_batches, r.written_off_batches, r.stock_batches)
                out = shipped.get((*chain, t), 0.0)
                who = f"{p}@{s} {c} {t}"
                if abs(got[1] - out) > self.tol:
                    self.flag("stock_balance", who, got[1] - out,
                              f"inventory says {got[1]:g} shipped, the shipments {out:g}")
                expected = stock + got[0] - out - got[2]
                if abs(got[3] - expected) > self.tol:
                    self.flag("stock_balance", who, got[3] - expected,
                              f"{got[3]:g} in stock; {stock:g} before + {got[0]:g} made − "
                              f"{out:g} shipped − {got[2]:g} written off is {expected:g}")
                made.append(got[0])
                fresh = sum(made[max(0, i - life + 1):])
                if got[3] > fresh + self.tol:
                    self.flag("shelf_life", who, got[3] - fresh,
                              f"{got[3]:g} in stock, but only {fresh:g} made in the last "
                              f"{life} period{'' if life == 1 else 's'}: a batch is older "
                              "than its shelf life")
                before = [g for g in goals.get(chain, ()) if g < i]
                if got[2] > self.tol and not before:
                    self.flag("stock_balance", who, got[2],
                              "written off, but no stock target held it before")
                if i == last and got[3] > self.tol and last not in goals.get(chain, ()):
                    self.flag("stock_balance", who, got[3],
                              "left in stock at the end of the horizon with no stock target")
                stock = got[3]
        for (p, m, t), (b, c, sites) in sorted(targets.items()):
            held = sum(rows[(p, s, c, t)].stock_batches for s in sites
                       if (p, s, c, t) in rows)
            if held < b - self.tol:
                self.flag("stock_target", f"{p} in {m}, {t}", b - held,
                          f"{held:g} {c} batches in stock at the end of {t} at sites that "
                          f"can supply {m}, below the target {b:g}")

    def check_making(self, r: Any, who: str) -> None:
        """Where a storable batch may be made: a suite of its scale at the site, the
        program started and its transfer complete, a clinical batch before
        commercial_from."""
        if r.made_batches <= self.tol:
            return
        modality = self.programs.at[r.program, "modality"]
        if (r.site, modality, r.scale) not in self.suites.index:
            self.flag("compatibility", who, r.made_batches,
                      f"{r.site} has no {modality} {r.scale} suite")
        cf = self.programs.at[r.program, "commercial_from"]
        if r.scale == "clinical" and pd.notna(cf) and int(r.period) >= int(cf):
            self.flag("compatibility", who, r.made_batches,
                      f"clinical batches of {r.program} are made only before its "
                      f"commercial_from {int(cf)}")
        self.check_timing(who, r.program, r.site, int(r.period), r.made_batches)
        cut = self.cut_by(r.site, None, int(r.period))
        if cut is not None:
            self.flag("outage", who, r.made_batches, f"made while the site is lost: {cut}")

    def stock_targets(self) -> dict[tuple[str, str, int], tuple[float, str, list[str]]]:
        """Each stock target (> 0): its batches, the scale it counts (the program's in
        the next period; in the last, its own) and the sites that can supply its market
        (a lane, the domestic one always, and the operator not barred from it) with a
        suite of the program's modality at that scale."""
        barred = self.barred()
        out = {}
        for p, m, t, b in self.case.stock_targets[["program", "market", "period",
                                                   "min_batches"]].itertuples(index=False):
            if b <= 0:
                continue
            i = self.pos[int(t)]
            c = self.scale(p, self.periods[min(i + 1, len(self.periods) - 1)])
            modality = self.programs.at[p, "modality"]
            sites = sorted(s for (s, q, c2) in self.suites.index
                           if (q, c2) == (modality, c) and self.lane(s, m) is not None
                           and (self.sites.at[s, "operator"], m) not in barred)
            out[(p, m, int(t))] = (float(b), c, sites)
        return out

    def check_demand(self, ships: pd.DataFrame) -> None:
        supplied = ships.groupby(["program", "market", "period"])["batches"].sum()
        committed = self.case.offtakes.groupby(["program", "market", "period"])[
            "committed_batches"].sum()
        potential = self.case.demand.set_index(["program", "market", "period"])[
            "potential_batches"]
        for key, need in committed.items():
            got = float(supplied.get(key, 0.0))
            if got < need - self.tol:
                self.flag("demand_balance", f"{key[0]} in {key[1]}, {key[2]}", need - got,
                          f"committed {need:g} batches, supplied {got:g}")
        for key, got in supplied.items():
            most = float(committed.get(key, 0.0)) + float(potential.get(key, 0.0))
            if got > most + self.tol:
                self.flag("demand_balance", f"{key[0]} in {key[1]}, {key[2]}", got - most,
                          f"supplied {got:g} batches, committed + potential is {most:g}")

    def online_modules(self) -> dict[tuple[str, str, str, int], float]:
        """Modules in production by suite and period, from build period + suite lead time."""
        online: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for b in self.plan["builds"].itertuples(index=False):
            lead = int(self.suites.at[(b.site, b.modality, b.scale), "lead_time_periods"])
            first = self.pos[int(b.period)] + lead
            for t in self.periods[first:]:
                online[(b.site, b.modality, b.scale, t)] += float(b.modules)
        return online

    def made(self, ships: pd.DataFrame) -> dict[tuple[str, str, str, int], float]:
        """Batches made by (program, site, scale, period): shipped, for a program that
        ships in the period it makes; the inventory table's made, for a storable one."""
        made: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for r in ships.itertuples(index=False):
            if not self.stores(r.program):
                made[(r.program, r.site, self.scale(r.program, int(r.period)),
                      int(r.period))] += r.batches
        for r in self.plan["inventory"].itertuples(index=False):
            if self.stores(r.program):
                made[(r.program, r.site, r.scale, int(r.period))] += r.made_batches
        return made

    def check_capacity(self, ships: pd.DataFrame) -> None:
        used: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for (p, s, c, t), x in self.made(ships).items():
            k = (s, self.programs.at[p, "modality"], c)
            used[(*k, t)] += self.slot_use(p, s) * x
        # each program made in a suite in a period costs it the suite's changeover
        changeover: dict[tuple[str, str, str, int], float] = defaultdict(float)
        programs: dict[tuple[str, str, str, int], int] = defaultdict(int)
        for (_p, _s, t), (k, slots) in self.campaigns(ships).items():
            if slots > 0:
                used[(*k, t)] += slots
                changeover[(*k, t)] += slots
                programs[(*k, t)] += 1
        online = self.online_modules()
        reserved: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for r in self.plan["reservation_use"].itertuples(index=False):
            if r.reservation in self.reservations.index:
                v = self.reservations.loc[r.reservation]
                reserved[(v["site"], v["modality"], v["scale"], int(r.period))] += r.batches
        for (s, q, c, t), u in used.items():
            if (s, q, c) not in self.suites.index:
                continue
            suite = self.suites.loc[(s, q, c)]
            existing = float(suite["existing_batches_per_period"]) \
                if self.sites.at[s, "status"] == "existing" else 0.0
            cap = existing + float(suite["module_batches_per_period"]) * online[(s, q, c, t)] \
                + reserved.get((s, q, c, t), 0.0)
            if u > cap + self.tol:
                extra = changeover.get((s, q, c, t), 0.0)
                self.flag("suite_capacity", f"{s} {q} {c} {t}", u - cap,
                          f"uses {u:g} batch slots of {cap:g}"
                          + (f" ({extra:g} of them changeovers of the "
                             f"{programs[(s, q, c, t)]} programs made there)" if extra else ""))

    def check_sites_and_builds(self, ships: pd.DataFrame) -> None:
        openings = self.plan["openings"]
        for s, n in openings.groupby("site").size().items():
            if self.sites.at[s, "status"] != "candidate":
                self.flag("site_opens_once", s, n, "only candidate sites are opened")
            elif n > 1:
                self.flag("site_opens_once", s, n, f"opened {n} times")
        open_from = self.open_from()
        builds = self.plan["builds"]
        for b in builds.itertuples(index=False):
            k = (b.site, b.modality, b.scale)
            if b.modules < -self.tol or abs(b.modules - round(b.modules)) > self.tol:
                self.flag("domain", f"{k} {b.period}", b.modules, "modules must be whole")
            lead = int(self.suites.at[k, "lead_time_periods"])
            online = self.pos[int(b.period)] + lead
            if self.sites.at[b.site, "status"] == "candidate" and \
                    open_from.get(b.site, len(self.periods)) > online:
                self.flag("module_requires_open_site", f"{k} {b.period}", b.modules,
                          f"{b.site} is not open when the module comes online")
        for k, n in builds.groupby(["site", "modality", "scale"])["modules"].sum().items():
            most = int(self.suites.at[k, "max_modules"])
            if n > most + self.tol:
                self.flag("module_cap", " ".join(k), n - most, f"{n:g} modules, at most {most}")
        for r in ships.itertuples(index=False):
            if r.site in self.sites.index and self.sites.at[r.site, "status"] == "candidate" \
                    and open_from.get(r.site, len(self.periods)) > self.pos.get(int(r.period), 0):
                self.flag("ship_requires_open_site", f"{r.program}@{r.site} {r.period}",
                          r.batches, f"{r.site} is not open in {r.period}")
        for r in self.plan["inventory"].itertuples(index=False):
            if r.made_batches > self.tol and self.sites.at[r.site, "status"] == "candidate" \
                    and open_from.get(r.site, len(self.periods)) > self.pos[int(r.period)]:
                self.flag("make_requires_open_site", f"{r.program}@{r.site} {r.period}",
                          r.made_batches, f"{r.site} is not open in {r.period}")

    def check_assignments(self, ships: pd.DataFrame) -> None:
        """Each phase is made only where it is assigned; each row's transfer (or scale-up
        in place), its start, completion and discounted cost are what the case says
        (`transfer_rows`); each phase goes to at most max_sites sites, or, for a program
        whose phases move as one (phases_at_one_site), the program does."""
        assigned = set(zip(self.plan["assignments"]["program"],
                           self.plan["assignments"]["site"],
                           self.plan["assignments"]["phase"], strict=True))
        inventory = self.plan["inventory"]
        stored = inventory[inventory["made_batches"] > self.tol]
        # a phase is made where its batches ship (made then), or where stock is made
        made = {(p, s, self.scale(p, int(t))) for p, s, t in
                ships[["program", "site", "period"]].itertuples(index=False)} \
            | set(zip(stored["program"], stored["site"], stored["scale"], strict=True))
        for (p, s, c) in sorted(made - assigned):
            self.flag("production_requires_assignment", f"{p}@{s}", 1,
                      f"{p}'s {c} phase is produced at {s} without being assigned there")
        for a, (_pv, problem, amount) in self.transfer_rows().items():
            if problem:
                self.flag("tech_transfer", f"{a.program}@{a.site} {a.phase}", amount, problem)
        rows = self.plan["assignments"]
        for p, group in rows.groupby("program"):
            most = int(self.programs.at[p, "max_sites"])
            if self.together(str(p)):
                n = group["site"].nunique()
                if n > most:
                    self.flag("program_site_limit", str(p), n - most,
                              f"{n} sites, at most {most} (its phases move as one: "
                              "phases_at_one_site)")
                continue
            for c, n in group.groupby("phase")["site"].nunique().items():
                if n > most:
                    self.flag("program_site_limit", f"{p} {c}", n - most,
                              f"{c} phase at {n} sites, at most {most}")

    def together(self, p: str) -> bool:
        """Whether p's two phases move as one: phases_at_one_site, and both phases in the
        horizon (its start before its commercial_from, within the horizon)."""
        cf = self.programs.at[p, "commercial_from"]
        return bool(self.programs.at[p, "phases_at_one_site"]) and pd.notna(cf) \
            and self.start(p) < int(cf) <= self.periods[-1]

    def transfer_rows(self) -> dict[Any, tuple[float, str, float]]:
        """Each assignments row's cost re-derived (discounted MUSD), what is wrong with it
        ("" when nothing) and by how much (MUSD for a cost, else 1). A technology
        transfer costs the case's transfer cost discounted at its start: start(p),
        except the commercial phase of a program whose phases are assigned apart, which
        starts just in time: the latest period that completes it by commercial_from, not
        before start(p). A scale-up in place (the commercial phase at a site that runs
        the clinical phase) costs nothing and needs that clinical row; for a program
        whose phases move as one, it is the only way its commercial phase comes to a
        site running its clinical phase. Completion: start + the transfer's periods (a
        scale-up's are its clinical transfer's)."""
        out: dict[Any, tuple[float, str, float]] = {}
        rows = self.plan["assignments"]
        have = set(zip(rows["program"], rows["site"], rows["phase"], strict=True))
        for a in rows.itertuples(index=False):
            p, s, c = a.program, a.site, a.phase
            cost, periods = self.transfer(p, s)
            start = self.start(p)
            problem = ""
            if c not in ("clinical", "commercial"):
                problem = f"phase {c!r} is neither clinical nor commercial"
            clinical_there = (p, s, "clinical") in have
            if a.transfer == "scale-up at site":
                pv = 0.0
                if c != "commercial" or not clinical_there:
                    problem = (f"only a commercial phase scales up in place, at the site "
                               f"of its clinical phase; {p}'s clinical phase is not at {s}"
                               if not clinical_there else f"a {c} phase does not scale up")
            elif a.transfer == "technology transfer":
                if c == "commercial" and self.together(p) and clinical_there:
                    problem = (f"{p}'s phases move as one (phases_at_one_site): its "
                               f"commercial phase at {s} comes with its clinical transfer, "
                               "a scale-up at site")
                if c == "commercial" and not self.together(p):
                    cf = self.programs.at[p, "commercial_from"]
                    if pd.notna(cf):  # just in time for commercial_from
                        start = self.periods[max(self.pos[start],
                                                 self.pos[int(cf)] - periods)]
                pv = self.df[start] * cost
            else:
                pv = 0.0
                problem = (f"transfer {a.transfer!r} is neither 'technology transfer' nor "
                           "'scale-up at site'")
            done = self.pos[start] + periods
            complete = self.periods[done] if done < len(self.periods) else None
            if not problem and (int(a.transfer_start_period), int(a.transfer_complete_period)) \
                    != (start, complete):
                problem = (f"transfer printed {a.transfer_start_period}–"
                           f"{a.transfer_complete_period}, the case says {start}–{complete}")
            amount = 1.0
            if not problem and abs(a.tech_transfer_pv_musd - pv) > self.tol * max(1.0, abs(pv)):
                amount = a.tech_transfer_pv_musd - pv
                problem = (f"transfer PV printed {a.tech_transfer_pv_musd:.10g}, "
                           f"{cost:g} discounted at its start {start} is {pv:.10g}"
                           if a.transfer == "technology transfer" else
                           f"transfer PV printed {a.tech_transfer_pv_musd:.10g}, a scale-up "
                           "in place costs 0")
            out[a] = (pv, problem, amount)
        return out

    def demand_by_period(self, market: str, programs: set[str] | None = None,
                         ) -> dict[int, float]:
        """Committed + potential demand of ``market`` (of ``programs``, all when None) by
        period, from the raw case."""
        frames = [self.case.offtakes[["program", "market", "period", "committed_batches"]]
                  .rename(columns={"committed_batches": "batches"}),
                  self.case.demand[["program", "market", "period", "potential_batches"]]
                  .rename(columns={"potential_batches": "batches"})]
        both = pd.concat(frames)
        both = both[(both["market"] == market) & (both["batches"] > 0)]
        if programs is not None:
            both = both[both["program"].isin(programs)]
        return {int(t): float(b) for t, b in both.groupby("period")["batches"].sum().items()}

    def check_shares(self, ships: pd.DataFrame) -> None:
        df = ships.assign(operator=ships["site"].map(self.sites["operator"]),
                          region=ships["site"].map(self.sites["region"]))
        for rule in self.case.rules.itertuples(index=False):
            if not rule.active:
                continue
            if rule.kind == "min_domestic_share" and rule.basis == "demand":
                self.check_domestic_share_of_demand(rule, df)
                continue
            if ships.empty or rule.kind in ("barred", "max_time_to_market",
                                            "min_service_level"):
                continue
            into = df[df["market"] == rule.market]
            for t, g in into.groupby("period"):
                total = g["batches"].sum()
                if rule.kind == "min_domestic_share":
                    domestic = g.loc[g["region"] == rule.market, "batches"].sum()
                    short = rule.share * total - domestic
                    if short > self.tol:
                        self.flag("min_domestic_share", f"{rule.rule} {t}", short,
                                  f"domestic {domestic:g} of {total:g} batches into "
                                  f"{rule.market}, below {rule.share:.0%}")
                    continue
                column = "operator" if rule.kind == "max_operator_share" else "region"
                for who, mine in g.groupby(column)["batches"].sum().items():
                    if rule.subject not in ("*", who):
                        continue
                    excess = mine - rule.share * total
                    if excess > self.tol:
                        self.flag(rule.kind, f"{rule.rule} {who} {t}", excess,
                                  f"{who} supplies {mine:g} of {total:g} batches into "
                                  f"{rule.market}, above {rule.share:.0%}")

    def check_domestic_share_of_demand(self, rule: Any, ships: pd.DataFrame) -> None:
        """A domestic-share rule on a demand basis: batches made in the market's region
        for it ≥ share × its committed + potential demand, in every period with demand."""
        domestic = ships[(ships["market"] == rule.market) & (ships["region"] == rule.market)]
        made = domestic.groupby("period")["batches"].sum()
        for t, need in sorted(self.demand_by_period(rule.market).items()):
            got = float(made.get(t, 0.0))
            short = rule.share * need - got
            if short > self.tol:
                self.flag("min_domestic_share", f"{rule.rule} {t}", short,
                          f"domestic {got:g} batches into {rule.market}, below "
                          f"{rule.share:.0%} of its demand of {need:g}")

    def check_service_level(self, ships: pd.DataFrame) -> None:
        """Batches served in the market (of the rule's modality) ≥ level × their committed
        + potential demand, per period: what is shipped to each (program, market, period),
        at most its committed + potential (more is a demand_balance violation)."""
        supplied = ships.groupby(["program", "market", "period"])["batches"].sum()
        for rule in self.case.rules.itertuples(index=False):
            if not rule.active or rule.kind != "min_service_level":
                continue
            programs = self.programs.index if not rule.subject else \
                self.programs.index[self.programs["modality"] == rule.subject]
            mine = set(programs)
            wanted: dict[tuple[str, int], float] = defaultdict(float)
            for frame, column in ((self.case.offtakes, "committed_batches"),
                                  (self.case.demand, "potential_batches")):
                for r in frame.itertuples(index=False):
                    if r.market == rule.market and r.program in mine:
                        wanted[(r.program, int(r.period))] += float(getattr(r, column))
            for t, need in sorted(self.demand_by_period(rule.market, mine).items()):
                served = sum(min(float(supplied.get((p, rule.market, t), 0.0)), most)
                             for (p, tt), most in wanted.items() if tt == t)
                short = rule.share * need - served
                if short > self.tol:
                    self.flag("min_service_level", f"{rule.rule} {t}", short,
                              f"{served:g} of {rule.market}'s {need:g} batches of "
                              f"{rule.subject + ' ' if rule.subject else ''}demand served, "
                              f"below {rule.share:.0%}")

    def check_time_to_market(self, ships: pd.DataFrame) -> None:
        """Mean years of a market's potential demand unserved per program ≤ the limit:
        served = what is shipped beyond the commitment, at most the potential."""
        years = self.case.periods.set_index("period")["years"]
        supplied = ships.groupby(["program", "market", "period"])["batches"].sum()
        committed = self.case.offtakes.groupby(["program", "market", "period"])[
            "committed_batches"].sum()
        for rule in self.case.rules.itertuples(index=False):
            if not rule.active or rule.kind != "max_time_to_market":
                continue
            demand = self.case.demand[(self.case.demand["market"] == rule.market)
                                      & (self.case.demand["potential_batches"] > 0)]
            programs = demand["program"].nunique()
            late = 0.0
            for d in demand.itertuples(index=False):
                key = (d.program, d.market, d.period)
                owed = float(committed.get(key, 0.0))
                served = min(max(float(supplied.get(key, 0.0)) - owed, 0.0),
                             float(d.potential_batches))
                late += float(years[d.period]) * (d.potential_batches - served) \
                    / (programs * (owed + d.potential_batches))
            if late > rule.limit_years + self.tol:
                self.flag("max_time_to_market", rule.rule, late - rule.limit_years,
                          f"{late:g} years of {rule.market}'s potential demand unserved per "
                          f"program, above {rule.limit_years:g}")

    def launches(self, ships: pd.DataFrame) -> dict[tuple[str, str], int]:
        """Each product's launch in each market: the first period of commercial supply
        (at or after the program's `commercial_from`) to it."""
        out: dict[tuple[str, str], int] = {}
        supplied = ships[ships["batches"] > self.tol]
        for p, mkt, t in sorted(set(zip(supplied["program"], supplied["market"],
                                        supplied["period"].astype(int), strict=True))):
            cf = self.programs.at[p, "commercial_from"]
            if pd.notna(cf) and t >= int(cf) and (p, mkt) not in out:
                out[(p, mkt)] = t
        return out

    def continuity_share(self, p: str) -> float:
        """The program's continuity share: its own, else the case's setting."""
        own = self.programs.at[p, "continuity_share"]
        return float(self.case.setting("continuity_share")) if pd.isna(own) else float(own)

    def check_continuity(self, ships: pd.DataFrame) -> None:
        """Continuity of supply: once a product is launched in a market (its first
        period of commercial supply there), every later period with demand there is
        served at least share × its committed + potential demand (served: what is
        shipped, at most that demand). The plan's `launches` table, where saved, must
        print those launch periods."""
        supplied = ships.groupby(["program", "market", "period"])["batches"].sum()
        demand: dict[tuple[str, str, int], float] = defaultdict(float)
        for frame, column in ((self.case.offtakes, "committed_batches"),
                              (self.case.demand, "potential_batches")):
            for p, mkt, t, b in frame[["program", "market", "period", column]].itertuples(
                    index=False):
                demand[(p, mkt, int(t))] += float(b)
        launched = self.launches(ships)
        for (p, mkt, t), need in sorted(demand.items()):
            t0 = launched.get((p, mkt))
            share = self.continuity_share(p)
            if t0 is None or t <= t0 or share <= 0 or need <= 0:
                continue
            got = min(float(supplied.get((p, mkt, t), 0.0)), need)
            if share * need - got > self.tol:
                self.flag("continuity_of_supply", f"{p} in {mkt} {t}", share * need - got,
                          f"{got:g} of {need:g} batches of demand served, below its "
                          f"continuity share {share:.0%} since its launch in {t0}")
        printed = self.plan.get("launches")
        if printed is None:
            return
        for (p, mkt), t0 in sorted(printed.groupby(["program", "market"])["launch_period"]
                                   .first().items()):
            if launched.get((p, mkt)) != t0:
                self.flag("launch", f"{p} in {mkt}", 1,
                          f"launch printed {t0}, the shipments say "
                          f"{launched.get((p, mkt), 'none')}")

    def check_reservations(self, ships: pd.DataFrame) -> None:
        held = self.plan["reservations"]
        use = self.plan["reservation_use"]
        used = use.groupby(["reservation", "period"])["batches"].sum()
        blocks = {(r.reservation, int(r.period)): float(r.blocks)
                  for r in held.itertuples(index=False)}
        for (v, t), n in blocks.items():
            row = self.reservations.loc[v]
            if n < -self.tol or abs(n - round(n)) > self.tol or n > row["max_blocks"] + self.tol:
                self.flag("domain", f"{v} {t}", n, f"blocks must be whole, 0..{row['max_blocks']}")
            reserved = n * float(row["block_batches"])
            got = float(used.get((v, t), 0.0))
            if got > reserved + self.tol:
                self.flag("reservation_capacity", f"{v} {t}", got - reserved,
                          f"uses {got:g} of {reserved:g} reserved slots")
            if got < row["min_take_share"] * reserved - self.tol:
                self.flag("reservation_min_take", f"{v} {t}",
                          row["min_take_share"] * reserved - got,
                          f"uses {got:g} of {reserved:g} reserved slots, below the minimum "
                          f"take {row['min_take_share']:.0%}")
        # slots made by (program, site, t), by scale too for a storable program (it may
        # make both scales in a period: launch stock)
        made: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for (p, site, c, t), x in self.made(ships).items():
            made[(p, site, c if self.stores(p) else "", t)] += self.slot_use(p, site) * x
        for (p, site, t), (_k, slots) in self.campaigns(ships).items():
            # reserved slots may carry a member's changeover too
            made[(p, site, "", t)] += slots
        taken: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for r in use.itertuples(index=False):
            who = f"{r.reservation} {r.program} {r.period}"
            if (r.reservation, int(r.period)) not in blocks:
                self.flag("reservation_capacity", who, r.batches, "reservation not held")
                continue
            row = self.reservations.loc[r.reservation]
            startup = self.programs.at[r.program, "startup"]
            if row["members"] and startup not in row["members"]:
                self.flag("reservation_members", who, r.batches,
                          f"{startup} is not a member of {r.reservation}")
            stored = self.stores(r.program)
            suite = (self.programs.at[r.program, "modality"],
                     row["scale"] if stored else self.scale(r.program, int(r.period)))
            if suite != (row["modality"], row["scale"]):
                self.flag("reservation_members", who, r.batches,
                          f"{r.program} needs a {suite[0]} {suite[1]}-scale suite")
            taken[(r.program, row["site"], row["scale"] if stored else "",
                   int(r.period))] += r.batches
        for (p, site, c, t), x in taken.items():
            if x > made[(p, site, c, t)] + self.tol:
                family = "reserved_use_is_making" if c else "reserved_use_is_production"
                self.flag(family, f"{p}@{site} {t}", x - made[(p, site, c, t)],
                          f"uses {x:g} reserved slots, makes {made[(p, site, c, t)]:g} "
                          f"{c + ' ' if c else ''}batch slots there")

    def operating_margin(self, ships: pd.DataFrame) -> dict[int, float]:
        """The consortium's margin by period, undiscounted: committed revenue and served
        potential value, less production, transport, tariffs, fixed costs and fees."""
        margin: dict[int, float] = defaultdict(float)
        offtakes = self.case.offtakes
        for t, b, price in zip(offtakes["period"], offtakes["committed_batches"],
                               offtakes["price_musd_per_batch"], strict=True):
            margin[int(t)] += float(b * price)
        for (_p, _m, t), value in self.served(ships).items():
            margin[t] += value
        for r in ships.itertuples(index=False):
            cost = self.batch_cost(r)
            margin[int(r.period)] -= sum(cost) * r.batches
        for (_p, _s, _c, t), (making, holding) in self.inventory_costs().items():
            margin[t] -= making + holding
        open_from = self.open_from()
        for s in self.sites.index:
            first = 0 if self.sites.at[s, "status"] == "existing" else open_from.get(s)
            for t in self.periods[first:] if first is not None else ():
                margin[t] -= self.years[t] * float(self.sites.at[s, "fixed_cost_musd_per_year"])
        for r in self.plan["reservations"].itertuples(index=False):
            row = self.reservations.loc[r.reservation]
            margin[int(r.period)] -= r.blocks * row["block_batches"] * row[
                "fee_musd_per_batch"]
        return margin

    def served(self, ships: pd.DataFrame) -> dict[tuple[str, str, int], float]:
        """Undiscounted value of potential demand served by (program, market, period)."""
        supplied = ships.groupby(["program", "market", "period"])["batches"].sum()
        committed = self.case.offtakes.groupby(["program", "market", "period"])[
            "committed_batches"].sum()
        out = {}
        for p, mkt, t, value in self.case.demand[["program", "market", "period",
                                                  "value_musd_per_batch"]].itertuples(
                index=False):
            served = max(float(supplied.get((p, mkt, t), 0.0)) -
                         float(committed.get((p, mkt, t), 0.0)), 0.0)
            out[(p, mkt, int(t))] = value * served
        return out

    def batch_cost(self, r: Any) -> tuple[float, float, float]:
        """Undiscounted (production, transport, tariff) cost of one batch of a shipment;
        a storable program's production is paid where it is made (`inventory_costs`),
        the tariff is on the same production cost."""
        lane = self.lane(r.site, r.market)
        if lane is None or r.program not in self.programs.index:
            return 0.0, 0.0, 0.0
        production = self.production_cost(r.program, r.site,
                                          self.scale(r.program, int(r.period)))
        made_here = 0.0 if self.stores(r.program) else production
        return made_here, lane[0], lane[1] * production

    def production_cost(self, p: str, s: str, c: str) -> float:
        """Undiscounted production cost of one delivered batch of p made at s at scale
        c: the suite's variable cost × slots per delivered batch (0 with no such suite)."""
        k = (s, self.programs.at[p, "modality"], c)
        var = float(self.suites.at[k, "variable_cost_musd_per_batch"]) \
            if k in self.suites.index else 0.0
        return var * self.slot_use(p, s)

    def inventory_costs(self) -> dict[tuple[str, str, str, int], tuple[float, float]]:
        """Undiscounted (production, holding) of each inventory row of a storable program:
        its batches made × their production cost, its stock × the holding cost."""
        out = {}
        for r in self.plan["inventory"].itertuples(index=False):
            if self.stores(r.program):
                out[(r.program, r.site, r.scale, int(r.period))] = (
                    r.made_batches * self.production_cost(r.program, r.site, r.scale),
                    r.stock_batches * self.holding[r.program])
        return out

    def spent(self, x: Any) -> float:
        """What a financing row's investment cost, MUSD: its suite's modules ordered in
        the period × their capex, or its site's opening cost if opened in the period."""
        if x.cost_type == "opening":
            opened = self.plan["openings"]
            done = ((opened["site"] == x.site) & (opened["period"] == x.period)).any()
            return float(self.sites.at[x.site, "opening_cost_musd"]) if done else 0.0
        builds = self.plan["builds"]
        ordered = builds.loc[(builds["site"] == x.site) & (builds["modality"] == x.modality)
                             & (builds["scale"] == x.scale) & (builds["period"] == x.period),
                             "modules"].sum()
        return float(ordered) * float(
            self.suites.at[(x.site, x.modality, x.scale), "module_capex_musd"])

    def check_funds(self, ships: pd.DataFrame) -> None:
        fin = self.plan["financing"]
        if fin.empty:
            return
        margin = self.operating_margin(ships)
        reinvest = self.case.funds.set_index("fund")["reinvest_share"]
        funds = self.case.funds.set_index("fund")
        budget = self.case.fund_budgets.set_index(["fund", "period"])["budget_musd"]
        site_modalities = self.case.suites.groupby("site")["modality"].agg(set)
        for x in fin.itertuples(index=False):
            opening = x.cost_type == "opening"
            key = (x.site, x.period) if opening else (x.site, x.modality, x.scale, x.period)
            what = "opening cost" if opening else "capex"
            spent = self.spent(x)
            f = funds.loc[x.fund]
            modalities = set(site_modalities.get(x.site, set())) if opening else {x.modality}
            eligible = (x.cost_type in f["pays"]
                        and (not f["eligible_regions"] or self.sites.at[x.site, "region"]
                             in f["eligible_regions"])
                        and (not f["eligible_sites"] or x.site in f["eligible_sites"])
                        and (not f["eligible_modalities"] or bool(
                            modalities & set(f["eligible_modalities"]))))
            if not eligible:
                self.flag("fund_eligibility", f"{x.fund} {key}", x.amount_musd,
                          f"{x.fund} may not fund this {what}")
            if x.amount_musd > f["max_capex_share"] * spent + self.tol:
                self.flag("fund_opening_share_cap" if opening else "fund_share_cap",
                          f"{x.fund} {key}", x.amount_musd - f["max_capex_share"] * spent,
                          f"above {f['max_capex_share']:.0%} of {what} {spent:g}")
        for (kind, *key), rows in fin.groupby(["cost_type", "site", "modality", "scale",
                                               "period"]):
            amount = float(rows["amount_musd"].sum())
            spent = self.spent(next(rows.itertuples(index=False)))
            if amount > spent + self.tol:
                opening = kind == "opening"
                self.flag("financing_within_opening" if opening else "financing_within_capex",
                          str((key[0], key[3]) if opening else tuple(key)), amount - spent,
                          f"financed {amount:g}, {'opening cost' if opening else 'capex'} "
                          f"spent {spent:g}")
        for (f, t), amount in fin.groupby(["fund", "period"])["amount_musd"].sum().items():
            before = self.periods[self.pos[t] - 1] if self.pos[t] > 0 else None
            gained = 0.0 if before is None else reinvest[f] * max(0.0, margin[before])
            limit = float(budget.get((f, t), 0.0)) + gained
            if amount > limit + self.tol:
                self.flag("fund_budget", f"{f} {t}", amount - limit,
                          f"spent {amount:g} of a {limit:g} budget")

    # -- site approvals per market ---------------------------------------------------
    @cached_property
    def approval_gated(self) -> set[tuple[str, str]]:
        """(market, scale) whose supply needs a site approved for the market."""
        regions = self.case.regions
        return {(m, "commercial") for m in regions.loc[regions["approval_required"], "region"]} \
            | {(m, "clinical") for m in
               regions.loc[regions["clinical_approval_required"], "region"]}

    @cached_property
    def approval_rows(self) -> pd.DataFrame:
        return self.case.approvals.set_index(["site", "market", "modality"])

    def approval_row(self, s: str, market: str, modality: str) -> Any:
        """The case's approvals row for site s, the market and the modality: the row
        naming the modality, else the site's row for every modality (None: none)."""
        rows = self.approval_rows
        for key in ((s, market, modality), (s, market, "")):
            if key in rows.index:
                return rows.loc[key]
        return None

    def approvals_held(self) -> dict[tuple[str, str, str], int]:
        """Position from which each approval (site, market, row's modality) holds: the
        case's approved rows from their period; the plan's new ones lead periods after
        their decision (re-derived from the case, whatever the plan prints)."""
        held = {(r.site, r.market, r.modality): self.pos[int(r.approved_from)]
                for r in self.case.approvals.itertuples(index=False)
                if pd.notna(r.approved_from)}
        plan = self.plan.get("approvals")
        for r in (() if plan is None else plan[plan["status"] == "new"].itertuples(
                index=False)):
            row = self.approval_row(r.site, r.market, r.modality)
            if row is not None and pd.isna(row["approved_from"]) \
                    and pd.notna(r.decided_period):
                a = (r.site, r.market, r.modality)
                held[a] = min(held.get(a, len(self.periods)),
                              self.pos[int(r.decided_period)] + int(row["lead_time_periods"]))
        return held

    def check_approvals(self, ships: pd.DataFrame) -> None:
        """Site approvals: every commercial (clinical, where the market says so) shipment
        to a market that requires approval comes from a site approved for it and its
        program's modality by then; each approval the plan decides is approvable, decided
        once its site can produce, and holds from its decision plus its lead time, at its
        cost discounted at the decision."""
        plan = self.plan.get("approvals")
        open_from = self.open_from()
        for r in (() if plan is None else plan.itertuples(index=False)):
            who = f"{r.site}→{r.market} {r.modality or 'every modality'}"
            row = self.approval_row(r.site, r.market, r.modality)
            if row is None or row.name[2] != r.modality:
                self.flag("approval", who, 1, f"the case has no approvals row for {r.site}, "
                          f"{r.market} and {r.modality or 'every modality'}")
                continue
            if r.status == "approved":
                given = row["approved_from"]
                if pd.isna(given) or int(given) != int(r.approved_from_period):
                    self.flag("approval", who, 1, f"printed approved from "
                              f"{r.approved_from_period}, the case says "
                              f"{'approvable' if pd.isna(given) else int(given)}")
                continue
            if r.status != "new" or pd.isna(r.decided_period):
                self.flag("approval", who, 1, f"status {r.status!r} without a decision: "
                          "an approval is approved (the case's) or new (decided)")
                continue
            if pd.notna(row["approved_from"]):
                self.flag("approval", who, 1, f"decided in {r.decided_period}, but the case "
                          f"has it approved from {int(row['approved_from'])}")
                continue
            decided = int(r.decided_period)
            holds = self.pos[decided] + int(row["lead_time_periods"])
            when = self.periods[holds] if holds < len(self.periods) else None
            if when != int(r.approved_from_period):
                self.flag("approval", who, 1, f"decided {decided}, printed approved from "
                          f"{r.approved_from_period}; {int(row['lead_time_periods'])} "
                          f"periods later is {when or 'beyond the horizon'}")
            pv = self.df[decided] * float(row["cost_musd"])
            if abs(r.cost_pv_musd - pv) > self.tol * max(1.0, abs(pv)):
                self.flag("approval", who, r.cost_pv_musd - pv,
                          f"cost PV printed {r.cost_pv_musd:.10g}, {float(row['cost_musd']):g} "
                          f"discounted at its decision {decided} is {pv:.10g}")
            if self.sites.at[r.site, "status"] == "candidate" and \
                    open_from.get(r.site, len(self.periods)) > self.pos[decided]:
                self.flag("approval_requires_open_site", who, 1,
                          f"decided in {decided}, before {r.site} can produce")
        if plan is not None:
            for key, n in plan.groupby(["site", "market", "modality"]).size().items():
                if n > 1:
                    self.flag("approval_once", " ".join(key), n - 1, f"decided {n} times")
        gated = self.approval_gated
        held = self.approvals_held() if gated else {}
        markets = {m for m, _c in gated}
        for r in ships[ships["market"].isin(markets)].itertuples(index=False):
            q = self.programs.at[r.program, "modality"]
            scale = self.scale(r.program, int(r.period))
            if (r.market, scale) not in gated:
                continue
            row = self.approval_row(r.site, r.market, q)
            who = f"{r.program}@{r.site}→{r.market} {r.period}"
            if row is None:
                self.flag("ship_requires_approval", who, r.batches,
                          f"{r.site} has no approval for {r.market} ({q}, {scale})")
            elif held.get(row.name, len(self.periods)) > self.pos[int(r.period)]:
                self.flag("ship_requires_approval", who, r.batches,
                          f"{r.site} is not approved for {r.market} ({q}, {scale}) in "
                          f"{r.period}")

    def recompute_objective(self, ships: pd.DataFrame) -> None:
        costs: dict[str, float] = defaultdict(float)
        for b in self.plan["builds"].itertuples(index=False):
            costs["capex"] += self.df[b.period] * b.modules * float(
                self.suites.at[(b.site, b.modality, b.scale), "module_capex_musd"])
        repay = self.case.funds.set_index("fund")["repayment_share"]
        for x in self.plan["financing"].itertuples(index=False):
            costs["co_investment"] -= self.df[x.period] * (1 - repay[x.fund]) * x.amount_musd
        open_from = self.open_from()
        for s, t in self.plan["openings"][["site", "period"]].itertuples(index=False):
            costs["opening"] += self.df[t] * float(self.sites.at[s, "opening_cost_musd"])
        for s in self.sites.index:
            first = 0 if self.sites.at[s, "status"] == "existing" else open_from.get(s)
            if first is None:
                continue
            part = "fixed_existing" if self.sites.at[s, "status"] == "existing" \
                else "fixed_opened"
            costs[part] += sum(self.df[t] * self.years[t] * float(
                self.sites.at[s, "fixed_cost_musd_per_year"]) for t in self.periods[first:])
        costs["tech_transfer"] += sum(pv for pv, _problem, _amount in
                                      self.transfer_rows().values())
        for r in ships.itertuples(index=False):
            d = self.df[r.period] * r.batches
            production, transport, tariff = self.batch_cost(r)
            costs["production"] += d * production
            costs["transport"] += d * transport
            costs["tariffs"] += d * tariff
        for (_p, _s, _c, t), (making, holding) in self.inventory_costs().items():
            costs["production"] += self.df[t] * making
            costs["holding"] += self.df[t] * holding
        for (_p, _m, t), value in self.served(ships).items():
            costs["served_value"] -= self.df[t] * value
        for r in self.plan["reservations"].itertuples(index=False):
            row = self.reservations.loc[r.reservation]
            costs["reservations"] += self.df[r.period] * r.blocks * row["block_batches"] * \
                row["fee_musd_per_batch"]
        approvals = self.plan.get("approvals")
        for r in (() if approvals is None else approvals.itertuples(index=False)):
            row = self.approval_row(r.site, r.market, r.modality)
            if r.status == "new" and pd.notna(r.decided_period) and row is not None:
                costs["approvals"] += self.df[int(r.decided_period)] * float(row["cost_musd"])
        net = sum(costs.values())
        sense, offset, _unit = self.case.objective_sense
        recomputed = offset - net if sense == "maximise" else offset + net
        self.result.costs = dict(costs)
        self.result.objective_recomputed = recomputed
        reported = self.result.objective_reported
        if reported is None:
            self.flag("objective", "summary.json", 0.0, "the plan reports no objective")
        elif abs(recomputed - reported) > self.tol * max(1.0, abs(reported)):
            self.flag("objective", "summary.json", recomputed - reported,
                      f"reported {reported:.10g}, recomputed {recomputed:.10g}")


def _shelf_lives(case: Case) -> tuple[dict[str, int], dict[str, float]]:
    """Each program's shelf life (periods) and holding cost (MUSD per batch and period):
    its own where given, else its modality's (`Case.per_program`)."""
    life = {p: int(n) for p, n in case.per_program("shelf_life_periods").items()}
    return life, case.per_program("holding_cost_musd_per_batch_period")


def _named(row: Any, what: str) -> Any:
    """The entity a plan row names: a column, or for ``suite`` (site, modality, scale),
    for ``investment`` (cost type, site, modality, scale)."""
    if what == "suite":
        return (row.site, row.modality, row.scale)
    if what == "investment":
        return (row.cost_type, row.site, row.modality, row.scale)
    return getattr(row, what)
