"""Site approvals per market: a market that requires approval (`regions.approval_required`
for commercial supply, `clinical_approval_required` for clinical supply) is supplied only
from sites approved for it (models/formulation.md, "Site approvals per market").

An approval a = (s, m, q) is a row of the case's `approvals` table: site s, market m,
modality q ("" for a row covering every modality of the site that has no row of its
own). It is approved from a period (`approved_from`), or approvable: the model decides
it (`Approve`), at a cost discounted at the decision, and it holds lead[a] periods later
(the pre-approval inspection and the review). The inspection sees a running plant, so a
candidate site's approval is decided no earlier than the site can produce
(`approval_requires_open_site`): the site's opening lead and the approval's lead add up.

What can never be approved in time is left out of SHIP (`gates`, applied while SHIP is
enumerated): a shipment (p,s,m,t) whose market requires approval at its scale exists
only where s has an approval row a for m and p's modality, approved by t or approvable
by t (pos(t) ≥ earliest[a]). The rows below link the rest to the decisions: a
pre-approved site's shipments need none.

`approval_sets` computes the sets and coefficients from the case (called by
`capacity.model.index_sets.build_index_sets`, one field of `IndexSets`: ``approvals``);
the builders here write the rows (`capacity.model.BUILDERS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import Key, LinearModel, Term

Suite = tuple[str, str, str]  # (site, modality, scale)
ShipKey = tuple[str, str, str, int]  # (program, site, market, period)
DemandKey = tuple[str, str, int]  # (program, market, period)
Approval = tuple[str, str, str]  # (site, market, modality as in the row: "" for every one)
Decision = tuple[str, str, str, int]  # (site, market, modality, period)


def _by_approval(decisions: Iterable[Decision]) -> dict[Approval, list[Decision]]:
    """``decisions`` grouped by their approval (site, market, modality), in order."""
    out: dict[Approval, list[Decision]] = defaultdict(list)
    for d in decisions:
        out[d[:3]].append(d)
    return out


@dataclass
class Approvals:
    """The approvals of a case expanded to the model's sets (see the module).

    ``gated`` holds the (market, scale) pairs that need approval; with none (the
    default, and every case without such a market) the model is what it was without
    approvals. ``cost`` only feeds the objective: it is left out of comparisons, so
    that cases differing only in approval costs keep one model
    (`capacity.engine.resolver.same_constraints`).
    """

    gated: set[tuple[str, str]] = field(default_factory=set)
    # the approval row that applies to (site, market, modality) in a gated market
    row_of: dict[tuple[str, str, str], Approval] = field(default_factory=dict)
    approved_from: dict[Approval, int] = field(default_factory=dict)  # pre-approved: period
    lead: dict[Approval, int] = field(default_factory=dict)  # approvable: lead[a], periods
    first_decision: dict[Approval, int] = field(default_factory=dict)  # approvable: position
    earliest: dict[Approval, int] = field(default_factory=dict)  # position it can hold from
    site_status: dict[str, str] = field(default_factory=dict)
    decide: list[Decision] = field(default_factory=list)  # APPROVE
    approved_by: list[Decision] = field(default_factory=list)  # APPROVED_BY_AT
    ship_rows: list[int] = field(default_factory=list)  # SHIP_APPROVAL_PSMT, positions in SHIP
    ship_approved_by: list[int] = field(default_factory=list)  # each one's APPROVED_BY_AT row
    # the sites approvals hold back from committed (p,m,t), and from any (p,m,t) no site is
    # left to serve (the sites that could serve it otherwise)
    blocked: dict[DemandKey, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # the plan's messages
    # cost[a] (MUSD, undiscounted) of each approvable approval, and df_τ·cost[a] of each
    # decision: objective only
    cost_musd: dict[Approval, float] = field(default_factory=dict, compare=False)
    cost: dict[Decision, float] = field(default_factory=dict, compare=False)

    def gates(self, suite_keys: list[Suite]) -> pd.DataFrame | None:
        """For `capacity.model.index_sets._shipments`: each suite (site, modality, scale)
        with each market that requires approval at its scale, and the first position the
        suite's shipments there may have (NaN: never; the site has no approval row for the
        market, or it cannot hold within the horizon). None where no market requires
        approval (SHIP is then what it always was)."""
        if not self.gated:
            return None
        out = []
        for s, q, c in suite_keys:
            for m, scale in sorted(self.gated):
                if scale == c:
                    a = self.row_of.get((s, m, q))
                    out.append((s, m, q, c, np.nan if a is None
                                else self.earliest.get(a, np.nan)))
        return pd.DataFrame(out, columns=["site", "market", "modality", "scale", "first"])

    def approval(self, s: str, m: str, k: Suite) -> Approval | None:
        """The approval a shipment from suite k = (s, q, c) to m needs (None: none)."""
        if (m, k[2]) not in self.gated:
            return None
        return self.row_of.get((s, m, k[1]))


class IndexSets(Protocol):
    """What the builders here read of `capacity.model.index_sets.IndexSets` (which holds
    `Approvals` and so is not imported here: no import cycle)."""

    @property
    def approvals(self) -> Approvals: ...
    @property
    def position(self) -> dict[int, int]: ...
    @property
    def open(self) -> list[tuple[str, int]]: ...
    @property
    def site_status(self) -> dict[str, str]: ...
    @property
    def site_lead(self) -> dict[str, int]: ...
    @property
    def ship(self) -> list[ShipKey]: ...
    @property
    def ship_bound(self) -> np.ndarray: ...


def approval_sets(case: Case, periods: list[int], site_online: dict[str, int | None],
                  suite_keys: list[Suite]) -> Approvals:
    """The approvals that apply, before SHIP: which (market, scale) need approval, the row
    of each (site, market, modality) there, and the earliest position each approval can
    hold from: pos(approved_from), or first_decision[a] + lead[a] for an approvable one,
    first_decision[a] = 0 at an existing site and the site's first producing position at
    a candidate (absent: not within the horizon)."""
    regions = case.regions
    gated = {(m, "commercial") for m in regions.loc[regions["approval_required"], "region"]}
    gated |= {(m, "clinical") for m in
              regions.loc[regions["clinical_approval_required"], "region"]}
    out = Approvals(gated=gated)
    if not gated:
        return out
    position = {t: i for i, t in enumerate(periods)}
    last = len(periods) - 1
    markets = {m for m, _c in gated}
    rows = case.approvals[case.approvals["market"].isin(markets)]
    given = {(r.site, r.market, r.modality): r for r in rows.itertuples(index=False)}
    for s, q, _c in suite_keys:
        for m in markets:
            a = (s, m, q) if (s, m, q) in given else (s, m, "")
            if a in given:
                out.row_of[(s, m, q)] = a
    for a in sorted(set(out.row_of.values())):
        r = given[a]
        if pd.notna(r.approved_from):
            out.approved_from[a] = int(r.approved_from)
            out.earliest[a] = position[int(r.approved_from)]
            continue
        out.lead[a] = int(r.lead_time_periods)
        online = site_online.get(a[0])
        if online is None:
            continue
        out.first_decision[a] = online
        if online + out.lead[a] <= last:
            out.earliest[a] = online + out.lead[a]
    out.site_status = case.sites.set_index("site")["status"].to_dict()
    out.cost_musd = {a: float(given[a].cost_musd) for a in out.lead}
    return out


def with_shipments(ap: Approvals, case: Case, periods: list[int], ship: list[ShipKey],
                   ship_suite: list[Suite], committed: dict[DemandKey, float],
                   potential: dict[DemandKey, float], served: set[DemandKey]) -> Approvals:
    """``ap`` with the sets SHIP gives it: the shipments that need an approvable approval
    (SHIP_APPROVAL_PSMT) and the approval they need in their period (APPROVED_BY_AT);
    the decisions (APPROVE: a's periods τ from first_decision[a] with pos(τ) + lead[a]
    no later than the last shipment needing a) and their cost df_τ·cost[a]; notes on the
    potential demand only approvals keep from being served (``ap.blocked``)."""
    if not ap.gated:
        return ap
    position = {t: i for i, t in enumerate(periods)}
    discount = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
    ship_rows, needed = [], []
    markets = {m for m, _c in ap.gated}
    for i, ((_p, s, m, t), k) in enumerate(zip(ship, ship_suite, strict=True)):
        if m not in markets:  # most shipments: to a market that requires no approval
            continue
        a = ap.approval(s, m, k)
        if a is None or a in ap.approved_from:
            continue
        ship_rows.append(i)
        needed.append((*a, t))
    approved_by = sorted(set(needed), key=lambda d: (*d[:3], position[d[3]]))
    row = {d: j for j, d in enumerate(approved_by)}
    last_needed: dict[Approval, int] = {}
    for d in approved_by:
        last_needed[d[:3]] = max(last_needed.get(d[:3], 0), position[d[3]])
    decide = [(*a, periods[n]) for a, most in sorted(last_needed.items())
              for n in range(ap.first_decision[a], most - ap.lead[a] + 1)]
    cost = {d: float(discount[d[3]]) * ap.cost_musd[d[:3]] for d in decide}
    out = replace(ap, decide=decide, approved_by=approved_by, ship_rows=ship_rows,
                  ship_approved_by=[row[d] for d in needed], cost=cost)
    out.notes = _notes(out, case, periods, committed, potential, served)
    return out


def _notes(ap: Approvals, case: Case, periods: list[int], committed: dict[DemandKey, float],
           potential: dict[DemandKey, float], served: set[DemandKey]) -> list[str]:
    """The plan's messages: potential demand that no site can be approved in time to serve,
    by market, modality and scale."""
    modality = case.programs.set_index("program")["modality"].to_dict()
    lost: dict[tuple[str, str], list[DemandKey]] = defaultdict(list)
    for d in ap.blocked:
        if d not in served and potential.get(d, 0.0) > 0 and committed.get(d, 0.0) == 0:
            lost[(d[1], modality[d[0]])].append(d)
    notes = []
    for (m, q), keys in sorted(lost.items()):
        batches = sum(potential[d] for d in keys)
        ts = sorted({d[2] for d in keys})
        when = f"{ts[0]}" if len(ts) == 1 else f"{ts[0]}–{ts[-1]}"
        notes.append(f"approvals: {batches:g} batches of {m}'s potential {q} demand in "
                     f"{when} can be served by no site approved for {m} in time ({m} "
                     "requires approval; see the case's approvals)")
    return notes


def why_unapproved(ap: Approvals, case: Case, periods: list[int], p: str, m: str, t: int,
                   scale: str) -> str:
    """Why a committed (p,m,t) that some site could make cannot be served: no site that
    could make it is approved, or approvable, for m by t (the words after "committed
    offtake of ... :")."""
    q = case.programs.set_index("program").at[p, "modality"]
    column = "approval_required" if scale == "commercial" else "clinical_approval_required"
    return (f"{m} requires approval (regions.{column}), and no site is approved for {m} "
            f"{q} {scale} supply by {t}: {held_back(ap, periods, p, q, m, t)}")


def held_back(ap: Approvals, periods: list[int], p: str, q: str, m: str, t: int) -> str:
    """The sites approvals hold back from supplying (p,m,t), p of modality q, and why:
    no approvals row, approved later, approvable from a later period at the earliest."""
    parts = []
    for s in ap.blocked.get((p, m, t), []):
        a = ap.row_of.get((s, m, q))
        if a is None:
            parts.append(f"{s} has no approvals row for {m}")
        elif a in ap.approved_from:
            parts.append(f"{s} is approved from {ap.approved_from[a]}")
        else:
            review = f"a {ap.lead[a]}-period inspection and review"
            if a not in ap.earliest:
                once = " once it can produce" if ap.site_status.get(s) == "candidate" else ""
                parts.append(f"{s} cannot be approved within the horizon ({review}{once})")
            else:
                parts.append(f"{s} can be approved from {periods[ap.earliest[a]]} at the "
                             f"earliest ({review} from {periods[ap.first_decision[a]]})")
    return "; ".join(parts)


def add_approval_once(lm: LinearModel, ix: IndexSets) -> None:
    """The approval decisions, each made at most once.

    Approve[s,m,q,τ] ∈ {0,1} over APPROVE: approval a = (s,m,q) decided in τ, holding
    from pos(τ) + lead[a] on.
    ∀a ∈ APPROVAL_ONCE_A (approvals with more than one decision period):
        Σ_τ Approve[a,τ] ≤ 1
    """
    ap = ix.approvals
    lm.add_set("APPROVE", ap.decide, 4)
    lm.add_var("Approve", "APPROVE", "binary", upper=1.0)
    decisions = _by_approval(ap.decide)
    lm.add_set("APPROVAL_ONCE_A", sorted(a for a, d in decisions.items() if len(d) > 1), 3)
    lm.add_rows("approval_once", "APPROVAL_ONCE_A", "<=",
                lambda a: ([("Approve", decisions[a], 1.0)], 1.0))


def add_approval_requires_open_site(lm: LinearModel, ix: IndexSets) -> None:
    """A candidate site's approval is decided only once the site can produce (the
    pre-approval inspection sees a running plant).

    ∀(s,m,q,τ) ∈ APPROVE, s candidate:
        Approve[s,m,q,τ] ≤ Σ_{t0 : pos(t0)+lead[s] ≤ pos(τ)} Open[s,t0]
    """
    ap, pos = ix.approvals, ix.position
    opens: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for o in ix.open:
        opens[o[0]].append(o)
    lm.add_set("APPROVAL_OPEN_AT", [d for d in ap.decide
                                    if ix.site_status[d[0]] == "candidate"], 4)
    lm.add_rows("approval_requires_open_site", "APPROVAL_OPEN_AT", "<=", lambda d: (
        [("Approve", [d], 1.0),
         ("Open", [o for o in opens.get(d[0], ())
                   if pos[o[1]] + ix.site_lead[d[0]] <= pos[d[3]]], -1.0)], 0.0))


def add_approved_by(lm: LinearModel, ix: IndexSets) -> None:
    """Whether an approvable approval holds in a period, as one variable.

    ∀(a,t) ∈ APPROVED_BY_AT:  ApprovedBy[a,t] ≤ Σ_{τ : pos(τ)+lead[a] ≤ pos(t)} Approve[a,τ]

    APPROVED_BY_AT holds the (a,t) of the shipments that need a (SHIP_APPROVAL_PSMT). The
    exact reformulation `site_open_by` makes for openings: ApprovedBy = the sum is always
    allowed and ApprovedBy only bounds shipments from above, so the LP relaxation is
    unchanged, and `ship_requires_approval` has two terms a row.
    """
    ap, pos = ix.approvals, ix.position
    decisions = _by_approval(ap.decide)
    lm.add_set("APPROVED_BY_AT", ap.approved_by, 4)
    lm.add_var("ApprovedBy", "APPROVED_BY_AT", "continuous", upper=1.0)

    def rule(d: Key) -> tuple[list[Term], float]:
        a, t = d[:3], d[3]
        held = [e for e in decisions.get(a, ()) if pos[e[3]] + ap.lead[a] <= pos[t]]
        return [("ApprovedBy", [d], 1.0), ("Approve", held, -1.0)], 0.0

    lm.add_rows("approved_by", "APPROVED_BY_AT", "<=", rule)


def add_ship_requires_approval(lm: LinearModel, ix: IndexSets) -> None:
    """No shipment to a market that requires approval before the site's approval for it
    holds (disaggregated linking, as `ship_requires_open_site`).

    ∀(p,s,m,t) ∈ SHIP_APPROVAL_PSMT:  Ship[p,s,m,t] ≤ V[p,s,m,t]·ApprovedBy[a(p,s,m),t]

    SHIP_APPROVAL_PSMT: the shipments to a market that requires approval at their scale
    whose approval a(p,s,m) (the row for s, m and p's modality, else s and m's row for
    every modality) is approvable, not approved. The x_ij ≤ y_i inequality of the strong
    facility-location formulation, with the smallest big-M the data allow (V).
    """
    ap = ix.approvals
    shipped = np.asarray(ap.ship_rows, dtype=np.int64)
    keys = lm.add_set("SHIP_APPROVAL_PSMT", [ix.ship[i] for i in shipped.tolist()], 4)
    rows = np.arange(len(keys))
    lm.add_rows_from_arrays("ship_requires_approval", "SHIP_APPROVAL_PSMT", "<=",
                            np.zeros(len(keys)), [
        ("Ship", rows, shipped, 1.0),
        ("ApprovedBy", rows, np.asarray(ap.ship_approved_by, dtype=np.int64),
         -ix.ship_bound[shipped])])
