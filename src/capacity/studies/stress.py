"""Contingency analysis of a plan: what happens to it when a site, an operator or a
country is cut off, or a country's exports to a market are banned, from a period on.

    capacity stress PLAN_DIR [--by site|operator|country|lane] [--market M] [--from PERIOD]
                    [--workers N] [--scheduler ADDRESS] [--out DIR] [--resume]

For each contingency (an `capacity.model.outages.Outage` from period ``first`` to the
horizon's end, added to the plan's case's own outages) the plan's case is rebuilt with
the same variables and rows (`with_outages`), what the plan had decided before ``first``
is held (`Past`: modules ordered, sites opened, approvals decided and reservations held
before it, exactly; the transfers it had started stay made; its shipments and the
batches it made before it, within a tolerance of 1e-9 relative; stock a cut site made
and had not shipped counts as lost with it, `hold_past`), and the rest is
re-optimised: new modules, openings, approvals with their lead times, new transfers,
which can ship only once complete counted from ``first`` (pos(t) ≥ pos(first) + L[p,s]),
inventory and shipments. Committed offtakes may go unmet at ``penalty`` MUSD per batch
(discounted like any cost, `IndexSets.shortfall_cost`), so a recovery reports which
commitments break instead of failing.

The reference is the plan's own cost evaluated the same way: past held, no contingency
(the contingency ``none``). Per contingency the study reports the committed and potential
batches lost by market and period against the plan, the cost increase (the recovery's
cost without penalties against the reference's), the commitments that break and what
the recovery builds (modules, openings, transfers, approvals the plan did not have). The
independent checker (`capacity.results.check`) verifies each recovery plan against its
contingency's case (the case with the outage row added), allowing exactly the unmet
commitments reported, and the past is compared with the plan's.

Contingencies run as a batch on Dask (a `LocalCluster` of ``workers`` processes, or the
scheduler at ``scheduler``), each task a chunk of contingencies that share one build of
the base index sets; results go to a store like `capacity batch`'s
(`capacity.studies.batch.ResultStore`: ``done/<contingency>.json`` written last, so
``resume`` skips what is done): the recovery's plan tables and the study's own
(``lost``, ``broken``, ``recovery``), each with a ``scenario`` column naming the
contingency.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from capacity.case import Case, load_case
from capacity.engine.options import SolveOptions
from capacity.errors import CaseError
from capacity.model import BuiltModel, assemble_model
from capacity.model.index_sets import IndexSets, build_index_sets
from capacity.model.outages import Outage, case_outages, sites_cut, with_outages
from capacity.results.plan import TABLE_NAMES, Plan, read_saved_plan
from capacity.studies.batch import ResultStore
from capacity.studies.scenarios import case_digest

By = Literal["site", "operator", "country", "lane"]
BY: tuple[str, ...] = ("site", "operator", "country", "lane")
REFERENCE = "none"  # the contingency without an outage: the plan evaluated the same way
# Study tables stored beside the recovery plans' tables.
STRESS_TABLES = ("lost", "broken", "recovery")
# MUSD per committed batch left unmet (discounted): above any batch's cost in the shipped
# cases, so a recovery meets every commitment it can.
DEFAULT_PENALTY = 1000.0
PLAN_INPUTS = ("builds", "openings", "assignments", "shipments", "approvals", "reservations",
               "inventory", "unmet_demand")

Progress = Callable[[str, dict[str, Any]], None]


class StressError(ValueError):
    """Bad input to a contingency analysis (an option, or a folder that is not a plan);
    the message says which and why."""


@dataclass(frozen=True)
class Past:
    """What a plan had decided before period ``first`` (from its saved tables), held in
    every recovery.

    Attributes:
        first: the first period a contingency cuts.
        builds: modules ordered by (site, modality, scale, period), periods before first.
        openings: (site, period) opened before first.
        approvals: (site, market, modality, period) decided before first.
        reservations: blocks held by (reservation, period) before first.
        assigned: (program, site, phase) the plan transfers, with their transfer start.
        shipments: batches by (program, site, market, period) before first.
        made: batches made for stock by (program, site, scale, period) before first.
        served: potential batches served by (market, period), every period (the plan's,
            to count what a recovery loses).
    """

    first: int
    builds: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    openings: frozenset[tuple[str, int]] = frozenset()
    approvals: frozenset[tuple[str, str, str, int]] = frozenset()
    reservations: dict[tuple[str, int], float] = field(default_factory=dict)
    assigned: dict[tuple[str, str, str], int] = field(default_factory=dict)
    shipments: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    made: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    served: dict[tuple[str, int], float] = field(default_factory=dict)
    # the plan's own decisions from `first` on: what a recovery changes is against these
    later_builds: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    later_openings: frozenset[tuple[str, int]] = frozenset()
    later_approvals: frozenset[tuple[str, str, str, int]] = frozenset()


@dataclass(frozen=True)
class StressPlan:
    """A saved plan with the case it was made for and its tables (`read_stress_plan`)."""

    folder: Path
    case: Case
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]

    @property
    def periods(self) -> list[int]:
        """The case's periods."""
        return [int(t) for t in self.case.periods["period"]]


