"""Continuity of supply: a launched product is not dropped (models/formulation.md,
"Continuity of supply").

Once a program's commercial supply to a market has started, at least share[p] of its
demand there, committed + potential, is served in every later period with demand:
``programs.continuity_share``, else the case's ``settings.continuity_share`` (default 0:
off, the model as it was). The launch is a monotone binary per (p,m,t), ``Launch``:
"p's commercial supply to m has started by t".

- `Continuity` (``IndexSets.continuity``) holds what the case says: each program's share
  and, per (p,m) of a program with a share, the periods from the first in which its
  commercial supply to m is possible that have demand.
- `launch_sets` derives the sets the rows need from it and the index sets' demand (so
  the stochastic model's scenarios, `capacity.model.index_sets.with_demand`, and elastic
  mode's shortfalls are followed).
- The builders, each with its math: `add_supply_requires_launch` (it introduces
  ``Launch``), `add_launch_monotone`, `add_continuity_of_supply`, and elastic mode's
  `add_continuity_shortfall`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import Key, LinearModel, Term

DemandKey = tuple[str, str, int]  # (program, market, period)


@dataclass(frozen=True)
class Continuity:
    """Continuity of supply as the case states it.

    Attributes:
        share: every program's continuity share (``programs.continuity_share``, else
            ``settings.continuity_share``; 0: off).
        commercial_from: each program's first commercial period (programs without one
            are never launched commercially).
        periods: for each (p,m) of a program with a share > 0, the periods, ascending,
            from the first in which a shipment of p to m at commercial scale exists
            (SHIP) that have committed or potential demand (before it, supply is
            impossible, so there is nothing to launch).
    """

    share: dict[str, float] = field(default_factory=dict)
    commercial_from: dict[str, int] = field(default_factory=dict)
    periods: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def program_continuity_share(case: Case) -> dict[str, float]:
    """Each program's continuity share: its own, else the case's setting."""
    default = float(case.setting("continuity_share"))
    return {p: (default if pd.isna(v) else float(v))
            for p, v in zip(case.programs["program"], case.programs["continuity_share"],
                            strict=True)}


def build_continuity(case: Case, shippable: Iterable[DemandKey],
                     demand_keys: Iterable[DemandKey]) -> Continuity:
    """`Continuity` of ``case``: ``shippable`` are the (p,m,t) some SHIP tuple serves,
    ``demand_keys`` those with committed or potential demand (> 0)."""
    share = program_continuity_share(case)
    commercial_from = {p: int(v) for p, v in zip(
        case.programs["program"], case.programs["commercial_from"], strict=True)
        if pd.notna(v)}
    if not any(v > 0 for v in share.values()):  # off: nothing to enumerate
        return Continuity(share, commercial_from)

    def kept(p: str, t: int) -> bool:
        return share[p] > 0 and p in commercial_from and t >= commercial_from[p]

    first: dict[tuple[str, str], int] = {}
    for (p, m, t) in shippable:
        if kept(p, t) and ((p, m) not in first or t < first[(p, m)]):
            first[(p, m)] = t
    periods: dict[tuple[str, str], list[int]] = {}
    for (p, m, t) in sorted(d for d in demand_keys if d[:2] in first):
        if t >= first[(p, m)]:
            periods.setdefault((p, m), []).append(t)
    return Continuity(share, commercial_from, periods)


class IndexSets(Protocol):
    """What continuity reads of `capacity.model.index_sets.IndexSets` (a protocol:
    index_sets builds `Continuity`, so this module does not import it back)."""

    continuity: Continuity
    committed: dict[DemandKey, float]
    potential: dict[DemandKey, float]
    serve: list[DemandKey]
    shortfall_cost: dict[DemandKey, float]

    @property
    def may_go_short(self) -> list[DemandKey]:
        """SHORTFALL_PMT: the commitments that may go unmet."""


@dataclass(frozen=True)
class LaunchSets:
    """The sets of the continuity rows for one build (`launch_sets`).

    Attributes:
        launch: LAUNCH_PMT, the (p,m,t) with a ``Launch`` column.
        link: SUPPLY_LAUNCH_PMT, the Launch keys whose supply is linked to them (every
            one with a shipment possible).
        monotone: LAUNCH_MONOTONE_PMT, the Launch keys after the first of their (p,m).
        rows: CONTINUITY_PMT, the (p,m,t) whose continuity row can bind.
        before: each monotone and continuity key's Launch key before it (the previous
            period of its (p,m) with demand); absent for a continuity row whose launch
            before t is certain (a commitment forces it: the constant 1).
        forced_from: per (p,m), the first period of a commitment that must be met: p is
            launched in m by then in every plan, so ``Launch`` is 1 from it on and is
            not a column there.
    """

    launch: list[DemandKey] = field(default_factory=list)
    link: list[DemandKey] = field(default_factory=list)
    monotone: list[DemandKey] = field(default_factory=list)
    rows: list[DemandKey] = field(default_factory=list)
    before: dict[DemandKey, DemandKey] = field(default_factory=dict)
    forced_from: dict[tuple[str, str], int] = field(default_factory=dict)


# A continuity row binds where share·D exceeds the committed batches by more than this.
_BINDS = 1e-9


def launch_sets(ix: IndexSets) -> LaunchSets:
    """The continuity sets of ``ix`` (its demand, its shortfalls):

    - T[p,m]: the `Continuity` periods of (p,m) with D = committed + potential > 0 in ``ix``;
    - CONTINUITY_PMT: t ∈ T[p,m] after its first, where share·D[t] > committed[t] (else
      the committed batches, always served, meet it) or the commitment may go short;
    - forced_from[p,m]: the first t ∈ T[p,m] with a commitment that must be met (not
      priced as a shortfall: `IndexSets.shortfall_cost`);
    - LAUNCH_PMT: t ∈ T[p,m] before the last continuity row of (p,m) (a later Launch is
      read by no row) and before forced_from[p,m] (from there it is the constant 1);
    - SUPPLY_LAUNCH_PMT: the Launch keys where p can be supplied to m (Serve, or a
      commitment that may go short);
    - LAUNCH_MONOTONE_PMT: the Launch keys after the first of their (p,m).
    """
    c = ix.continuity
    out = LaunchSets()
    if not c.periods:
        return out
    short = set(ix.may_go_short)
    serve = set(ix.serve)
    for (p, m), periods in sorted(c.periods.items()):
        share = c.share[p]
        demand = {t: ix.committed.get((p, m, t), 0.0) + ix.potential.get((p, m, t), 0.0)
                  for t in periods}
        times = [t for t in periods if demand[t] > 0]
        rows = [t for t in times[1:]
                if share * demand[t] > ix.committed.get((p, m, t), 0.0) + _BINDS
                or (p, m, t) in short]
        if not rows:
            continue
        forced = next((t for t in times if ix.committed.get((p, m, t), 0.0) > 0
                       and (p, m, t) not in ix.shortfall_cost), None)
        if forced is not None:
            out.forced_from[(p, m)] = forced
        last = rows[-1]
        launch = [t for t in times if t < last and (forced is None or t < forced)]
        out.launch.extend((p, m, t) for t in launch)
        out.link.extend((p, m, t) for t in launch if (p, m, t) in serve or (p, m, t) in short)
        out.monotone.extend((p, m, t) for t in launch[1:])
        previous = dict(zip(times[1:], times[:-1], strict=True))
        for t, t0 in zip(launch[1:], launch[:-1], strict=True):
            out.before[(p, m, t)] = (p, m, t0)
        out.rows.extend((p, m, t) for t in rows)
        for t in rows:
            if forced is None or previous[t] < forced:
                out.before[(p, m, t)] = (p, m, previous[t])
    return out


def _demand(ix: IndexSets, d: DemandKey) -> float:
    return ix.committed.get(d, 0.0) + ix.potential.get(d, 0.0)


def add_supply_requires_launch(lm: LinearModel, ix: IndexSets) -> None:
    """Supply of a program to a market in a period means it is launched there.

    ∀(p,m,t) ∈ SUPPLY_LAUNCH_PMT:
        Serve[p,m,t] − Shortfall[p,m,t] − D[p,m,t]·Launch[p,m,t] ≤ −committed[p,m,t]
    i.e. Σ_s Ship[p,s,m,t] = committed + Serve − Shortfall ≤ D·Launch (`demand_balance`),
    D = committed + potential; Launch ∈ {0,1} over LAUNCH_PMT (`launch_sets`). D is the
    most p can be supplied to m in t, the smallest valid coefficient: the row with
    Launch ∈ [0,1] is the convex hull of {supply ∈ [0, D], Launch ∈ {0,1}, supply ≤
    D·Launch}. Written on Serve (and Shortfall, where a commitment may go short) rather
    than on the shipments: the same row through `demand_balance`, with two entries.
    """
    sets = launch_sets(ix)
    lm.add_set("LAUNCH_PMT", sets.launch, 3)
    lm.add_var("Launch", "LAUNCH_PMT", "binary", upper=1.0)
    lm.add_set("SUPPLY_LAUNCH_PMT", sets.link, 3)
    serve, short = set(ix.serve), set(ix.may_go_short)
    lm.add_rows("supply_requires_launch", "SUPPLY_LAUNCH_PMT", "<=", lambda d: (
        [*_served(d, serve, short), ("Launch", [d], -_demand(ix, d))],
        -ix.committed.get(d, 0.0)))


def _served(d: Key, serve: set[DemandKey], short: set[DemandKey]) -> list[Term]:
    """Serve[d] − Shortfall[d] (each where it exists): what is served in d beyond the
    commitment."""
    return [("Serve", [d] if d in serve else [], 1.0),
            ("Shortfall", [d] if d in short else [], -1.0)]


def add_launch_monotone(lm: LinearModel, ix: IndexSets) -> None:
    """A launch is kept: launched by t' means launched by every later t.

    ∀(p,m,t) ∈ LAUNCH_MONOTONE_PMT:  Launch[p,m,t'] − Launch[p,m,t] ≤ 0, t' the period
    before t in LAUNCH_PMT of (p,m).

    In an integer plan it follows from the other rows where each period's continuity
    row asks for supply (share·D > 0 forces supply, which forces Launch); in the LP
    relaxation it is stronger (Launch[t] ≥ Launch[t'] instead of ≥ share·Launch[t']),
    and it makes Launch exactly "launched by t". An interval matrix: no fractional
    vertex of its own. The first-launch form (LaunchAt[τ] ≥ 0, Σ_τ LaunchAt ≤ 1,
    Launch[t] = Σ_{τ ≤ t} LaunchAt[τ]) is the same polytope under a unimodular change
    of variables, with every earlier LaunchAt in each row: as tight, larger.
    """
    sets = launch_sets(ix)
    lm.add_set("LAUNCH_MONOTONE_PMT", sets.monotone, 3)
    lm.add_rows("launch_monotone", "LAUNCH_MONOTONE_PMT", "<=", lambda d: (
        [("Launch", [sets.before[d]], 1.0), ("Launch", [d], -1.0)], 0.0))


def add_continuity_of_supply(lm: LinearModel, ix: IndexSets) -> None:
    """A launched product goes on being supplied: at least share[p] of its demand.

    ∀(p,m,t) ∈ CONTINUITY_PMT, t' the period of (p,m) with demand before t:
        Serve[p,m,t] − Shortfall[p,m,t] − share[p]·D[p,m,t]·Launch[p,m,t']
            ≥ −committed[p,m,t]
    i.e. served = committed + Serve − Shortfall ≥ share·D·Launch[t'] (launched before
    t); where a commitment forces the launch by t' (forced_from ≤ t'), Launch[t'] is the
    constant 1: Serve − Shortfall ≥ share·D − committed. D = committed + potential.
    The row with Launch ∈ [0,1] is the convex hull of its own set; what the relaxation
    gains is a fractional launch: supplying x < D[t'] at launch needs Launch[t'] ≥
    x/D[t'] only, and so only share·D[t]·x/D[t'] later (`formulation.md`).
    Elastic: relaxed by `add_continuity_shortfall`.
    """
    sets = launch_sets(ix)
    share = ix.continuity.share
    serve, short = set(ix.serve), set(ix.may_go_short)
    lm.add_set("CONTINUITY_PMT", sets.rows, 3)

    def rule(d: Key) -> tuple[list[Term], float]:
        need = share[d[0]] * _demand(ix, d)
        committed = ix.committed.get(d, 0.0)
        if d in sets.before:
            return [*_served(d, serve, short), ("Launch", [sets.before[d]], -need)], -committed
        return _served(d, serve, short), need - committed

    lm.add_rows("continuity_of_supply", "CONTINUITY_PMT", ">=", rule)


def add_continuity_shortfall(lm: LinearModel, ix: IndexSets) -> None:
    """A launched product's supply short of its continuity share.

    ∀(p,m,t) ∈ CONTINUITY_PMT:  served − share·D·Launch + ContinuityShortfall[p,m,t]
        ≥ −committed
    """
    rows = lm.constraints["continuity_of_supply"]
    n = len(lm.add_var("ContinuityShortfall", rows.set_name, "continuous").keys)
    lm.add_terms("continuity_of_supply", [("ContinuityShortfall", np.arange(n),
                                           np.arange(n), 1.0)])
