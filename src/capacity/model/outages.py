"""Outages: a piece of the network cut off for a span of periods (models/formulation.md,
"Outages").

One definition, used by the deterministic case (its optional `outages` table), the
contingency analysis (`capacity stress`), disruption scenarios and N−1 planning. An
`Outage` cuts a site, an operator's sites or a country's sites: lost (``market`` None:
they make nothing and ship nothing, stock they hold waits) or barred from shipping to one
market (an export ban), from period ``first`` to ``last`` (inclusive; None: to the end of
the horizon).

An outage changes bounds only, never the sets: the cut shipments Ship[p,s,m,t] and the
cut making Make[p,s,c,t] get upper bound 0 (`add_outage_cuts`). So a model with outages
has the same variables and rows as the one without (`with_outages`, like
`capacity.model.index_sets.with_demand`): scenarios of a stochastic extensive form, or a
plan's contingencies, share first-stage variables, and a case without outages builds the
identical model. Decisions to build, open, transfer and approve are not cut: the site may
come back after ``last``.

`outage_sets` computes the cut positions (one field of `IndexSets`: ``outages``), and
which commitments the outages leave no site to serve (reported like every unservable
commitment, naming the outage; a caller that prices unmet commitments,
``IndexSets.shortfall_cost``, may let them go short instead).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import LinearModel

if TYPE_CHECKING:
    from capacity.model.index_sets import IndexSets

ShipKey = tuple[str, str, str, int]  # (program, site, market, period)
MakeKey = tuple[str, str, str, int]  # (program, site, scale, period)
DemandKey = tuple[str, str, int]  # (program, market, period)
OutageKind = Literal["site", "operator", "country"]


@dataclass(frozen=True)
class Outage:
    """A piece of the network cut off.

    Attributes:
        name: its id (the `outages` table's ``outage``).
        kind: what ``subject`` is: a ``site``, an ``operator`` (every site it owns) or a
            ``country`` (a region: every site in it).
        subject: the site, operator or region id.
        market: None: the subject's sites are lost (they supply no market and make
            nothing); a market: only their shipments to it are cut (an export ban).
        first: the first period cut.
        last: the last period cut, inclusive; None: to the end of the horizon.
    """

    name: str
    kind: OutageKind
    subject: str
    market: str | None
    first: int
    last: int | None = None

    def describe(self) -> str:
        """In words: "WUXI_WUXI lost from 2029", "CN exports to US banned 2029–2031"."""
        who = {"site": self.subject, "operator": f"{self.subject}'s sites",
               "country": f"{self.subject}'s sites"}[self.kind]
        when = f"from {self.first}" if self.last is None else (
            f"in {self.first}" if self.last == self.first else f"{self.first}–{self.last}")
        if self.market is None:
            return f"{who} lost {when}"
        if self.kind == "country":
            return f"{self.subject} exports to {self.market} banned {when}"
        return f"{who} barred from {self.market} {when}"

    def cuts(self, period: int) -> bool:
        """Whether the outage holds in ``period``."""
        return period >= self.first and (self.last is None or period <= self.last)


def case_outages(case: Case) -> list[Outage]:
    """The active rows of ``case``'s `outages` table, in table order (none without it)."""
    out = []
    for r in case.outages.itertuples(index=False):
        if not r.active:
            continue
        out.append(Outage(str(r.outage), r.kind, str(r.subject), str(r.market) or None,
                          int(r.from_period),
                          None if pd.isna(r.until_period) else int(r.until_period)))
    return out


