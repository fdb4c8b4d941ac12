"""Value of pooling and fair cost allocation among a consortium's members.

    capacity allocate CASE [--members A,B,...] [--method shapley|nucleolus] [--samples N]

The consortium is a cost game. Its members are startups (who bring their programs'
demand and commitments) and anchors (who bring their commitments), from ``--members``,
the case's ``members`` table, or by default the case's anchors. A demand row belongs to
the members named in it: an offtake to its anchor and its program's startup, a potential
demand row to its program's startup (only members count). The case of a coalition S
keeps the rows whose member owners are all in S, and the rows no member owns (the rest
of the market, served in every coalition), with all of the case's shared
infrastructure, funds and rules. The characteristic cost is what S adds:

    c(S) = total_cost*(case of S) − total_cost*(case of ∅),   so c(∅) = 0.

When the members own every row (a members table naming every startup, say), the case of
∅ is empty and c(S) is S's standalone plan cost less the existing sites' fixed costs,
which are paid whoever produces there. Rules hold market-wide, non-members' supply
included. Reservations keep only the startups of S among their members (a reservation
left with none is dropped).

Value of pooling = Σ_i c({i}) − c(N). Allocations (formulas in models/formulation.md,
"Cost allocation"):
- Shapley value, exact from all 2^n coalitions for n ≤ `EXACT_MAX_MEMBERS`, else from
  seeded random orders (Castro et al. 2009) with a 95 % confidence interval per member.
- The core check: every coalition solved is checked for x(S) ≤ c(S); the least-core LP
  (min ε s.t. x(S) ≤ c(S) + ε, x(N) = c(N)) says whether the core is empty (ε* > 0).
- The (pre)nucleolus by sequential LPs, fixing at each round the coalitions whose
  constraint has a positive dual (tight in every optimum); offered when the Shapley value
  lies outside the core. When the core is not empty it lies in the core.

Coalitions are solved as one batch (`capacity.studies.batch.run_batch`), in parallel, into a
results folder that ``--resume`` continues: each on the grand coalition's index sets with
its own demand (`CoalitionGame.sets_from`), in Gray-code order (`gray_order`), so that a
worker re-uses one model between coalitions of the same structure
(`capacity.engine.resolver.Resolver`). ``--gap-musd G`` proves each coalition within G
MUSD instead of to optimality: every c(S) and Shapley value is then within G.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import highspy
import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.engine.highs import new_highs
from capacity.engine.options import SolveOptions
from capacity.errors import CaseError, Problem
from capacity.studies.batch import Progress, run_batch
from capacity.studies.scenarios import case_digest

EXACT_MAX_MEMBERS = 12
# Whether a coalition's solve also starts from the previous coalition's plan (measured:
# benchmarks/RESULTS.md, "Allocation at speed")
WARM_START = False
DEFAULT_SAMPLES = 200
Coalition = frozenset[str]
Method = Literal["shapley", "nucleolus"]


@dataclass(frozen=True)
class Consortium:
    """The members of the game, in order, and whether each is a startup or an anchor."""

    members: tuple[str, ...]
    kind: dict[str, str]

    def name(self, coalition: Coalition) -> str:
        """A coalition's name in the results store: ``coalition-<hex of its member bits>``
        (bit i set when member i is in it)."""
        bits = sum(1 << i for i, m in enumerate(self.members) if m in coalition)
        return f"coalition-{bits:0{max(1, math.ceil(len(self.members) / 4))}x}"


def consortium(case: Case, names: Sequence[str] | None = None) -> Consortium:
    """The consortium of ``case``: ``names`` if given, else its ``members`` table, else its
    anchors.

    Raises:
        CaseError: a name is neither a startup nor an anchor (or both), is given twice,
            or fewer than two members are left.
    """
    startups = set(case.programs["startup"])
    anchors = set(case.anchors["anchor"])
    table = dict(zip(case.members["member"], case.members["kind"], strict=True))
    source = "--members"
    if names is None:
        names, source = (list(table), "members table") if table else (sorted(anchors),
                                                                      "anchors")
    problems, kind = [], {}
    for name in names:
        if name in kind:
            problems.append(f"{name!r} is named twice")
        elif name in table:
            kind[name] = table[name]
        elif name in startups and name in anchors:
            problems.append(f"{name!r} is both a startup and an anchor: list it in the "
                            "case's members table with its kind")
        elif name in startups or name in anchors:
            kind[name] = "startup" if name in startups else "anchor"
        else:
            problems.append(f"{name!r} is neither a startup (programs.startup) nor an "
                            "anchor (anchors.anchor)")
    if not problems and len(kind) < 2:
        problems.append(f"a consortium needs at least two members; {source} gives "
                        f"{len(kind)}")
    if problems:
        raise CaseError([Problem(source, None, None, p) for p in problems])
    return Consortium(tuple(kind), kind)


def coalition_case(case: Case, con: Consortium, coalition: Coalition) -> Case:
    """The case of a coalition: the demand rows its members own and those no member owns,
    everything else of the case unchanged (see the module docstring)."""
    startups = {m for m in con.members if con.kind[m] == "startup"}
    anchors = {m for m in con.members if con.kind[m] == "anchor"}
    startup_of = case.programs.set_index("program")["startup"]
    frames = {k: v.copy() for k, v in case.tables().items()}

    off = case.offtakes
    owner_startup = off["program"].map(startup_of)
    by_startup = owner_startup.isin(startups)
    by_anchor = off["anchor"].isin(anchors)
    keep = (~by_startup | owner_startup.isin(coalition)) \
        & (~by_anchor | off["anchor"].isin(coalition))
    frames["offtakes"] = off[keep].reset_index(drop=True)

    dem = case.demand
    owner = dem["program"].map(startup_of)
    frames["demand"] = dem[~owner.isin(startups) | owner.isin(coalition)].reset_index(drop=True)

    res = case.reservations.copy()
    res["members"] = res["members"].map(
        lambda ms: tuple(m for m in ms if m not in startups or m in coalition))
    frames["reservations"] = res[(res["members"].map(len) > 0)
                                 | (case.reservations["members"].map(len) == 0)] \
        .reset_index(drop=True)
    return Case.from_frames(frames, name=con.name(coalition))


class CoalitionGame:
    """The coalitions to solve, as `run_batch` reads a scenario set: names, cases, options."""

    def __init__(self, case: Case, con: Consortium, coalitions: Sequence[Coalition],
                 options: SolveOptions) -> None:
        self.base, self.con, self.options = case, con, options
        self.scenarios: dict[str, Coalition] = {con.name(c): c for c in coalitions}
        self._base_digest: str | None = None
        self._grand: Case | None = None

    def case(self, name: str) -> Case:
        """The validated case of coalition ``name``."""
        return coalition_case(self.base, self.con, self.scenarios[name])

    def sets_from(self, name: str) -> Case:
        """The grand coalition's case: every coalition is solved on its index sets with
        its own demand (`capacity.engine.resolver.Resolver.index_sets`), so that they
        keep one structure and re-use one model, except where a member's commitments
        make rows of their own (the Resolver checks). A coalition's demand is the grand
        coalition's with rows removed; the variables this leaves without demand are free
        to be 0, and the optimum is the coalition's own (tested)."""
        if self._grand is None:
            self._grand = coalition_case(self.base, self.con, frozenset(self.con.members))
        return self._grand

    def fingerprint(self, name: str) -> str:
        """What the coalition's case depends on (`capacity.studies.batch.fingerprint`): the case,
        the consortium and the coalition's members."""
        if self._base_digest is None:
            self._base_digest = case_digest(self.base)
        members = sorted(self.scenarios[name])
        return f"{self._base_digest} {self.con.members} {self.con.kind} {members}"

    def solve_options(self, name: str, **changes: Any) -> SolveOptions:
        """The same options for every coalition (``changes`` applied)."""
        return self.options.model_copy(update=changes)


