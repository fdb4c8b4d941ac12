"""Inventory and shelf life (issue 30, item 6): batches made ahead of their shipment.

A program whose shelf life L[p] (`programs.shelf_life_periods`, else its modality's) is 1
period or more is *storable*: a batch of it may be made up to L periods before it ships,
held in stock at the site where it was made at a holding cost per batch and period, so
that capacity built early covers a later launch or a shortage. Every other program (L = 0,
the default: autologous cell therapy always) ships in the period it is made, exactly as
before, and nothing here exists for it.

For storable programs production and shipment part: ``Make[p,s,c,t]`` (batches of scale c
made at s in t; clinical and commercial batches are different products, so c is part of
the key, and commercial launch stock may be made before `commercial_from`) and
``Stock[p,s,c,t]`` (held at s at the end of t) join ``Ship``:

- `stock_balance`: Stock[t] = Stock[t−1] + Make[t] − Σ_m Ship[p,s,m,t] − WriteOff[t];
- `shelf_life`: Stock[t] ≤ Σ_{τ = t−L+1..t} Make[τ] (first in, first out: what is in
  stock at the end of t was made in the last L periods, so every batch ships within L
  periods of being made; exact, see models/formulation.md);
- the suites' capacity counts slots·Make in the period of making (`add_suite_capacity`),
  production is paid when made (`make_cost`), transport and tariffs when shipped, holding
  on the stock (`hold_cost`), all in the objective and the operating margin;
- making needs what shipping needs: the site open (`make_requires_open_site`), the
  program assigned there (`make_requires_assignment`), reserved slots only for what is
  made (`reserved_use_is_making`), the transfer complete and the suite online (MAKE);
- `stock_target`: strategic stock, Σ Stock ≥ min_batches over the sites that can supply
  the market; stock held for a target that no shipment takes is written off
  (``WriteOff``, which exists only after a target).

`build_inventory` (called by `capacity.model.index_sets.build_index_sets`) computes the sets
and coefficients from the case into one `Inventory`; the builders below write the rows.
Index letters as in the formulation; c is the scale of a batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import Key, LinearModel, Term
from capacity.model.phases import BOTH, Phases

MakeKey = tuple[str, str, str, int]  # (program, site, scale, period)
TargetKey = tuple[str, str, int]  # (program, market, period)


@dataclass(frozen=True)
class Inventory:
    """The sets and coefficients of inventory and shelf life (models/formulation.md).

    Attributes:
        shelf_life: L[p] ≥ 1 of the storable programs (no other program is here).
        holding: h[p], MUSD per batch held from one period to the next (undiscounted).
        make: MAKE_PSCT, where a batch can be made: p can be made at s in t (its
            transfer complete, the suite of scale c online, a clinical batch before
            `commercial_from`) and a shipment of scale c from s, or a stock target,
            lies within L periods after t.
        stock: STOCK_PSCT, where a batch can be held at the end of t: made in the last L
            periods, and shipped later within its shelf life or held for a target in t.
        balance: STOCK_BALANCE_PSCT: MAKE, STOCK and the period after each STOCK.
        write_off: WRITE_OFF_PSCT: balance rows after a stock target of (p,s,c), whose
            stock the period before may be written off.
        shelf_rows: SHELF_LIFE_PSCT: STOCK keys with a MAKE period at least L before
            (elsewhere `stock_balance` implies the row).
        make_cost: df_t·variable[k]·slots[p,s] per batch made (production).
        make_bound: W, the most of Make a plan can have (the suite's most capacity ÷
            slots; no more than the shipments within its shelf life can take where no
            stock target reaches it).
        stock_bound: Σ W of the MAKE periods within L before t.
        hold_cost: df_t·h[p] per batch in stock at the end of t.
        made_when_shipped: for each storable shipment (position in SHIP), the production
            its batch would cost made in the period it ships (what `ship_cost` no longer
            holds: the greedy start prices a shipment with it).
        targets: STOCK_TARGET_PMT → min_batches (> 0).
        target_stock: each target's STOCK keys (its sites that can supply the market).
        target_scale: the scale a target counts: the program's in the next period.
        why_unservable: targets no plan can meet, and why.
        modality: the storable programs' modalities.
    """

    shelf_life: dict[str, int] = field(default_factory=dict)
    holding: dict[str, float] = field(default_factory=dict)
    make: list[MakeKey] = field(default_factory=list)
    stock: list[MakeKey] = field(default_factory=list)
    balance: list[MakeKey] = field(default_factory=list)
    write_off: list[MakeKey] = field(default_factory=list)
    shelf_rows: list[MakeKey] = field(default_factory=list)
    make_cost: dict[MakeKey, float] = field(default_factory=dict)
    make_bound: dict[MakeKey, float] = field(default_factory=dict)
    stock_bound: dict[MakeKey, float] = field(default_factory=dict)
    hold_cost: dict[MakeKey, float] = field(default_factory=dict)
    made_when_shipped: dict[int, float] = field(default_factory=dict)
    targets: dict[TargetKey, float] = field(default_factory=dict)
    target_stock: dict[TargetKey, list[MakeKey]] = field(default_factory=dict)
    target_scale: dict[TargetKey, str] = field(default_factory=dict)
    why_unservable: dict[TargetKey, str] = field(default_factory=dict)
    modality: dict[str, str] = field(default_factory=dict)  # of the storable programs

    def stores(self, program: str) -> bool:
        """Whether ``program`` may be made ahead of its shipments (L[p] ≥ 1)."""
        return program in self.shelf_life

    @property
    def capacity_rows(self) -> list[tuple[str, str, str, int]]:
        """The (suite, period) of every MAKE key: rows `suite_capacity` needs."""
        return sorted({(s, self.modality[p], c, t) for (p, s, c, t) in self.make})

    def unservable(self) -> list[str]:
        """The stock targets no plan can meet, in words (the case is infeasible)."""
        return [f"stock target of {p} in {m} at the end of {t}: {why}"
                for (p, m, t), why in sorted(self.why_unservable.items())]


def shelf_lives(case: Case) -> tuple[dict[str, int], dict[str, float]]:
    """L[p] and h[p] of every program: `programs.shelf_life_periods` and
    `programs.holding_cost_musd_per_batch_period` where given, else its modality's."""
    life = {p: int(n) for p, n in case.per_program("shelf_life_periods").items()}
    return life, case.per_program("holding_cost_musd_per_batch_period")


