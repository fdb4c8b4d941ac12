"""Sparse index sets and coefficients: every tuple that can be non-zero, nothing else.

`build_index_sets(case)` turns a validated `Case` into explicit, sorted tuple lists (the
sets of the formulation in ``models/formulation.md``) and the cost coefficients on them,
already discounted. The model builders only read from here; they never filter products
of sets.

Index letters (reserved, as in the formulation): p program, s site, k suite
(site, modality, scale), m market, r region, o operator, t period, f fund, u rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.approvals import Approvals, approval_sets, why_unapproved, with_shipments
from capacity.model.changeovers import Changeovers, changeover_sets
from capacity.model.continuity import Continuity, build_continuity
from capacity.model.inventory import Inventory, build_inventory, shelf_lives
from capacity.model.outages import Outages, case_outages, with_outages
from capacity.model.phases import (
    Phases,
    one_site_conflicts,
    program_phases,
    with_scale_ups,
    with_transfer_starts,
)

Suite = tuple[str, str, str]  # (site, modality, scale)
ShipKey = tuple[str, str, str, int]  # (program, site, market, period)
DemandKey = tuple[str, str, int]  # (program, market, period)
K = TypeVar("K")


@dataclass(frozen=True)
class ShareRule:
    """An active share rule expanded to the rows it creates.

    ``subjects`` are the operators (``max_operator_share``) or regions
    (``max_country_share``, ``min_domestic_share``: the market itself) whose supply the
    rule bounds.
    """

    rule: str
    kind: str
    market: str
    share: float
    subjects: tuple[str, ...]
    basis: str = "supply"  # min_domestic_share: share of the supply or of the demand


@dataclass(frozen=True)
class ServiceRule:
    """An active `min_service_level` rule on market m: in each period t, the batches of
    ``programs`` served in m (committed and potential) are at least ``level`` times their
    demand there, committed + potential. ``programs``: those of the rule's modality
    (``subject``), or every program when it names none.
    """

    rule: str
    market: str
    level: float
    programs: tuple[str, ...]


@dataclass(frozen=True)
class TimeToMarketRule:
    """An active `max_time_to_market` rule on market m: the programs' mean years of m's
    potential demand left unserved, constant − Σ weight·Serve, at most ``limit`` years.

    With P_m the programs with potential demand in m and D = committed + potential of
    (p,m,t): weight[p,m,t] = years_t / (|P_m|·D) on SERVE keys; ``constant`` = Σ over
    every potential (p,m,t) of years_t·potential / (|P_m|·D) (demand never served counts
    in full).
    """

    rule: str
    market: str
    limit: float
    weight: dict[DemandKey, float]
    constant: float


@dataclass
class Reservations:
    """Pooled reservation contracts (table ``reservations``) expanded to their sets.

    ``reserve`` holds (v,t) where reservation v can be used in t (some member program
    can produce at its suite), ``use`` the (v,p,t) that may use it, ``use_rows`` the
    (p,s,t) whose reserved use is bounded by their production.
    """

    reserve: list[tuple[str, int]] = field(default_factory=list)  # RESERVE_VT
    use: list[tuple[str, str, int]] = field(default_factory=list)  # RESERVE_USE_VPT
    use_rows: list[tuple[str, str, int]] = field(default_factory=list)  # RESERVED_PST
    suite: dict[str, Suite] = field(default_factory=dict)
    block: dict[str, float] = field(default_factory=dict)  # batches per block
    max_blocks: dict[str, int] = field(default_factory=dict)
    min_take: dict[str, float] = field(default_factory=dict)
    fee: dict[str, float] = field(default_factory=dict)  # MUSD per reserved batch, undiscounted
    cost: dict[tuple[str, int], float] = field(default_factory=dict)  # df_t·fee·block per block


@dataclass
class Reinvestment:
    """The bank's reinvestment loop: funds whose budget in t grows by a share of the
    operating margin of t−1 (``funds.reinvest_share``), and the margin's coefficients
    (undiscounted MUSD of the period)."""

    reinvest: list[tuple[str, int]] = field(default_factory=list)  # REINVEST_FT
    margin_periods: list[int] = field(default_factory=list)  # MARGIN_T: margins that feed one
    share: dict[str, float] = field(default_factory=dict)
    revenue_fixed: dict[int, float] = field(default_factory=dict)  # committed × price − fixed
    ship_cost: dict[ShipKey, float] = field(default_factory=dict)  # per batch, undiscounted
    serve_value: dict[DemandKey, float] = field(default_factory=dict)  # per batch
    open_fixed: dict[tuple[str, int, int], float] = field(default_factory=dict)  # (s,t0,t)
    lower: dict[int, float] = field(default_factory=dict)  # margin bounds
    upper: dict[int, float] = field(default_factory=dict)
    # storable programs: production per batch made, holding per batch in stock
    make_cost: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    hold_cost: dict[tuple[str, str, str, int], float] = field(default_factory=dict)


@dataclass
class IndexSets:
    """Sparse sets of the formulation with their coefficients (see models/formulation.md).

    Every list is sorted, so two builds of the same case give the same model.
    """

    periods: list[int]
    position: dict[int, int]
    # decisions
    build: list[tuple[str, str, str, int]]  # BUILD_KT: (site, modality, scale, period)
    open: list[tuple[str, int]]  # OPEN_ST
    assign: list[tuple[str, str, str]]  # ASSIGN (p,s,c): where assignment costs or is limited
    ship: list[ShipKey]  # SHIP_PSMT
    serve: list[DemandKey]  # SERVE_PMT: potential demand that can be served
    finance: list[tuple[str, str, str, str, int]]  # FINANCE_FKT: (fund, *suite, period)
    finance_opening: list[tuple[str, str, int]]  # FINANCE_OPENING: (fund, site, period)
    # rows
    demand_rows: list[DemandKey]  # DEMAND_PMT
    capacity_rows: list[tuple[str, str, str, int]]  # CAPACITY_KT
    production_rows: list[tuple[str, str, int]]  # PRODUCTION_PST
    fund_budget_rows: list[tuple[str, int]]
    share_rules: list[ShareRule]
    time_to_market_rules: list[TimeToMarketRule]
    service_rules: list[ServiceRule]
    # coefficients (discounted, MUSD) and data the rows need
    # per shipment, aligned with ``ship`` (arrays: one entry per SHIP key, no dictionary)
    ship_suite: list[Suite]  # the suite each shipment is made in
    ship_cost: np.ndarray  # production + transport + tariffs, discounted MUSD per batch
    ship_cost_parts: dict[str, np.ndarray]
    ship_bound: np.ndarray  # V[p,s,m,t] of ship_requires_open_site and ship_requires_assignment
    ship_slots: np.ndarray  # slots[p,s] of each shipment
    # Suite slots one delivered batch uses: slots_per_batch ÷ success rate, where a yields
    # row gives either (`slots`); elsewhere the program's modality's 1 ÷ success rate
    # (`program_slots`, 1 where the modality succeeds every time).
    slots_per_batch: dict[tuple[str, str], float]
    program_slots: dict[str, float]
    serve_value: dict[DemandKey, float]
    potential: dict[DemandKey, float]
    committed: dict[DemandKey, float]
    build_cost: dict[tuple[str, str, str, int], float]
    open_cost: dict[tuple[str, int], float]
    open_cost_parts: dict[str, dict[tuple[str, int], float]]
    assign_cost: dict[tuple[str, str, str], float]
    finance_saving: dict[tuple[str, str, str, str, int], float]
    finance_opening_saving: dict[tuple[str, str, int], float]
    existing_fixed_cost: float
    production_bound: np.ndarray  # U[p,s,t], aligned with ``production_rows``
    production_assign: np.ndarray  # each production row's Assign column (position in assign)
    ship_production_row: np.ndarray  # each SHIP key's position in production_rows, or −1
    ship_assign: np.ndarray  # each SHIP key's Assign column (position in ``assign``), or −1
    suite_existing: dict[Suite, float]
    suite_module: dict[Suite, float]
    suite_max_modules: dict[Suite, int]
    suite_lead: dict[Suite, int]
    suite_capex: dict[Suite, float]
    site_lead: dict[str, int]
    site_status: dict[str, str]
    site_operator: dict[str, str]
    site_region: dict[str, str]
    program_max_sites: dict[str, int]
    fund_max_share: dict[str, float]
    fund_budget: dict[tuple[str, int], float]
    # opening cost (undiscounted MUSD) of the candidate sites some fund may pay to open:
    # the financing rows' coefficient (only theirs, so that a case differing elsewhere in
    # opening costs keeps its constraints: `capacity.engine.resolver`)
    financed_opening: dict[str, float]
    reservations: Reservations
    reinvestment: Reinvestment
    unservable: list[str] = field(default_factory=list)
    # why each committed (p,m,t) in ``unservable`` can never be served (the words after
    # "committed offtake of ... :"), for `capacity explain`
    why_unservable: dict[DemandKey, str] = field(default_factory=dict)
    # start(p): the program's earliest start (else the first period), when its technology
    # transfers start and their cost is discounted (a commercial phase assigned apart
    # starts just in time: `Phases.transfer_start`)
    program_start: dict[str, int] = field(default_factory=dict)
    # L[p,s] > 0: periods the transfer of p to s takes (absent: 0), over SHIP's (p,s)
    transfer_periods: dict[tuple[str, str], int] = field(default_factory=dict)
    # the programs' phases, when each transfer starts, the scale-ups in place
    # (`capacity.model.phases`)
    phases: Phases = field(default_factory=Phases)
    elastic: bool = False
    barred_ship: list[ShipKey] = field(default_factory=list)  # elastic only
    build_upper: dict[Suite, int] = field(default_factory=dict)  # Build's upper bound
    # Committed offtakes allowed to go unmet, at this discounted cost per batch (set by the
    # stochastic model's unmet penalty); empty: every commitment must be met.
    shortfall_cost: dict[DemandKey, float] = field(default_factory=dict)
    # site approvals per market (`capacity.model.approvals`): none where no market
    # requires approval
    approvals: Approvals = field(default_factory=Approvals)
    # Inventory and shelf life: storable programs' making, stock and stock targets
    # (`capacity.model.inventory`; empty where every shelf life is 0)
    inventory: Inventory = field(default_factory=Inventory)
    # continuity of supply: each program's share and the periods a launch can matter in
    # (`capacity.model.continuity`; no periods where every share is 0)
    continuity: Continuity = field(default_factory=Continuity)
    # campaigns and their changeover slots (`capacity.model.changeovers`); none where no
    # suite charges a changeover
    changeovers: Changeovers = field(default_factory=Changeovers)
    # outages (`capacity.model.outages`): the shipments and making cut (column bounds
    # 0), none where the case has no `outages` table
    outages: Outages = field(default_factory=Outages)

    def slots(self, p: str, s: str) -> float:
        """Suite slots one delivered batch of program p uses at site s: slots per batch
        started ÷ the expected success rate (failed batches take their slots too)."""
        return self.slots_per_batch.get((p, s), self.program_slots.get(p, 1.0))

    @cached_property
    def ships_by_market(self) -> dict[tuple[str, int], np.ndarray]:
        """Positions in SHIP of the shipments to each (market, period), in SHIP's order."""
        ship = self.ship
        return {mt: np.array(positions) for mt, positions in
                group(range(len(ship)), lambda i: (ship[i][2], ship[i][3])).items()}

    # The two row sets elastic mode changes (the rest of it is `capacity.model.elastic`,
    # and ``build_upper`` and ``barred_ship`` above). Properties, not fields: they follow
    # ``elastic`` and ``shortfall_cost`` when a caller `replace`s those.

    @property
    def may_go_short(self) -> list[DemandKey]:
        """SHORTFALL_PMT: the committed (p,m,t) allowed to go unmet, sorted: every one in
        elastic mode, those with a ``shortfall_cost`` otherwise (none in the
        deterministic model)."""
        return sorted(self.committed) if self.elastic else sorted(self.shortfall_cost)

    @property
    def module_cap_rows(self) -> list[Suite]:
        """MODULE_CAP_K: suites with more than one build period (with one, Build's bound
        already says it); in elastic mode every suite with a build period, as each row
        carries an ``ExtraModules`` slack."""
        builds = group(self.build, lambda b: b[:3])
        return sorted(k for k, b in builds.items() if len(b) > 1 or self.elastic)


