"""Root cuts: cut-set MIR inequalities on suite groups, and reduced-cost fixing.

Valid inequalities, not part of the model (models/formulation.md, "Cuts"): every plan
that meets the model's rows meets them, so they change no plan and no optimum, only
the LP relaxation's bound. A solve with ``SolveOptions(cuts=True)`` solves the LP
relaxation, separates the cuts violated at its solution, adds them as rows and
solves it again, for a few rounds (`root_cuts`), then hands them to HiGHS's branch
and bound as rows of the model it holds (`add_cut_rows`).

**The family.** For a modality q, scale c and period t let K be the suites (s,q,c) with
a `suite_capacity` row at t. For a program p that is not storable (its slots are taken
by `Ship`, not `Make`) and ships from K at t, let

    x_{p,K} = Σ_{k∈K} Σ_m slots[p,s]·Ship[p,s,m,t]                (slots it takes in K)
    d_p     = min(Σ_m σ_{p,m}·(committed + potential)[p,m,t], Σ_{k∈K_p} cap_k)

with σ_{p,m} the largest slots[p,s] over K's shipments of (p,m,t), K_p the suites of K
p ships from and cap_k = existing[k] + module[k]·Σ_{online} ub(Build) + Σ_v block[v]·
ub(Reserve[v,t]) the most capacity suite k can have at t. Z_k = Σ_{t': pos(t')+lead[k]
≤ pos(t)} Build[k,t'] is suite k's modules online at t (an integer), R_v = Reserve[v,t]
the blocks of a reservation v at a suite of K (an integer). For any set P of those
programs the **base inequality**

    Σ_k module[k]·Z_k + Σ_v block[v]·R_v + Σ_{p∈P} (d_p − x_{p,K}) ≥ D(P) − E(K)

holds, D(P) = Σ_{p∈P} d_p, E(K) = Σ_{k∈K} existing[k]. With a divisor δ > 0 (a module or
block size of the group), b = (D(P) − E(K))/δ and f = b − ⌊b⌋ > 0, its **MIR** is

    Σ_j δ·(f·⌊a_j/δ⌋ + min(frac(a_j/δ), f))·Y_j + Σ_{p∈P} (d_p − x_{p,K}) ≥ δ·f·⌈b⌉

over the integer columns Y_j (each online `Build` column with a_j = module[k], each
`Reserve` column with a_j = block[v]).

**Why they are valid** (for every plan, integer or not, that meets the model's rows,
only the base; for every plan with integer `Build` and `Reserve`, the MIR):

1. Sum the `suite_capacity` rows of K at t. Its left side holds slots[p,s]·Ship of every
   non-storable shipment in K, slots·Make of storable ones, changeover·Produce (≥ 0) and
   −ReservedUse; by `reservation_capacity`, Σ_p ReservedUse[v,p,t] ≤ block[v]·Reserve[v,t].
   Dropping the non-negative terms of programs outside P gives
   Σ_{p∈P} x_{p,K} ≤ E(K) + Σ_k module[k]·Z_k + Σ_v block[v]·R_v; adding D(P) to both
   sides and rearranging is the base inequality.
2. d_p ≥ x_{p,K} in every plan: by `demand_balance` (Shortfall ≥ 0, Serve ≤ potential)
   Σ_s Ship[p,s,m,t] ≤ committed + potential, each weighted by at most σ_{p,m}; and the
   slots p takes at k are at most what k's `suite_capacity` row allows, cap_k. So
   s = Σ_{p∈P}(d_p − x_{p,K}) ≥ 0 is a non-negative continuous term.
3. Σ_j a_j·Y_j + s ≥ δ·b with Y integer ≥ 0 and s ≥ 0 gives the MIR (Marchand and Wolsey
   2001): divide by δ; if Σ_j ⌊a_j/δ⌋·Y_j + Σ_{j: frac(a_j/δ) > f} Y_j ≥ ⌈b⌉ the
   integer part alone exceeds the right side; otherwise that integer sum is at most
   ⌈b⌉ − 1 and s/δ makes up at least f of the difference, which is the inequality. A
   column's coefficient depends on a_j alone, so the online `Build` columns of one
   suite (Z_k's parts) each get the coefficient Z_k would.

The cuts therefore hold at every feasible plan, and the tests check it by solving each
candidate cut's left side to its minimum over the tiny cases' MILPs
(tests/engine/test_cuts.py).

**Reduced-cost fixing** (`reduced_cost_fixing`): with the LP (with cuts) at its optimum z,
an integer column at its lower bound with reduced cost r > 0 can only rise by n if the
objective rises by at least n·r; where z + r exceeds the incumbent's objective no plan
better than the incumbent has it above its bound, so it is fixed there (at an upper bound
alike with r < 0). A column is fixed only at the value the incumbent has, so the
incumbent stays feasible and the optimum is kept.

Elastic mode (early modules on `suite_capacity`) has no cuts: its capacity rows are
another family.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import highspy
import numpy as np

from capacity.engine.highs import CompiledModel, pass_arrays
from capacity.model import BuiltModel

# A cut is kept where it is violated by more than this, relative to max(1, |rhs|).
MIN_VIOLATION = 1e-6
# frac(b) below this (or above 1 − it) gives a cut of tiny coefficients: not made.
MIN_FRACTION = 1e-3
# Rounds of LP, separation and re-solve at the root; the share of the time limit they
# may take (the LP of tier S takes 0.3 s, of the default case 1 s).
MAX_ROUNDS = 10
CUT_TIME_SHARE = 0.2


@dataclass(frozen=True)
class Group:
    """One (modality, scale, period) with what its cuts are made of: the integer
    columns (online `Build`, `Reserve`) with their sizes, E(K), and for each non-storable
    program its d_p and its shipment columns with their slots."""

    key: tuple[str, str, int]
    existing: float
    integer_columns: np.ndarray
    integer_sizes: np.ndarray
    programs: list[str]
    demand: np.ndarray  # d_p
    ship_columns: np.ndarray
    ship_slots: np.ndarray
    ship_program: np.ndarray  # each shipment column's program (position in ``programs``)

    def used(self, x: np.ndarray) -> np.ndarray:
        """x_{p,K} of each program at the point ``x`` (a value per column)."""
        return np.bincount(self.ship_program, weights=self.ship_slots * x[self.ship_columns],
                           minlength=len(self.programs))


@dataclass(frozen=True)
class Cut:
    """Σ coefficients·x[columns] ≥ lower: one MIR of a group's base inequality."""

    group: tuple[str, str, int]
    columns: np.ndarray
    coefficients: np.ndarray
    lower: float
    divisor: float
    programs: int  # |P|

    def activity(self, x: np.ndarray) -> float:
        """The cut's left side at ``x``."""
        return float(self.coefficients @ x[self.columns])

    def violation(self, x: np.ndarray) -> float:
        """How far ``x`` is below the cut, relative to max(1, |lower|) (≤ 0: it holds)."""
        return (self.lower - self.activity(x)) / max(1.0, abs(self.lower))


