"""Changeovers: each program made in a suite in a period costs the suite changeover slots.

Batch slots alone say that two programs of 5 batches fill a suite of 10 exactly as one of
10 does; a multi-product suite also loses time to each product it makes (cleaning, line
clearance, changeover QC; Lakhdar et al. 2005–07 on biopharmaceutical campaign
planning), so twenty small programs sharing a suite cost capacity that two large ones do
not. Here a program's production in a suite in a period is one campaign, which costs the
suite changeover[k] batch slots on top of its batches: `suites.changeover_slots` where
given, else `modalities.changeover_slots` of its modality (0 in the built-in list, so a
case that states none is planned as before).

The model (models/formulation.md, "Changeovers"): a binary Produce[p,s,t] where the suite
k = suite(p,s,t) has changeover[k] > 0 (CAMPAIGN_PST), the link
`production_requires_campaign`, and the changeover on `suite_capacity` (and on
`reserved_use_is_production`: a member's reserved slots may carry its changeover), put
there by `add_changeover_slots` on rows their builders made.

The sets are built by `changeover_sets`, called from `build_index_sets` and kept as
`IndexSets.changeovers`; the rows read production through one term,
`campaign_production`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import ArrayTerm, LinearModel

Suite = tuple[str, str, str]  # (site, modality, scale)
Campaign = tuple[str, str, int]  # (program, site, period)


@dataclass(eq=False)
class Changeovers:
    """The changeovers of a case: suites that charge them, and the campaigns they charge.

    Attributes:
        slots: changeover[k] > 0, batch slots per program per period, by suite (suites
            without a changeover are absent).
        campaigns: CAMPAIGN_PST, the (p,s,t) with a shipment made in a suite that charges
            a changeover, sorted.
        suite: each campaign's suite, suite(p,s,t).
        bound: U_c[p,s,t] of each campaign (`production_requires_campaign`).
        ship_campaign: each SHIP key's campaign (position in ``campaigns``), −1 where its
            suite charges none; aligned with `IndexSets.ship`.
    """

    slots: dict[Suite, float] = field(default_factory=dict)
    campaigns: list[Campaign] = field(default_factory=list)
    suite: list[Suite] = field(default_factory=list)
    bound: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ship_campaign: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __eq__(self, other: object) -> bool:
        """Equal sets and coefficients (the arrays element by element): two cases whose
        changeovers differ do not have the same constraints (`capacity.engine.resolver`)."""
        if not isinstance(other, Changeovers):
            return NotImplemented
        return (self.slots == other.slots and self.campaigns == other.campaigns
                and self.suite == other.suite and np.array_equal(self.bound, other.bound)
                and np.array_equal(self.ship_campaign, other.ship_campaign))

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class WithChangeovers(Protocol):
    """What the builders here read of the index sets (`IndexSets`, which builds this module's
    sets and so cannot be imported by it): their ``changeovers``."""

    @property
    def changeovers(self) -> Changeovers: ...


def suite_changeovers(case: Case) -> dict[Suite, float]:
    """changeover[k] of every suite that charges one (> 0): its own
    `suites.changeover_slots`, else its modality's `modalities.changeover_slots`."""
    by_modality = {str(q): float(v) for q, v in zip(
        case.modalities["modality"], case.modalities["changeover_slots"], strict=True)}
    out = {}
    for s, q, c, own in zip(case.suites["site"], case.suites["modality"], case.suites["scale"],
                            case.suites["changeover_slots"], strict=True):
        slots = float(own) if pd.notna(own) else by_modality.get(str(q), 0.0)
        if slots > 0:
            out[(str(s), str(q), str(c))] = slots
    return out


def changeover_sets(case: Case, production: list[Campaign], production_of: np.ndarray,
                    production_bound: np.ndarray, ship_suite: list[Suite],
                    ship_slots: np.ndarray, suite_most: dict[Suite, float]) -> Changeovers:
    """CAMPAIGN_PST and its coefficients, from the (p,s,t) with a shipment
    (``production``, each shipment's position in it ``production_of``, U[p,s,t] of each
    ``production_bound``), each shipment's suite and slots per delivered batch, and the
    most slots each suite can ever offer per period (every module, every reservation).

    U_c[p,s,t] = min(U[p,s,t], (most[k] − changeover[k]) / slots[p,s]) (0 where the
    changeover alone fills the suite): a campaign leaves the suite at most
    most − changeover slots for its batches, so no plan makes more, and a smaller
    coefficient is a tighter LP relaxation.
    """
    slots = suite_changeovers(case)
    if not slots or len(production_of) == 0:
        return Changeovers(slots=slots,
                           ship_campaign=np.full(len(production_of), -1, dtype=np.int64))
    # each (p,s,t)'s first shipment: its suite and its slots per batch
    _, first = np.unique(production_of, return_index=True)
    suite_of = [ship_suite[i] for i in first.tolist()]
    changeover = np.array([slots.get(k, 0.0) for k in suite_of])
    kept = changeover > 0
    at = np.flatnonzero(kept)
    most = np.array([suite_most[suite_of[i]] for i in at.tolist()])
    room = np.maximum(most - changeover[kept], 0.0) / ship_slots[first[kept]]
    renumbered = np.cumsum(kept) - 1
    return Changeovers(
        slots=slots, campaigns=[production[i] for i in at.tolist()],
        suite=[suite_of[i] for i in at.tolist()],
        bound=np.minimum(production_bound[kept], room),
        ship_campaign=np.where(kept[production_of], renumbered[production_of], -1))