def group(keys: Iterable[K], by: Callable[[K], Any]) -> dict[Any, list[K]]:
    """``keys`` grouped by ``by(key)``, each group in the order of ``keys``."""
    groups: dict[Any, list[K]] = defaultdict(list)
    for key in keys:
        groups[by(key)].append(key)
    return groups


# Elastic mode: how many modules beyond max_modules a suite may take (each penalised).
ELASTIC_EXTRA_MODULES = 10


def build_index_sets(case: Case, elastic: bool = False) -> IndexSets:
    """Compute the sparse sets and discounted coefficients of ``case``.

    Args:
        case: a validated case.
        elastic: also build what the elastic model (``capacity explain``) may use to
            violate rules at a penalty: shipments on barred lanes and modules beyond
            max_modules (see models/formulation.md, "Elastic mode").

    Returns:
        The `IndexSets`. ``unservable`` lists, in words, committed offtakes that no site
        can ever serve, and rules measured against demand that no plan can meet (a
        time to market, a service level, a domestic share of demand): the case is then
        infeasible before any solve.
    """
    periods = sorted(int(t) for t in case.periods["period"])
    position = {t: i for i, t in enumerate(periods)}
    last = len(periods) - 1
    discount = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
    years = dict(zip(case.periods["period"], case.periods["years"], strict=True))

    sites = case.sites.set_index("site")
    site_status = sites["status"].to_dict()
    site_operator = sites["operator"].to_dict()
    site_region = sites["region"].to_dict()
    site_lead = {s: int(v) for s, v in sites["lead_time_periods"].items()}

    suites = case.suites
    suite_keys: list[Suite] = list(zip(suites["site"], suites["modality"], suites["scale"],
                                       strict=True))
    suite_existing = dict(zip(suite_keys, suites["existing_batches_per_period"], strict=True))
    suite_module = dict(zip(suite_keys, suites["module_batches_per_period"], strict=True))
    suite_max_modules = {k: int(v) for k, v in zip(suite_keys, suites["max_modules"],
                                                   strict=True)}
    suite_lead = {k: int(v) for k, v in zip(suite_keys, suites["lead_time_periods"],
                                            strict=True)}
    suite_capex = dict(zip(suite_keys, suites["module_capex_musd"], strict=True))
    extra = ELASTIC_EXTRA_MODULES if elastic else 0
    build_upper = {k: n + extra for k, n in suite_max_modules.items()}

    # Candidate sites: an opening decided in t produces from position(t) + lead.
    open_set = sorted((s, t) for s in sites.index if site_status[s] == "candidate"
                      for t in periods if position[t] + site_lead[s] <= last)
    earliest_site_online = {s: (0 if site_status[s] == "existing" else
                                min((position[t] + site_lead[s] for (s2, t) in open_set
                                     if s2 == s), default=None)) for s in sites.index}

    # Module builds: useful only if online within the horizon and the site can be open by then.
    build_set = []
    for k in suite_keys:
        site_online = earliest_site_online[k[0]]
        if (build_upper[k] == 0 or suite_module[k] <= 0 or site_online is None):
            continue
        for t in periods:
            online = position[t] + suite_lead[k]
            if online <= last and online >= site_online:
                build_set.append((*k, t))
    build_set.sort()
    earliest_module_online: dict[Suite, int] = {}
    for (s, q, c, t) in build_set:
        k = (s, q, c)
        pos = position[t] + suite_lead[k]
        earliest_module_online[k] = min(earliest_module_online.get(k, pos), pos)

    reservable = _reservable(case)
    approvals = approval_sets(case, periods, earliest_site_online, suite_keys)

    def suite_online(k: Suite) -> int | None:
        """Earliest period position at which suite k can have capacity."""
        if site_status[k[0]] == "existing" and (suite_existing[k] > 0 or k in reservable):
            return 0
        return earliest_module_online.get(k)

    committed, potential, value = _demand(case)
    demand_keys = sorted(set(committed) | set(potential))
    barred = _barred_operator_markets(case)

    programs = case.programs.set_index("program")
    first = periods[0]
    start = {p: (int(v) if pd.notna(v) else first) for p, v in programs["earliest_start"].items()}
    commercial_from = {p: (int(v) if pd.notna(v) else None)
                       for p, v in programs["commercial_from"].items()}

    def scale_of(p: str, t: int) -> str:
        cf = commercial_from[p]
        return "commercial" if cf is not None and t >= cf else "clinical"

    phases = program_phases(case, periods, start)

    transfer_default, transfer_at = _transfer_periods(case)

    slots, program_slots = slot_use(case)
    # Most batch slots a suite can ever offer per period (every module built).
    suite_most = {k: suite_existing[k] + suite_module[k] * build_upper[k]
                  + reservable.get(k, 0.0) for k in suite_keys}
    suite_first = {k: suite_online(k) for k in suite_keys}
    shelf_life, _holding = shelf_lives(case)
    ships = _shipments(case, demand_keys, committed, potential, position, discount,
                       suite_keys, suite_first, suite_most,
                       barred, elastic, start, scale_of, site_region, site_operator,
                       transfer_default, transfer_at, slots, program_slots,
                       approvals.gates(suite_keys), shelf_life)
    ship, ship_suite = ships.keys, ships.suite
    changeovers = changeover_sets(case, ships.production, ships.production_of,
                                  ships.production_bound, ship_suite, ships.slots, suite_most)
    parts = ships.cost_parts
    inventory = build_inventory(
        case, periods=periods, discount=discount, ship=ship, ship_suite=ship_suite,
        production=parts["production"], committed=committed, potential=potential,
        start=start, transfer=lambda p, s: transfer_at.get((p, s), transfer_default[p]),
        scale_of=scale_of, online=suite_first, suite_most=suite_most,
        slots=lambda p, s: slots.get((p, s), program_slots.get(p, 1.0)),
        site_region=site_region, site_operator=site_operator, barred=barred)
    if inventory.made_when_shipped:  # storable batches pay production when made (Make)
        parts = {**parts, "production": parts["production"].copy()}
        parts["production"][list(inventory.made_when_shipped)] = 0.0
    ship_cost = parts["production"] + parts["transport"] + parts["tariffs"]
    shippable = set(ships.demand)
    approvals = replace(approvals, blocked={d: sorted(s) for d, s in ships.blocked.items()})
    why_unservable = {
        (p, mkt, t): why_unapproved(approvals, case, periods, p, mkt, t, scale_of(p, t))
        if (p, mkt, t) in ships.blocked else
        _why_unservable(case, p, mkt, t, start[p], scale_of(p, t), periods,
                        transfer_default, transfer_at)
        for (p, mkt, t) in demand_keys
        if committed.get((p, mkt, t), 0) > 0 and (p, mkt, t) not in shippable}
    unservable = [f"{offtake_words(case, *d)}: {why}" for d, why in why_unservable.items()]
    # programs whose phases move as one, with no site for both phases' commitments
    max_sites = {p: int(v) for p, v in programs["max_sites"].items()}
    apart, why_apart = one_site_conflicts(phases, ship, committed, max_sites)
    unservable += apart
    why_unservable |= {d: why for d, why in why_apart.items() if d not in why_unservable}
    unservable += inventory.unservable()
    barred_ship = [key for key in ship if (site_operator[key[1]], key[2]) in barred] \
        if elastic else []

    serve = sorted(d for d in potential if d in shippable)
    served_keys = set(serve)
    demand_rows = [d for d in demand_keys if d in committed or d in served_keys]
    serve_value = {d: float(discount[d[2]]) * value.get(d, 0.0) for d in serve}
    approvals = with_shipments(approvals, case, periods, ship, ship_suite, committed,
                               potential, served_keys)

    tt_default = programs["tech_transfer_musd"].to_dict()
    tt = {(p, s): float(c) for p, s, c in zip(case.tech_transfers["program"],
                                              case.tech_transfers["site"],
                                              case.tech_transfers["tech_transfer_musd"],
                                              strict=True) if pd.notna(c)}
    # Each (p,s,t) is made under the assignment (p,s,c) of its phase c, or (p,s,both) for
    # a program whose phases move as one (`capacity.model.phases`).
    production_keys = [(p, s, phases.label(p, t)) for (p, s, t) in ships.production]
    producing_keys = sorted(set(production_keys))
    producing_pairs = sorted({(p, s) for (p, s, _c) in producing_keys})
    transfer_periods = {(p, s): n for (p, s) in producing_pairs
                        if (n := transfer_at.get((p, s), transfer_default[p])) > 0}
    pair_cost = {(p, s): tt.get((p, s), float(tt_default[p])) for (p, s) in producing_pairs}
    phases = with_transfer_starts(phases, producing_keys, start, transfer_periods, position,
                                  periods)
    key_cost = {a: float(discount[phases.transfer_start[a]]) * pair_cost[a[:2]]
                for a in producing_keys}
    # Assign[p,s,c] matters only where a transfer costs something or a site limit can
    # bind; elsewhere it is free and unconstrained, so neither it nor its linking rows are
    # built.
    sites_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (p, s, c) in producing_keys:
        sites_of[(p, c)].append(s)
    assigned_programs = {p for (p, c), ss in sites_of.items()
                         if len(ss) > max_sites[p] or any(key_cost[(p, s, c)] > 0 for s in ss)}
    assign = [a for a in producing_keys if a[0] in assigned_programs]
    assign_cost = {a: key_cost[a] for a in assign}
    phases = with_scale_ups(phases, assign, pair_cost, discount)

    capacity_rows = ships.capacity_rows
    if inventory.make:  # suites count storable batches in the period they are made
        capacity_rows = sorted(set(capacity_rows) | set(inventory.capacity_rows))
    key_of = {a: i for i, a in enumerate(assign)}
    # each (p,s,t)'s Assign column, then each shipment's (−1: its program has none)
    assign_of = np.fromiter((key_of.get(key, -1) for key in production_keys),
                            dtype=np.int64, count=len(ships.production))
    ship_assign = assign_of[ships.production_of]
    # production_requires_assignment only where the suite's capacity caps production below
    # the demand the shipments can reach (U < Σ_m V); elsewhere it is the sum of the
    # shipments' ship_requires_assignment rows
    reachable = np.bincount(ships.production_of, weights=ships.bound,
                            minlength=len(ships.production))
    kept = (assign_of >= 0) \
        & (ships.production_bound < reachable - 1e-9 * np.maximum(1.0, reachable))
    production_rows = [r for r, keep in zip(ships.production, kept, strict=True) if keep]
    production_bound = ships.production_bound[kept]
    production_assign = assign_of[kept]
    # each shipment's row of production_requires_assignment (−1: none)
    renumbered = np.cumsum(kept) - 1
    ship_production_row = np.where(kept[ships.production_of],
                                   renumbered[ships.production_of], -1)

    build_cost = {b: float(discount[b[3]]) * float(suite_capex[b[:3]]) for b in build_set}
    fixed = sites["fixed_cost_musd_per_year"].to_dict()
    opening = sites["opening_cost_musd"].to_dict()
    open_parts: dict[str, dict[tuple[str, int], float]] = {"opening": {}, "fixed": {}}
    for (s, t) in open_set:
        open_parts["opening"][(s, t)] = float(discount[t]) * float(opening[s])
        online = position[t] + site_lead[s]
        open_parts["fixed"][(s, t)] = sum(float(discount[tau]) * float(years[tau]) *
                                          float(fixed[s]) for tau in periods[online:])
    open_cost = {key: open_parts["opening"][key] + open_parts["fixed"][key]
                 for key in open_set}

    finance, finance_saving, fund_budget, fund_max_share = _finance_sets(
        case, build_set, site_region, discount, position)
    finance_opening, finance_opening_saving = _opening_finance_sets(
        case, open_set, site_region, discount, position, fund_budget)
    financed_opening = {s: float(opening[s]) for (_f, s, _t) in finance_opening}
    fund_budget_rows = sorted({(f, t) for (f, _s, _q, _c, t) in finance}
                              | {(f, t) for (f, _s, t) in finance_opening})
    reservations = _reservation_sets(
        case, ship + [(p, s, "", t) for (p, s, _c, t) in inventory.make],
        ship_suite + [(s, inventory.modality[p], c) for (p, s, c, _t) in inventory.make],
        discount)
    if inventory.make:  # their reserved use is bounded by Make: reserved_use_is_making
        reservations.use_rows = [r for r in reservations.use_rows
                                 if not inventory.stores(r[0])]
    time_to_market = _time_to_market_rules(case, serve, committed, potential)
    for r in time_to_market:
        if not r.weight and r.constant > r.limit + 1e-9:
            unservable.append(f"time-to-market rule {r.rule}: {r.constant:g} years of "
                              f"{r.market}'s potential demand can never be served, above "
                              f"its limit of {r.limit:g}")
    share_rules = _share_rules(case, ship, site_operator, site_region)
    service_rules = _service_rules(case)
    unservable += _unreachable_rules(share_rules, service_rules, ship, site_region, serve,
                                     committed, potential)
    reinvestment = _reinvestment_sets(
        case, fund_budget_rows, periods, ship, ship_cost, discount, serve, potential, value,
        open_set, site_lead, position, reservations, ships.bound, inventory)

    ix = IndexSets(
        periods=periods, position=position, build=build_set, open=open_set, assign=assign,
        ship=ship, serve=serve, finance=finance, finance_opening=finance_opening,
        demand_rows=demand_rows,
        capacity_rows=capacity_rows, production_rows=production_rows,
        fund_budget_rows=fund_budget_rows, share_rules=share_rules,
        time_to_market_rules=time_to_market, service_rules=service_rules,
        ship_suite=ship_suite, slots_per_batch=slots, program_slots=program_slots,
        ship_cost=ship_cost,
        ship_cost_parts=parts, serve_value=serve_value, potential=potential,
        committed=dict(committed), build_cost=build_cost, open_cost=open_cost,
        open_cost_parts=open_parts, assign_cost=assign_cost, finance_saving=finance_saving,
        finance_opening_saving=finance_opening_saving, financed_opening=financed_opening,
        existing_fixed_cost=existing_fixed_cost(case), production_bound=production_bound,
        production_assign=production_assign, ship_bound=ships.bound, ship_slots=ships.slots,
        ship_production_row=ship_production_row, ship_assign=ship_assign, elastic=elastic,
        barred_ship=barred_ship,
        build_upper=build_upper,
        suite_existing=suite_existing, suite_module=suite_module,
        suite_max_modules=suite_max_modules, suite_lead=suite_lead, suite_capex=suite_capex,
        site_lead=site_lead, site_status=site_status, site_operator=site_operator,
        site_region=site_region, program_max_sites=max_sites,
        fund_max_share=fund_max_share, fund_budget=fund_budget, reservations=reservations,
        reinvestment=reinvestment, unservable=unservable, why_unservable=why_unservable,
        program_start=start, transfer_periods=transfer_periods, approvals=approvals,
        phases=phases, inventory=inventory,
        continuity=build_continuity(case, ships.demand, demand_keys),
        changeovers=changeovers,
    )
    outages = case_outages(case)
    return with_outages(ix, case, outages) if outages else ix


