"""A proven lower bound on a model's optimum from an approximate LP dual.

HiGHS's branch and bound proves its bound through the root LP, solved to a basis: on
large models that LP takes a minute or more, on larger ones longer than most time
limits, and on the largest the branch and bound does not fit in memory (measured). A
bound needs far less: any dual vector gives one. Take the model

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
(`_repaired`), which moves those costs onto the row that bounds the column: it closes
much of the gap between an unconverged dual's bound and the LP optimum, which PDLP gives
to a few digits well before interior point does (measured). The repair moves a column's
error onto a row, whose other columns then carry it; block coordinate ascent on the
Lagrangian (`_ascended`), each row's dual moved to the best value along it alone,
settles most of what is left (measured).

"Measured" here and below: the figures are in ``benchmarks/RESULTS.md``, "Measurements
behind the engine's design", engine/lp_bound.py, one entry per paragraph or constant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np

from capacity.engine.highs import CompiledModel, entry_rows, pass_arrays

# HiGHS's cuPDLP-C. Its newer HiPDLP meets the tolerance below sooner, but where the time
# limit stops it first its dual, and so the bound, is far weaker; a stopped dual is what
# large models get (measured: RESULTS.md, engine/lp_bound.py).
PDLP_SOLVER = "pdlp"

# Relative tolerance PDLP stops at (primal, dual and gap): a bound to ~4 digits is
# plenty to report a gap, and PDLP's last digits cost the most iterations.
PDLP_TOLERANCE = 1e-4

# Rounding in computing the reduced costs and summing millions of terms (double
# precision: ~1e-16 relative per operation): the bound is lowered by this share of the
# sum of the terms' absolute values, far above what rounding can reach and far below
# any gap worth reporting (its size on a generated model: RESULTS.md,
# engine/lp_bound.py).
ROUNDING = 1e-9

# Rounds of `_repaired` tried on PDLP's dual (each while the bound gains).
REPAIRS = 5

# Most time for the ascent on PDLP's dual (`_ascended`), as a share of PDLP's time
# limit, after it (a few sweeps give most of the gain; measured: RESULTS.md,
# engine/lp_bound.py), and the least gain of a sweep (relative) for another.
ASCENT_SHARE = 0.1
ASCENT_MIN_GAIN = 1e-7


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
               bounds: tuple[np.ndarray, np.ndarray], ascent_s: float = 0.0) -> float:
    """The Lagrangian bound of the module docstring for the dual vector ``row_dual``
    (HiGHS's sign convention: c − Aᵀy are the reduced costs), with column ``bounds``
    (`implied_bounds`); −inf where a reduced cost meets an infinite bound. The best of
    the bounds of ``row_dual`` and of its repairs (`_repaired`, while they gain), then
    raised by ascent (`_ascended`) for up to ``ascent_s`` seconds."""
    deadline = time.perf_counter() + ascent_s
    y = _sign_valid(compiled, row_dual)
    a_t = compiled.sparse().T
    row = compiled.entry_rows()  # made once for all repairs (one per matrix entry)
    best, best_y, best_reduced = -np.inf, y, compiled.col_cost - a_t @ y
    for repair in range(REPAIRS + 1):
        reduced = best_reduced if repair == 0 else compiled.col_cost - a_t @ y
        value = _lagrangian(compiled, y, reduced, bounds)
        if repair and value <= best:
            break
        if value > best:
            best, best_y, best_reduced = value, y, reduced
        y = _repaired(compiled, y, reduced, row)
    if ascent_s <= 0:
        return best
    return max(best, _ascended(compiled, best_y, best_reduced, best, bounds, deadline))


def lagrangian_value(compiled: CompiledModel, row_dual: np.ndarray,
                     bounds: tuple[np.ndarray, np.ndarray]) -> float:
    """The Lagrangian bound of the module docstring for ``row_dual`` as it stands (signs
    the rows do not allow set to 0; no repair or ascent): what a dual from a simplex
    solve proves, whatever its tolerances."""
    y = _sign_valid(compiled, row_dual)
    return _lagrangian(compiled, y, compiled.col_cost - compiled.sparse().T @ y, bounds)


def _sign_valid(compiled: CompiledModel, row_dual: np.ndarray) -> np.ndarray:
    """``row_dual`` with only the signs each row's sides allow (y_i > 0 only where rl_i is
    finite, y_i < 0 only where ru_i is)."""
    rl, ru = compiled.row_lower, compiled.row_upper
    return np.where(np.isfinite(rl), np.maximum(row_dual, 0.0), 0.0) \
        + np.where(np.isfinite(ru), np.minimum(row_dual, 0.0), 0.0)


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
    return float(terms.sum() + compiled.offset - ROUNDING * np.abs(terms).sum())


def _ascended(compiled: CompiledModel, y: np.ndarray, reduced: np.ndarray, value: float,
              bounds: tuple[np.ndarray, np.ndarray], deadline: float) -> float:
    """The bound of ``y`` (sign-valid, reduced costs ``reduced``, bound ``value``) raised
    by block coordinate ascent until ``deadline``, or until a sweep raises it by less
    than `ASCENT_MIN_GAIN`.

    A sweep takes the constraint families in turn (``compiled.row_families``) and moves
    each family's duals at once to each row's own optimum with the others held
    (`_row_optima`): rows of one family seldom share a column (one row per suite, per
    shipment, per market), and where they do, moving all of them the whole way may
    overshoot, so the move is tried whole, then scaled by 1/k_i (k_i: the most rows of
    the family that hold one of row i's columns), then by half that, and kept only
    where the bound rises. Every y tried keeps the signs the rows allow, so each bound
    is proven like PDLP's own; the last is computed afresh from c − Aᵀy.

    PDLP stopped short leaves a dual whose bound is far below the LP's even repaired,
    and the ascent recovers most of it in its first few sweeps, after which they stop
    gaining (measured: RESULTS.md, engine/lp_bound.py)."""
    indptr, cols, a = compiled.matrix
    n_rows = len(compiled.row_lower)
    starts = compiled.row_families if compiled.row_families is not None \
        else np.zeros(1, dtype=np.int64)
    families = [(int(s), int(e)) for s, e in zip(starts, [*starts[1:], n_rows], strict=True)
                if e > s]
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]

    def family(start: int, stop: int) -> tuple[Any, np.ndarray]:
        """The family's rows as a matrix (views of the model's arrays) and each row's
        k_i: the most rows of the family that hold one of its columns."""
        first, last = indptr[start], indptr[stop]
        block = csr_matrix((a[first:last], cols[first:last], indptr[start:stop + 1] - first),
                           shape=(stop - start, len(compiled.col_cost)))
        held = np.bincount(cols[first:last], minlength=len(compiled.col_cost))[cols[first:last]]
        most = np.zeros(stop - start, dtype=np.int64)
        np.maximum.at(most, entry_rows(indptr[start:stop + 1]), held)
        return block, np.maximum(most, 1)

    made = {f: family(*f) for f in families}
    start_y, start_value = y, value
    while time.perf_counter() < deadline:
        before = value
        for start, stop in families:
            step = _row_optima(compiled, start, stop, y, reduced, bounds) - y[start:stop]
            if not step.any():
                continue
            block, most = made[(start, stop)]
            for scale in (1.0, 1.0 / most, 0.5 / most):
                moved = scale * step
                tried = y.copy()
                tried[start:stop] += moved
                tried_reduced = reduced - block.T @ moved
                tried_value = _lagrangian(compiled, tried, tried_reduced, bounds)
                if tried_value > value:
                    y, reduced, value = tried, tried_reduced, tried_value
                    break
            if time.perf_counter() >= deadline:
                break
        if value <= before or value - before <= ASCENT_MIN_GAIN * abs(value):
            break
    if y is start_y:
        return start_value
    # the reduced costs above were updated step by step: the bound is proven afresh
    return _lagrangian(compiled, y, compiled.col_cost - compiled.sparse().T @ y, bounds)


def _row_optima(compiled: CompiledModel, start: int, stop: int, y: np.ndarray,
                reduced: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """For each row i of ``start``..``stop``−1, the dual value z that maximises the
    Lagrangian along y_i alone, the other duals held (``reduced``: c − Aᵀy).

    Along z, an entry a_ij's column has reduced cost d_j(z) = e_j − a_ij·z (e_j = d_j +
    a_ij·y_i), so its term min(d_j·l_j, d_j·u_j) is concave and piecewise linear in z:
    slope −a_ij·l_j (a_ij > 0) or −a_ij·u_j (a_ij < 0) up to b_j = e_j / a_ij, where
    d_j changes sign, and |a_ij|·(u_j − l_j) less after it. The row's own term is z·ru
    for z < 0 and z·rl for z > 0: its slope falls by ru − rl at 0. Summed, the slope
    starts at Σ of the first slopes + ru (+ rl for a row without ru, where z ≥ 0) and
    falls at each breakpoint; the maximum is at
    the breakpoint where it stops being positive. Infinite bounds are walls: an
    infinite first slope (a_ij > 0 with l_j = −∞, a_ij < 0 with u_j = +∞) needs
    z ≥ b_j, an infinite fall (u_j = +∞ with a_ij > 0, l_j = −∞ with a_ij < 0) z ≤ b_j;
    a row without ru needs z ≥ 0, one without rl z ≤ 0.

    Where the maximum is a flat top, the end farthest along the sign the row allows:
    the highest z for a row with a finite lower side, the lowest for a "≤" row (later
    sweeps gain more from it than from the point of the top nearest y_i; measured:
    RESULTS.md, engine/lp_bound.py); where that end is infinite, the other.
    A row whose optimum is unbounded keeps y_i."""
    indptr, cols, a = compiled.matrix
    lower, upper = bounds
    first, last = indptr[start], indptr[stop]
    n = stop - start
    local = entry_rows(indptr[start:stop + 1])
    coef, column = a[first:last], cols[first:last]
    turn = (reduced[column] + coef * y[start:stop][local]) / coef
    low, high = lower[column], upper[column]
    with np.errstate(invalid="ignore"):  # inf − inf cannot occur: low ≤ high
        slope = np.where(coef > 0, -coef * low, -coef * high)  # before the breakpoint
        fall = np.abs(coef) * (high - low)
    rl, ru = compiled.row_lower[start:stop], compiled.row_upper[start:stop]
    at_least = np.where(np.isfinite(ru), -np.inf, 0.0)  # walls
    at_most = np.where(np.isfinite(rl), np.inf, 0.0)
    wall_up = ~np.isfinite(slope)  # only +∞ is possible
    wall_down = ~np.isfinite(fall)
    np.maximum.at(at_least, local[wall_up], turn[wall_up])
    np.minimum.at(at_most, local[wall_down], turn[wall_down])
    finite = ~wall_up & ~wall_down
    # the row's own first slope: ru (z < 0), or rl where z ≥ 0 is a wall (no ru)
    first_slope = np.bincount(local[finite], slope[finite], minlength=n) \
        + np.where(np.isfinite(ru), ru, np.where(np.isfinite(rl), rl, 0.0))
    # the breakpoints, the row's own at 0 among them, sorted by row, then by z
    row_fall = np.where(np.isfinite(ru) & np.isfinite(rl), ru - rl, 0.0)
    owner = np.concatenate([local[finite], np.arange(n)])
    at = np.concatenate([turn[finite], np.zeros(n)])
    falls = np.concatenate([fall[finite], row_fall])
    order = np.lexsort((at, owner))
    owner, at, falls = owner[order], at[order], falls[order]
    fallen = np.cumsum(falls)
    group = np.r_[0, np.flatnonzero(owner[1:] != owner[:-1]) + 1]  # each row's first
    fallen -= np.repeat(fallen[group] - falls[group], np.diff(np.r_[group, len(owner)]))
    after = first_slope[owner] - fallen  # the slope after each breakpoint

    def first_where(turned: np.ndarray, flat_start: np.ndarray) -> np.ndarray:
        """Each row's first breakpoint where ``turned``; −inf where the slope never
        rises (``flat_start``), +inf where it never turns."""
        z = np.full(n, np.inf)
        hits = np.flatnonzero(turned)
        rows = owner[hits]
        firsts = np.ones(len(rows), dtype=bool)
        firsts[1:] = rows[1:] != rows[:-1]
        z[rows[firsts]] = at[hits[firsts]]
        return np.where(flat_start, -np.inf, z)

    tolerance = 1e-12
    lowest = first_where(after <= tolerance, first_slope <= tolerance)
    highest = first_where(after < -tolerance, first_slope < -tolerance)
    far = np.clip(np.where(np.isfinite(rl), highest, lowest), at_least, at_most)
    near = np.clip(np.where(np.isfinite(rl), lowest, highest), at_least, at_most)
    return np.where(np.isfinite(far), far, np.where(np.isfinite(near), near, y[start:stop]))


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

    With PDLP stopped early, a few columns with loose implied bounds (the markets'
    supply) lose much of the bound this way; a first repair moves the loss onto the
    next columns in line (the shipments into those markets), a second settles it: hence
    repeated repairs (`REPAIRS`; measured: RESULTS.md, engine/lp_bound.py).
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
    indptr, _cols, _a = compiled.matrix
    length = np.diff(indptr)
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
    ``time_limit_s``; the bound is the proven one of PDLP's last dual (`dual_bound`),
    raised by ascent for at most `ASCENT_SHARE` of ``time_limit_s`` more (it ends
    sooner where its sweeps stop gaining: a converged dual gains little). None where
    PDLP gives no dual (an error, or no time to start)."""
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
    value = dual_bound(compiled, np.asarray(solution.row_dual, dtype=float), bounds,
                       ascent_s=ASCENT_SHARE * time_limit_s)
    if not np.isfinite(value):
        return None
    x = np.clip(np.asarray(solution.col_value, dtype=float), compiled.col_lower,
                compiled.col_upper)
    return Relaxation(value, x, time.perf_counter() - t0, iterations, converged)
