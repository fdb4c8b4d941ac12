"""What a user would otherwise write: the OR-Library problems as minimal direct models.

Two references for the side-by-side benchmark, each with its own minimal parser so that
nothing is shared with capacity's importers:

- ``highspy``: matrices built with numpy, passed to HiGHS row-wise (no Pyomo);
- ``pulp``: the same model in PuLP, solved by its bundled CBC.

CFLP (Beasley's model, plus the textbook x_ij ≤ y_i linking a modeller would add):
min Σ f_i y_i + Σ c_ij x_ij, Σ_i x_ij = 1, Σ_j d_j x_ij ≤ s_i y_i, x_ij ≤ y_i,
x ∈ [0,1] (binary if single-source), y binary. GAP: min or max Σ c_ij x_ij,
Σ_i x_ij = 1, Σ_j a_ij x_ij ≤ b_i, x binary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np


@dataclass(frozen=True)
class Result:
    """Outcome of one reference solve."""

    status: str
    objective: float | None
    bound: float | None
    seconds: float


@dataclass(frozen=True)
class CFL:
    capacity: np.ndarray  # s_i
    fixed: np.ndarray  # f_i
    demand: np.ndarray  # d_j
    cost: np.ndarray  # c_ij, shape (m, n): serve all of j from i


@dataclass(frozen=True)
class GAP:
    cost: np.ndarray  # c_ij, shape (m, n)
    use: np.ndarray  # a_ij
    capacity: np.ndarray  # b_i


def read_cfl(path: Path, capacity: float | None = None) -> CFL:
    tok = Path(path).read_text().split()
    m, n = int(tok[0]), int(tok[1])
    head = [capacity if t == "capacity" else float(t) for t in tok[2:2 + 2 * m]]
    body = np.array(tok[2 + 2 * m:], dtype=float).reshape(n, m + 1)
    return CFL(np.array(head[0::2], dtype=float), np.array(head[1::2], dtype=float),
               body[:, 0], body[:, 1:].T.copy())


def read_gap(path: Path, instance: int) -> GAP:
    tok = np.array(Path(path).read_text().split(), dtype=float)
    pos = 1
    for _ in range(instance - 1):
        m, n = int(tok[pos]), int(tok[pos + 1])
        pos += 2 + 2 * m * n + m
    m, n = int(tok[pos]), int(tok[pos + 1])
    data = tok[pos + 2:pos + 2 + 2 * m * n + m]
    return GAP(data[:m * n].reshape(m, n), data[m * n:2 * m * n].reshape(m, n),
               data[2 * m * n:])


# -- highspy ----------------------------------------------------------------------------

def _highs(time_limit: float) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    for key, value in {"output_flag": False, "time_limit": float(time_limit), "threads": 1,
                       "random_seed": 0, "mip_rel_gap": 1e-6}.items():
        h.setOptionValue(key, value)
    return h


def _run(h: highspy.Highs, t0: float) -> Result:
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    feasible = info.primal_solution_status == 2
    name = {highspy.HighsModelStatus.kOptimal: "optimal",
            highspy.HighsModelStatus.kTimeLimit: "time_limit"}.get(status, str(status))
    return Result(name, info.objective_function_value if feasible else None,
                  info.mip_dual_bound, time.perf_counter() - t0)


def _add_model(h: highspy.Highs, cost: np.ndarray, upper: np.ndarray, integer: np.ndarray,
               rows: list[tuple[np.ndarray, np.ndarray, float, float]]) -> None:
    n = len(cost)
    h.addVars(n, np.zeros(n), upper)
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    idx = np.flatnonzero(integer).astype(np.int32)
    h.changeColsIntegrality(len(idx), idx, np.full(len(idx), highspy.HighsVarType.kInteger))
    starts = np.cumsum([0] + [len(r[0]) for r in rows[:-1]]).astype(np.int32)
    h.addRows(len(rows), np.array([r[2] for r in rows]), np.array([r[3] for r in rows]),
              int(sum(len(r[0]) for r in rows)), starts,
              np.concatenate([r[0] for r in rows]).astype(np.int32),
              np.concatenate([r[1] for r in rows]))


def cfl_highspy(path: Path, capacity: float | None = None, single_source: bool = False,
                time_limit: float = 60.0) -> Result:
    """Solve a cap file with a direct numpy + highspy model."""
    t0 = time.perf_counter()
    p = read_cfl(path, capacity)
    m, n = p.cost.shape
    y = np.arange(m)
    x = m + np.arange(m * n).reshape(m, n)  # column of x_ij
    inf = highspy.kHighsInf
    rows = [(x[:, j], np.ones(m), 1.0, 1.0) for j in range(n)]
    rows += [(np.append(x[i], y[i]), np.append(p.demand, -p.capacity[i]), -inf, 0.0)
             for i in range(m)]
    rows += [(np.array([x[i, j], y[i]]), np.array([1.0, -1.0]), -inf, 0.0)
             for i in range(m) for j in range(n)]
    integer = np.r_[np.ones(m), np.full(m * n, 1.0 if single_source else 0.0)]
    h = _highs(time_limit)
    _add_model(h, np.r_[p.fixed, p.cost.ravel()], np.ones(m + m * n), integer, rows)
    return _run(h, t0)


def gap_highspy(path: Path, instance: int, maximise: bool = False,
                time_limit: float = 60.0) -> Result:
    """Solve one gap instance with a direct numpy + highspy model."""
    t0 = time.perf_counter()
    p = read_gap(path, instance)
    m, n = p.cost.shape
    x = np.arange(m * n).reshape(m, n)
    inf = highspy.kHighsInf
    rows = [(x[:, j], np.ones(m), 1.0, 1.0) for j in range(n)]
    rows += [(x[i], p.use[i], -inf, p.capacity[i]) for i in range(m)]
    h = _highs(time_limit)
    _add_model(h, p.cost.ravel(), np.ones(m * n), np.ones(m * n), rows)
    if maximise:
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    return _run(h, t0)


# -- PuLP + CBC -------------------------------------------------------------------------

def _pulp_solve(prob: object, t0: float, time_limit: float) -> Result:
    import pulp

    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1, gapRel=1e-6)
    prob.solve(solver)  # type: ignore[attr-defined]
    # prob.status reads "Optimal" whenever CBC has a solution, even one it stopped on at the
    # time limit; sol_status tells a proven optimum from an incumbent.
    status = pulp.LpSolution[prob.sol_status]  # type: ignore[attr-defined]
    value = pulp.value(prob.objective)  # type: ignore[attr-defined]
    return Result(status.lower(), None if value is None else float(value), None,
                  time.perf_counter() - t0)


def cfl_pulp(path: Path, capacity: float | None = None, single_source: bool = False,
             time_limit: float = 60.0) -> Result:
    """Solve a cap file with PuLP and CBC."""
    import pulp

    t0 = time.perf_counter()
    p = read_cfl(path, capacity)
    m, n = p.cost.shape
    prob = pulp.LpProblem("cfl", pulp.LpMinimize)
    y = [pulp.LpVariable(f"y{i}", cat="Binary") for i in range(m)]
    cat = "Binary" if single_source else "Continuous"
    x = [[pulp.LpVariable(f"x{i}_{j}", 0, 1, cat) for j in range(n)] for i in range(m)]
    prob += pulp.lpSum(p.fixed[i] * y[i] for i in range(m)) + pulp.lpSum(
        p.cost[i, j] * x[i][j] for i in range(m) for j in range(n))
    for j in range(n):
        prob += pulp.lpSum(x[i][j] for i in range(m)) == 1
    for i in range(m):
        prob += pulp.lpSum(p.demand[j] * x[i][j] for j in range(n)) <= p.capacity[i] * y[i]
        for j in range(n):
            prob += x[i][j] <= y[i]
    return _pulp_solve(prob, t0, time_limit)


def gap_pulp(path: Path, instance: int, maximise: bool = False,
             time_limit: float = 60.0) -> Result:
    """Solve one gap instance with PuLP and CBC."""
    import pulp

    t0 = time.perf_counter()
    p = read_gap(path, instance)
    m, n = p.cost.shape
    prob = pulp.LpProblem("gap", pulp.LpMaximize if maximise else pulp.LpMinimize)
    x = [[pulp.LpVariable(f"x{i}_{j}", cat="Binary") for j in range(n)] for i in range(m)]
    prob += pulp.lpSum(p.cost[i, j] * x[i][j] for i in range(m) for j in range(n))
    for j in range(n):
        prob += pulp.lpSum(x[i][j] for i in range(m)) == 1
    for i in range(m):
        prob += pulp.lpSum(p.use[i, j] * x[i][j] for j in range(n)) <= p.capacity[i]
    return _pulp_solve(prob, t0, time_limit)