def with_demand(ix: IndexSets, case: Case) -> IndexSets:
    """The index sets ``ix`` with the committed and potential demand of ``case``: the
    same variables and rows, new right-hand sides and bounds (and the operating margin's
    revenue and bounds, which follow demand).

    ``case`` is the case ``ix`` was built from with demand scaled down or removed (the
    stochastic model's scenarios, its expected-value case): every demand key of ``case``
    must be one of ``ix``. Keeping the sets lets scenarios share first-stage variables
    and lets a plan built for one demand be evaluated on another.
    """
    committed, potential, value = _demand(case)
    unknown = sorted((set(committed) - set(ix.committed)) | (set(potential) - set(ix.potential)))
    if unknown:
        raise ValueError(f"demand not in the base case: {unknown[:3]}")
    discount = dict(zip(case.periods["period"], case.periods["discount_factor"], strict=True))
    potential = {d: potential.get(d, 0.0) for d in ix.potential}
    reinvestment = _reinvestment_sets(
        case, ix.fund_budget_rows, ix.periods, ix.ship, ix.ship_cost, discount, ix.serve,
        potential, value, ix.open, ix.site_lead, ix.position, ix.reservations, ix.ship_bound,
        ix.inventory)
    return replace(ix, committed=dict(committed), potential=potential,
                   reinvestment=reinvestment, time_to_market_rules=_time_to_market_rules(
                       case, ix.serve, committed, {d: b for d, b in potential.items() if b > 0}))