@dataclass(eq=False)
class Outages:
    """The derived data of the outages a model holds (``IndexSets.outages``).

    Attributes:
        outages: the outages applied.
        ship_cut: positions in SHIP (``IndexSets.ship``) of the shipments cut (Ship = 0),
            sorted.
        make_cut: positions in MAKE_PSCT (``IndexSets.inventory.make``) of the batches a
            lost site cannot make (Make = 0), sorted.
        ship_by: for each cut shipment position, the outage that cuts it (the first).
        why_unservable: committed (p,m,t) that some shipment could serve but the
            outages cut every one of, and why (naming the outages).
    """

    outages: tuple[Outage, ...] = ()
    ship_cut: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    make_cut: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ship_by: dict[int, str] = field(default_factory=dict)
    why_unservable: dict[DemandKey, str] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Field by field, the position arrays element by element (two index sets with
        equal outages have the same bounds: `capacity.engine.resolver`)."""
        if not isinstance(other, Outages):
            return NotImplemented
        return (self.outages == other.outages
                and np.array_equal(self.ship_cut, other.ship_cut)
                and np.array_equal(self.make_cut, other.make_cut)
                and self.ship_by == other.ship_by
                and self.why_unservable == other.why_unservable)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the other derived data


def sites_cut(outage: Outage, site_operator: dict[str, str],
              site_region: dict[str, str]) -> set[str]:
    """The sites an outage names: the site, the operator's sites, the region's sites."""
    if outage.kind == "site":
        return {outage.subject}
    owner = site_operator if outage.kind == "operator" else site_region
    return {s for s, o in owner.items() if o == outage.subject}


def outage_sets(case: Case, ix_like: IndexSets, outages: Sequence[Outage]) -> Outages:
    """The shipments and making that ``outages`` cut in index sets built from ``case``,
    and the commitments they leave no shipment to serve.

    Args:
        case: the case the index sets were built from (its `offtakes` name the anchors
            of an unservable commitment).
        ix_like: the index sets (SHIP, MAKE, the committed demand, sites' owners).
        outages: the outages to apply (not necessarily the case's own).
    """
    del case  # the index sets hold what is needed; kept for the interface
    outages = tuple(outages)
    if not outages:
        return Outages()
    lost: dict[str, list[Outage]] = defaultdict(list)  # site -> outages that lose it
    banned: dict[tuple[str, str], list[Outage]] = defaultdict(list)  # (site, market)
    for o in outages:
        for s in sites_cut(o, ix_like.site_operator, ix_like.site_region):
            if o.market is None:
                lost[s].append(o)
            else:
                banned[(s, o.market)].append(o)

    def cut_by(s: str, m: str | None, t: int) -> str | None:
        for o in lost.get(s, ()):
            if o.cuts(t):
                return o.name
        if m is not None:
            for o in banned.get((s, m), ()):
                if o.cuts(t):
                    return o.name
        return None

    ship_by: dict[int, str] = {}
    open_arcs: set[DemandKey] = set()
    cut_arcs: dict[DemandKey, set[str]] = defaultdict(set)
    for i, (p, s, m, t) in enumerate(ix_like.ship):
        name = cut_by(s, m, t) if (s in lost or (s, m) in banned) else None
        if name is None:
            open_arcs.add((p, m, t))
        else:
            ship_by[i] = name
            cut_arcs[(p, m, t)].add(name)
    make_cut = [i for i, (_p, s, _c, t) in enumerate(ix_like.inventory.make)
                if s in lost and cut_by(s, None, t) is not None]
    described = {o.name: o.describe() for o in outages}
    why = {}
    for d, names in sorted(cut_arcs.items()):
        if d not in open_arcs and ix_like.committed.get(d, 0.0) > 0:
            why[d] = ("every site that could serve it is cut off ("
                      + "; ".join(f"outage {n}: {described[n]}" for n in sorted(names)) + ")")
    return Outages(outages, np.array(sorted(ship_by), dtype=np.int64),
                   np.array(make_cut, dtype=np.int64), ship_by, why)


def with_outages(ix: IndexSets, case: Case, outages: Sequence[Outage]) -> IndexSets:
    """A copy of ``ix`` with ``outages`` in place of the outages it had (the case's own):
    the same variables and row families, only the cut columns' bounds differ, so models
    of the two share first-stage variables.

    ``unservable`` and ``why_unservable`` lose what the old outages caused and gain what
    the new ones cause (naming them).
    """
    from capacity.model.index_sets import offtake_words

    new = outage_sets(case, ix, outages)
    old = ix.outages.why_unservable
    why = {d: w for d, w in ix.why_unservable.items() if d not in old}
    old_words = {f"{offtake_words(case, *d)}: {w}" for d, w in old.items()}
    unservable = [u for u in ix.unservable if u not in old_words]
    for d, w in new.why_unservable.items():
        if d not in why:
            why[d] = w
            unservable.append(f"{offtake_words(case, *d)}: {w}")
    return replace(ix, outages=new, why_unservable=why, unservable=unservable)


def add_outage_cuts(lm: LinearModel, ix: IndexSets) -> None:
    """Outages (models/formulation.md, "Outages"): every cut shipment and every batch a
    lost site cannot make has upper bound 0, as column bounds (no rows):

        Ship[p,s,m,t] = 0   for (p,s,m,t) ∈ SHIP with (s,m,t) ∈ CUT
        Make[p,s,c,t] = 0   for (p,s,c,t) ∈ MAKE with s lost in t

    A case without outages changes nothing.
    """
    cut = ix.outages
    if len(cut.ship_cut):
        lm.variables["Ship"].upper[cut.ship_cut] = 0.0
    if len(cut.make_cut):
        lm.variables["Make"].upper[cut.make_cut] = 0.0