def campaign_production(ix: WithChangeovers) -> ArrayTerm:
    """The production of each campaign (p,s,t), Σ_m Ship[p,s,m,t], as a term of its row
    (row: the campaign's position in CAMPAIGN_PST).

    The one place the changeover rows read production: where production becomes a
    variable of its own (a Make[p,s,t] for programs that can be stored), this term is
    Make's entry on each row instead, and nothing else here changes.
    """
    linked = np.flatnonzero(ix.changeovers.ship_campaign >= 0)
    return ("Ship", ix.changeovers.ship_campaign[linked], linked, 1.0)


def add_production_requires_campaign(lm: LinearModel, ix: WithChangeovers) -> None:
    """A program is made in a suite that charges changeovers only in a campaign there.

    CAMPAIGN_PST = the (p,s,t) over SHIP whose suite k = suite(p,s,t) has
    changeover[k] > 0;
    Produce[p,s,t] ∈ {0,1}: p is made in k in t (a campaign), over CAMPAIGN_PST;
    ∀(p,s,t) ∈ CAMPAIGN_PST:  Σ_m Ship[p,s,m,t] ≤ U_c[p,s,t]·Produce[p,s,t]

    U_c[p,s,t] = min(U[p,s,t], (most[k] − changeover[k]) / slots[p,s]): U (the
    production bound of `production_requires_assignment`: the demand p can reach from s
    in t, and the suite's most capacity) with the campaign's own changeover taken from
    the suite first. Each campaign costs its suite changeover[k] slots
    (`add_changeover_slots`). The row reads production through `campaign_production`.
    """
    co = ix.changeovers
    keys = lm.add_set("CAMPAIGN_PST", co.campaigns, 3)
    lm.add_var("Produce", "CAMPAIGN_PST", "binary", upper=1.0)
    n = len(keys)
    lm.add_rows_from_arrays("production_requires_campaign", "CAMPAIGN_PST", "<=", np.zeros(n), [
        campaign_production(ix),
        ("Produce", np.arange(n), np.arange(n), -co.bound)])


def add_changeover_slots(lm: LinearModel, ix: WithChangeovers) -> None:
    """Each campaign costs its suite changeover[k] batch slots.

    ∀(k,t) ∈ CAPACITY_KT: `suite_capacity` gets + changeover[k]·Σ_{(p,s,t) ∈ CAMPAIGN_PST:
    suite(p,s,t)=k} Produce[p,s,t] on its left;
    ∀(p,s,t) ∈ RESERVED_PST ∩ CAMPAIGN_PST: `reserved_use_is_production` gets
    − changeover[k]·Produce[p,s,t] on its left (Σ_v ReservedUse[v,p,t] ≤ Σ_m
    slots[p,s]·Ship[p,s,m,t] + changeover[k]·Produce[p,s,t]): a member's reserved slots
    carry its changeover as well as its batches, so a suite whose capacity is all
    reserved can still make a program.

    Terms on rows their own builders made (`LinearModel.add_terms`), as elastic mode's
    early modules are: with no changeover anywhere there are none, and those builders
    are what they were.
    """
    co = ix.changeovers
    n = len(co.campaigns)
    if n == 0:
        return
    changeover = np.array([co.slots[k] for k in co.suite])
    capacity_row = {r: i for i, r in enumerate(lm.sets["CAPACITY_KT"].keys)}
    lm.add_terms("suite_capacity", [(
        "Produce", np.fromiter((capacity_row[(*k, c[2])] for k, c in zip(
            co.suite, co.campaigns, strict=True)), dtype=np.int64, count=n),
        np.arange(n), changeover)])
    reserved_row = {r: i for i, r in enumerate(lm.sets["RESERVED_PST"].keys)}
    both = [i for i, c in enumerate(co.campaigns) if c in reserved_row]
    if both:
        at = np.array(both, dtype=np.int64)
        lm.add_terms("reserved_use_is_production", [(
            "Produce", np.array([reserved_row[co.campaigns[i]] for i in both], dtype=np.int64),
            at, -changeover[at])])