def _demand(case: Case) -> tuple[dict[DemandKey, float], dict[DemandKey, float],
                                 dict[DemandKey, float]]:
    """Committed offtakes (summed over anchors, > 0), potential demand (> 0) and the
    value of a potential batch, by (program, market, period)."""
    committed: dict[DemandKey, float] = defaultdict(float)
    for p, mkt, t, b in zip(case.offtakes["program"], case.offtakes["market"],
                            case.offtakes["period"], case.offtakes["committed_batches"],
                            strict=True):
        if b > 0:
            committed[(p, mkt, int(t))] += float(b)
    potential = {(p, mkt, int(t)): float(b) for p, mkt, t, b in zip(
        case.demand["program"], case.demand["market"], case.demand["period"],
        case.demand["potential_batches"], strict=True) if b > 0}
    value = {(p, mkt, int(t)): float(v) for p, mkt, t, v in zip(
        case.demand["program"], case.demand["market"], case.demand["period"],
        case.demand["value_musd_per_batch"], strict=True)}
    return dict(committed), potential, value


def existing_fixed_cost(case: Case) -> float:
    """Σ_{existing s} Σ_t df_t·years_t·fixed[s]: paid in every plan (a constant), MUSD."""
    periods, sites = case.periods, case.sites
    per_year = float(sites.loc[sites["status"] == "existing", "fixed_cost_musd_per_year"].sum())
    return float((periods["discount_factor"] * periods["years"]).sum()) * per_year


def _barred_operator_markets(case: Case) -> set[tuple[str, str]]:
    """(operator, market) pairs that active `barred` rules forbid."""
    ops = case.operators.set_index("operator")
    barred = set()
    for rule in case.rules.itertuples(index=False):
        if not rule.active or rule.kind != "barred":
            continue
        if rule.subject.startswith("flag:"):
            flag = rule.subject[5:]
            named = [o for o in ops.index
                     if (flag == "of_concern" and ops.at[o, "of_concern"])
                     or flag in ops.at[o, "flags"]]
        else:
            named = [rule.subject]
        barred |= {(o, rule.market) for o in named}
    return barred


def _share_rules(case: Case, ship: list[ShipKey], site_operator: dict[str, str],
                 site_region: dict[str, str]) -> list[ShareRule]:
    """Active share rules, with `*` expanded to every operator/region supplying the market."""
    suppliers_ops: dict[str, set[str]] = defaultdict(set)
    suppliers_regions: dict[str, set[str]] = defaultdict(set)
    for (_p, s, mkt, _t) in ship:
        suppliers_ops[mkt].add(site_operator[s])
        suppliers_regions[mkt].add(site_region[s])
    out = []
    for rule in sorted(case.rules.itertuples(index=False), key=lambda r: r.rule):
        if not rule.active or rule.kind == "barred":
            continue
        if rule.kind == "min_domestic_share":
            subjects: tuple[str, ...] = (rule.market,)
        elif rule.kind == "max_operator_share":
            pool = suppliers_ops[rule.market]
            subjects = tuple(sorted(pool if rule.subject == "*" else {rule.subject} & pool))
        else:
            pool = suppliers_regions[rule.market]
            subjects = tuple(sorted(pool if rule.subject == "*" else {rule.subject} & pool))
        out.append(ShareRule(rule.rule, rule.kind, rule.market, float(rule.share), subjects,
                             str(rule.basis)))
    return out