def read_stress_plan(plan_dir: str | Path, case: Case | str | Path | None = None
                     ) -> StressPlan:
    """Read a plan folder (`capacity solve --out`) and the case it was made for (its
    ``summary.json``'s ``case_source``, unless ``case`` is given).

    Raises:
        StressError: the folder is not a saved plan, holds no plan, or its case cannot be
            found.
        CaseError: the case is invalid.
    """
    folder = Path(plan_dir)
    if not (folder / "summary.json").is_file():
        raise StressError(f"{folder} is not a plan folder (no summary.json); give the "
                          "folder capacity solve --out wrote")
    try:
        tables, summary = read_saved_plan(folder, ("shipments", "builds", "openings",
                                                   "assignments"))
    except CaseError as err:
        raise StressError(f"{folder} is not a readable plan: {err.describe()}") from err
    if summary.get("status") not in ("optimal", "time_limit_feasible"):
        raise StressError(f"{folder} holds no plan (status {summary.get('status')!r})")
    if case is None:
        source = summary.get("case_source")
        if not source or not Path(str(source)).exists():
            raise StressError(f"{folder}'s summary.json names no case folder that exists "
                              f"(case_source {source!r}); give the case with --case")
        case = str(source)
    loaded = case if isinstance(case, Case) else load_case(case)
    for name in PLAN_INPUTS:
        tables.setdefault(name, pd.DataFrame())
    return StressPlan(folder, loaded, tables, summary)


def past_of(plan: StressPlan, first: int) -> Past:
    """What ``plan`` decided before period ``first`` (see `Past`)."""
    t = plan.tables

    def rows(name: str) -> pd.DataFrame:
        frame = t.get(name)
        return pd.DataFrame() if frame is None else frame

    def before(frame: pd.DataFrame, column: str = "period") -> pd.DataFrame:
        return frame[frame[column].astype(int) < first] if not frame.empty else frame

    builds: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for r in rows("builds").itertuples(index=False):
        builds[(r.site, r.modality, r.scale, int(r.period))] += float(r.modules)
    opened = {(r.site, int(r.period)) for r in rows("openings").itertuples(index=False)}
    approvals = rows("approvals")
    decided: set[tuple[str, str, str, int]] = set()
    if not approvals.empty:
        new = approvals[(approvals["status"] == "new") & approvals["decided_period"].notna()]
        decided = {(r.site, r.market, r.modality or "", int(r.decided_period))
                   for r in new.itertuples(index=False)}
    reservations = {(r.reservation, int(r.period)): float(r.blocks)
                    for r in before(rows("reservations")).itertuples(index=False)}
    assigned = {(r.program, r.site, r.phase): int(r.transfer_start_period)
                for r in rows("assignments").itertuples(index=False)}
    shipments: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for r in before(rows("shipments")).itertuples(index=False):
        shipments[(r.program, r.site, r.market, int(r.period))] += float(r.batches)
    made = {(r.program, r.site, r.scale, int(r.period)): float(r.made_batches)
            for r in before(rows("inventory")).itertuples(index=False)}
    served: dict[tuple[str, int], float] = defaultdict(float)
    for r in rows("unmet_demand").itertuples(index=False):
        served[(r.market, int(r.period))] += float(r.served_batches)
    return Past(first, {k: v for k, v in builds.items() if k[3] < first},
                frozenset(o for o in opened if o[1] < first),
                frozenset(a for a in decided if a[3] < first), reservations, assigned,
                dict(shipments), made, dict(served),
                {k: v for k, v in builds.items() if k[3] >= first},
                frozenset(o for o in opened if o[1] >= first),
                frozenset(a for a in decided if a[3] >= first))


