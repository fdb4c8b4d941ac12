"""A proven lower bound on a model's optimum from an approximate LP dual.

HiGHS's branch and bound proves its bound through the root LP, solved to a basis: at
tier M that LP takes 54-63 s by interior point, at tier L longer than most time limits,
and at tier XL the branch and bound does not fit in memory. A bound needs far less: any
dual vector gives one. Take the model

    min c·x + c0   subject to   rl ≤ A x ≤ ru,   l ≤ x ≤ u   (x_j integer for some j)

and any y, with y_i > 0 only where rl_i is finite and y_i < 0 only where ru_i is finite.
For every x that satisfies the rows and bounds (integer or not), with d = c − Aᵀy,

    c·x + c0 = y·(A x) + d·x + c0 ≥ Σ_i (y_i⁺·rl_i + y_i⁻·ru_i) + Σ_j min(d_j·l_j, d_j·u_j) + c0

because y_i⁺·(Ax)_i ≥ y_i⁺·rl_i, y_i⁻·(Ax)_i ≥ y_i⁻·ru_i (y_i⁻ ≤ 0) and l ≤ x ≤ u. The
right-hand side (the Lagrangian `dual_bound`) is a valid lower bound for every such y,
however far from optimal; it equals the LP optimum at an optimal dual. It needs finite
column bounds wherever d_j could take the wrong sign, so bounds the model leaves
infinite (Ship, Finance, Supply, ...) are replaced by the bounds the rows imply
(`implied_bounds`), which every feasible x also satisfies.

The dual comes from HiGHS's first-order LP solver (PDLP, `solve_relaxation`): it needs
only products with A and Aᵀ, no factorisation. It stops at the time limit with whatever
dual it has, and the bound computed from that dual is proven all the same. An
unconverged dual leaves small reduced costs of the wrong sign, and where such a column
has only a loose implied bound (a market's total supply: thousands of batches) the
product costs much of the bound; `dual_bound` therefore also tries the dual repaired
(`_repaired`), which moves those costs onto the row that bounds the column. On generated
tier M the bound after 10 s of PDLP went from −44,141 to −43,437 with the repair
(LP optimum −43,243, which it gives to 5 digits after 20 s, where interior point takes
54-63 s); on tier L after 120 s from −157,512 to −139,549 (PDLP's primal objective
−132,705; benchmarks/RESULTS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from capacity.compiled import CompiledModel, pass_arrays

# HiGHS's cuPDLP-C. Its newer HiPDLP met the tolerance below sooner on tier M (19 s
# against 34 s), but where the time limit stops it first its dual is far weaker (tier L,
# 120 s: bound −311,774 against −183,083; tier M, 10 s: −91,496 against −44,368).
PDLP_SOLVER = "pdlp"

# Relative tolerance PDLP stops at (primal, dual and gap): a bound to ~4 digits is
# plenty to report a gap, and PDLP's last digits cost the most iterations.
PDLP_TOLERANCE = 1e-4

# Rounding in computing the reduced costs and summing millions of terms (double
# precision: ~1e-16 relative per operation): the bound is lowered by this share of the
# sum of the terms' absolute values, far above what rounding can reach and far below
# any gap worth reporting (tier M: the terms' absolute values sum to 47,793 MUSD, so
# 0.00005 MUSD).
_ROUNDING = 1e-9

# Rounds of `_repaired` tried on PDLP's dual (each while the bound gains).
REPAIRS = 5


@dataclass(frozen=True)
class Relaxation:
    """The LP relaxation as PDLP left it: a proven lower bound on the minimised objective,
    PDLP's (approximate) primal solution, and how long it took."""

    bound: float
    x: np.ndarray
    seconds: float
    iterations: int
    converged: bool  # PDLP met its tolerance (else it stopped at the time limit)