def build_inventory(case: Case, *, periods: list[int], discount: dict[int, float],
                    ship: list[tuple[str, str, str, int]], ship_suite: list[tuple[str, str, str]],
                    production: np.ndarray, committed: dict[TargetKey, float],
                    potential: dict[TargetKey, float], start: dict[str, int],
                    transfer: Callable[[str, str], int], scale_of: Callable[[str, int], str],
                    online: dict[tuple[str, str, str], int | None],
                    suite_most: dict[tuple[str, str, str], float],
                    slots: Callable[[str, str], float], site_region: dict[str, str],
                    site_operator: dict[str, str], barred: set[tuple[str, str]],
                    lanes: set[tuple[str, str, str]]) -> Inventory:
    """The `Inventory` of ``case`` (sets and coefficients; see the class).

    ``ship``, ``ship_suite`` and ``production`` (discounted production cost per batch)
    are SHIP and its data; ``transfer(p, s)`` is L[p,s] of the technology transfer,
    ``online`` each suite's first period position with capacity (None: never), and
    ``suite_most`` the most slots it can ever offer per period; ``lanes`` the (origin,
    market, modality) that have a lane (`capacity.model.lanes.lane_costs`).
    """
    life, hold = shelf_lives(case)
    stored = {p: n for p, n in life.items() if n >= 1}
    if not stored:
        return Inventory()
    position = {t: i for i, t in enumerate(periods)}
    last = len(periods) - 1
    modality = case.programs.set_index("program")["modality"].to_dict()
    commercial_from = {p: (position[int(v)] if pd.notna(v) else None) for p, v in
                       case.programs.set_index("program")["commercial_from"].items()}
    variable = dict(zip(zip(case.suites["site"], case.suites["modality"], case.suites["scale"],
                            strict=True), case.suites["variable_cost_musd_per_batch"],
                        strict=True))

    # D: the periods with a shipment of scale c from s, and what they can take at most
    shipped: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    wanted: dict[MakeKey, float] = defaultdict(float)
    made_when_shipped: dict[int, float] = {}
    for i, ((p, s, m, t), k) in enumerate(zip(ship, ship_suite, strict=True)):
        if p in stored:
            shipped[(p, s, k[2])].add(position[t])
            wanted[(p, s, k[2], position[t])] += committed.get((p, m, t), 0.0) \
                + potential.get((p, m, t), 0.0)
            made_when_shipped[i] = float(production[i])

    # G: the periods of stock targets, at the sites that can supply their market
    targets, target_scale = _targets(case, periods, stored, scale_of)
    sites_of: dict[tuple[str, str], list[str]] = defaultdict(list)  # (modality, scale)
    for s, q, c in variable:
        sites_of[(q, c)].append(s)
    eligible: dict[TargetKey, list[str]] = {}
    held: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    qualified = case.qualified_sites
    for (p, m, t), c in target_scale.items():
        eligible[(p, m, t)] = sorted(
            s for s in sites_of.get((modality[p], c), ())
            if (p not in qualified or s in qualified[p])
            and (site_region[s], m, modality[p]) in lanes
            and (site_operator[s], m) not in barred)
        for s in eligible[(p, m, t)]:
            held[(p, s, c)].add(position[t])

    make, stock, balance, write_off, shelf_rows = [], [], [], [], []
    make_bound: dict[MakeKey, float] = {}
    stock_bound: dict[MakeKey, float] = {}
    for (p, s, c) in sorted(set(shipped) | set(held)):
        n, k = stored[p], (s, modality[p], c)
        first = online.get(k)
        if first is None:
            continue
        ships, goals = sorted(shipped.get((p, s, c), ())), held.get((p, s, c), set())
        ready = max(first, position[start[p]] + transfer(p, s))
        cf = commercial_from[p]
        most = suite_most[k] / slots(p, s)

        def feeds(tau: int, ships: list[int] = ships, goals: set[int] = goals,
                  n: int = n) -> bool:
            return any(tau <= t <= tau + n for t in ships) \
                or any(tau <= g <= tau + n - 1 for g in goals)

        made = [tau for tau in range(ready, last + 1)
                if (c != "clinical" or cf is None or tau < cf) and feeds(tau)]
        if not made:
            continue
        bound = {tau: most if goals else min(most, sum(
            wanted[(p, s, c, t)] for t in ships if tau <= t <= tau + n)) for tau in made}
        kept: list[int] = []
        for t in range(made[0], last + 1):
            latest = max((tau for tau in made if tau <= t), default=None)
            if latest is None or latest <= t - n:
                continue
            if any(t < t2 <= latest + n for t2 in ships) or t in goals:
                kept.append(t)
        rows = sorted(set(made) | set(kept) | {t + 1 for t in kept if t < last})
        for tau in made:
            make.append((p, s, c, periods[tau]))
            make_bound[(p, s, c, periods[tau])] = bound[tau]
        for t in kept:
            stock.append((p, s, c, periods[t]))
            stock_bound[(p, s, c, periods[t])] = sum(bound[tau] for tau in made
                                                     if t - n < tau <= t)
            if made[0] <= t - n:
                shelf_rows.append((p, s, c, periods[t]))
        for t in rows:
            balance.append((p, s, c, periods[t]))
            if t - 1 in kept and goals and min(goals) < t:
                write_off.append((p, s, c, periods[t]))

    stock_set = set(stock)
    target_stock = {g: [(g[0], s, target_scale[g], g[2]) for s in eligible[g]
                        if (g[0], s, target_scale[g], g[2]) in stock_set]
                    for g in targets}
    why = {g: _why_no_stock(case, g, target_scale[g], eligible[g], stored[g[0]], periods)
           for g, keys in target_stock.items() if not keys}
    df = {t: float(discount[t]) for t in periods}
    return Inventory(
        shelf_life=stored, holding={p: hold[p] for p in stored},
        make=sorted(make), stock=sorted(stock), balance=sorted(balance),
        write_off=sorted(write_off), shelf_rows=sorted(shelf_rows),
        make_cost={key: df[key[3]] * float(variable[(key[1], modality[key[0]], key[2])])
                   * slots(key[0], key[1]) for key in make},
        make_bound=make_bound, stock_bound=stock_bound,
        hold_cost={key: df[key[3]] * hold[key[0]] for key in stock},
        made_when_shipped=made_when_shipped, targets=targets, target_stock=target_stock,
        target_scale={g: target_scale[g] for g in targets}, why_unservable=why,
        modality={p: modality[p] for p in stored})