def contingencies(plan: StressPlan, by: str, first: int,
                  market: str | None = None) -> list[Outage]:
    """The contingencies of ``plan`` from period ``first`` on, one outage each: every
    site (``site``), operator (``operator``) or country (``country``) whose sites supply
    in the plan from ``first`` on, lost (with ``market``: barred from that market only,
    where it supplies it); or every country's exports to one market the plan ships
    across from ``first`` on (``lane``; with ``market``: to that market). A piece the
    plan does not use from ``first`` on cannot cost it anything, and is left out.

    Raises:
        StressError: ``by`` is not one of site, operator, country, lane, or ``market`` or
            ``first`` is unknown.
    """
    if by not in BY:
        raise StressError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    periods = plan.periods
    if first not in periods:
        raise StressError(f"--from {first} is not a period of the case ({periods[0]}–"
                          f"{periods[-1]})")
    regions = set(plan.case.regions["region"])
    if market is not None and market not in regions:
        raise StressError(f"--market {market!r} is not a region of the case "
                          f"({', '.join(sorted(regions))})")
    sites = plan.case.sites.set_index("site")
    ships = plan.tables["shipments"]
    ships = ships[ships["period"].astype(int) >= first]
    if market is not None:
        ships = ships[ships["market"] == market]
    used = ships.assign(operator=ships["site"].map(sites["operator"]),
                        region=ships["site"].map(sites["region"]))
    made = plan.tables.get("inventory", pd.DataFrame())
    made_sites = set() if made.empty or market is not None else set(
        made.loc[(made["period"].astype(int) >= first) & (made["made_batches"] > 1e-9),
                 "site"])
    if by == "lane":
        lanes = sorted({(o, m) for o, m in zip(used["region"], used["market"], strict=True)
                        if o != m})
        return [Outage(f"lane-{o}-{m}", "country", o, m, first) for o, m in lanes]
    column = {"site": "site", "operator": "operator", "country": "region"}[by]
    subjects = set(used[column])
    if by == "site":
        subjects |= made_sites
    elif made_sites:
        subjects |= {sites.at[s, column] for s in made_sites}
    kind = {"site": "site", "operator": "operator", "country": "country"}[by]
    suffix = "" if market is None else f"-to-{market}"
    return [Outage(f"{by}-{s}{suffix}", kind, s, market, first)  # type: ignore[arg-type]
            for s in sorted(subjects)]