def cut_groups(built: BuiltModel) -> list[Group]:
    """The (modality, scale, period) groups of ``built``'s own matrices (module
    docstring); none in elastic mode."""
    ix, lm = built.index_sets, built.linear
    if ix.elastic:
        return []
    ship, build = lm.variables["Ship"], lm.variables["Build"]
    reserve = lm.variables.get("Reserve")
    storable = np.zeros(len(ix.ship), dtype=bool)
    storable[list(ix.inventory.made_when_shipped)] = True
    suites: dict[tuple[str, str, int], list[tuple[str, str, str]]] = defaultdict(list)
    for s, q, c, t in ix.capacity_rows:
        suites[(q, c, t)].append((s, q, c))
    builds: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # positions in BUILD
    for i, b in enumerate(ix.build):
        builds[b[:3]].append(i)
    reserved: dict[tuple[tuple[str, str, str], int], list[int]] = defaultdict(list)
    for i, (v, t) in enumerate(ix.reservations.reserve):
        reserved[(ix.reservations.suite[v], t)].append(i)
    shipments: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, (key, k) in enumerate(zip(ix.ship, ix.ship_suite, strict=True)):
        if not storable[i]:
            shipments[(k[1], k[2], key[3])].append(i)
    groups = []
    for (q, c, t), members in sorted(suites.items()):
        columns, sizes, cap = [], [], {}
        for k in members:
            online = [i for i in builds.get(k, ())
                      if ix.position[ix.build[i][3]] + ix.suite_lead[k] <= ix.position[t]]
            columns += [build.start + i for i in online]
            sizes += [ix.suite_module[k]] * len(online)
            cap[k[0]] = ix.suite_existing[k] + ix.suite_module[k] * float(
                build.upper[online].sum())
            for i in reserved.get((k, t), ()):
                v = ix.reservations.reserve[i][0]
                assert reserve is not None
                columns.append(reserve.start + i)
                sizes.append(ix.reservations.block[v])
                cap[k[0]] += ix.reservations.block[v] * float(reserve.upper[i])
        ships = shipments.get((q, c, t), [])
        if not ships:
            continue
        programs = sorted({ix.ship[i][0] for i in ships})
        number = {p: j for j, p in enumerate(programs)}
        sigma: dict[tuple[str, str], float] = defaultdict(float)  # σ_{p,m}
        sites: dict[str, set[str]] = defaultdict(set)
        for i in ships:
            p, s, m, _t = ix.ship[i]
            sigma[(p, m)] = max(sigma[(p, m)], float(ix.ship_slots[i]))
            sites[p].add(s)
        by_demand = np.zeros(len(programs))
        for (p, m), most in sigma.items():
            d = (p, m, t)
            by_demand[number[p]] += most * (ix.committed.get(d, 0.0) + ix.potential.get(d, 0.0))
        by_capacity = np.array([sum(cap[s] for s in sites[p]) for p in programs])
        groups.append(Group(
            (q, c, t), float(sum(ix.suite_existing[k] for k in members)),
            np.array(columns, dtype=np.int64), np.array(sizes, dtype=float), programs,
            np.minimum(by_demand, by_capacity),
            ship.start + np.array(ships, dtype=np.int64),
            np.asarray(ix.ship_slots[ships], dtype=float),
            np.fromiter((number[ix.ship[i][0]] for i in ships), np.int64, len(ships))))
    return groups