def _targets(case: Case, periods: list[int], stored: dict[str, int],
             scale_of: Callable[[str, int], str],
             ) -> tuple[dict[TargetKey, float], dict[TargetKey, str]]:
    """The stock targets (> 0 batches) of storable programs and the scale each counts
    (the program's in the next period; in the last period, its own)."""
    targets, scale = {}, {}
    after = {t: periods[min(i + 1, len(periods) - 1)] for i, t in enumerate(periods)}
    for p, m, t, b in case.stock_targets[["program", "market", "period",
                                          "min_batches"]].itertuples(index=False):
        if b > 0 and p in stored:
            targets[(p, m, int(t))] = float(b)
            scale[(p, m, int(t))] = scale_of(p, after[int(t)])
    return targets, scale


def _why_no_stock(case: Case, target: TargetKey, scale: str, sites: list[str], n: int,
                  periods: list[int]) -> str:
    """Why no site can hold a target's stock (the words after "stock target of ...:")."""
    p, m, t = target
    modality = case.programs.set_index("program").at[p, "modality"]
    b = float(case.stock_targets.set_index(["program", "market", "period"]).at[
        (p, m, t), "min_batches"])
    after = periods[min(periods.index(t) + 1, len(periods) - 1)]
    if not sites:
        return (f"{b:g} {scale} batches ({p}'s scale in {after}), but no site that can "
                f"supply {m} (lanes, exclusion rules) has a {scale}-scale {modality} suite")
    return (f"{b:g} {scale} batches, but {p} cannot be made at any site that can supply "
            f"{m} ({', '.join(sites)}) within its shelf life of {n} "
            f"period{'' if n == 1 else 's'} up to {t} (earliest start, technology "
            "transfers and lead times)")