def implied_bounds(compiled: CompiledModel) -> tuple[np.ndarray, np.ndarray]:
    """Column bounds with every infinite one replaced, where the rows allow, by the bound
    a single row implies given the other columns' bounds: for a_ij > 0 in a row
    Σ_j a_ij·x_j ≤ ru_i, x_j ≤ (ru_i − min over the box of Σ_{k≠j} a_ik·x_k) / a_ij, and
    alike for the row's lower side and negative entries. Finite bounds are kept (they
    need not be tight); passes repeat while some infinite bound becomes finite, so it
    ends. Every x satisfying the rows and the original bounds satisfies these.
    """
    _indptr, cols, a = compiled.matrix
    n_rows = len(compiled.row_lower)
    row = compiled.entry_rows()
    lower, upper = compiled.col_lower.copy(), compiled.col_upper.copy()
    while True:
        changed = False
        # the row's upper side as written, and its lower side as −A x ≤ −rl
        for sign, rhs in ((1.0, compiled.row_upper), (-1.0, -compiled.row_lower)):
            coef = sign * a
            # each entry's least contribution over the box, and whether it is −inf
            least = np.where(coef > 0, coef * lower[cols], coef * upper[cols])
            unbounded = ~np.isfinite(least)
            total = np.bincount(row, np.where(unbounded, 0.0, least), minlength=n_rows)
            n_unbounded = np.bincount(row, unbounded, minlength=n_rows)
            # an entry's column is bounded by the row if the rest of the row is bounded
            entry_rhs, entry_unbounded = rhs[row], n_unbounded[row]
            usable = np.isfinite(entry_rhs) & (
                (entry_unbounded == 0) | ((entry_unbounded == 1) & unbounded))
            rest = total[row] - np.where(unbounded, 0.0, least)
            limit = np.full(len(a), np.nan)
            limit[usable] = (entry_rhs[usable] - rest[usable]) / coef[usable]
            # rounding: widen each implied bound by a relative 1e-9 (valid, a bit looser)
            limit += 1e-9 * np.maximum(1.0, np.abs(limit)) * np.sign(coef)
            for bounds, side in ((upper, coef > 0), (lower, coef < 0)):
                fill = usable & side & ~np.isfinite(bounds[cols])
                if not fill.any():
                    continue
                tight = np.full(len(bounds), np.inf if bounds is upper else -np.inf)
                if bounds is upper:
                    np.minimum.at(tight, cols[fill], limit[fill])
                else:
                    np.maximum.at(tight, cols[fill], limit[fill])
                new = np.isfinite(tight) & ~np.isfinite(bounds)
                bounds[new] = tight[new]
                changed |= bool(new.any())
        if not changed:
            return lower, upper


def dual_bound(compiled: CompiledModel, row_dual: np.ndarray,
               bounds: tuple[np.ndarray, np.ndarray]) -> float:
    """The Lagrangian bound of the module docstring for the dual vector ``row_dual``
    (HiGHS's sign convention: c − Aᵀy are the reduced costs), with column ``bounds``
    (`implied_bounds`); −inf where a reduced cost meets an infinite bound. The best of
    the bounds of ``row_dual`` and of its repairs (`_repaired`, while they gain)."""
    rl, ru = compiled.row_lower, compiled.row_upper
    # keep only the signs each row's sides allow
    y = np.where(np.isfinite(rl), np.maximum(row_dual, 0.0), 0.0) \
        + np.where(np.isfinite(ru), np.minimum(row_dual, 0.0), 0.0)
    a_t = compiled.sparse().T
    row = compiled.entry_rows()  # made once for all repairs (77 M entries at tier XL)
    best = -np.inf
    for repair in range(REPAIRS + 1):
        reduced = compiled.col_cost - a_t @ y
        value = _lagrangian(compiled, y, reduced, bounds)
        if repair and value <= best:
            break
        best = max(best, value)
        y = _repaired(compiled, y, reduced, row)
    return best


def _lagrangian(compiled: CompiledModel, y: np.ndarray, reduced: np.ndarray,
                bounds: tuple[np.ndarray, np.ndarray]) -> float:
    """Σ_i (y_i⁺·rl_i + y_i⁻·ru_i) + Σ_j min(d_j·l_j, d_j·u_j) + c0 for a sign-valid ``y``
    and its ``reduced`` costs d, less the rounding allowance; −inf where a reduced cost
    meets an infinite bound."""
    rl, ru = compiled.row_lower, compiled.row_upper
    lower, upper = bounds
    with np.errstate(invalid="ignore"):  # 0·inf where a reduced cost is 0
        column_terms = np.where(reduced > 0, reduced * lower,
                                np.where(reduced < 0, reduced * upper, 0.0))
        row_terms = np.where(y > 0, y * rl, np.where(y < 0, y * ru, 0.0))
    terms = np.concatenate([row_terms, column_terms])
    if not np.all(np.isfinite(terms)):
        return -np.inf
    return float(terms.sum() + compiled.offset - _ROUNDING * np.abs(terms).sum())