def hold_past(built: BuiltModel, past: Past, cut_sites: Iterable[str] = ()) -> None:
    """Bound ``built``'s columns to what the plan decided before ``past.first`` (see the
    module docstring): integer decisions exactly, shipments and making within 1e-9
    relative; a transfer the plan did not make ships only pos(first) + L[p,s] on.

    At ``cut_sites`` (the contingency's) the batches made for stock before ``first`` are
    held as an upper bound only: stock a lost site holds cannot ship (nor be written off
    without a stock target), so what it did not ship before the contingency counts as
    never made (lost with the site; its production cost is not counted), and the blocks
    reserved there before ``first`` are held as an upper bound too (a reservation's
    minimum take would otherwise force making that stock; the fee of blocks the recovery
    drops is not counted: the cost increase is understated by it)."""
    cut = set(cut_sites)
    lm, ix = built.linear, built.index_sets
    pos = ix.position
    first = pos[past.first]

    def fix(var: str, value: Callable[[Any], float | None], tol: float = 0.0) -> None:
        if var not in lm.variables:
            return
        cols = lm.variables[var]
        for i, key in enumerate(cols.keys):
            v = value(key)
            if v is None:
                continue
            slack = tol * max(1.0, abs(v))
            cols.lower[i] = max(0.0, v - slack)
            cols.upper[i] = min(cols.upper[i], v + slack)

    def period(key: Any) -> int:
        return int(key[-1])

    fix("Build", lambda k: past.builds.get(k, 0.0) if pos[period(k)] < first else None)
    fix("Open", lambda k: float(k in past.openings) if pos[period(k)] < first else None)
    fix("Approve", lambda k: float(k in past.approvals) if pos[period(k)] < first else None)
    fix("Reserve", lambda k: past.reservations.get(k, 0.0)
        if pos[period(k)] < first else None)
    starts = ix.phases.transfer_start
    if "Assign" in lm.variables:
        cols = lm.variables["Assign"]
        for i, a in enumerate(cols.keys):
            if a in past.assigned and pos[starts.get(a, ix.periods[0])] < first:
                cols.lower[i] = 1.0
    fix("Ship", lambda k: past.shipments.get(k, 0.0) if pos[period(k)] < first else None,
        1e-9)
    fix("Make", lambda k: past.made.get(k, 0.0) if pos[period(k)] < first else None, 1e-9)
    if cut and "Make" in lm.variables:
        cols = lm.variables["Make"]
        for i, key in enumerate(cols.keys):
            if key[1] in cut and pos[period(key)] < first:
                cols.lower[i] = 0.0
    if cut and "Reserve" in lm.variables:  # a take-or-pay there would force that stock
        cols = lm.variables["Reserve"]
        for i, (v, t) in enumerate(cols.keys):
            if ix.reservations.suite[v][0] in cut and pos[t] < first:
                cols.lower[i] = 0.0
    # a transfer the plan did not make starts at `first`: its site ships L[p,s] later
    pairs = {(p, s) for (p, s, _c) in past.assigned}
    for var, site_of in (("Ship", 1), ("Make", 1)):
        if var not in lm.variables:
            continue
        cols = lm.variables[var]
        for i, key in enumerate(cols.keys):
            p, s = key[0], key[site_of]
            lead = ix.transfer_periods.get((p, s), 0)
            if lead and (p, s) not in pairs and pos[period(key)] < first + lead:
                cols.upper[i] = 0.0


def priced(ix: IndexSets, case: Case, penalty: float) -> IndexSets:
    """``ix`` with every committed offtake allowed to go unmet at ``penalty`` MUSD per
    batch, discounted."""
    discount = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
    return replace(ix, shortfall_cost={d: float(discount[d[2]]) * penalty
                                       for d in sorted(ix.committed)})


@dataclass(frozen=True)
class StressJob:
    """A chunk of contingencies solved on one worker, sharing one build of the sets."""

    case: Case
    past: Past
    outages: tuple[tuple[str, Outage | None], ...]
    options: SolveOptions
    penalty: float


def solve_contingencies(job: StressJob) -> list[dict[str, Any]]:
    """Solve each contingency of ``job`` (a worker's task). Never raises: a failure
    becomes that contingency's ``error`` result."""
    try:
        base = priced(build_index_sets(job.case), job.case, job.penalty)
    except Exception as err:  # recorded as every contingency's error
        return [{"summary": _error(n, f"{type(err).__name__}: {err}"), "tables": {}}
                for n, _o in job.outages]
    out = []
    for name, outage in job.outages:
        try:
            out.append(solve_contingency(job, base, name, outage))
        except Exception as err:  # recorded as that contingency's error
            out.append({"summary": _error(name, f"{type(err).__name__}: {err}"),
                        "tables": {}})
    return out


def _error(name: str, error: str) -> dict[str, Any]:
    return {"scenario": name, "status": "error", "objective": None, "error": error,
            "messages": [error], "worker_pid": os.getpid(), "finished_at": time.time()}