def _service_rules(case: Case) -> list[ServiceRule]:
    """Active `min_service_level` rules, each with the programs it counts."""
    programs = case.programs
    out = []
    for rule in sorted(case.rules.itertuples(index=False), key=lambda r: r.rule):
        if not rule.active or rule.kind != "min_service_level":
            continue
        mine = programs if not rule.subject else programs[programs["modality"] == rule.subject]
        out.append(ServiceRule(rule.rule, rule.market, float(rule.share),
                               tuple(sorted(mine["program"]))))
    return out


def rule_demand(keys: Iterable[DemandKey], market: str, programs: Iterable[str] | None,
                amounts: dict[DemandKey, float]) -> dict[int, float]:
    """Σ ``amounts`` by period over ``keys`` of ``market`` (and of ``programs``, all
    when None): the demand a domestic-share rule on a demand basis or a service-level
    rule is measured against."""
    wanted = None if programs is None else set(programs)
    out: dict[int, float] = defaultdict(float)
    for d in keys:
        if d[1] == market and (wanted is None or d[0] in wanted):
            out[d[2]] += amounts.get(d, 0.0)
    return dict(out)


def _unreachable_rules(share_rules: list[ShareRule], service_rules: list[ServiceRule],
                       ship: list[ShipKey], site_region: dict[str, str],
                       serve: list[DemandKey], committed: dict[DemandKey, float],
                       potential: dict[DemandKey, float]) -> list[str]:
    """Rules measured against demand that no plan can meet, whatever it builds: a
    service level above what can ever be served (committed + potential in SERVE), a
    domestic share of demand above the demand any domestic site can make."""
    demand = {d: committed.get(d, 0.0) + potential.get(d, 0.0)
              for d in set(committed) | set(potential)}
    out = []
    for r in service_rules:
        need = rule_demand(demand, r.market, r.programs, demand)
        most = rule_demand(committed, r.market, r.programs, committed)
        for t, x in rule_demand(serve, r.market, r.programs, potential).items():
            most[t] = most.get(t, 0.0) + x
        for t in sorted(need):
            if r.level * need[t] > most.get(t, 0.0) + 1e-9:
                out.append(f"service-level rule {r.rule}: at most {most.get(t, 0.0):g} of "
                           f"{r.market}'s {need[t]:g} batches of demand in {t} can ever be "
                           f"served, below its level of {r.level:.0%}")
    for u in share_rules:
        if u.kind != "min_domestic_share" or u.basis != "demand":
            continue
        need = rule_demand(demand, u.market, None, demand)
        reach = {(p, m, t) for (p, s, m, t) in ship if m == u.market and site_region[s] == m}
        most = rule_demand(reach, u.market, None, demand)
        for t in sorted(need):
            if u.share * need[t] > most.get(t, 0.0) + 1e-9:
                out.append(f"domestic-share rule {u.rule}: at most {most.get(t, 0.0):g} of "
                           f"{u.market}'s {need[t]:g} batches of demand in {t} can ever be "
                           f"made in {u.market}, below its share of {u.share:.0%}")
    return out


def _time_to_market_rules(case: Case, serve: list[DemandKey],
                          committed: dict[DemandKey, float],
                          potential: dict[DemandKey, float]) -> list[TimeToMarketRule]:
    """Active `max_time_to_market` rules with their weights (see `TimeToMarketRule`)."""
    servable = set(serve)
    out = []
    for rule in sorted(case.rules.itertuples(index=False), key=lambda r: r.rule):
        if not rule.active or rule.kind != "max_time_to_market":
            continue
        weights = time_to_market_weights(case, rule.market, committed, potential)
        out.append(TimeToMarketRule(
            rule.rule, rule.market, float(rule.limit_years),
            {d: w for d, w in weights.items() if d in servable},
            sum(w * potential[d] for d, w in weights.items())))
    return out


def time_to_market_weights(case: Case, market: str,
                           committed: dict[DemandKey, float] | None = None,
                           potential: dict[DemandKey, float] | None = None,
                           ) -> dict[DemandKey, float]:
    """years_t / (|P_m|·(committed + potential)[p,m,t]) for every potential-demand key of
    ``market`` (the case's own demand unless given): a program's time to market there is
    Σ weight·unserved potential (`TimeToMarketRule`)."""
    if committed is None or potential is None:
        committed, potential, _value = _demand(case)
    years = dict(zip(case.periods["period"], case.periods["years"], strict=True))
    keys = sorted(d for d, b in potential.items() if d[1] == market and b > 0)
    programs = len({p for (p, _m, _t) in keys})
    return {d: float(years[d[2]]) / (programs * (committed.get(d, 0.0) + potential[d]))
            for d in keys}


def _finance_sets(
    case: Case, build_set: list[tuple[str, str, str, int]], site_region: dict[str, str],
    discount: dict[int, float], position: dict[int, int],
) -> tuple[list[tuple[str, str, str, str, int]], dict[tuple[str, str, str, str, int], float],
           dict[tuple[str, int], float], dict[str, float]]:
    budget = {(f, int(t)): float(b) for f, t, b in zip(
        case.fund_budgets["fund"], case.fund_budgets["period"], case.fund_budgets["budget_musd"],
        strict=True)}
    funds = case.funds.set_index("fund")
    max_share = funds["max_capex_share"].astype(float).to_dict()
    capex = dict(zip(zip(case.suites["site"], case.suites["modality"], case.suites["scale"],
                         strict=True), case.suites["module_capex_musd"], strict=True))
    finance = []
    saving = {}
    for f in sorted(funds.index):
        if "capex" not in funds.at[f, "pays"]:
            continue
        regions, sites_ok, modalities, repay, reinvests = _fund_terms(funds, f)
        for (s, q, c, t) in build_set:
            has_money = budget.get((f, t), 0.0) > 0 or (reinvests and position[t] > 0)
            if (not has_money or capex[(s, q, c)] <= 0 or max_share[f] <= 0
                    or (regions and site_region[s] not in regions)
                    or (sites_ok and s not in sites_ok)
                    or (modalities and q not in modalities)):
                continue
            finance.append((f, s, q, c, t))
            saving[(f, s, q, c, t)] = float(discount[t]) * (1.0 - repay)
    return finance, saving, budget, max_share


def _fund_terms(funds: pd.DataFrame, f: str
                ) -> tuple[set[str], set[str], set[str], float, bool]:
    """Fund ``f``'s eligible regions, sites and modalities (empty: any), its repayment
    share, and whether it reinvests margin: what its capex and its openings share."""
    return (set(funds.at[f, "eligible_regions"]), set(funds.at[f, "eligible_sites"]),
            set(funds.at[f, "eligible_modalities"]), float(funds.at[f, "repayment_share"]),
            float(funds.at[f, "reinvest_share"]) > 0)


def _opening_finance_sets(
    case: Case, open_set: list[tuple[str, int]], site_region: dict[str, str],
    discount: dict[int, float], position: dict[int, int], budget: dict[tuple[str, int], float],
) -> tuple[list[tuple[str, str, int]], dict[tuple[str, str, int], float]]:
    """FINANCE_OPENING: (f,s,t) where fund f may pay part of opening candidate site s in
    t (it pays `opening`, the opening costs something, f has money in t, a share above 0,
    and s is in its regions and sites and has a suite of one of its modalities), with
    the saving per MUSD financed, df_t·(1 − repayment_share[f])."""
    funds = case.funds.set_index("fund")
    opening = case.sites.set_index("site")["opening_cost_musd"].to_dict()
    modalities_at: dict[str, set[str]] = defaultdict(set)
    for site, q in zip(case.suites["site"], case.suites["modality"], strict=True):
        modalities_at[site].add(q)
    finance, saving = [], {}
    for f in sorted(funds.index):
        if "opening" not in funds.at[f, "pays"] or funds.at[f, "max_capex_share"] <= 0:
            continue
        regions, sites_ok, modalities, repay, reinvests = _fund_terms(funds, f)
        for (s, t) in open_set:
            has_money = budget.get((f, t), 0.0) > 0 or (reinvests and position[t] > 0)
            if (not has_money or opening[s] <= 0
                    or (regions and site_region[s] not in regions)
                    or (sites_ok and s not in sites_ok)
                    or (modalities and not modalities & modalities_at[s])):
                continue
            finance.append((f, s, t))
            saving[(f, s, t)] = float(discount[t]) * (1.0 - repay)
    return finance, saving


