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
}
AMOUNTS = {"shipments": "batches", "builds": "modules", "financing": "amount_musd",
           "reservations": "blocks", "reservation_use": "batches"}


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
        self.check_demand(ships)
        self.check_capacity(ships)
        self.check_sites_and_builds(ships)
        self.check_assignments(ships)
        self.check_shares(ships)
        self.check_service_level(ships)
        self.check_time_to_market(ships)
        self.check_reservations(ships)
        self.check_funds(ships)
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
            if int(r.period) < self.start(r.program):
                self.flag("earliest_start", who, r.batches,
                          f"before the program's earliest start {self.start(r.program)}")
            elif self.pos[int(r.period)] < self.transfer_done(r.program, r.site):
                self.flag("tech_transfer_time", who, r.batches,
                          f"before its technology transfer to {r.site}, started "
                          f"{self.start(r.program)}, is complete")
            if self.lane(r.site, r.market) is None:
                self.flag("lane", who, r.batches, "no lane from the site's region to the market")
            if (self.sites.at[r.site, "operator"], r.market) in barred:
                self.flag("exclusion", who, r.batches,
                          f"operator {self.sites.at[r.site, 'operator']} is barred from "
                          f"{r.market}")

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

    def check_capacity(self, ships: pd.DataFrame) -> None:
        used: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for r in ships.itertuples(index=False):
            if r.program not in self.programs.index:
                continue
            k = (r.site, self.programs.at[r.program, "modality"],
                 self.scale(r.program, int(r.period)))
            used[(*k, int(r.period))] += self.slot_use(r.program, r.site) * r.batches
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

    def check_assignments(self, ships: pd.DataFrame) -> None:
        assigned = set(zip(self.plan["assignments"]["program"],
                           self.plan["assignments"]["site"], strict=True))
        for (p, s) in sorted(set(zip(ships["program"], ships["site"], strict=True)) - assigned):
            self.flag("production_requires_assignment", f"{p}@{s}", 1,
                      f"{p} is produced at {s} without being assigned there")
        for a in self.plan["assignments"].itertuples(index=False):
            who = f"{a.program}@{a.site}"
            cost, _periods = self.transfer(a.program, a.site)
            start, done = self.start(a.program), self.transfer_done(a.program, a.site)
            complete = self.periods[done] if done < len(self.periods) else None
            if (int(a.transfer_start_period), int(a.transfer_complete_period)) != \
                    (start, complete):
                self.flag("tech_transfer", who, 1,
                          f"transfer printed {a.transfer_start_period}–"
                          f"{a.transfer_complete_period}, the case says {start}–{complete}")
            pv = self.df[start] * cost
            if abs(a.tech_transfer_pv_musd - pv) > self.tol * max(1.0, abs(pv)):
                self.flag("tech_transfer", who, a.tech_transfer_pv_musd - pv,
                          f"transfer PV printed {a.tech_transfer_pv_musd:.10g}, "
                          f"{cost:g} discounted at its start {start} is {pv:.10g}")
        per_program = pd.Series([p for p, _ in assigned]).value_counts()
        for p, n in per_program.items():
            most = int(self.programs.at[p, "max_sites"])
            if n > most:
                self.flag("program_site_limit", str(p), n - most, f"{n} sites, at most {most}")

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
        made: dict[tuple[str, str, int], float] = defaultdict(float)
        for r in ships.itertuples(index=False):
            made[(r.program, r.site, int(r.period))] += \
                self.slot_use(r.program, r.site) * r.batches
        for pst, (_k, slots) in self.campaigns(ships).items():
            made[pst] += slots  # reserved slots may carry a member's changeover too
        taken: dict[tuple[str, str, int], float] = defaultdict(float)
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
            suite = (self.programs.at[r.program, "modality"],
                     self.scale(r.program, int(r.period)))
            if suite != (row["modality"], row["scale"]):
                self.flag("reservation_members", who, r.batches,
                          f"{r.program} needs a {suite[0]} {suite[1]}-scale suite")
            taken[(r.program, row["site"], int(r.period))] += r.batches
        for (p, site, t), x in taken.items():
            if x > made[(p, site, t)] + self.tol:
                self.flag("reserved_use_is_production", f"{p}@{site} {t}",
                          x - made[(p, site, t)], f"uses {x:g} reserved slots, makes "
                          f"{made[(p, site, t)]:g} batch slots there")

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
        """Undiscounted (production, transport, tariff) cost of one batch of a shipment."""
        lane = self.lane(r.site, r.market)
        if lane is None or r.program not in self.programs.index:
            return 0.0, 0.0, 0.0
        k = (r.site, self.programs.at[r.program, "modality"],
             self.scale(r.program, int(r.period)))
        var = float(self.suites.at[k, "variable_cost_musd_per_batch"]) \
            if k in self.suites.index else 0.0
        use = self.slot_use(r.program, r.site)
        return var * use, lane[0], lane[1] * var * use

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
            costs["fixed"] += sum(self.df[t] * self.years[t] * float(
                self.sites.at[s, "fixed_cost_musd_per_year"]) for t in self.periods[first:])
        for p, s in self.plan["assignments"][["program", "site"]].itertuples(index=False):
            costs["tech_transfer"] += self.df[self.start(p)] * self.transfer(p, s)[0]
        for r in ships.itertuples(index=False):
            d = self.df[r.period] * r.batches
            production, transport, tariff = self.batch_cost(r)
            costs["production"] += d * production
            costs["transport"] += d * transport
            costs["tariffs"] += d * tariff
        for (_p, _m, t), value in self.served(ships).items():
            costs["served_value"] -= self.df[t] * value
        for r in self.plan["reservations"].itertuples(index=False):
            row = self.reservations.loc[r.reservation]
            costs["reservations"] += self.df[r.period] * r.blocks * row["block_batches"] * \
                row["fee_musd_per_batch"]
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


def _named(row: Any, what: str) -> Any:
    """The entity a plan row names: a column, or for ``suite`` (site, modality, scale),
    for ``investment`` (cost type, site, modality, scale)."""
    if what == "suite":
        return (row.site, row.modality, row.scale)
    if what == "investment":
        return (row.cost_type, row.site, row.modality, row.scale)
    return getattr(row, what)