@dataclass
class Allocation:
    """The outcome of `allocate`.

    Attributes:
        members: one row per member: ``member``, ``kind``, ``standalone_musd`` (c({i})),
            ``allocated_musd``, ``saving_musd`` (standalone − allocated), ``in_core`` (no
            solved coalition holding the member pays more than its standalone cost),
            with ``ci_low_musd``/``ci_high_musd`` for a sampled Shapley value and
            ``nucleolus_musd`` when the nucleolus is offered.
        coalitions: every coalition solved: ``coalition``, ``members``, ``size``,
            ``cost_musd`` (c(S)), ``allocated_musd`` (x(S)), ``excess_musd`` (x(S) − c(S)),
            ``status``, ``gap``.
        grand_cost: c(N), MUSD. standalone_total: Σ c({i}). value_of_pooling: their
            difference.
        method: ``shapley`` (exact), ``shapley_sampled`` or ``nucleolus``.
        samples: random orders drawn (sampled Shapley only).
        largest_violation, violating_coalition: max x(S) − c(S) over the coalitions
            solved, and that coalition's members, comma-separated (None when nothing is
            violated).
        least_core_epsilon: ε* of the least-core LP over the coalitions solved.
        core_empty: ε* > 0, when every coalition was solved; None when only some were.
        notes: what the reader should know (rows that belong to no member, gaps, ...).
    """

    members: pd.DataFrame
    coalitions: pd.DataFrame
    grand_cost: float
    standalone_total: float
    value_of_pooling: float
    method: str
    samples: int | None
    largest_violation: float
    violating_coalition: str | None
    least_core_epsilon: float
    core_empty: bool | None
    notes: list[str] = field(default_factory=list)

    @property
    def in_core(self) -> bool:
        """The allocation violates no coalition solved."""
        return self.violating_coalition is None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"method": self.method, "samples": self.samples,
                "grand_cost_musd": self.grand_cost,
                "standalone_total_musd": self.standalone_total,
                "value_of_pooling_musd": self.value_of_pooling, "in_core": self.in_core,
                "largest_violation_musd": self.largest_violation,
                "violating_coalition": self.violating_coalition,
                "least_core_epsilon_musd": self.least_core_epsilon,
                "core_empty": self.core_empty, "notes": self.notes,
                "members": self.members.to_dict(orient="records"),
                "coalitions": self.coalitions.to_dict(orient="records")}