def slot_use(case: Case) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Suite slots one delivered batch uses: slots_per_batch ÷ success rate.

    The success rate of program p at site s is ``yields.success_rate`` of (p,s) where
    given, else ``modalities.success_rate`` of p's modality. Returns the slots
    of each (p,s) with a yields row, and of each program elsewhere (1 ÷ its modality's
    rate)."""
    modality = case.programs.set_index("program")["modality"].to_dict()
    rate = {str(q): float(r) for q, r in zip(case.modalities["modality"],
                                              case.modalities["success_rate"], strict=True)}
    program_slots = {p: 1.0 / rate.get(q, 1.0) for p, q in modality.items()}
    pairs = {}
    for p, s, use, success in zip(case.yields["program"], case.yields["site"],
                                  case.yields["slots_per_batch"], case.yields["success_rate"],
                                  strict=True):
        given = float(success)
        pairs[(p, s)] = float(use) / (given if given == given else rate.get(modality[p], 1.0))
    return pairs, program_slots


def _reservable(case: Case) -> dict[Suite, float]:
    """Most batch slots per period reservations can add to each suite."""
    out: dict[Suite, float] = defaultdict(float)
    for row in case.reservations.itertuples(index=False):
        if row.max_blocks > 0:
            out[(row.site, row.modality, row.scale)] += float(row.block_batches * row.max_blocks)
    return dict(out)


def _reservation_sets(case: Case, ship: list[ShipKey], ship_suite: list[Suite],
                      discount: dict[int, float]) -> Reservations:
    """RESERVE_VT, RESERVE_USE_VPT and RESERVED_PST: a reservation exists in a period where
    one of its members' programs can produce at its suite."""
    res = Reservations()
    if case.reservations.empty:
        return res
    startup = case.programs.set_index("program")["startup"].to_dict()
    programs_at: dict[tuple[Suite, int], set[str]] = defaultdict(set)
    for key, k in zip(ship, ship_suite, strict=True):
        programs_at[(k, key[3])].add(key[0])
    use = set()
    for row in sorted(case.reservations.itertuples(index=False), key=lambda r: r.reservation):
        if row.max_blocks <= 0:
            continue
        v, k = row.reservation, (row.site, row.modality, row.scale)
        members = set(row.members)
        res.suite[v], res.block[v] = k, float(row.block_batches)
        res.max_blocks[v], res.min_take[v] = int(row.max_blocks), float(row.min_take_share)
        res.fee[v] = float(row.fee_musd_per_batch)
        for (k2, t), progs in sorted(programs_at.items()):
            users = sorted(p for p in progs if not members or startup[p] in members)
            if k2 != k or not users:
                continue
            res.reserve.append((v, t))
            res.cost[(v, t)] = float(discount[t]) * res.fee[v] * res.block[v]
            use |= {(v, p, t) for p in users}
    res.reserve.sort()
    res.use = sorted(use)
    res.use_rows = sorted({(p, res.suite[v][0], t) for (v, p, t) in res.use})
    return res


def _reinvestment_sets(
    case: Case, fund_budget_rows: list[tuple[str, int]], periods: list[int],
    ship: list[ShipKey], ship_cost: np.ndarray, discount: dict[int, float],
    serve: list[DemandKey], potential: dict[DemandKey, float], value: dict[DemandKey, float],
    open_set: list[tuple[str, int]], site_lead: dict[str, int], position: dict[int, int],
    reservations: Reservations, ship_bound: np.ndarray, inventory: Inventory | None = None,
) -> Reinvestment:
    """REINVEST_FT, MARGIN_T and the operating margin's coefficients and bounds."""
    share = {f: float(v) for f, v in zip(case.funds["fund"], case.funds["reinvest_share"],
                                         strict=True) if v > 0}
    rows = [(f, t) for (f, t) in fund_budget_rows if f in share and position[t] > 0]
    if not rows:
        return Reinvestment()
    previous = {t: periods[position[t] - 1] for t in periods[1:]}
    margin_periods = sorted({previous[t] for (_f, t) in rows})
    wanted = set(margin_periods)
    years = dict(zip(case.periods["period"], case.periods["years"], strict=True))
    sites = case.sites.set_index("site")
    per_year = float(sites.loc[sites["status"] == "existing", "fixed_cost_musd_per_year"].sum())
    existing_fixed = {t: float(years[t]) * per_year for t in wanted}
    offtakes = case.offtakes
    revenue = (offtakes["committed_batches"] * offtakes["price_musd_per_batch"]) \
        .groupby(offtakes["period"].astype(int)).sum().to_dict()
    ship_undiscounted: dict[ShipKey, float] = {}
    most_ship_cost: dict[int, float] = defaultdict(float)  # Σ cost·V of t's shipments
    for k, cost, bound in zip(ship, ship_cost.tolist(), ship_bound.tolist(), strict=True):
        if k[3] in wanted:
            ship_undiscounted[k] = cost / float(discount[k[3]])
            most_ship_cost[k[3]] += ship_undiscounted[k] * bound
    # storable programs: production where made, holding on the stock (undiscounted)
    inv = inventory or Inventory()
    make_cost = {k: c / float(discount[k[3]]) for k, c in inv.make_cost.items()
                 if k[3] in wanted}
    hold_cost = {k: inv.holding[k[0]] for k in inv.stock if k[3] in wanted}
    for k, c in make_cost.items():
        most_ship_cost[k[3]] += c * inv.make_bound[k]
    for k, h in hold_cost.items():
        most_ship_cost[k[3]] += h * inv.stock_bound[k]
    serve_value = {d: value.get(d, 0.0) for d in serve if d[2] in wanted}
    open_fixed = {(s, t0, t): float(years[t] * sites.at[s, "fixed_cost_musd_per_year"])
                  for (s, t0) in open_set for t in margin_periods
                  if position[t0] + site_lead[s] <= position[t]
                  and sites.at[s, "fixed_cost_musd_per_year"] > 0}
    base = {t: float(revenue.get(t, 0.0)) - existing_fixed[t] for t in margin_periods}
    upper = {t: base[t] + sum(serve_value[d] * potential[d] for d in serve_value if d[2] == t)
             for t in margin_periods}
    lower = {t: base[t]
             - most_ship_cost[t]
             - sum(c for (_s, _t0, t1), c in open_fixed.items() if t1 == t)
             - sum(reservations.fee[v] * reservations.block[v] * reservations.max_blocks[v]
                   for (v, t1) in reservations.reserve if t1 == t)
             for t in margin_periods}
    # A margin that can never be positive feeds nothing: no reinvestment row for it.
    rows = [(f, t) for (f, t) in rows if upper[previous[t]] > 0]
    return Reinvestment(
        reinvest=rows, margin_periods=sorted({previous[t] for (_f, t) in rows}), share=share,
        revenue_fixed=base, ship_cost=ship_undiscounted, serve_value=serve_value,
        open_fixed=open_fixed, lower=lower, upper=upper, make_cost=make_cost,
        hold_cost=hold_cost)


