"""Why is a case infeasible? A minimal set of commitments and rules that cannot all hold,
in business terms.

Method (models/formulation.md, "Elastic mode"):

1. Solve the elastic model: every committed offtake, domestic-share rule, service
   level, operator or country share cap, time to market, stock target, continuity of
   supply, exclusion, module cap and build lead time may be violated, and the objective is
   the total violation in batches. It is always feasible; zero violation means the case is.
2. Deletion filter: for each violated item, enforce it again (fix its slack to 0) and keep
   the others elastic; if the model stays feasible without violating anything outside the
   remaining set, the item was not needed. What is left is a minimal set: none of its
   items can be enforced given the rest.
3. Re-solve with only that set elastic and report each item with its amount, plus what
   binds around it (full suites that could serve it, tight rules in its market).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pyomo.contrib.solver.solvers.highs import Highs

from capacity.case import Case
from capacity.engine.options import SolveOptions
from capacity.engine.persistent import optimise_persistent
from capacity.model import BuiltModel, build_model
from capacity.model.approvals import held_back
from capacity.model.continuity import launch_sets
from capacity.model.index_sets import group
from capacity.model.measures import MEASURE_NOUN, MEASURE_UNIT

TOL = 1e-6
Item = tuple[str, tuple[Any, ...]]  # (family, key)


@dataclass(frozen=True)
class Conflict:
    """One commitment or rule that cannot hold, with by how much.

    Attributes:
        family: ``committed_offtake``, ``min_domestic_share``, ``min_service_level``,
            ``max_operator_share``, ``max_country_share``, ``max_time_to_market``,
            ``stock_target``, ``continuity_of_supply``, ``exclusion``, ``module_cap`` or
            ``lead_time``.
        entities: who and where (program, market, period, rule, operator, site, ...).
        amount: how far it must give, in ``unit``.
        unit: ``batches``, ``modules`` or ``years``; a rule counted in another measure
            (`rules.measure`): ``MUSD`` (value) or ``weighted batches``.
        message: the sentence a planner reads.
    """

    family: str
    entities: dict[str, Any]
    amount: float
    unit: str
    message: str


@dataclass
class Explanation:
    """Outcome of `explain`.

    Attributes:
        feasible: the case is feasible as it stands (no conflicts).
        conflicts: a minimal set of conflicts (or, if ``minimal`` is False, the set the
            elastic solve found before the time ran out).
        minimal: whether the deletion filter finished.
        seconds: wall time.
        solves: HiGHS solves used.
    """

    feasible: bool
    conflicts: list[Conflict] = field(default_factory=list)
    minimal: bool = True
    seconds: float = 0.0
    solves: int = 0

    def short(self, limit: int = 3) -> list[str]:
        """The first ``limit`` messages, and how many more there are."""
        lines = [c.message for c in self.conflicts[:limit]]
        if len(self.conflicts) > limit:
            lines.append(f"... and {len(self.conflicts) - limit} more (run capacity explain)")
        return lines

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"feasible": self.feasible, "minimal": self.minimal, "seconds": self.seconds,
                "solves": self.solves, "conflicts": [asdict(c) for c in self.conflicts]}


def explain(case: Case, options: SolveOptions | None = None) -> Explanation:
    """Find a minimal set of commitments and rules that cannot all hold.

    Args:
        case: a validated case.
        options: solve options; ``time_limit_s`` bounds the whole explanation.

    Returns:
        The `Explanation`.

    Example:
        >>> import capacity
        >>> capacity.explain(capacity.load_case()).feasible
        True
    """
    options = options or SolveOptions()
    t0 = time.perf_counter()
    built = build_model(case, elastic=True)
    slacks = _slack_components(built)
    solver = Highs()
    sub = options.model_copy(update={"mip_rel_gap": 1e-9, "model_file": None})
    run = optimise_persistent(solver, built.pyomo, sub)
    solves = 1
    run.load()
    items = _violated(built, slacks)
    if not items:
        return Explanation(True, seconds=time.perf_counter() - t0, solves=solves)
    keep = list(items)
    minimal = True
    for item in sorted(items, key=lambda i: (items[i], i)):
        remaining = options.time_limit_s - (time.perf_counter() - t0)
        if remaining <= 0:
            minimal = False
            break
        trial = [i for i in keep if i != item]
        _allow_only(built, slacks, set(trial))
        test = optimise_persistent(solver, built.pyomo,
                                   sub.model_copy(update={"time_limit_s": remaining}))
        solves += 1
        if test.status in ("optimal", "time_limit_feasible"):
            test.load()
            if not _violated(built, slacks).keys() - set(trial):
                keep = trial
    _allow_only(built, slacks, set(keep))
    final = optimise_persistent(solver, built.pyomo, sub)
    solves += 1
    final.load()
    amounts = _violated(built, slacks)
    conflicts = [_describe(built, item, amounts.get(item, 0.0)) for item in
                 sorted(keep, key=lambda i: (-amounts.get(i, 0.0), i))]
    return Explanation(False, conflicts, minimal, time.perf_counter() - t0, solves)


def _slack_components(built: BuiltModel) -> dict[str, Any]:
    m = built.pyomo
    return {"committed_offtake": m.Shortfall, "min_domestic_share": m.DomesticShortfall,
            "min_service_level": m.ServiceShortfall,
            "max_operator_share": m.OperatorExcess, "max_country_share": m.CountryExcess,
            "max_time_to_market": m.LateExcess, "stock_target": m.TargetShortfall,
            "continuity_of_supply": m.ContinuityShortfall,
            "module_cap": m.ExtraModules, "lead_time": m.EarlyModules}


def _barred_groups(built: BuiltModel) -> dict[tuple[str, str], list[tuple[str, str, str, int]]]:
    operator = built.index_sets.site_operator
    return group(built.index_sets.barred_ship, lambda key: (operator[key[1]], key[2]))


def _violated(built: BuiltModel, slacks: dict[str, Any]) -> dict[Item, float]:
    out: dict[Item, float] = {}
    for family, var in slacks.items():
        for key, v in var.items():
            value = v.value or 0.0
            if value > TOL:
                out[(family, key if isinstance(key, tuple) else (key,))] = float(value)
    ship = built.pyomo.Ship
    for lane, keys in _barred_groups(built).items():  # (operator, market)
        total = sum(ship[k].value or 0.0 for k in keys)
        if total > TOL:
            out[("exclusion", lane)] = float(total)
    return out


def _allow_only(built: BuiltModel, slacks: dict[str, Any], allowed: set[Item]) -> None:
    """Fix every slack to 0 except those of the allowed items (which are freed)."""
    for family, var in slacks.items():
        for key, v in var.items():
            item = (family, key if isinstance(key, tuple) else (key,))
            if item in allowed:
                v.unfix()
            else:
                v.fix(0.0)
    ship = built.pyomo.Ship
    for lane, keys in _barred_groups(built).items():  # (operator, market)
        for k in keys:
            if ("exclusion", lane) in allowed:
                ship[k].unfix()
            else:
                ship[k].fix(0.0)


def _describe(built: BuiltModel, item: Item, amount: float) -> Conflict:
    family, key = item
    case, ix = built.case, built.index_sets
    rules = case.rules.set_index("rule")
    if family == "committed_offtake":
        p, mkt, t = key
        need = ix.committed[(p, mkt, t)]
        offt = case.offtakes
        anchors = sorted(set(offt.loc[(offt["program"] == p) & (offt["market"] == mkt)
                                      & (offt["period"] == t), "anchor"]))
        causes = _causes(built, p, mkt, t)
        msg = (f"committed offtake of {', '.join(anchors)} for {p} in {mkt}, period {t}: "
               f"{need:g} batches; at most {need - amount:g} can be supplied"
               + (f" given {causes}" if causes else ""))
        return Conflict(family, {"anchors": anchors, "program": p, "market": mkt,
                                 "period": t}, amount, "batches", msg)
    if family == "min_domestic_share":
        u, t = key
        r = rules.loc[u]
        # the slack is in the rule's measure (`capacity.model.measures`)
        unit, counted = _in_measure(r["measure"])
        basis = "demand in" if r["basis"] == "demand" else "supply to"
        given = _imported_commitments(built, r["market"], t)
        msg = (f"minimum domestic share {u} ({r['share']:.0%} of {basis} {r['market']}"
               f"{counted}), period {t}: {amount:g} {unit} of domestic supply short"
               + (f", given {given}" if given else ""))
        return Conflict(family, {"rule": u, "market": r["market"], "period": t}, amount,
                        unit, msg)
    if family == "min_service_level":
        u, t = key
        r = rules.loc[u]
        unit, counted = _in_measure(r["measure"])
        of = f"{r['subject']} demand" if r["subject"] else "demand"
        msg = (f"minimum service level {u} ({r['share']:.0%} of {r['market']}'s {of} "
               f"served{counted}), period {t}: {amount:g} {unit} short")
        return Conflict(family, {"rule": u, "market": r["market"], "period": t}, amount,
                        unit, msg)
    if family in ("max_operator_share", "max_country_share"):
        u, who, t = key
        r = rules.loc[u]
        unit, counted = _in_measure(r["measure"])
        what = "operator" if family == "max_operator_share" else "region"
        msg = (f"{family.replace('_', ' ')} {u} ({r['share']:.0%} of supply to "
               f"{r['market']}{counted}), period {t}: {what} {who} exceeds it by "
               f"{amount:g} {unit}")
        return Conflict(family, {"rule": u, "market": r["market"], what: who, "period": t},
                        amount, unit, msg)
    if family == "max_time_to_market":
        (u,) = key
        r = rules.loc[u]
        msg = (f"time to market {u} (at most {r['limit_years']:g} years of {r['market']}'s "
               f"potential demand unserved per program): {amount:g} years over")
        return Conflict(family, {"rule": u, "market": r["market"]}, amount, "years", msg)
    if family == "stock_target":
        p, mkt, t = key
        inv = ix.inventory
        need, scale = inv.targets[(p, mkt, t)], inv.target_scale[(p, mkt, t)]
        why = inv.why_unservable.get((p, mkt, t))
        msg = (f"stock target for {p} in {mkt} at the end of {t}: {need:g} {scale} batches; "
               f"at most {need - amount:g} can be held"
               + (f": {why.split(', but ', 1)[-1]}" if why else
                  f" at the sites that can supply {mkt} within {p}'s shelf life of "
                  f"{inv.shelf_life[p]} period{'' if inv.shelf_life[p] == 1 else 's'}"))
        return Conflict(family, {"program": p, "market": mkt, "period": t}, amount,
                        "batches", msg)
    if family == "continuity_of_supply":
        p, mkt, t = key
        share = ix.continuity.share[p]
        need = share * (ix.committed.get(key, 0.0) + ix.potential.get(key, 0.0))
        launched, by = _launch(built, p, mkt)
        msg = (f"continuity of supply of {p} in {mkt} (share {share:.0%}, launched in "
               f"{launched}{by}), period {t}: {need:g} batches needed, {amount:g} short")
        return Conflict(family, {"program": p, "market": mkt, "period": t,
                                 "launch_period": launched}, amount, "batches", msg)
    if family == "exclusion":
        operator, mkt = key
        barred = [u for u, r in rules.iterrows() if r["kind"] == "barred" and r["active"]
                  and r["market"] == mkt]
        msg = (f"exclusion {', '.join(barred)}: operator {operator} would have to supply "
               f"{amount:g} batches to {mkt} over the horizon")
        return Conflict(family, {"rules": barred, "operator": operator, "market": mkt},
                        amount, "batches", msg)
    if family == "lead_time":
        s, q, c, t = key
        served = _commitments_made_at(built, (s, q, c), [t])
        msg = (f"{served} needs " if served else "") + (
            f"{_modules(amount)} at {s} ({q}, {c}) in period {t}, before the "
            f"{ix.suite_lead[(s, q, c)]}-period lead time lets "
            f"{'it' if _whole(amount) == 1 else 'them'} produce")
        return Conflict(family, {"site": s, "modality": q, "scale": c, "period": t}, amount,
                        "modules", msg)
    s, q, c = key
    served = _commitments_made_at(built, (s, q, c), ix.periods)
    msg = (f"{served} needs " if served else "") + (
        f"{_modules(amount)} at {s} ({q}, {c}) beyond its module cap of "
        f"{ix.suite_max_modules[(s, q, c)]}")
    return Conflict(family, {"site": s, "modality": q, "scale": c}, amount, "modules", msg)


def _launch(built: BuiltModel, p: str, mkt: str) -> tuple[int | None, str]:
    """When the elastic plan launches p in mkt (its first period with Launch at 1, else
    the first period of a commitment that forces the launch), and, where a commitment
    launched it, " by the committed offtake of ANCHORS": what the planner set."""
    launch = built.pyomo.Launch
    for key in launch:
        if key[:2] == (p, mkt) and (launch[key].value or 0.0) > 0.5:
            return int(key[2]), ""
    t0 = launch_sets(built.index_sets).forced_from.get((p, mkt))
    if t0 is None:
        return None, ""
    offt = built.case.offtakes
    anchors = sorted(set(offt.loc[(offt["program"] == p) & (offt["market"] == mkt)
                                  & (offt["period"] == t0), "anchor"]))
    return t0, f" by the committed offtake of {', '.join(anchors)}"


def _whole(amount: float) -> int:
    """Modules as a planner orders them: whole ones (the capacity of 1.25 modules takes 2)."""
    return max(1, math.ceil(amount - TOL))


def _modules(amount: float) -> str:
    whole = _whole(amount)
    part = "" if abs(amount - round(amount)) <= TOL else f" (the capacity of {amount:.2f})"
    return f"{whole} more module{'s' if whole > 1 else ''}{part}"


def _commitments_made_at(built: BuiltModel, suite: tuple[str, str, str],
                         periods: list[int]) -> str:
    """The commitments the elastic plan makes in ``suite`` in ``periods``, leading the
    message of a module conflict: the commitment is what the planner set."""
    ix, ship = built.index_sets, built.pyomo.Ship
    when = set(periods)
    inv, pos = ix.inventory, ix.position
    # a storable program's batches shipped in t were made in t − L..t: those made in
    # ``periods`` (at the suite) count
    making: dict[tuple[str, str, str], list[int]] = {key[:3]: [] for key in inv.make}
    for key in inv.make:
        if key[3] in when and (built.pyomo.Make[key].value or 0.0) > TOL:
            making[key[:3]].append(pos[key[3]])
    made: dict[tuple[str, str], list[int]] = {}
    for key, k in zip(ix.ship, ix.ship_suite, strict=True):
        p, _s, mkt, t = key
        if inv.stores(p):
            life = inv.shelf_life[p]
            here = any(tau <= pos[t] <= tau + life for tau in making.get((p, k[0], k[2]), ()))
        else:
            here = t in when
        if k == suite and here and ix.committed.get((p, mkt, t), 0.0) > 0 \
                and (ship[key].value or 0.0) > TOL:
            made.setdefault((p, mkt), []).append(t)
    if not made:
        return ""
    offt = built.case.offtakes
    parts = []
    for (p, mkt), ts in sorted(made.items()):
        anchors = sorted(set(offt.loc[(offt["program"] == p) & (offt["market"] == mkt),
                                      "anchor"]))
        span = f"{min(ts)}" if min(ts) == max(ts) else f"{min(ts)}–{max(ts)}"
        parts.append(f"the committed offtake of {', '.join(anchors)} for {p} in {mkt} "
                     f"({span})")
    return " with ".join(parts)


def _imported_commitments(built: BuiltModel, mkt: str, t: int) -> str:
    """The commitments in ``mkt`` in ``t`` the elastic plan supplies from abroad: what
    pushes a domestic share below its minimum."""
    ix, ship = built.index_sets, built.pyomo.Ship
    region = ix.site_region
    abroad: dict[str, float] = {}
    for key in ix.ship:
        p, s, m, tt = key
        if m == mkt and tt == t and region[s] != mkt and ix.committed.get((p, m, t), 0.0) > 0:
            abroad[p] = abroad.get(p, 0.0) + (ship[key].value or 0.0)
    if not any(v > TOL for v in abroad.values()):
        return ""
    offt = built.case.offtakes
    parts = []
    for p, batches in sorted(abroad.items()):
        if batches <= TOL:
            continue
        anchors = sorted(set(offt.loc[(offt["program"] == p) & (offt["market"] == mkt)
                                      & (offt["period"] == t), "anchor"]))
        domestic = any(k[0] == p and k[2] == mkt and k[3] == t and region[k[1]] == mkt
                       for k in ix.ship)
        where = ("domestic capacity for it is full" if domestic
                 else f"no site in {mkt} can make it")
        parts.append(f"the committed offtake of {', '.join(anchors)} for {p} "
                     f"({ix.committed[(p, mkt, t)]:g} batches, {batches:g} made abroad: "
                     f"{where})")
    return "; ".join(parts)


def _campaigns_in(built: BuiltModel, k: tuple[str, str, str], t: int) -> int:
    """Programs the elastic plan makes in suite k in period t, each costing k its
    changeover (`Produce` at 1; `capacity.model.changeovers`)."""
    co = built.index_sets.changeovers
    if k not in co.slots:
        return 0
    produce = built.pyomo.Produce
    return sum(1 for c, k2 in zip(co.campaigns, co.suite, strict=True)
               if k2 == k and c[2] == t and (produce[c].value or 0.0) > 0.5)


def _causes(built: BuiltModel, p: str, mkt: str, t: int) -> str:
    """What binds around a short commitment: full suites that could serve it, tight rules."""
    m, ix = built.pyomo, built.index_sets
    pos = ix.position
    barred_lanes = set(ix.barred_ship)
    suites = sorted({k for key, k in zip(ix.ship, ix.ship_suite, strict=True)
                     if key[0] == p and key[2] == mkt and key[3] == t
                     and key not in barred_lanes})
    full = []
    changeovers: list[str] = []  # what changeovers take of the full suites' slots
    for k in suites:
        cap = ix.suite_existing[k] if ix.site_status[k[0]] == "existing" else 0.0
        cap += ix.suite_module[k] * sum(m.Build[b].value or 0.0 for b in ix.build
                                        if b[:3] == k and pos[b[3]] + ix.suite_lead[k] <= pos[t])
        inv = ix.inventory  # a storable program takes its slots where it makes
        used = sum(slots * (m.Ship[key].value or 0.0)
                   for key, k2, slots in zip(ix.ship, ix.ship_suite, ix.ship_slots.tolist(),
                                             strict=True)
                   if k2 == k and key[3] == t and not inv.stores(key[0]))
        used += sum(ix.slots(key[0], key[1]) * (m.Make[key].value or 0.0) for key in inv.make
                    if (key[1], inv.modality[key[0]], key[2], key[3]) == (*k, t))
        campaigns = _campaigns_in(built, k, t)
        changeover = ix.changeovers.slots.get(k, 0.0) * campaigns
        if used + changeover >= cap - TOL:
            full.append(f"{k[0]}")
            if changeover > 0:
                changeovers.append(
                    f"changeovers take {changeover:g} of {cap:g} slots at {k[0]} "
                    f"({campaigns} programs × changeover_slots "
                    f"{ix.changeovers.slots[k]:g})")
    parts = []
    why = ix.why_unservable.get((p, mkt, t))
    if full:
        q, c = suites[0][1], suites[0][2]
        parts.append(f"full {q} {c} capacity at {', '.join(full)}"
                     + (f", where {'; '.join(changeovers)}" if changeovers else ""))
    elif not suites:
        # why, when no site can ever serve it (before its earliest start, no suite of
        # its kind, its technology transfer not complete in time)
        parts.append("no allowed suite that can supply it" + (f": {why}" if why else ""))
    elif why:  # sites can serve it, but not with the program's other commitments
        parts.append(why)  # (its phases moving as one: `capacity.model.phases`)
    for u in ix.share_rules:
        if u.market == mkt and u.kind == "min_domestic_share" and (u.rule, t) in \
                m.DOMESTIC_SHARE_UT:
            parts.append(f"the {mkt} domestic-share rule {u.rule}"
                         + ("" if u.measure == "batches" else
                            f" (counted in {MEASURE_NOUN[u.measure]})"))
    barred = {ix.site_operator[k[1]] for k in ix.barred_ship if k[0] == p and k[2] == mkt}
    if barred:
        parts.append(f"the exclusion of {', '.join(sorted(barred))} from {mkt}")
    if suites and (p, mkt, t) in ix.approvals.blocked:  # sites that could help, unapproved
        q = built.case.programs.set_index("program").at[p, "modality"]
        parts.append(f"{mkt}'s approval requirement: "
                     f"{held_back(ix.approvals, ix.periods, p, q, mkt, t)}")
    return " and ".join(parts)


def _in_measure(measure: str) -> tuple[str, str]:
    """The unit a rule's slack is in (its measure: `capacity.model.measures`) and, for
    a measure other than batches, the words saying what the rule counts."""
    if measure == "batches":
        return "batches", ""
    return MEASURE_UNIT[measure], f", counted in {MEASURE_NOUN[measure]}"