def contingency_case(case: Case, outage: Outage | None) -> Case:
    """``case`` with ``outage`` added to its `outages` table (itself when None)."""
    if outage is None:
        return case
    row = pd.DataFrame([{"outage": outage.name, "kind": outage.kind,
                         "subject": outage.subject, "market": outage.market or "",
                         "from_period": outage.first, "until_period": outage.last,
                         "active": True}])
    frames = case.tables()
    frames["outages"] = pd.concat([frames["outages"].astype(object), row], ignore_index=True)
    return Case.from_frames(frames, name=f"{case.name} ({outage.name})")


def solve_contingency(job: StressJob, base: IndexSets, name: str,
                      outage: Outage | None) -> dict[str, Any]:
    """One recovery: the base sets with the outage, the past held, solved, measured and
    checked (see the module docstring)."""
    from capacity.engine.solve import solve

    started = time.time()
    case = job.case
    outages = case_outages(case) + ([outage] if outage is not None else [])
    ix = with_outages(base, case, outages) if outage is not None else base
    built = assemble_model(case, ix)
    hold_past(built, job.past, () if outage is None else sites_cut(
        outage, ix.site_operator, ix.site_region))
    plan = solve(built, job.options)
    summary: dict[str, Any] = {
        "scenario": name, **plan.summary(), "error": None,
        "outage": "" if outage is None else outage.describe(),
        "kind": "" if outage is None else outage.kind,
        "subject": "" if outage is None else outage.subject,
        "market": "" if outage is None or outage.market is None else outage.market,
        "from_period": job.past.first, "worker_pid": os.getpid(),
        "finished_at": time.time(), "wall_seconds": time.time() - started}
    if plan.status not in ("optimal", "time_limit_feasible") or built.solution is None:
        return {"summary": summary, "tables": {}}
    costs = plan.costs.set_index("component")["pv_musd"]
    penalty = float(costs.get("unmet_commitments", 0.0))
    summary["recovery_cost_musd"] = float(costs.sum()) - penalty
    summary["penalty_musd"] = penalty
    broken = _broken(case, built)
    lost = _lost(job.past, plan, broken)
    recovery = _recovery(job.past, plan)
    summary["committed_lost_batches"] = float(broken["short_batches"].sum())
    summary["potential_lost_batches"] = float(lost["potential_lost"].sum())
    summary["broken_commitments"] = len(broken)
    problems = verify_recovery(contingency_case(case, outage), plan, job.past, broken)
    summary["checked"] = not problems
    summary["check_problems"] = problems
    tables = dict(plan.tables)
    tables.update(lost=lost, broken=broken, recovery=recovery)
    return {"summary": summary, "tables": tables}


def _broken(case: Case, built: BuiltModel) -> pd.DataFrame:
    """The commitments a recovery leaves unmet (Shortfall > 1e-6), with their anchors."""
    from capacity.model.outages import offtake_words

    lm, x = built.linear, built.solution
    assert x is not None
    keys = lm.variables["Shortfall"].keys if "Shortfall" in lm.variables else []
    values = lm.values(x, "Shortfall") if keys else np.zeros(0)
    committed = built.index_sets.committed
    rows = [(p, m, int(t), committed[(p, m, t)], float(v), offtake_words(case, p, m, t))
            for (p, m, t), v in zip(keys, values.tolist(), strict=True) if v > 1e-6]
    return pd.DataFrame(rows, columns=["program", "market", "period", "committed_batches",
                                       "short_batches", "offtake"])


def _lost(past: Past, plan: Plan, broken: pd.DataFrame) -> pd.DataFrame:
    """Batches lost against the plan by market and period: committed (left unmet) and
    potential (the plan's served minus the recovery's; negative: served more)."""
    served: dict[tuple[str, int], float] = defaultdict(float)
    for r in plan.unmet_demand.itertuples(index=False):
        served[(r.market, int(r.period))] += float(r.served_batches)
    committed = broken.groupby(["market", "period"])["short_batches"].sum().to_dict()
    keys = sorted(set(served) | set(past.served) | set(committed))
    rows = []
    for m, t in keys:
        c = float(committed.get((m, t), 0.0))
        pot = past.served.get((m, t), 0.0) - served.get((m, t), 0.0)
        if abs(c) > 1e-6 or abs(pot) > 1e-6:
            rows.append((m, t, c, pot, c + pot))
    return pd.DataFrame(rows, columns=["market", "period", "committed_lost",
                                       "potential_lost", "supply_lost"])