def mir_cut(group: Group, chosen: np.ndarray, divisor: float) -> Cut | None:
    """The MIR, with divisor ``divisor``, of ``group``'s base inequality over the
    programs ``chosen`` (positions in ``group.programs``); None where its right side
    is not positive or frac(b) is within `MIN_FRACTION` of a whole number."""
    total = float(group.demand[chosen].sum())
    b = (total - group.existing) / divisor
    f = b - math.floor(b)
    if b <= 0 or f < MIN_FRACTION or f > 1 - MIN_FRACTION:
        return None
    ratio = group.integer_sizes / divisor
    whole = np.floor(ratio)
    coefficient = divisor * (f * whole + np.minimum(ratio - whole, f))
    ships = np.isin(group.ship_program, chosen)
    columns = np.concatenate([group.integer_columns, group.ship_columns[ships]])
    values = np.concatenate([coefficient, -group.ship_slots[ships]])
    # Σ (d_p − x_p) moved right: −Σ slots·Ship ≥ δ·f·⌈b⌉ − D(P)
    return Cut(group.key, columns, values, divisor * f * math.ceil(b) - total, divisor,
               len(chosen))


def candidate_cuts(group: Group, x: np.ndarray) -> list[Cut]:
    """Every MIR the greedy separation looks at for ``group`` at ``x``: P each prefix of
    the programs sorted by (d − x)/d, δ each distinct integer size of the group."""
    if not len(group.integer_columns):
        return []
    used = group.used(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        slack = np.where(group.demand > 0, (group.demand - used) / group.demand, np.inf)
    order = np.argsort(slack, kind="stable")
    order = order[group.demand[order] > 0]
    out = []
    for n in range(1, len(order) + 1):
        for divisor in np.unique(group.integer_sizes):
            if divisor > 0:
                cut = mir_cut(group, order[:n], float(divisor))
                if cut is not None:
                    out.append(cut)
    return out


def separate(groups: list[Group], x: np.ndarray) -> list[Cut]:
    """The most violated cut of each group at ``x`` (violation > `MIN_VIOLATION`)."""
    out = []
    for group in groups:
        best = max(candidate_cuts(group, x), key=lambda cut: cut.violation(x), default=None)
        if best is not None and best.violation(x) > MIN_VIOLATION:
            out.append(best)
    return out


@dataclass
class RootCuts:
    """What `root_cuts` did: the cuts kept, the LP bound before and after them (None
    where an LP did not solve), rounds, seconds, and the final LP's solution and reduced
    costs (for `reduced_cost_fixing`)."""

    cuts: list[Cut]
    lp_bound: float | None
    cut_bound: float | None
    rounds: int
    seconds: float
    x: np.ndarray | None = None
    reduced_costs: np.ndarray | None = None

    def note(self) -> str:
        """One line for the plan's messages."""
        if self.lp_bound is None:
            return f"root cuts: the LP relaxation did not solve within {self.seconds:.1f} s"
        return (f"root cuts: {len(self.cuts)} cut-set MIR rows in {self.rounds} rounds, LP "
                f"bound {self.lp_bound:,.3f} → {self.cut_bound:,.3f} ({self.seconds:.1f} s)")


def root_cuts(compiled: CompiledModel, groups: list[Group], seconds: float) -> RootCuts:
    """Rounds of: solve the LP relaxation of ``compiled``'s model (a copy, with the cuts
    so far), separate, add the violated cuts; until none is violated, `MAX_ROUNDS`, or
    ``seconds`` are spent."""
    t0 = time.perf_counter()
    lp = pass_arrays(compiled.col_cost, compiled.offset, compiled.col_lower,
                     compiled.col_upper, np.zeros(len(compiled.col_cost), dtype=bool),
                     compiled.matrix, compiled.row_lower, compiled.row_upper)
    kept: list[Cut] = []
    first = last = None
    x = reduced = None
    rounds = 0
    while True:
        left = seconds - (time.perf_counter() - t0)
        if left <= 0:
            break
        lp.highs.setOptionValue("time_limit", left)
        lp.highs.run()
        if lp.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        solution = lp.highs.getSolution()
        x = np.asarray(solution.col_value, dtype=float)
        reduced = np.asarray(solution.col_dual, dtype=float)
        last = float(lp.highs.getInfo().objective_function_value)
        first = last if first is None else first
        if rounds == MAX_ROUNDS:
            break
        cuts = separate(groups, x)
        if not cuts:
            break
        add_cut_rows(lp, cuts)
        kept += cuts
        rounds += 1
    if last is None:
        return RootCuts([], None, None, rounds, time.perf_counter() - t0)
    return RootCuts(kept, first, last, rounds, time.perf_counter() - t0, x, reduced)


def add_cut_rows(compiled: CompiledModel, cuts: list[Cut]) -> None:
    """Append ``cuts`` as rows (cut ≥ lower) to the model HiGHS holds in ``compiled``,
    and to ``compiled``'s own copy of the matrix and row bounds (as a family of their
    own for `capacity.engine.lp_bound`)."""
    if not cuts:
        return
    indptr, indices, values = compiled.matrix
    lengths = np.array([len(cut.columns) for cut in cuts], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    new_indices = np.concatenate([cut.columns for cut in cuts]).astype(np.int32)
    new_values = np.concatenate([cut.coefficients for cut in cuts])
    lower = np.array([cut.lower for cut in cuts])
    upper = np.full(len(cuts), np.inf)
    compiled.highs.addRows(len(cuts), lower, upper, len(new_values),
                           starts[:-1].astype(np.int32), new_indices, new_values)
    first_row = len(compiled.row_lower)
    compiled.matrix = (np.concatenate([indptr, indptr[-1] + starts[1:]]).astype(indptr.dtype),
                       np.concatenate([indices, new_indices]).astype(indices.dtype),
                       np.concatenate([values, new_values]))
    compiled.row_lower = np.concatenate([compiled.row_lower, lower])
    compiled.row_upper = np.concatenate([compiled.row_upper, upper])
    if compiled.row_families is not None:
        compiled.row_families = np.unique(np.append(compiled.row_families, first_row))
    names = compiled.names
    if names is not None:
        compiled.names = lambda: (names()[0], [*names()[1], *(
            f"cut_mir[{q},{c},{t},{i}]" for i, (q, c, t) in enumerate(
                cut.group for cut in cuts))])


def reduced_cost_fixing(compiled: CompiledModel, root: RootCuts,
                        incumbent: np.ndarray, objective: float) -> int:
    """Fix the integer columns of ``compiled`` that no plan better than ``incumbent``
    (objective ``objective``, a value per column) moves off the bound the LP (``root``'s
    last solution) holds them at (module docstring); only where the incumbent has them
    there. Returns how many were fixed."""
    if root.x is None or root.reduced_costs is None or root.cut_bound is None:
        return 0
    gap = objective - root.cut_bound
    if gap < 0:
        return 0
    tolerance = 1e-6 * max(1.0, abs(objective))
    x, r = root.x, root.reduced_costs
    lower, upper = compiled.col_lower, compiled.col_upper
    at_lower = compiled.integer & (np.abs(x - lower) <= 1e-9) & (r > 0) \
        & (r > gap + tolerance) & (np.abs(incumbent - lower) <= 1e-9) & (upper > lower)
    at_upper = compiled.integer & np.isfinite(upper) & (np.abs(x - upper) <= 1e-9) \
        & (r < 0) & (-r > gap + tolerance) & (np.abs(incumbent - upper) <= 1e-9) \
        & (upper > lower)
    down, up = np.flatnonzero(at_lower), np.flatnonzero(at_upper)
    if len(down):
        compiled.change_bounds(down, lower[down].copy(), lower[down].copy())
    if len(up):
        compiled.change_bounds(up, upper[up].copy(), upper[up].copy())
    return len(down) + len(up)