def allocate(case: Case, members: Sequence[str] | None = None, method: Method = "shapley",
             samples: int | None = None, seed: int = 0, workers: int | None = None,
             scheduler: str | None = None, out: str | Path | None = None,
             resume: bool = False, options: SolveOptions | None = None,
             progress: Progress | None = None, gap_musd: float | None = None,
             warm_start: bool = WARM_START) -> Allocation:
    """Value of pooling and a fair split of the grand coalition's cost.

    Args:
        case: the validated case.
        members: member names (startups or anchors); None: the case's ``members`` table,
            else its anchors.
        method: ``shapley`` or ``nucleolus``.
        samples: random orders for a sampled Shapley value (default: exact for at most
            `EXACT_MAX_MEMBERS` members, `DEFAULT_SAMPLES` orders beyond).
        seed: seed of the random orders.
        workers: local Dask worker processes, as for `capacity.studies.batch.run_batch`.
        scheduler: a running Dask scheduler's address, as for
            `capacity.studies.batch.run_batch`.
        out: folder for the coalition solves (kept, resumable); None: a temporary one.
        resume: continue the coalition solves already finished in ``out``.
        options: solve options for every coalition.
        progress: called with (coalition, summary) as each coalition finishes.
        gap_musd: stop each coalition's solve once its plan is proven within this many
            MUSD of the optimum (``options``' ``mip_abs_gap``; its relative gap then 0).
            Every c(S) is then within ``gap_musd`` of its optimal value, and so is every
            Shapley value (the marginal costs' errors lie in [−gap, gap] and the weights
            sum to one); None: ``options`` as given (by default proven to optimality).
        warm_start: start each coalition's solve also from the plan of the coalition
            solved before it on the same worker (coalitions are solved in Gray-code
            order: each differs from the one before by one member).

    Returns:
        The `Allocation`.

    Raises:
        CaseError: bad members or method, or a coalition has no feasible plan alone.
        FileExistsError: ``out`` holds results and ``resume`` is not set.

    Example:
        >>> import capacity
        >>> a = capacity.allocate(capacity.load_case(capacity.tiny_case_path("pooling")))
        >>> a.members["allocated_musd"].round(2).tolist()
        [2.0, 4.5, 5.5]
    """
    con = consortium(case, members)
    n = len(con.members)
    everyone = frozenset(con.members)
    exact = samples is None and n <= EXACT_MAX_MEMBERS
    if method not in ("shapley", "nucleolus"):
        raise CaseError([Problem("--method", None, None,
                                 f"{method!r}: use shapley or nucleolus")])
    if method == "nucleolus" and not exact:
        raise CaseError([Problem("--method", None, None,
                                 f"the nucleolus needs every coalition: at most "
                                 f"{EXACT_MAX_MEMBERS} members and no --samples (have {n})")])
    orders: list[tuple[str, ...]] = []
    if exact:
        coalitions = [frozenset(c) for k in range(1, n + 1)
                      for c in combinations(con.members, k)]
    else:
        draws = DEFAULT_SAMPLES if samples is None else samples  # 0 is not "the default"
        if draws < 2:
            raise CaseError([Problem("--samples", None, None, "give at least 2 samples")])
        rng = np.random.default_rng(seed)
        orders = [tuple(con.members[i] for i in rng.permutation(n)) for _ in range(draws)]
        wanted = {frozenset(o[:k]) for o in orders for k in range(1, n + 1)}
        wanted |= {frozenset([m]) for m in con.members}
        coalitions = sorted(wanted, key=lambda c: (len(c), sorted(c)))

    options = options or SolveOptions()
    if gap_musd is not None:
        if not gap_musd >= 0:
            raise CaseError([Problem("--gap-musd", None, None,
                                     f"{gap_musd!r}: give an absolute gap of 0 or more MUSD")])
        options = options.model_copy(update={"mip_abs_gap": gap_musd, "mip_rel_gap": 0.0})
    cost, table = _solve_coalitions(case, con, [frozenset(), *coalitions], workers,
                                    scheduler, out, resume, options, progress, warm_start)
    notes = _ownership_notes(case, con)
    if gap_musd is not None:
        notes.append(f"each coalition's cost is proven within {gap_musd:g} MUSD of its "
                     f"optimum (--gap-musd), and so is each Shapley value")
    elif table["gap"].fillna(0).max() > 1e-4:
        notes.append(f"some coalitions stopped at their time limit (largest gap "
                     f"{table['gap'].max():.2%}): their costs, and so the shares, are "
                     "upper bounds")

    frame = pd.DataFrame({"member": con.members,
                          "kind": [con.kind[m] for m in con.members],
                          "standalone_musd": [cost[frozenset([m])] for m in con.members]})
    if method == "nucleolus":
        alloc = nucleolus(con.members, cost)
        label = "nucleolus"
    elif exact:
        alloc = shapley_exact(con.members, cost)
        label = "shapley"
    else:
        alloc, half_width = shapley_sampled(orders, cost)
        frame["ci_low_musd"] = [alloc[m] - half_width[m] for m in con.members]
        frame["ci_high_musd"] = [alloc[m] + half_width[m] for m in con.members]
        label = "shapley_sampled"
    frame["allocated_musd"] = [alloc[m] for m in con.members]
    frame["saving_musd"] = frame["standalone_musd"] - frame["allocated_musd"]

    proper = [c for c in cost if c and c != everyone]
    tol = 1e-6 * max(1.0, abs(cost[everyone]))
    excess = {c: sum(alloc[m] for m in c) - cost[c] for c in proper}
    worst = max(proper, key=lambda c: excess[c], default=None)
    violated = worst is not None and excess[worst] > tol
    frame["in_core"] = [not any(excess[c] > tol for c in proper if m in c)
                        for m in con.members]
    epsilon = least_core(con.members, cost)[1]
    if violated and exact and method == "shapley":
        nucl = nucleolus(con.members, cost)
        frame["nucleolus_musd"] = [nucl[m] for m in con.members]
        notes.append("the Shapley value is outside the core; the nucleolus "
                     "(nucleolus_musd) is " + ("in the core" if epsilon <= tol else
                                               f"in the least core (ε = {epsilon:.4g})"))
    complete = len(proper) == 2**n - 2
    if not complete:
        notes.append(f"the core is checked against the {len(proper)} coalitions solved, "
                     f"not all {2**n - 2}")
    table["allocated_musd"] = [sum(alloc[m] for m in cost_key) for cost_key in
                               table["_key"]]
    table["excess_musd"] = table["allocated_musd"] - table["cost_musd"]
    standalone = float(frame["standalone_musd"].sum())
    return Allocation(
        members=frame, coalitions=table.drop(columns="_key"), grand_cost=cost[everyone],
        standalone_total=standalone, value_of_pooling=standalone - cost[everyone],
        method=label, samples=None if exact else len(orders),
        largest_violation=float(excess[worst]) if worst is not None else 0.0,
        violating_coalition=_listed(con, worst) if violated and worst is not None else None,
        least_core_epsilon=epsilon, core_empty=(epsilon > tol) if complete else None,
        notes=notes)