# --- builders ------------------------------------------------------------------------------

class _Reserved(Protocol):
    @property
    def use(self) -> list[tuple[str, str, int]]: ...
    @property
    def suite(self) -> dict[str, tuple[str, str, str]]: ...


class IndexSets(Protocol):
    """What the builders below read of `capacity.model.index_sets.IndexSets` (which
    imports this module for `Inventory`, so it is named here by its shape)."""

    @property
    def inventory(self) -> Inventory: ...
    @property
    def periods(self) -> list[int]: ...
    @property
    def position(self) -> dict[int, int]: ...
    @property
    def ship(self) -> list[tuple[str, str, str, int]]: ...
    @property
    def ship_suite(self) -> list[tuple[str, str, str]]: ...
    @property
    def open(self) -> list[tuple[str, int]]: ...
    @property
    def assign(self) -> list[tuple[str, str, str]]: ...
    @property
    def phases(self) -> Phases: ...
    @property
    def site_status(self) -> dict[str, str]: ...
    @property
    def site_lead(self) -> dict[str, int]: ...
    @property
    def reservations(self) -> _Reserved: ...
    def slots(self, p: str, s: str) -> float: ...


def _previous(ix: IndexSets, key: MakeKey) -> MakeKey | None:
    i = ix.position[key[3]]
    return None if i == 0 else (*key[:3], ix.periods[i - 1])


def _storable_ships(ix: IndexSets) -> dict[MakeKey, list[int]]:
    """The shipments of storable programs (positions in SHIP) by their (p,s,c,t)."""
    out: dict[MakeKey, list[int]] = defaultdict(list)
    for i in sorted(ix.inventory.made_when_shipped):
        p, s, _m, t = ix.ship[i]
        out[(p, s, ix.ship_suite[i][2], t)].append(i)
    return out