def _recovery(past: Past, plan: Plan) -> pd.DataFrame:
    """What the recovery decides that the plan did not (from ``first`` on): modules
    (by suite and period; negative: cancelled), openings, transfers, approvals."""
    rows: list[tuple[str, str, str, str, int | None, float]] = []
    first = past.first
    # the plan's own decisions from `first` on are not in Past: read from its summary
    builds: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for r in plan.builds.itertuples(index=False):
        if int(r.period) >= first:
            builds[(r.site, r.modality, r.scale, int(r.period))] += float(r.modules)
    for k in sorted(set(builds) | set(past.later_builds)):
        extra = builds.get(k, 0.0) - past.later_builds.get(k, 0.0)
        if abs(extra) > 1e-6:
            rows.append(("modules", k[0], f"{k[1]} {k[2]}", "", k[3], extra))
    opened = {(r.site, int(r.period)) for r in plan.openings.itertuples(index=False)
              if int(r.period) >= first}
    for s, t in sorted(opened ^ set(past.later_openings)):
        rows.append(("opening", s, "", "", t, 1.0 if (s, t) in opened else -1.0))
    for r in plan.assignments.itertuples(index=False):
        if (r.program, r.site, r.phase) not in past.assigned:
            rows.append(("transfer", r.site, r.phase, r.program, None, 1.0))
    approvals = plan.approvals
    if not approvals.empty:
        for r in approvals[approvals["status"] == "new"].itertuples(index=False):
            if pd.notna(r.decided_period) and int(r.decided_period) >= first and \
                    (r.site, r.market, r.modality or "", int(r.decided_period)) \
                    not in past.later_approvals:
                rows.append(("approval", r.site, r.modality or "", r.market,
                             int(r.decided_period), 1.0))
    frame = pd.DataFrame(rows, columns=["what", "site", "detail", "program_or_market",
                                        "period", "amount"])
    frame["period"] = frame["period"].astype("Int64")
    return frame


def verify_recovery(case: Case, plan: Plan, past: Past, broken: pd.DataFrame,
                    tol: float = 1e-5) -> list[str]:
    """Problems the independent checker finds with a recovery plan on its contingency's
    case, other than the commitments it reports broken (and their penalty in the
    objective), and any way its past differs from the plan's."""
    from capacity.results.check import check_plan

    with tempfile.TemporaryDirectory() as tmp:
        result = check_plan(case, plan.save(Path(tmp) / "plan"), tolerance=tol)
    short = {f"{r.program} in {r.market}, {r.period}": float(r.short_batches)
             for r in broken.itertuples(index=False)}
    penalty = float(plan.costs.set_index("component")["pv_musd"].get("unmet_commitments", 0.0))
    problems = []
    for v in result.violations:
        if v.family == "demand_balance" and v.entity in short \
                and abs(v.amount - short[v.entity]) <= tol * max(1.0, v.amount) \
                and v.message.startswith("committed"):
            continue
        if v.family == "objective" and abs(v.amount + penalty) <= tol * max(1.0, penalty,
                                                                           abs(plan.objective
                                                                               or 0.0)):
            continue
        problems.append(f"{v.family}: {v.entity}: {v.message}")
    first = past.first
    builds: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for r in plan.builds.itertuples(index=False):
        if int(r.period) < first:
            builds[(r.site, r.modality, r.scale, int(r.period))] += float(r.modules)
    if {k: v for k, v in builds.items() if v} != {k: v for k, v in past.builds.items() if v}:
        problems.append("past: the modules ordered before the contingency differ from the "
                        "plan's")
    if {(r.site, int(r.period)) for r in plan.openings.itertuples(index=False)
            if int(r.period) < first} != set(past.openings):
        problems.append("past: the sites opened before the contingency differ from the plan's")
    ships: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for r in plan.shipments.itertuples(index=False):
        if int(r.period) < first:
            ships[(r.program, r.site, r.market, int(r.period))] += float(r.batches)
    for k in set(ships) | set(past.shipments):
        a, b = ships.get(k, 0.0), past.shipments.get(k, 0.0)
        if abs(a - b) > tol * max(1.0, b):
            problems.append(f"past: {k} shipped {a:g}, the plan {b:g}")
    return problems