def gray_order(con: Consortium, coalitions: Sequence[Coalition]) -> list[Coalition]:
    """``coalitions`` in Gray-code order of their member bits (`Consortium.name`): when
    they are all 2^n, each differs from the one before by one member, so that a chain
    of them on one worker starts each solve from a neighbour's plan."""
    def bits(c: Coalition) -> int:
        return sum(1 << i for i, m in enumerate(con.members) if m in c)

    def rank(code: int) -> int:  # the position of ``code`` in the Gray sequence
        out = 0
        while code:
            out ^= code
            code >>= 1
        return out

    return sorted(coalitions, key=lambda c: rank(bits(c)))


def _solve_coalitions(case: Case, con: Consortium, coalitions: list[Coalition],
                      workers: int | None, scheduler: str | None, out: str | Path | None,
                      resume: bool, options: SolveOptions, progress: Progress | None,
                      warm_start: bool = WARM_START,
                      ) -> tuple[dict[Coalition, float], pd.DataFrame]:
    """c(S) for every coalition, solved as one batch (in Gray-code order); raises if
    any has no plan."""
    game = CoalitionGame(case, con, gray_order(con, coalitions), options)
    with tempfile.TemporaryDirectory(prefix="capacity-allocate-") as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        summary = run_batch(game, folder, workers=workers, scheduler=scheduler,
                            resume=resume, progress=progress, warm_start=warm_start)
    by_name = summary.set_index("scenario")
    total, rows, failed = {}, [], []
    for coalition in coalitions:
        name = con.name(coalition)
        row = by_name.loc[name]
        listed = _listed(con, coalition) or "(none: the non-members' demand alone)"
        if row["status"] not in ("optimal", "time_limit_feasible"):
            why = row.get("error") or row.get("messages") or row["status"]
            failed.append(f"coalition {{{listed}}} ({name}) has no plan: "
                          f"{row['status']}: {why}")
            continue
        total[coalition] = float(row["net_cost"])
        rows.append((name, listed, len(coalition), row["status"], row.get("gap"), coalition))
    if failed:
        raise CaseError([Problem(case.name, None, None, f) for f in failed])
    cost = {c: v - total[frozenset()] for c, v in total.items()}
    table = pd.DataFrame(rows, columns=["coalition", "members", "size", "status", "gap",
                                        "_key"])
    table.insert(3, "cost_musd", [cost[c] for c in table["_key"]])
    return cost, table[table["size"] > 0].reset_index(drop=True)