def add_stock_balance(lm: LinearModel, ix: IndexSets) -> None:
    """Stock balance of a storable program at a site, by scale: what is made and not
    shipped is held (or, after a stock target, written off).

    Introduces Make[p,s,c,t] ≥ 0 (≤ W) over MAKE_PSCT, Stock[p,s,c,t] ≥ 0 over
    STOCK_PSCT and WriteOff[p,s,c,t] ≥ 0 over WRITE_OFF_PSCT.

    ∀(p,s,c,t) ∈ STOCK_BALANCE_PSCT:
        Stock[p,s,c,t] − Stock[p,s,c,t−1] − Make[p,s,c,t]
            + Σ_{(p,s,m,t) ∈ SHIP, scale(p,t)=c} Ship[p,s,m,t] + WriteOff[p,s,c,t] = 0
    (t−1 the period before; a term is absent where its key is not in its set: no stock
    before the first period, none left after the last unless a target holds it).
    """
    inv = ix.inventory
    lm.add_set("MAKE_PSCT", inv.make, 4)
    lm.add_set("STOCK_PSCT", inv.stock, 4)
    lm.add_set("WRITE_OFF_PSCT", inv.write_off, 4)
    lm.add_var("Make", "MAKE_PSCT", "continuous", upper=[inv.make_bound[k] for k in inv.make])
    lm.add_var("Stock", "STOCK_PSCT", "continuous",
               upper=[inv.stock_bound[k] for k in inv.stock])
    lm.add_var("WriteOff", "WRITE_OFF_PSCT", "continuous")
    lm.add_set("STOCK_BALANCE_PSCT", inv.balance, 4)
    made, held, off = set(inv.make), set(inv.stock), set(inv.write_off)
    ships = _storable_ships(ix)

    def rule(row: Key) -> tuple[list[Term], float]:
        before = _previous(ix, row)
        return [("Stock", [row] if row in held else [], 1.0),
                ("Stock", [before] if before in held else [], -1.0),
                ("Make", [row] if row in made else [], -1.0),
                ("Ship", np.array(ships.get(row, ()), dtype=np.int64), 1.0),
                ("WriteOff", [row] if row in off else [], 1.0)], 0.0

    lm.add_rows("stock_balance", "STOCK_BALANCE_PSCT", "==", rule)


def add_shelf_life(lm: LinearModel, ix: IndexSets) -> None:
    """Shelf life: what is in stock at the end of t was made in the last L[p] periods.

    ∀(p,s,c,t) ∈ SHELF_LIFE_PSCT:
        Stock[p,s,c,t] ≤ Σ_{(p,s,c,τ) ∈ MAKE: pos(t) − L[p] < pos(τ) ≤ pos(t)} Make[p,s,c,τ]

    Shipping (and writing off) first in, first out, the batches left at the end of t are
    the last made; the row says none of them was made L or more periods before t, i.e.
    every batch leaves within L periods of being made. Batches of one (p,s,c) are alike,
    so any plan whose batches each ship within L periods can be shipped first in, first
    out as well: the row is exact (models/formulation.md). Rows only where some MAKE
    period lies L or more before t (elsewhere `stock_balance` implies it).
    """
    inv, pos = ix.inventory, ix.position
    makes: dict[tuple[str, str, str], list[MakeKey]] = defaultdict(list)
    for key in inv.make:
        makes[key[:3]].append(key)
    lm.add_set("SHELF_LIFE_PSCT", inv.shelf_rows, 4)
    lm.add_rows("shelf_life", "SHELF_LIFE_PSCT", "<=", lambda row: (
        [("Stock", [row], 1.0),
         ("Make", [k for k in makes[row[:3]]
                   if pos[row[3]] - inv.shelf_life[row[0]] < pos[k[3]] <= pos[row[3]]], -1.0)],
        0.0))


def add_make_requires_open_site(lm: LinearModel, ix: IndexSets) -> None:
    """Nothing is made at a candidate site before it is open (disaggregated linking).

    ∀(p,s,c,t) ∈ MAKE, s candidate:
        Make[p,s,c,t] ≤ W[p,s,c,t]·Σ_{t0: pos(t0)+lead[s] ≤ pos(t)} Open[s,t0]

    The x ≤ y inequality of `ship_requires_open_site` for the period of making: a
    storable batch shipped in t may be made before t.
    """
    inv, pos = ix.inventory, ix.position
    opens: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for o in ix.open:
        opens[o[0]].append(o)
    lm.add_set("MAKE_OPEN_PSCT", [k for k in inv.make if ix.site_status[k[1]] == "candidate"],
               4)
    lm.add_rows("make_requires_open_site", "MAKE_OPEN_PSCT", "<=", lambda k: (
        [("Make", [k], 1.0),
         ("Open", [o for o in opens.get(k[1], ()) if pos[o[1]] + ix.site_lead[k[1]]
                   <= pos[k[3]]], -inv.make_bound[k])], 0.0))