@dataclass
class Shipments:
    """SHIP_PSMT with its per-shipment data as arrays aligned with ``keys`` (no dictionary
    keyed by shipment: tier XL has ~16 M of them), and the sets derived from it."""

    keys: list[ShipKey]  # SHIP_PSMT, sorted
    suite: list[Suite]  # the suite each shipment is made in
    cost_parts: dict[str, np.ndarray]  # production, transport, tariffs: discounted MUSD/batch
    slots: np.ndarray  # slots[p,s]: slots per delivered batch (÷ success rate)
    bound: np.ndarray  # V[p,s,m,t]: most batches a plan can ship (ship_requires_open_site)
    demand: list[DemandKey]  # (p,m,t) that some shipment can serve
    production: list[tuple[str, str, int]]  # (p,s,t) with a shipment, sorted
    production_bound: np.ndarray  # U[p,s,t] on ``production`` (production_requires_assignment)
    production_of: np.ndarray  # each shipment's (p,s,t): its position in ``production``
    capacity_rows: list[tuple[str, str, str, int]]  # CAPACITY_KT: (suite, t) with a shipment
    # committed demand (p,m,t), and demand no site is left to serve, with the sites that
    # approvals hold back from it (`capacity.model.approvals`)
    blocked: dict[DemandKey, set[str]] = field(default_factory=dict)


# Programs per chunk of the shipment enumeration: bounds its temporary tables (tier XL).
_PROGRAMS_PER_CHUNK = 500


def _shipments(case: Case, demand_keys: list[DemandKey], committed: dict[DemandKey, float],
               potential: dict[DemandKey, float], position: dict[int, int],
               discount: dict[int, float], suite_keys: list[Suite],
               online: dict[Suite, int | None], suite_most: dict[Suite, float],
               barred: set[tuple[str, str]], elastic: bool, start: dict[str, int],
               scale_of: Callable[[str, int], str], site_region: dict[str, str],
               site_operator: dict[str, str], transfer_default: dict[str, int],
               transfer_at: dict[tuple[str, str], int],
               pair_slots: dict[tuple[str, str], float],
               program_slots: dict[str, float],
               gates: pd.DataFrame | None = None,
               shelf_life: dict[str, int] | None = None) -> Shipments:
    """Every (p,s,m,t) where demand of p in m in t (committed or potential) can be made at
    suite (s, modality of p, scale of p in t): p started by t, its technology transfer to
    s complete by t (pos(t) ≥ pos(start(p)) + L[p,s]), the suite online by t, a lane from
    s's region to m (the domestic lane free unless given), s's operator not barred from m
    (unless ``elastic``); with per-batch discounted costs

        production = df_t·variable_cost[k]·slots[p,s]
        transport  = df_t·transport[region(s),m]
        tariffs    = df_t·tariff_rate[region(s),m]·variable_cost[k]·slots[p,s]

    and the big-M bounds V[p,s,m,t] = min(committed + potential of (p,m,t), most[p,s,t]),
    U[p,s,t] = min(Σ_m committed + potential, most[p,s,t]) with most[p,s,t] the most
    slots the suite can ever offer per period (every module built, every reservation
    taken) / slots[p,s]; slots[p,s] = slots per batch ÷ success rate (`slot_use`: a
    delivered batch pays for and takes the slots of the failed ones too). Vectorised over
    chunks of programs.

    ``gates`` (`capacity.model.approvals.Approvals.gates`; None: no market requires
    approval): a shipment from a suite to a market that requires approval at its scale
    exists only from the gate's first position on (never where it has none);
    ``blocked`` names the sites held back from committed demand, and from demand that
    no site is left to serve.
    delivered batch pays for and takes the slots of the failed ones too). A storable
    program's batches shipped in t may be made over 1 + L[p] periods (``shelf_life``,
    `capacity.model.inventory`), so most[p,s,t] is that many periods' capacity for it.
    Vectorised over chunks of programs.
    """
    periods = sorted(position, key=position.__getitem__)
    disc = np.array([float(discount[t]) for t in periods])
    # Names as codes numbered in sorted order (sorting codes sorts names); each key is
    # made of the one object per name, not a string per shipment.
    program_names = sorted({p for (p, _m, _t) in demand_keys})
    market_names = sorted({m for (_p, m, _t) in demand_keys})
    site_names = sorted({k[0] for k in suite_keys})
    program_code = {p: i for i, p in enumerate(program_names)}
    market_code = {m: i for i, m in enumerate(market_names)}
    site_code = {s: i for i, s in enumerate(site_names)}
    programs_of, markets_of = _objects(program_names), _objects(market_names)
    sites_of, periods_of, suites_of = _objects(site_names), _objects(periods), _objects(suite_keys)

    suites = pd.DataFrame({
        "s": [site_code[k[0]] for k in suite_keys], "modality": [k[1] for k in suite_keys],
        "scale": [k[2] for k in suite_keys], "suite": np.arange(len(suite_keys)),
        "online": [-1 if online[k] is None else online[k] for k in suite_keys],
        "variable": case.suites["variable_cost_musd_per_batch"].to_numpy(dtype=float),
        "most": [suite_most[k] for k in suite_keys],
        "region": [site_region[k[0]] for k in suite_keys]})
    suites = suites[suites["online"] >= 0]
    lanes = pd.DataFrame({"region": case.lanes["origin"], "market": case.lanes["market"],
                          "transport": case.lanes["transport_musd_per_batch"].astype(float),
                          "tariff": case.lanes["tariff_rate"].astype(float)})
    given = set(zip(lanes["region"], lanes["market"], strict=True))
    domestic = [r for r in case.regions["region"] if (r, r) not in given]
    lanes = pd.concat([lanes, pd.DataFrame({"region": domestic, "market": domestic,
                                            "transport": 0.0, "tariff": 0.0})],
                      ignore_index=True)
    lanes["m"] = lanes["market"].map(market_code)
    lanes = lanes[lanes["m"].notna()].astype({"m": np.int64})
    routes = suites.merge(lanes, on="region")  # (suite, market) pairs with a lane
    if barred and not elastic:
        allowed = np.fromiter(((site_operator[site_names[s]], market_names[m]) not in barred
                               for s, m in zip(routes["s"], routes["m"], strict=True)),
                              dtype=bool, count=len(routes))
        routes = routes[allowed]
    routes = routes[["s", "modality", "scale", "m", "suite", "online", "variable", "most",
                     "transport", "tariff"]]
    pairs = list(pair_slots)
    yields = pd.DataFrame({"p": pd.Series([p for p, _s in pairs], dtype=object).map(program_code),
                           "s": pd.Series([s for _p, s in pairs], dtype=object).map(site_code),
                           "use": pd.Series(list(pair_slots.values()), dtype=float)}).dropna()
    yields = yields.astype({"p": np.int64, "s": np.int64})
    default_use = np.array([program_slots.get(p, 1.0) for p in program_names])
    # periods a batch shipped in t may be made over: 1 + its shelf life
    made_over = np.array([1 + (shelf_life or {}).get(p, 0) for p in program_names], dtype=float)

    modality = case.programs.set_index("program")["modality"].to_dict()
    # Transfer lead times: a program's own by code, and per-site overrides as a table
    # (none of it when every transfer takes 0 periods: SHIP is then what it always was).
    timed = any(transfer_default.values()) or any(transfer_at.values())
    transfer_lead = np.array([transfer_default[p] for p in program_names], dtype=np.int64)
    start_position = np.array([position[start[p]] for p in program_names], dtype=np.int64)
    transfer_sites = pd.DataFrame(
        [(program_code[p], site_code[s], n) for (p, s), n in sorted(transfer_at.items())
         if p in program_code and s in site_code],
        columns=["p", "s", "transfer"]).astype(np.int64)
    demand = pd.DataFrame(
        [(program_code[p], market_code[m], modality[p], scale_of(p, t), position[t],
          committed.get((p, m, t), 0.0) + potential.get((p, m, t), 0.0))
         for (p, m, t) in demand_keys if t >= start[p]],
        columns=["p", "m", "modality", "scale", "position", "wanted"])

    if gates is not None:
        gates = gates.assign(s=gates["site"].map(site_code), m=gates["market"].map(market_code),
                             gated=True).dropna(subset=["s", "m"])
        gates = gates.astype({"s": np.int64, "m": np.int64})[
            ["s", "m", "modality", "scale", "first", "gated"]]
        commitments = pd.DataFrame(
            [(program_code[p], market_code[m], position[t]) for (p, m, t), b in
             committed.items() if b > 0], columns=["p", "m", "position"]).assign(committed=True)
    out = Shipments([], [], {"production": np.zeros(0), "transport": np.zeros(0),
                             "tariffs": np.zeros(0)}, np.zeros(0), np.zeros(0), [], [],
                    np.zeros(0), np.zeros(0, dtype=np.int64), [])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in out.cost_parts}
    slots, bounds, production_bounds, production_of = [], [], [], []
    capacity: set[tuple[int, int]] = set()
    for first in range(0, len(program_names), _PROGRAMS_PER_CHUNK):
        chunk = demand[(demand["p"] >= first) & (demand["p"] < first + _PROGRAMS_PER_CHUNK)]
        c = chunk.merge(routes, on=["modality", "scale", "m"])
        c = c[c["online"] <= c["position"]]
        if timed:  # the transfer to s, started at start(p), is complete by t
            c = c.merge(transfer_sites, on=["p", "s"], how="left")
            code = c["p"].to_numpy()
            lead = c["transfer"].fillna(pd.Series(transfer_lead[code], index=c.index))
            c = c[c["position"].to_numpy() >= start_position[code] + lead.to_numpy()]
            c = c.drop(columns="transfer")
        if gates is not None:  # approvals: from the approval's first position on
            c = c.merge(gates, on=["s", "m", "modality", "scale"], how="left")
            first = c["first"].to_numpy(dtype=float)  # NaN: never
            allowed = np.less_equal(first, c["position"].to_numpy(), where=~np.isnan(first),
                                    out=np.zeros(len(c), dtype=bool))
            held = c["gated"].notna().to_numpy() & ~allowed
            if held.any():  # what they hold back from committed demand, or from any site
                at = ["p", "m", "position"]
                gone = c.loc[held, [*at, "s"]].merge(
                    c.loc[~held, at].drop_duplicates().assign(kept=True), on=at, how="left")
                gone = gone.merge(commitments, on=at, how="left")
                gone = gone[gone["kept"].isna() | gone["committed"].notna()]
                for p_, m_, pos_, s_ in zip(gone["p"].tolist(), gone["m"].tolist(),
                                            gone["position"].tolist(), gone["s"].tolist(),
                                            strict=True):
                    out.blocked.setdefault((program_names[p_], market_names[m_],
                                            periods[pos_]), set()).add(site_names[s_])
            c = c[~held].drop(columns=["first", "gated"])
        c = c.merge(yields, on=["p", "s"], how="left")
        c["use"] = c["use"].fillna(pd.Series(default_use[c["p"].to_numpy()], index=c.index))
        c = c.sort_values(["p", "s", "m", "position"], ignore_index=True)
        p, s, m, pos = (c[name].to_numpy() for name in ("p", "s", "m", "position"))
        df, variable, use = disc[pos], c["variable"].to_numpy(), c["use"].to_numpy()
        parts["production"].append(df * variable * use)
        parts["transport"].append(df * c["transport"].to_numpy())
        parts["tariffs"].append(df * c["tariff"].to_numpy() * variable * use)
        slots.append(use)
        c["most"] = c["most"].to_numpy() * made_over[p] / use
        bounds.append(np.minimum(c["wanted"].to_numpy(), c["most"].to_numpy()))
        out.keys.extend(zip(programs_of[p].tolist(), sites_of[s].tolist(),
                            markets_of[m].tolist(), periods_of[pos].tolist(), strict=True))
        out.suite.extend(suites_of[c["suite"].to_numpy()].tolist())
        served = c.drop_duplicates(["p", "m", "position"])
        out.demand.extend(zip(programs_of[served["p"].to_numpy()].tolist(),
                              markets_of[served["m"].to_numpy()].tolist(),
                              periods_of[served["position"].to_numpy()].tolist(), strict=True))
        by_production = c.groupby(["p", "s", "position"], sort=True)
        made = by_production.agg(wanted=("wanted", "sum"), most=("most", "first"))
        production_of.append(len(out.production) + by_production.ngroup().to_numpy())
        levels = [made.index.get_level_values(i).to_numpy() for i in range(3)]
        out.production.extend(zip(programs_of[levels[0]].tolist(), sites_of[levels[1]].tolist(),
                                  periods_of[levels[2]].tolist(), strict=True))
        production_bounds.append(np.minimum(made["wanted"].to_numpy(), made["most"].to_numpy()))
        capacity.update(zip(c["suite"].tolist(), pos.tolist(), strict=True))
    if out.keys:
        out.cost_parts = {name: np.concatenate(arrays) for name, arrays in parts.items()}
        out.slots = np.concatenate(slots)
        out.bound = np.concatenate(bounds)
        out.production_bound = np.concatenate(production_bounds)
        out.production_of = np.concatenate(production_of)
    out.capacity_rows = sorted((*suite_keys[k], periods[t]) for k, t in capacity)
    return out