def _repaired(compiled: CompiledModel, y: np.ndarray, reduced: np.ndarray,
              row: np.ndarray) -> np.ndarray:
    """``y`` with the reduced costs of the wrong sign on columns the model leaves
    unbounded made 0, where a row allows it: a column j with d_j < 0 and no upper bound
    of its own is bounded only through a row that limits it from above (a_ij > 0 in a
    row with a finite upper side, or a_ij < 0 with a finite lower side), and adding
    Δ_i = d_j / a_ij to that row's dual (a sign the row's finite side allows) makes d_j
    0: the term d_j·u_j, large where the implied bound u_j is loose, becomes 0, at the
    cost of moving the reduced costs of the row's other columns by −a_ik·Δ_i. Likewise
    for d_j > 0 and no lower bound. Each such column uses its shortest row (the least
    spill); a row chosen by several columns moves by the smallest |Δ| among them. The
    moved dual keeps the signs the rows allow (Δ_i < 0 only on a row with a finite
    upper side, > 0 with a finite lower side), so its bound is proven like any other.

    On generated tier M, with PDLP stopped after 10 s, the ten market supply columns
    lost 906 MUSD of bound this way (implied bounds of ~7,400 batches each); after a
    first repair the shipments into those markets lost 213, after a second nothing.
    """
    _indptr, cols, a = compiled.matrix  # ``row``: each entry's row (`entry_rows`)
    rl_finite = np.isfinite(compiled.row_lower)[row]
    ru_finite = np.isfinite(compiled.row_upper)[row]
    need_upper = (reduced < 0) & ~np.isfinite(compiled.col_upper)
    need_lower = (reduced > 0) & ~np.isfinite(compiled.col_lower)
    limits_above = ((a > 0) & ru_finite) | ((a < 0) & rl_finite)
    limits_below = ((a < 0) & ru_finite) | ((a > 0) & rl_finite)
    entries = np.flatnonzero((need_upper[cols] & limits_above)
                             | (need_lower[cols] & limits_below))
    if entries.size == 0:
        return y
    length = np.diff(compiled.matrix[0])
    entries = entries[np.lexsort((length[row[entries]], cols[entries]))]
    entries = entries[np.r_[True, cols[entries][1:] != cols[entries][:-1]]]  # shortest row
    delta = reduced[cols[entries]] / a[entries]
    rows = row[entries]
    smallest = np.full(len(y), np.inf)
    np.minimum.at(smallest, rows, np.abs(delta))
    moved = np.zeros(len(y))
    moved[rows] = np.sign(delta) * smallest[rows]
    return y + moved


def solve_relaxation(compiled: CompiledModel, time_limit_s: float) -> Relaxation | None:
    """Solve ``compiled``'s LP relaxation by PDLP, in a new HiGHS instance, for at most
    ``time_limit_s``; the bound is the proven one of PDLP's last dual (`dual_bound`).
    None where PDLP gives no dual (an error, or no time to start)."""
    t0 = time.perf_counter()
    bounds = implied_bounds(compiled)
    lp = pass_arrays(compiled.col_cost, compiled.offset, compiled.col_lower,
                     compiled.col_upper, np.zeros(len(compiled.col_cost), dtype=bool),
                     compiled.matrix, compiled.row_lower, compiled.row_upper)
    highs = lp.highs
    for name, value in (("solver", PDLP_SOLVER), ("presolve", "off"),
                        ("pdlp_optimality_tolerance", PDLP_TOLERANCE),
                        ("primal_feasibility_tolerance", PDLP_TOLERANCE),
                        ("dual_feasibility_tolerance", PDLP_TOLERANCE),
                        ("time_limit", max(time_limit_s - (time.perf_counter() - t0), 1e-3))):
        highs.setOptionValue(name, value)
    highs.run()
    solution = highs.getSolution()
    iterations = int(highs.getInfo().pdlp_iteration_count)
    converged = highs.getModelStatus() != highspy.HighsModelStatus.kTimeLimit
    del lp, highs  # PDLP's copy of the model goes before the bound's arrays come
    if not (solution.dual_valid and solution.value_valid):
        return None
    value = dual_bound(compiled, np.asarray(solution.row_dual, dtype=float), bounds)
    if not np.isfinite(value):
        return None
    x = np.clip(np.asarray(solution.col_value, dtype=float), compiled.col_lower,
                compiled.col_upper)
    return Relaxation(value, x, time.perf_counter() - t0, iterations, converged)