class StressStore(ResultStore):
    """The results folder of a contingency analysis: a batch store (recovery plans'
    tables, ``done/``, ``summary.parquet``) with the study's tables too."""

    tables = (*TABLE_NAMES, *STRESS_TABLES)


def fingerprint(plan: StressPlan, outage: Outage | None, first: int, penalty: float,
                options: SolveOptions) -> str:
    """What a contingency's result depends on, hashed: the case, the plan's tables, the
    outage, the first period, the penalty and the solve options."""
    digest = hashlib.sha256()
    digest.update(case_digest(plan.case).encode())
    for name in sorted(plan.tables):
        frame = plan.tables[name]
        digest.update(name.encode())
        if not frame.empty:
            digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).values)
    digest.update(f"{outage!r}\n{first}\n{penalty!r}\n{options.model_dump_json()}".encode())
    return digest.hexdigest()


def stress(plan: StressPlan | str | Path, by: str = "site", first: int | None = None,
           market: str | None = None, out: str | Path | None = None,
           workers: int | None = None, scheduler: str | None = None, resume: bool = False,
           penalty: float = DEFAULT_PENALTY, options: SolveOptions | None = None,
           chunk: int | None = None, progress: Progress | None = None) -> StressResult:
    """Contingency analysis of a saved plan (see the module docstring).

    Args:
        plan: a plan folder (`capacity solve --out`), or one read by `read_stress_plan`.
        by: ``site``, ``operator``, ``country`` or ``lane`` (`contingencies`).
        first: the first period cut (default: the case's second period, so the plan's
            first period's decisions stand; the first period when the horizon has one).
        market: restrict to export bans to this market.
        out: results folder (default: a temporary one, removed when done).
        workers: processes of the local Dask cluster (default: one per core, at most
            the number of tasks); ignored with ``scheduler``.
        scheduler: the address of a running Dask scheduler.
        resume: skip contingencies already finished in ``out`` (and still current).
        penalty: MUSD per committed batch left unmet (discounted).
        options: solve options per contingency (default: 1 thread, 120 s, gap 1e-6).
        chunk: contingencies per Dask task (default: spread over twice the workers).
        progress: called with (contingency, summary) as each finishes.

    Raises:
        StressError: bad ``by``, ``first`` or ``market``, or not a plan.
        FileExistsError: ``out`` holds results and ``resume`` is not set.
    """
    if not isinstance(plan, StressPlan):
        plan = read_stress_plan(plan)
    periods = plan.periods
    if first is None:
        first = periods[1] if len(periods) > 1 else periods[0]
    outages = contingencies(plan, by, first, market)
    options = options or SolveOptions(time_limit_s=120, threads=1, mip_rel_gap=1e-6)
    if penalty <= 0:
        raise StressError(f"--penalty must be above 0, not {penalty:g}")
    past = past_of(plan, first)
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="capacity-stress-")
        out = Path(tmp.name) / "stress"
    store = StressStore(Path(out))
    finished = store.check_resumable(resume)
    named: list[tuple[str, Outage | None]] = [(REFERENCE, None)] + [(o.name, o)
                                                                    for o in outages]
    prints = {n: fingerprint(plan, o, first, penalty, options) for n, o in named}
    stored = store.fingerprints(finished & prints.keys())
    todo = [(n, o) for n, o in named if stored.get(n) != prints[n]]
    store.forget([n for n, _o in todo if n in finished])
    try:
        if todo:
            _run(todo, plan.case, past, options, penalty, store, prints, workers, scheduler,
                 chunk, progress)
        return StressResult.read(store.folder, [n for n, _o in named])
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(todo: list[tuple[str, Outage | None]], case: Case, past: Past,
         options: SolveOptions, penalty: float, store: StressStore,
         prints: dict[str, str], workers: int | None, scheduler: str | None,
         chunk: int | None, progress: Progress | None) -> None:
    from distributed import Client, LocalCluster, as_completed

    if scheduler is not None:
        client, cluster = Client(scheduler), None
    else:
        n = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    slots = max(1, len(client.scheduler_info()["workers"]))
    size = chunk or max(1, -(-len(todo) // (2 * slots)))
    try:
        futures = [client.submit(solve_contingencies,
                                 StressJob(case, past, tuple(todo[i:i + size]), options,
                                           penalty), pure=False)
                   for i in range(0, len(todo), size)]
        for future in as_completed(futures):
            for result in future.result():
                name = result["summary"]["scenario"]
                store.write({**result["summary"], "fingerprint": prints[name]},
                            result["tables"])
                if progress is not None:
                    progress(name, result["summary"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        store.write_summary()


@dataclass
class StressResult:
    """The results of a contingency analysis, read from its store.

    Attributes:
        summary: one row per contingency (and the reference ``none``): its outage,
            status, recovery cost (without penalties), ``cost_increase_musd`` against
            the reference, batches lost, broken commitments, ``checked``.
        lost: batches lost by contingency, market and period (``committed_lost``,
            ``potential_lost``, ``supply_lost``).
        broken: the commitments each recovery leaves unmet.
        recovery: what each recovery decides that the plan did not.
        folder: the store it was read from.
    """

    summary: pd.DataFrame
    lost: pd.DataFrame
    broken: pd.DataFrame
    recovery: pd.DataFrame
    folder: Path

    @classmethod
    def read(cls, folder: Path, names: Sequence[str] | None = None) -> StressResult:
        """Read a store written by `stress` (``names``: only these contingencies)."""
        store = StressStore(folder)
        summary = store.summary()
        if names is not None and not summary.empty:
            summary = summary[summary["scenario"].isin(list(names))]
        tables = {}
        for table in STRESS_TABLES:
            files = sorted((folder / table).glob("*.parquet")) \
                if (folder / table).is_dir() else []
            frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) \
                if files else pd.DataFrame(columns=["scenario"])
            if names is not None:
                frame = frame[frame["scenario"].isin(list(names))]
            tables[table] = frame.reset_index(drop=True)
        summary = _with_increase(summary.reset_index(drop=True))
        return cls(summary, tables["lost"], tables["broken"], tables["recovery"], folder)

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` contingencies losing the most supply (committed, then potential
        batches), then costing the most."""
        s = self.summary[self.summary["scenario"] != REFERENCE]
        if s.empty:
            return s
        s = s.assign(supply_lost_batches=s["committed_lost_batches"].fillna(0)
                     + s["potential_lost_batches"].fillna(0))
        s = s.sort_values(["committed_lost_batches", "supply_lost_batches",
                           "cost_increase_musd", "scenario"],
                          ascending=[False, False, False, True])
        return s.head(n)[["scenario", "outage", "committed_lost_batches",
                          "potential_lost_batches", "cost_increase_musd",
                          "broken_commitments", "checked"]].reset_index(drop=True)

    def heat(self) -> pd.DataFrame:
        """Supply lost (committed + potential batches, summed over periods) by
        contingency (rows) and market (columns)."""
        if self.lost.empty:
            return pd.DataFrame()
        return self.lost.pivot_table(index="scenario", columns="market",
                                     values="supply_lost", aggfunc="sum", fill_value=0.0)


def _with_increase(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with ``cost_increase_musd``: recovery cost minus the reference's."""
    if summary.empty or "recovery_cost_musd" not in summary.columns:
        return summary.assign(cost_increase_musd=np.nan) if not summary.empty else summary
    ref = summary.loc[summary["scenario"] == REFERENCE, "recovery_cost_musd"]
    base = float(ref.iloc[0]) if len(ref) else np.nan
    return summary.assign(cost_increase_musd=summary["recovery_cost_musd"] - base)