def add_make_requires_assignment(lm: LinearModel, ix: IndexSets) -> None:
    """A storable program is made only at sites it has been transferred to.

    ∀(p,s,c,t) ∈ MAKE with (p,s,c') ∈ ASSIGN:  Make[p,s,c,t] ≤ W[p,s,c,t]·Assign[p,s,c']
    (c' = c, the phase the batch is made for, or `both` for a program whose phases move
    as one: `capacity.model.phases`)

    With every stock shipped this follows from `ship_requires_assignment` for integer
    plans; stock held for a target needs it, and it is the x ≤ y inequality of the
    period of making for the LP relaxation.
    """
    inv = ix.inventory
    assigned = set(ix.assign)

    def assignment(k: MakeKey) -> tuple[str, str, str]:
        p, s, c, _t = k
        return (p, s, BOTH if p in ix.phases.one_site else c)

    lm.add_set("MAKE_ASSIGN_PSCT", [k for k in inv.make if assignment(k) in assigned], 4)
    lm.add_rows("make_requires_assignment", "MAKE_ASSIGN_PSCT", "<=", lambda k: (
        [("Make", [k], 1.0), ("Assign", [assignment(k)], -inv.make_bound[k])], 0.0))


def add_stock_target(lm: LinearModel, ix: IndexSets) -> None:
    """Strategic stock: at least the target held at the end of the period at the sites
    that can supply the market.

    ∀(p,m,t) ∈ STOCK_TARGET_PMT:
        Σ_{s: a lane to m, operator not barred from m} Stock[p,s,c,t] ≥ min_batches[p,m,t]
    (c the scale p is supplied at in the next period). A target no site can hold makes
    the case infeasible before any solve (`unservable`). Elastic: relaxed by
    `add_target_shortfall`.
    """
    inv = ix.inventory
    lm.add_set("STOCK_TARGET_PMT", sorted(inv.targets), 3)
    lm.add_rows("stock_target", "STOCK_TARGET_PMT", ">=", lambda g: (
        [("Stock", inv.target_stock[g], 1.0)], inv.targets[g]))


def add_target_shortfall(lm: LinearModel, ix: IndexSets) -> None:
    """Elastic mode: stock short of a target.

    ∀(p,m,t) ∈ STOCK_TARGET_PMT:  Σ Stock + TargetShortfall[p,m,t] ≥ min_batches[p,m,t]
    """
    rows = lm.constraints["stock_target"]
    n = len(lm.add_var("TargetShortfall", rows.set_name, "continuous").keys)
    lm.add_terms("stock_target", [("TargetShortfall", np.arange(n), np.arange(n), 1.0)])


def add_reserved_use_is_making(lm: LinearModel, ix: IndexSets) -> None:
    """A storable program uses reserved slots only for what it makes at that suite.

    ∀(p,s,c,t) ∈ RESERVED_MAKE_PSCT:
        Σ_{v at suite (s, modality(p), c): (v,p,t) ∈ RESERVE_USE_VPT} ReservedUse[v,p,t]
            ≤ slots[p,s]·Make[p,s,c,t]
    (`reserved_use_is_production` for the programs that ship when they make).
    """
    res, inv = ix.reservations, ix.inventory
    uses: dict[MakeKey, list[tuple[str, str, int]]] = defaultdict(list)
    for v, p, t in res.use:
        if inv.stores(p):
            s, _q, c = res.suite[v]
            uses[(p, s, c, t)].append((v, p, t))
    lm.add_set("RESERVED_MAKE_PSCT", sorted(uses), 4)
    lm.add_rows("reserved_use_is_making", "RESERVED_MAKE_PSCT", "<=", lambda k: (
        [("ReservedUse", uses[k], 1.0), ("Make", [k], -ix.slots(k[0], k[1]))], 0.0))

