"""A constructive start: the integer decisions of a plausible plan, chosen greedily from
the index sets without any LP, for HiGHS to complete and start from.

On large cases HiGHS's own first plan comes late and poor: its presolve and
feasibility jump take far longer than the engine's start for a far worse plan
(measured). The greedy below decides who goes where and what is built in one pass over
the programs; `capacity.solve` then fixes those integers, reduces the model
(`capacity.engine.highs.reduce_fixed`), lets HiGHS solve the (small) LP that is left,
and hands the completed plan to the MIP as its incumbent.
A start that some rule makes infeasible is simply not used. `rounded_start` makes the
same kind of start from a solution of the LP relaxation instead (on large models, where
PDLP gives one). models/formulation.md, "Solving", states both.

"Measured" here and below: the figures are in ``benchmarks/RESULTS.md``, "Measurements
behind the engine's design", engine/start.py.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from capacity.model.index_sets import IndexSets, ShareRule, ShipKey, Suite, group
from capacity.model.linear import LinearModel
from capacity.model.phases import BOTH

# How much (MUSD per batch) the greedy pays to keep a share rule: the rule's price is
# unknown before solving, and a start that breaks a rule would be thrown away.
RULE_PREFERENCE = 1e3


@dataclass
class Start:
    """The integer decisions of a constructive start (every integer variable's value).

    Attributes:
        build: modules ordered per BUILD key (all keys, zero where none).
        open: Open per OPEN key.
        assign: Assign per ASSIGN key.
        reserve: reservation blocks per RESERVE key (the start reserves none).
        profitable: Profitable per margin period (0: no reinvestment counted).
        approve: Approve per APPROVE key (site approvals per market).
        produce: Produce per campaign (`capacity.model.changeovers`): 1 where the program
            is made in the suite in the period.
        unplaced: programs with commitments the greedy could not place: the start cannot
            be completed, so `capacity.solve` does not try (HiGHS starts on its own).
    """

    build: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    open: dict[tuple[str, int], float] = field(default_factory=dict)
    assign: dict[tuple[str, str, str], float] = field(default_factory=dict)
    reserve: dict[tuple[str, int], float] = field(default_factory=dict)
    profitable: dict[int, float] = field(default_factory=dict)
    produce: dict[tuple[str, str, int], float] = field(default_factory=dict)
    unplaced: list[str] = field(default_factory=list)
    approve: dict[tuple[str, str, str, int], float] = field(default_factory=dict)

    def values(self) -> dict[str, dict]:  # type: ignore[type-arg]
        """Values by the model's variable name (``Build``, ``Open``, ...)."""
        return {"Build": self.build, "Open": self.open, "Assign": self.assign,
                "Reserve": self.reserve, "Profitable": self.profitable,
                "Approve": self.approve, "Produce": self.produce}


# An LP value above which `rounded_start` takes a site as opened (its openings summed
# over the periods) or a program as assigned to a site, and below which a module does not
# count (cumulative modules are rounded up from 0.01 above a whole number).
ROUND_AT = 0.01


def rounded_start(lm: LinearModel, ix: IndexSets, x: np.ndarray) -> Start:
    """The integer decisions rounded from a solution ``x`` of the LP relaxation (a value per
    column of ``lm``; PDLP's, converged or not), for `complete_start`:

    - each candidate site whose LP openings sum to more than `ROUND_AT` opens in the first
      period where its LP opening is above 10⁻³;
    - each suite has, by each period, its cumulative LP modules rounded up (less
      `ROUND_AT`), never fewer than by the period before: Build is the increase;
    - each program (each phase of one whose phases are assigned apart) is assigned to
      its max_sites sites of largest LP `Assign` above `ROUND_AT`;
    - reservations and reinvestment switches are rounded to the nearest whole number;
    - each approval whose LP decisions sum to more than `ROUND_AT` is decided in the first
      period where its LP decision is above 10⁻³ (as an opening).
    - a campaign (`Produce`) is run where its LP value is above `ROUND_AT` and its
      program is assigned to its site (or has no `Assign` columns): rounded up, like
      modules, so that the LP's production there stays possible.

    Rounding up keeps the LP's capacity and openings, which the completion (every
    integer fixed, the rest an LP) then fills; a rounding some row forbids (a module at
    a site opened too late) is not completed, and the plan in hand stands. From PDLP's
    solution it gives a better plan than the greedy start, though not as good as a dive
    from the same solution (measured)."""
    def values(name: str) -> list[tuple[Any, float]]:
        v = lm.variables.get(name)
        return [] if v is None else [(k, float(x[v.start + i])) for i, k in enumerate(v.keys)]

    start = Start()
    sites: dict[str, list[tuple[int, tuple[str, int], float]]] = defaultdict(list)
    for key, value in values("Open"):
        sites[key[0]].append((ix.position[key[1]], key, value))
    for periods in sites.values():
        periods.sort()
        opened = sum(v for _p, _k, v in periods) > ROUND_AT
        first = next((k for _p, k, v in periods if v > 1e-3), None) if opened else None
        start.open.update({k: float(k == first) for _p, k, _v in periods})
    approvals: dict[tuple[str, str, str], list[tuple[int, Any, float]]] = defaultdict(list)
    for key, value in values("Approve"):
        approvals[key[:3]].append((ix.position[key[3]], key, value))
    for decisions in approvals.values():
        decisions.sort()
        decided = sum(v for _p, _k, v in decisions) > ROUND_AT
        first = next((k for _p, k, v in decisions if v > 1e-3), None) if decided else None
        start.approve.update({k: float(k == first) for _p, k, _v in decisions})
    suites: dict[tuple[str, str, str], list[tuple[int, tuple[str, str, str, int], float]]] = \
        defaultdict(list)
    for key, value in values("Build"):
        suites[key[:3]].append((ix.position[key[3]], key, value))
    for builds in suites.values():
        builds.sort()
        cumulative, built = 0.0, 0
        for _p, key, value in builds:
            cumulative += value
            now = max(built, math.ceil(cumulative - ROUND_AT))
            start.build[key] = float(now - built)
            built = now
    programs: dict[tuple[str, str], list[tuple[float, tuple[str, str, str]]]] = \
        defaultdict(list)
    for key, value in values("Assign"):
        programs[(key[0], key[2])].append((value, key))  # by program and phase
    for (p, _c), sites_of in programs.items():
        sites_of.sort(key=lambda vk: -vk[0])
        for rank, (value, key) in enumerate(sites_of):
            start.assign[key] = float(rank < ix.program_max_sites[p] and value > ROUND_AT)
    start.reserve = {k: float(round(v)) for k, v in values("Reserve")}
    start.profitable = {k: float(round(v)) for k, v in values("Profitable")}
    # (program, site) pairs assigned in some phase; programs with Assign columns
    assigned = {(a[0], a[1]) for a, v in start.assign.items() if v > 0}
    modelled = {p for p, _c in programs}
    start.produce = {k: float(v > ROUND_AT and (k[:2] in assigned or k[0] not in modelled))
                     for k, v in values("Produce")}
    return start


def start_columns(lm: LinearModel, start: Start) -> list[tuple[int, float]]:
    """The start as (column of ``lm``, value) pairs."""
    return [(lm.column(name, key), value) for name, values in start.values().items()
            for key, value in values.items()]


@dataclass
class _Capacity:
    """Batch slots taken and modules ordered per suite as the greedy places programs."""

    ix: IndexSets
    used: dict[tuple[Suite, int], float] = field(default_factory=lambda: defaultdict(float))
    modules: dict[Suite, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    build_periods: dict[Suite, list[int]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for s, q, c, t in self.ix.build:
            self.build_periods[(s, q, c)].append(t)

    def online(self, k: Suite, t: int) -> int:
        """Modules of suite k producing in t."""
        pos, lead = self.ix.position, self.ix.suite_lead[k]
        return sum(n for t0, n in self.modules[k].items() if pos[t0] + lead <= pos[t])

    def modules_needed(self, k: Suite, slots: dict[int, float]) -> dict[int, int] | None:
        """Modules to order (by order period) so that ``slots`` more fit in suite k in
        each period, or None if the suite cannot take them. Each module is ordered in the
        latest period that still brings it online in time."""
        ix, pos = self.ix, self.ix.position
        module, lead = ix.suite_module.get(k, 0.0), ix.suite_lead.get(k, 0)
        extra: dict[int, int] = {}
        for t in sorted(slots, key=pos.__getitem__):
            online = self.online(k, t) + sum(n for t0, n in extra.items()
                                             if pos[t0] + lead <= pos[t])
            short = self.used[(k, t)] + slots[t] - ix.suite_existing.get(k, 0.0) \
                - module * online
            if short <= 1e-9:
                continue
            orders = [t0 for t0 in self.build_periods.get(k, ()) if pos[t0] + lead <= pos[t]]
            n = math.ceil(short / module - 1e-9) if module > 0 else 0
            ordered = sum(self.modules[k].values()) + sum(extra.values())
            if not orders or n == 0 or ordered + n > ix.build_upper.get(k, 0):
                return None
            latest = max(orders, key=pos.__getitem__)
            extra[latest] = extra.get(latest, 0) + n
        return extra

    def take(self, k: Suite, slots: dict[int, float], extra: dict[int, int]) -> None:
        for t0, n in extra.items():
            self.modules[k][t0] = self.modules[k].get(t0, 0) + n
        for t, x in slots.items():
            self.used[(k, t)] += x


Needs = dict[Suite, tuple[dict[int, float], dict[int, int]]]  # slots and module orders


@dataclass
class _RuleSteer:
    """What the greedy knows of the share rules: a start that breaks one is thrown away.

    A max-share rule (operator or country) on market m caps one owner's supply at
    share·(all supply to m); the greedy counts the owner's committed batches placed so
    far against share·(all committed batches to m in t), a denominator known up front
    (potential supply served by others only loosens the rule), and steers away from a
    site whose owner would go over, and potential supply towards owners under the cap.
    Batches count in the rule's measure (`capacity.model.measures`).
    """

    ix: IndexSets
    domestic: set[str] = field(default_factory=set)
    caps: dict[str, list[ShareRule]] = field(default_factory=lambda: defaultdict(list))
    total: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    # (rule, t): committed to the rule's market in t, in the rule's measure
    placed: dict[tuple[str, str, int], float] = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self) -> None:
        for u in self.ix.share_rules:
            if u.kind == "min_domestic_share":
                self.domestic.add(u.market)
            else:
                self.caps[u.market].append(u)
        for (p, m, t), x in self.ix.committed.items():
            for u in self.caps.get(m, ()):
                self.total[(u.rule, t)] += x * self.ix.measures.of(u.measure, (p, m, t))

    def owner(self, u: ShareRule, s: str) -> str:
        return self.ix.site_operator[s] if u.kind == "max_operator_share" \
            else self.ix.site_region[s]

    def over(self, p: str, s: str, m: str, t: int, committed: float) -> float:
        """Committed batches of (p,s,m,t) that a domestic or max-share rule would not
        take."""
        out = committed if m in self.domestic and self.ix.site_region[s] != m else 0.0
        for u in self.caps.get(m, ()):
            who = self.owner(u, s)
            w = self.ix.measures.of(u.measure, (p, m, t))
            if who in u.subjects and self.placed[(u.rule, who, t)] + w * committed > \
                    u.share * self.total[(u.rule, t)] + 1e-9:
                out = max(out, committed)
        return out

    def helps(self, s: str, m: str, t: int) -> bool:
        """Whether potential supply from s to m in t helps a rule: made in m under a
        domestic-share rule, or diluting an owner over a max-share rule (s's own owner
        being under its cap)."""
        if m in self.domestic and self.ix.site_region[s] == m:
            return True
        caps = self.caps.get(m, ())
        return bool(caps) and all(
            self.placed[(u.rule, self.owner(u, s), t)] <= u.share * self.total[(u.rule, t)]
            for u in caps)

    def take(self, keys: list[ShipKey]) -> None:
        for p, s, m, t in keys:
            committed = self.ix.committed.get((p, m, t), 0.0)
            if committed > 0:
                for u in self.caps.get(m, ()):
                    self.placed[(u.rule, self.owner(u, s), t)] += \
                        committed * self.ix.measures.of(u.measure, (p, m, t))


# Passes of the greedy: a program left unplaced goes first in the next pass (realistic
# tier G: 2 of 10,000 programs unplaced by the first pass, none by the second).
START_PASSES = 3


def constructive_start(ix: IndexSets, tolls: np.ndarray | None = None) -> Start:
    """Greedy integer decisions for ``ix`` (`_greedy`), in up to `START_PASSES` passes: a
    program with commitments that a pass could not place (the sites it can be made at
    filled by the programs placed before it) is placed first in the next pass, before
    every program not yet left unplaced. The passes stop where one leaves no program
    unplaced that the ones before it placed. The last pass's start is returned; its
    ``unplaced`` are the programs that pass could not place (the start is then not
    used)."""
    ahead: list[str] = []
    for _ in range(START_PASSES):
        start = _greedy(ix, tolls, ahead)
        new = [p for p in start.unplaced if p not in ahead]
        if not new:  # all placed, or those left could not be placed even when first
            break
        ahead = [*ahead, *new]
    return start


def _greedy(ix: IndexSets, tolls: np.ndarray | None, ahead: list[str]) -> Start:
    """Greedy integer decisions for ``ix`` (see the module docstring); with ``tolls`` (MUSD
    per batch, per shipment in ``ix.ship`` order) added to every shipment's cost: the
    suites' capacity priced by a Lagrangian bound's prices (`capacity.engine.lagrangian`), which
    steers programs away from the suites the others will want
    (`capacity.engine.lagrangian.Decomposition.tolls`, `capacity.engine.large._steered_start`).

    Programs are placed one at a time: those in ``ahead`` (in its order), then those with
    the most committed batches first. For
    each program, every site that can make it is priced (`_price_site`): its committed
    batches at the site's cost per batch, plus each potential batch whose value exceeds
    that cost (value minus cost, as a saving), minus the transfer cost, minus the capex
    of the modules the suite must add so that the batches fit next to what earlier
    programs took (ordered in the latest period that brings them online in time), minus
    opening a candidate site not yet open, minus the site approvals its shipments to
    markets that require approval need and the greedy has not yet decided early enough
    (each decided in the latest period that holds by the first such shipment). The best
    site that can hold all the commitments wins; a program with no commitments is placed
    only where it saves money. A candidate site opens in the latest period that lets it
    produce, and its modules come online and its approvals be decided, when first needed.
    A program whose phases are assigned apart is placed phase by phase, each phase like a
    program (its commercial phase at the site of its clinical phase earns back the
    transfer: `capacity.model.phases`).
    """
    pos = ix.position
    cap = _Capacity(ix)
    phases = ix.phases
    together = phases.one_site
    # (key, suite, cost) of every shipment, by (program, phase label, site): the label is
    # the suite's scale, or `both` for a program moving as one (`Phases.label`)
    cost = ix.ship_cost if tolls is None else ix.ship_cost + tolls
    made = ix.inventory.made_when_shipped
    if made:  # a storable batch's production is on its Make: priced as made when shipped
        cost = cost.copy()
        cost[list(made)] += list(made.values())
    entries = zip(ix.ship, ix.ship_suite, cost.tolist(), strict=True)
    if len(ix.outages.ship_cut):  # shipments an outage cuts (bound 0) are no option
        cut = set(ix.outages.ship_cut.tolist())
        entries = (e for i, e in enumerate(entries) if i not in cut)  # type: ignore[assignment]
    ships = group(entries,
                  lambda e: (e[0][0], BOTH if e[0][0] in together else e[1][2], e[0][1]))
    commitments: dict[tuple[str, str], set[tuple[str, str, int]]] = defaultdict(set)
    for d, x in ix.committed.items():
        if x > 0:
            commitments[(d[0], phases.label(d[0], d[2]))].add(d)
    rules = _RuleSteer(ix)
    ready: dict[str, int] = {}  # candidate site -> earliest position it can produce in
    for s, t0 in ix.open:
        ready[s] = min(ready.get(s, len(pos)), pos[t0] + ix.site_lead[s])
    opening_cost: dict[str, float] = {}
    for (s, _t0), c in ix.open_cost.items():
        opening_cost[s] = min(opening_cost.get(s, c), c)
    sites_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p, c, s in sorted(ships):
        sites_of[(p, c)].append(s)
    needed_by: dict[str, int] = {}  # opened candidate site -> position it must be ready by
    assigned: set[tuple[str, str, str]] = set()
    produced: set[tuple[str, str, int]] = set()  # (p,s,t) made in a suite with changeovers
    unplaced = []
    approvals = _Approvals(ix)
    rank = {p: i for i, p in enumerate(ahead)}
    for unit in sorted(sites_of, key=lambda u: (rank.get(u[0], len(rank)),
                                                 -sum(ix.committed[d] for d in commitments[u]),
                                                 u)):
        p, phase = unit
        best: tuple[float, str, Needs, dict[tuple[str, str, str], int]] | None = None
        for s in sites_of[unit]:
            candidate = ix.site_status[s] == "candidate"
            priced = _price_site(ix, cap, ships[(p, phase, s)], commitments[unit], rules,
                                 ready.get(s, len(pos)) if candidate else 0, approvals)
            if priced is None:
                continue
            value, needs, approve = priced
            value -= ix.assign_cost.get((p, s, phase), 0.0)
            other = {"clinical": "commercial", "commercial": "clinical"}.get(phase)
            if (p, s, other) in assigned:  # the other phase is there: a scale-up in place
                value += phases.scale_up_saving.get((p, s), 0.0)
            if candidate and s not in needed_by:
                value -= opening_cost.get(s, 0.0)
            if best is None or value > best[0] + 1e-9:
                best = (value, s, needs, approve)
        if best is None or (not commitments[unit] and best[0] <= 0):
            if commitments[unit] and p not in unplaced:
                unplaced.append(p)
            continue
        _value, s, needs, approve = best
        for k, (slots, extra) in needs.items():
            cap.take(k, slots, extra)
            if k in ix.changeovers.slots:
                produced.update((p, s, t) for t in slots)
        decided = approvals.take(approve)
        rules.take([key for key, _k, _c in ships[(p, phase, s)]])
        assigned.add((p, s, phase))
        if ix.site_status[s] == "candidate":
            first = min(pos[key[3]] for key, _k, _c in ships[(p, phase, s)])
            for k, (_slots, extra) in needs.items():
                first = min([first, *(pos[t0] + ix.suite_lead[k] for t0 in extra)])
            first = min([first, *decided])  # its approvals are decided once it can produce
            needed_by[s] = min(needed_by.get(s, first), first)
    start = _start(ix, cap, assigned, needed_by, unplaced, produced)
    start.approve = approvals.values()
    return start


@dataclass
class _Approvals:
    """The site approvals the greedy decides: each approval's decision position, the
    latest that holds by the first shipment needing it (`capacity.model.approvals`)."""

    ix: IndexSets
    of: dict[ShipKey, tuple[str, str, str]] = field(default_factory=dict)
    decided: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ap = self.ix.approvals
        for i, j in zip(ap.ship_rows, ap.ship_approved_by, strict=True):
            self.of[self.ix.ship[i]] = ap.approved_by[j][:3]

    def price(self, first: dict[tuple[str, str, str], int]) -> float:
        """What approvals holding from ``first`` (position, by approval) cost beyond those
        already decided: each decided lead periods before, discounted there (less the
        decision it replaces)."""
        ap, periods = self.ix.approvals, self.ix.periods
        out = 0.0
        for a, n in first.items():
            at = self.decided.get(a)
            if at is not None and at + ap.lead[a] <= n:
                continue
            out += ap.cost.get((*a, periods[n - ap.lead[a]]), 0.0)
            if at is not None:
                out -= ap.cost.get((*a, periods[at]), 0.0)
        return out

    def take(self, first: dict[tuple[str, str, str], int]) -> list[int]:
        """Decide the approvals holding from ``first``; the positions of the decisions
        made or moved (a candidate site must produce by then)."""
        moved = []
        for a, n in first.items():
            at = n - self.ix.approvals.lead[a]
            if a not in self.decided or self.decided[a] > at:
                self.decided[a] = at
                moved.append(at)
        return moved

    def values(self) -> dict[tuple[str, str, str, int], float]:
        """Approve per APPROVE key."""
        out = dict.fromkeys(self.ix.approvals.decide, 0.0)
        for a, at in self.decided.items():
            key = (*a, self.ix.periods[at])
            if key in out:
                out[key] = 1.0
        return out


def _price_site(ix: IndexSets, cap: _Capacity, ships: list[tuple[ShipKey, Suite, float]],
                commitments: set[tuple[str, str, int]], rules: _RuleSteer,
                ready: int, approvals: _Approvals,
                ) -> tuple[float, Needs, dict[tuple[str, str, str], int]] | None:
    """Net value of making a program at one site (its shipments there: key, suite, cost
    per batch), the slots and modules it needs in the site's suites, and the approvals
    its shipments need (by the position of the first); None when the site cannot serve
    every commitment (no lane, not open in time, no room).

    Two ways are priced and the better taken: room for the commitments and the profitable
    potential demand (modules added for both), or for the commitments alone (no gain
    counted from potential demand). Share rules steer: RULE_PREFERENCE per committed
    batch that a rule would not take (`_RuleSteer.over`), and for each potential batch
    that helps a rule (`_RuleSteer.helps`): rules count all supply, potential included.
    Each period the program is made in a suite that charges changeovers takes the
    suite's changeover slots too (`capacity.model.changeovers`).
    """
    pos = ix.position
    cost_of_commitments = gain = 0.0
    committed_slots: dict[Suite, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    wanted_slots: dict[Suite, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    committed_approvals: dict[tuple[str, str, str], int] = {}  # approval -> first position
    wanted_approvals: dict[tuple[str, str, str], int] = {}
    served = set()
    for key, k, cost in ships:
        p, s, m, t = key
        if pos[t] < ready:
            if (p, m, t) in commitments:
                return None
            continue
        d = (p, m, t)
        slots = ix.slots(p, s)
        approval = approvals.of.get(key)
        if d in commitments:
            committed = ix.committed[d]
            served.add(d)
            cost_of_commitments += (cost * committed
                                    + RULE_PREFERENCE * rules.over(p, s, m, t, committed))
            committed_slots[k][t] += committed * slots
            wanted_slots[k][t] += committed * slots
            if approval is not None:
                _first(committed_approvals, approval, pos[t])
                _first(wanted_approvals, approval, pos[t])
        potential = ix.potential.get(d, 0.0)
        margin = ix.serve_value.get(d, 0.0) - cost
        if potential > 0 and margin > 0:
            gain += (margin + (RULE_PREFERENCE if rules.helps(s, m, t) else 0.0)) * potential
            wanted_slots[k][t] += potential * slots
            if approval is not None:
                _first(wanted_approvals, approval, pos[t])
    if served != commitments:
        return None
    best = None
    for slots_by_suite, counted_gain, approve in ((wanted_slots, gain, wanted_approvals),
                                                  (committed_slots, 0.0, committed_approvals)):
        needs: Needs = {}
        value = counted_gain - cost_of_commitments - approvals.price(approve)
        for k, by_period in slots_by_suite.items():
            changeover = ix.changeovers.slots.get(k, 0.0)
            if changeover:  # one campaign per period the program is made in k
                by_period = defaultdict(float, {t: x + changeover for t, x in by_period.items()})
            extra = cap.modules_needed(k, by_period)
            if extra is None:
                break
            value -= sum(n * ix.build_cost.get((*k, t0), 0.0) for t0, n in extra.items())
            needs[k] = (dict(by_period), extra)
        else:
            if best is None or value > best[0]:
                best = (value, needs, approve)
    return best


def _first(first: dict[tuple[str, str, str], int], approval: tuple[str, str, str],
           at: int) -> None:
    """Note that ``approval`` must hold by position ``at``."""
    first[approval] = min(first.get(approval, at), at)


def _start(ix: IndexSets, cap: _Capacity, assigned: set[tuple[str, str, str]],
           needed_by: dict[str, int], unplaced: list[str],
           produced: set[tuple[str, str, int]]) -> Start:
    """Every integer variable's value from the greedy's choices."""
    pos = ix.position
    start = Start(unplaced=unplaced)
    start.build = {b: float(cap.modules[b[:3]].get(b[3], 0)) for b in ix.build}
    start.assign = {a: 1.0 if a in assigned else 0.0 for a in ix.assign}
    start.open = {o: 0.0 for o in ix.open}
    choices: dict[str, list[int]] = defaultdict(list)
    for s, t0 in ix.open:
        choices[s].append(t0)
    for s, first in needed_by.items():
        # the latest opening period that has s ready by `first` (else the earliest)
        fits = [t0 for t0 in choices[s] if pos[t0] + ix.site_lead[s] <= first]
        if choices[s]:
            t0 = max(fits, key=pos.__getitem__) if fits else min(choices[s], key=pos.__getitem__)
            start.open[(s, t0)] = 1.0
    start.reserve = {r: 0.0 for r in ix.reservations.reserve}
    start.profitable = {t: 0.0 for t in ix.reinvestment.margin_periods}
    start.produce = {c: float(c in produced) for c in ix.changeovers.campaigns}
    return start