def _listed(con: Consortium, coalition: Coalition) -> str:
    return ", ".join(m for m in con.members if m in coalition)


def _ownership_notes(case: Case, con: Consortium) -> list[str]:
    nobody = coalition_case(case, con, frozenset())
    left = (len(nobody.offtakes), len(nobody.demand))
    if not any(left):
        return []
    return [f"{left[0]} offtake and {left[1]} demand rows belong to no member: they are "
            "served in every coalition, and c(S) is the cost S adds to them"]


def shapley_exact(members: Sequence[str], cost: dict[Coalition, float]) -> dict[str, float]:
    """φ_i = Σ_{S ⊆ N∖{i}} |S|!·(n−|S|−1)!/n! · (c(S ∪ {i}) − c(S))."""
    n = len(members)
    weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
              for k in range(n)]
    out = {}
    for i in members:
        others = [m for m in members if m != i]
        out[i] = sum(weight[k] * (cost[frozenset(s) | {i}] - cost[frozenset(s)])
                     for k in range(n) for s in combinations(others, k))
    return out


def shapley_sampled(orders: Sequence[tuple[str, ...]], cost: dict[Coalition, float],
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Mean marginal cost over random orders, and the half-width of its 95 % confidence
    interval (1.96·sd/√N). Each order's marginal costs sum to c(N), so the means do too."""
    marginals: dict[str, list[float]] = {m: [] for m in orders[0]}
    for order in orders:
        before: Coalition = frozenset()
        for m in order:
            after = before | {m}
            marginals[m].append(cost[after] - cost[before])
            before = after
    mean = {m: float(np.mean(v)) for m, v in marginals.items()}
    half = {m: float(1.96 * np.std(v, ddof=1) / math.sqrt(len(v))) for m, v in
            marginals.items()}
    return mean, half


def least_core(members: Sequence[str], cost: dict[Coalition, float],
               ) -> tuple[dict[str, float], float]:
    """min ε s.t. x(S) ≤ c(S) + ε for every proper coalition S known, x(N) = c(N).
    The core is empty exactly when ε* > 0 (with every coalition known)."""
    everyone = frozenset(members)
    proper = [c for c in cost if c and c != everyone]
    x, eps, _duals = _excess_lp(members, cost[everyone], proper, cost, {})
    return x, eps


def nucleolus(members: Sequence[str], cost: dict[Coalition, float]) -> dict[str, float]:
    """The (pre)nucleolus: lexicographically minimise the largest excesses x(S) − c(S).

    Round k solves min ε s.t. x(S) − c(S) ≤ ε for the coalitions not yet fixed,
    x(S) − c(S) = e_S for those fixed, x(N) = c(N). A positive dual marks a constraint
    tight in every optimum: those coalitions are fixed at ε. Coalitions whose incidence
    vector is spanned by the fixed ones drop out; the rounds end when the fixed vectors
    span ℝⁿ (at most n rounds).
    """
    everyone = frozenset(members)
    n = len(members)
    free = [c for c in cost if c and c != everyone]
    fixed: dict[Coalition, float] = {}
    basis = [np.ones(n)]
    x: dict[str, float] = {}
    while free and np.linalg.matrix_rank(np.array(basis)) < n:
        x, eps, duals = _excess_lp(members, cost[everyone], free, cost, fixed)
        tight = [c for c, d in zip(free, duals, strict=True) if abs(d) > 1e-9]
        for c in tight:
            fixed[c] = eps
            basis.append(_vector(members, c))
        rank = np.linalg.matrix_rank(np.array(basis))
        free = [c for c in free if c not in fixed
                and np.linalg.matrix_rank(np.array([*basis, _vector(members, c)])) > rank]
    if not x or np.linalg.matrix_rank(np.array(basis)) == n:
        x, _eps, _ = _excess_lp(members, cost[everyone], [], cost, fixed)
    return x


def _vector(members: Sequence[str], c: Coalition) -> np.ndarray:
    return np.array([1.0 if m in c else 0.0 for m in members])


def _excess_lp(members: Sequence[str], grand: float, free: list[Coalition],
               cost: dict[Coalition, float], fixed: dict[Coalition, float],
               ) -> tuple[dict[str, float], float, list[float]]:
    """min ε over x ∈ ℝⁿ, ε: x(S) − ε ≤ c(S) (S free), x(S) = c(S) + e_S (S fixed),
    x(N) = c(N); solved by HiGHS. Returns x, ε and the duals of the free rows."""
    n = len(members)
    inf = highspy.kHighsInf
    starts, index, value, lower, upper = [0], [], [], [], []

    def row(c: Coalition, with_eps: bool, lo: float, hi: float) -> None:
        cols = [j for j, m in enumerate(members) if m in c]
        index.extend(cols + ([n] if with_eps else []))
        value.extend([1.0] * len(cols) + ([-1.0] if with_eps else []))
        starts.append(len(index))
        lower.append(lo)
        upper.append(hi)

    for c in free:
        row(c, True, -inf, cost[c])
    for c, e in fixed.items():
        row(c, False, cost[c] + e, cost[c] + e)
    row(frozenset(members), False, grand, grand)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + 1, len(lower)
    lp.col_cost_ = np.array([0.0] * n + [1.0 if free else 0.0])
    lp.col_lower_ = np.full(n + 1, -inf)
    lp.col_upper_ = np.full(n + 1, inf)
    lp.row_lower_, lp.row_upper_ = np.array(lower), np.array(upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.array(starts)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    h = new_highs()
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"allocation LP: {h.modelStatusToString(h.getModelStatus())}")
    sol = h.getSolution()
    x = {m: float(sol.col_value[j]) for j, m in enumerate(members)}
    eps = float(sol.col_value[n]) if free else 0.0
    return x, eps, [float(d) for d in sol.row_dual[:len(free)]]