def _objects(values: Sequence[Any]) -> np.ndarray:
    """``values`` as an object array (tuples stay elements), to pick members by code."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _transfer_periods(case: Case) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """L: the periods each program's technology transfers take, and the per-site
    durations of `tech_transfers` that are given (the program's applies elsewhere)."""
    programs = case.programs
    default = {p: int(n) for p, n in zip(programs["program"],
                                         programs["tech_transfer_periods"], strict=True)}
    at = {(p, s): int(n) for p, s, n in zip(case.tech_transfers["program"],
                                             case.tech_transfers["site"],
                                             case.tech_transfers["tech_transfer_periods"],
                                             strict=True) if pd.notna(n)}
    return default, at


def offtake_words(case: Case, p: str, mkt: str, t: int) -> str:
    """"committed offtake of ANCHORS for p in mkt, period t": how a message names one."""
    anchors = sorted(set(case.offtakes.loc[(case.offtakes["program"] == p)
                                           & (case.offtakes["market"] == mkt)
                                           & (case.offtakes["period"] == t), "anchor"]))
    return f"committed offtake of {', '.join(anchors)} for {p} in {mkt}, period {t}"


def _why_unservable(case: Case, p: str, mkt: str, t: int, start: int, scale: str,
                    periods: list[int], transfer_default: dict[str, int],
                    transfer_at: dict[tuple[str, str], int]) -> str:
    """Why a committed offtake of p in period t is one no site can serve: the first reason
    that applies (the words after `offtake_words`)."""

    def periods_of(n: int) -> str:
        return f"{n} period{'' if n == 1 else 's'}"

    program = case.programs.set_index("program").loc[p]
    modality, cf = program["modality"], program["commercial_from"]
    if t < start:
        return f"{p} cannot be produced before its earliest start {start}"
    suites = case.suites[(case.suites["modality"] == modality) & (case.suites["scale"] == scale)]
    if suites.empty:  # a committed phase goes only to sites with suites for that phase
        when = "" if pd.isna(cf) else \
            f" ({'before' if scale == 'clinical' else 'from'} its commercial_from {int(cf)})"
        article = "an" if modality[0] in "aeiou" else "a"
        return (f"no site has {article} {modality} {scale}-scale suite for {p}'s {scale} "
                f"phase{when}")
    # The transfer to every site that has such a suite is still under way in t.
    leads = sorted({transfer_at.get((p, s), transfer_default[p]) for s in suites["site"]})
    ready = periods.index(start) + leads[0]
    if periods.index(t) < ready:
        took = (periods_of(leads[0]) if len(leads) == 1 else
                f"at least {periods_of(leads[0])} to any site with a {modality} "
                f"{scale}-scale suite")
        when = f"before {periods[ready]}" if ready < len(periods) else "within the horizon"
        return (f"{p}'s technology transfer ({took}, from its earliest start {start}) "
                f"cannot be complete {when}")
    return (f"no {modality} {scale}-scale suite can supply {mkt} by {t} (lanes, "
            "exclusion rules, lead times and technology transfers leave none)")
