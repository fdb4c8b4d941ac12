"""The model as sparse matrices: named blocks of columns and rows over the sparse sets.

The constraint builders (`capacity.model.constraints`) write each family once, here:
a row is a list of terms (variable name, keys, coefficients) with a sense and a
right-hand side, all variables on the left. The rows go straight into CSR arrays, so a
solve hands HiGHS the matrix with no per-term Python objects in between
(`capacity.engine.highs.pass_linear`); `to_pyomo` turns the same blocks into an ordinary Pyomo
model, with every set, variable and constraint under the name models/formulation.md
gives it, for callers that add constraints or fix variables. Elastic mode's slacks are
put on rows already written (`LinearModel.add_terms`); `LinearModel.scope` holds a
builder to the names it declares it reads (`capacity.model.BUILDERS`).

Why not build Pyomo first and compile it: at tier L (1.3 M columns, 5.4 M nonzeros)
Pyomo's per-term expression objects took 23 s to build and 14 s to compile, and 6.5 GB;
the arrays here take a fraction of either (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pyomo.environ as pyo

Key = Any  # a set member: a tuple for sets of dimension > 1, else a scalar
Kind = Literal["binary", "integer", "continuous"]
Sense = Literal["<=", "==", ">="]
# One term group of a row: Σ_i coef_i·Var[keys_i]; coef is one number for all keys or
# one per key. Keys are members of Var's set, or an integer array of their positions in
# it (no key lookup: for the large sets).
Term = tuple[str, "Sequence[Key] | np.ndarray", "float | Sequence[float] | np.ndarray"]
# One term group of a family given as arrays (`LinearModel.add_rows_from_arrays`): the
# variable, each entry's row, its variable's member (by position) and its coefficient.
ArrayTerm = tuple[str, np.ndarray, np.ndarray, "float | np.ndarray"]

_DOMAIN = {"binary": pyo.Binary, "integer": pyo.NonNegativeIntegers,
           "continuous": pyo.NonNegativeReals}


@dataclass
class Columns:
    """One variable: a contiguous block of columns, one per member of its set, in order."""

    name: str
    set_name: str
    keys: list[Key]
    start: int
    kind: Kind
    lower: np.ndarray
    upper: np.ndarray
    free: bool = False  # domain Reals (a finite lower bound is still a bound)
    _index: dict[Key, int] | None = field(default=None, repr=False)

    @property
    def index(self) -> dict[Key, int]:
        """Column number by key."""
        if self._index is None:
            self._index = {k: self.start + i for i, k in enumerate(self.keys)}
        return self._index


@dataclass
class Rows:
    """One constraint family: a contiguous block of rows, one per member of its set."""

    name: str
    set_name: str
    start: int
    stop: int
    sense: Sense


@dataclass
class Objective:
    """Minimise cost·x + constant."""

    name: str
    cost: np.ndarray
    constant: float


class IndexSet(NamedTuple):
    """A sparse index set as the model holds it: its tuples' length and its members."""

    dimen: int
    keys: list[Key]


class LinearModel:
    """Sets, variables (column blocks), constraint families (row blocks) and one minimised
    objective, stored as arrays (rows in CSR form).

    Example:
        >>> lm = LinearModel("demo")
        >>> members = lm.add_set("I", ["a", "b"])
        >>> x = lm.add_var("X", "I", "continuous", upper=[1.0, 2.0])
        >>> cap = lm.add_rows("cap", "I", "<=", lambda i: ([("X", [i], 1.0)], 1.5))
        >>> lm.set_objective("total", [("X", ["a", "b"], -1.0)])
        >>> lm.size()["nonzeros"], lm.column("X", "b")
        (2, 1)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.sets: dict[str, IndexSet] = {}
        self.variables: dict[str, Columns] = {}
        self.constraints: dict[str, Rows] = {}
        self.objective = Objective("objective", np.zeros(0), 0.0)
        self.n_cols = 0
        # rows added by rule since the last block was closed, as typed arrays (indptr
        # relative to them; no Python object per entry); `_close_block` moves them into
        # a canonical CSR block, `matrix` stacks the blocks into one
        self._indptr = array("q", [0])
        self._indices = array("i")
        self._values = array("d")
        self._rhs = array("d")
        self._blocks: list[Any] = []  # scipy.sparse.csr_matrix blocks of rows, in order
        # entries `add_terms` put on rows already declared: (rows, columns, values) arrays,
        # added to the stacked blocks by `matrix`
        self._added: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    # --- declaring -------------------------------------------------------------------

    def add_set(self, name: str, members: Iterable[Key], dimen: int = 1) -> list[Key]:
        """Declare a named set (sorted as given); returns its members."""
        if name in self.sets:
            raise ValueError(f"set {name} declared twice")
        keys = list(members)
        self.sets[name] = IndexSet(dimen, keys)
        return keys

    def add_var(self, name: str, set_name: str, kind: Kind, lower: float | Sequence[float] = 0.0,
                upper: float | Sequence[float] = np.inf, free: bool = False) -> Columns:
        """Declare a variable with one column per member of ``set_name``."""
        keys = self.sets[set_name].keys
        n = len(keys)
        block = Columns(name, set_name, keys, self.n_cols, kind,
                        np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy(),
                        np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy(), free)
        self.variables[name] = block
        self.n_cols += n
        return block

    def add_rows(self, name: str, set_name: str, sense: Sense,
                 rule: Callable[[Key], tuple[list[Term], float]]) -> Rows:
        """Declare a constraint family: ``rule(key)`` gives the row's terms and right-hand
        side for each member of ``set_name`` (Σ terms ``sense`` rhs). Terms that name one
        variable key twice are summed (`matrix`)."""
        start = len(self._rhs)
        indptr, indices, values, rhs = self._indptr, self._indices, self._values, self._rhs
        columns = self.variables
        for key in self.sets[set_name].keys:
            terms, right = rule(key)
            for var, keys, coef in terms:
                if isinstance(keys, np.ndarray):
                    indices.frombytes((keys + columns[var].start).astype(np.int32).tobytes())
                else:
                    indices.extend(map(columns[var].index.__getitem__, keys))
                if isinstance(coef, (int, float)):
                    values.extend([float(coef)] * len(keys))
                elif isinstance(coef, np.ndarray):  # no Python float per entry
                    values.frombytes(np.ascontiguousarray(coef, dtype=float).tobytes())
                else:
                    values.extend(coef)
            indptr.append(len(indices))
            rhs.append(float(right))
        rows = Rows(name, set_name, start, len(rhs), sense)
        self.constraints[name] = rows
        return rows

    def add_rows_from_arrays(self, name: str, set_name: str, sense: Sense, rhs: np.ndarray,
                             terms: list[ArrayTerm]) -> Rows:
        """Declare a constraint family given as arrays, for families too large for a
        rule per row: each term ``(var, rows, members, coefs)`` puts coefs_i on row
        rows_i (position in ``set_name``) at the column of ``var``'s member number
        members_i. The rows are the same as `add_rows` would make (entries on one
        column of one row summed, cancelled ones dropped)."""
        from scipy.sparse import coo_matrix  # type: ignore[import-untyped]

        self._close_block()
        n = len(self.sets[set_name].keys)
        if len(rhs) != n:
            raise ValueError(f"{name}: {len(rhs)} right-hand sides for {n} rows")
        rows = np.concatenate([np.asarray(r, dtype=np.int64) for _v, r, _m, _c in terms])
        cols = np.concatenate([self.variables[v].start + np.asarray(m, dtype=np.int64)
                               for v, _r, m, _c in terms])
        vals = np.concatenate([np.broadcast_to(np.asarray(c, dtype=float), (len(r),))
                               for _v, r, _m, c in terms])
        block = coo_matrix((vals, (rows, cols)), shape=(n, self.n_cols)).tocsr()
        block.sum_duplicates()
        block.eliminate_zeros()
        start = len(self._rhs)
        self._blocks.append(block)
        self._rhs.frombytes(np.ascontiguousarray(rhs, dtype=float).tobytes())
        family = Rows(name, set_name, start, len(self._rhs), sense)
        self.constraints[name] = family
        return family

    def add_terms(self, family: str, terms: list[ArrayTerm]) -> None:
        """Put more terms on rows of a constraint family already declared (the elastic
        overlay's slacks, `capacity.model.elastic`): each term ``(var, rows, members,
        coefs)`` puts coefs_i on the family's row number rows_i (position in its set) at
        the column of ``var``'s member number members_i. The matrix is the one the
        family's builder would have made with those terms in its rows (`matrix` sums and
        sorts them in)."""
        block = self.constraints[family]
        for var, rows, members, coefs in terms:
            at = np.asarray(rows, dtype=np.int64)
            if len(at) and (at.min() < 0 or at.max() >= block.stop - block.start):
                raise ValueError(f"{family}: a term of {var} names a row it does not have")
            self._added.append((block.start + at,
                                self.variables[var].start + np.asarray(members, dtype=np.int64),
                                np.broadcast_to(np.asarray(coefs, dtype=float),
                                                (len(at),)).copy()))

    @contextmanager
    def scope(self, reads: Iterable[str]) -> Iterator[list[str]]:
        """Within the block only the sets, variables and constraint families named in
        ``reads``, and those declared in the block, can be looked up (any other name is a
        ``KeyError``, as if it did not exist); yields the list of names declared in the
        block (the objective's too, if it is set), filled in when the block ends.

        This is how `capacity.model.assemble_model` holds each builder to what it
        declares it reads and makes. Only the dictionaries are swapped, so a lookup costs
        what it always does.

        Raises:
            ValueError: a name declared in the block was already declared.
        """
        allowed = set(reads)
        sets, variables, constraints = self.sets, self.variables, self.constraints
        self.sets = {name: v for name, v in sets.items() if name in allowed}
        self.variables = {name: v for name, v in variables.items() if name in allowed}
        self.constraints = {name: v for name, v in constraints.items() if name in allowed}
        parts: list[dict[str, Any]] = [self.sets, self.variables, self.constraints]
        objective = self.objective
        made: list[str] = []
        try:
            yield made
        finally:
            self.sets, self.variables, self.constraints = sets, variables, constraints
        whole: list[dict[str, Any]] = [sets, variables, constraints]
        for d, part in zip(whole, parts, strict=True):
            for name, value in part.items():
                if name in d:
                    if value is not d[name]:
                        raise ValueError(f"{name} declared twice")
                    continue
                d[name] = value
                made.append(name)
        if self.objective is not objective:
            made.append(self.objective.name)

    def _close_block(self) -> None:
        """Move the rows added by rule since the last block into a canonical CSR block."""
        from scipy.sparse import csr_matrix

        if len(self._indptr) == 1:
            return
        a = csr_matrix((np.frombuffer(self._values, dtype=float),
                        np.frombuffer(self._indices, dtype=np.int32),
                        np.frombuffer(self._indptr, dtype=np.int64)),
                       shape=(len(self._indptr) - 1, self.n_cols))
        a.sum_duplicates()
        a.eliminate_zeros()
        self._blocks.append(a)
        self._indptr, self._indices, self._values = array("q", [0]), array("i"), array("d")

    def set_objective(self, name: str, terms: list[Term], constant: float = 0.0) -> None:
        """Set the minimised objective Σ terms + constant (replacing any earlier one)."""
        cost = np.zeros(self.n_cols)
        for var, keys, coef in terms:
            block = self.variables[var]
            if isinstance(keys, np.ndarray):
                cols = keys + block.start
            else:
                index = block.index
                cols = np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))
            np.add.at(cost, cols, coef)
        self.objective = Objective(name, cost, float(constant))

    # --- reading ---------------------------------------------------------------------

    def column(self, var: str, key: Key) -> int:
        """The column of ``var[key]``."""
        return self.variables[var].index[key]

    def matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The constraint matrix in CSR form: (indptr, indices, values); terms of one
        variable key in one row are summed, and entries that cancel to 0 dropped."""
        from scipy.sparse import coo_matrix, csr_matrix, vstack

        self._close_block()
        for block in self._blocks:  # columns may have been added after a block
            if block.shape[1] < self.n_cols:
                block.resize((block.shape[0], self.n_cols))
        if not self._blocks:
            self._blocks = [csr_matrix((0, self.n_cols))]
        elif len(self._blocks) > 1:
            self._blocks = [vstack(self._blocks, format="csr")]
        if self._added:  # terms put on rows already declared (`add_terms`)
            rows, cols, vals = (np.concatenate(x) for x in zip(*self._added, strict=True))
            a = self._blocks[0] + coo_matrix((vals, (rows, cols)), shape=self._blocks[0].shape)
            a = csr_matrix(a)
            a.sum_duplicates()
            a.eliminate_zeros()
            self._blocks, self._added = [a], []
        a = self._blocks[0]
        return a.indptr, a.indices, a.data

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of every row, from its family's sense and its rhs."""
        rhs = np.asarray(self._rhs, dtype=float)
        lower, upper = rhs.copy(), rhs.copy()
        for rows in self.constraints.values():
            if rows.sense == "<=":
                lower[rows.start:rows.stop] = -np.inf
            elif rows.sense == ">=":
                upper[rows.start:rows.stop] = np.inf
        return lower, upper

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of every column."""
        if not self.variables:
            return np.zeros(0), np.zeros(0)
        return (np.concatenate([b.lower for b in self.variables.values()]),
                np.concatenate([b.upper for b in self.variables.values()]))

    def integer_columns(self) -> np.ndarray:
        """Whether each column is integer (binary or general integer)."""
        return np.concatenate([np.full(len(b.keys), b.kind != "continuous")
                               for b in self.variables.values()]) \
            if self.variables else np.zeros(0, dtype=bool)

    def size(self) -> dict[str, int]:
        """Variables by type, constraint rows and nonzeros (as
        `capacity.engine.solve.model_size`)."""
        counts = {"binary": 0, "integer": 0, "continuous": 0}
        for b in self.variables.values():
            counts[b.kind] += len(b.keys)
        return {"variables": self.n_cols, **counts, "constraints": len(self._rhs),
                "nonzeros": len(self.matrix()[1])}

    def values(self, x: np.ndarray, var: str) -> np.ndarray:
        """The values of ``var``'s columns in a solution vector, in its set's order."""
        block = self.variables[var]
        return x[block.start:block.start + len(block.keys)]

    def objective_value(self, x: np.ndarray) -> float:
        """cost·x + constant."""
        return float(self.objective.cost @ x) + self.objective.constant if x.size \
            else self.objective.constant


def to_pyomo(lm: LinearModel) -> tuple[pyo.ConcreteModel, list[pyo.Var]]:
    """The same model in Pyomo: every set, variable, constraint family and the objective
    under its own name; returns the model and its variables in column order."""
    m = pyo.ConcreteModel(name=lm.name)
    for name, (dimen, keys) in lm.sets.items():
        setattr(m, name, pyo.Set(dimen=dimen, initialize=keys, ordered=True))
    columns: list[pyo.Var] = []
    for v in lm.variables.values():
        lower, upper = v.lower, v.upper

        def bounds(_m: pyo.ConcreteModel, *key: Key, v: Columns = v) -> tuple[float | None, ...]:
            i = v.index[key if len(key) > 1 else key[0]] - v.start
            lo, up = v.lower[i], v.upper[i]
            return (None if lo == -np.inf else lo, None if up == np.inf else up)

        domain = pyo.Reals if v.free else _DOMAIN[v.kind]
        has_bounds = v.kind != "binary" and (np.any(lower != 0) or np.any(upper != np.inf))
        var = pyo.Var(getattr(m, v.set_name), domain=domain,
                      bounds=bounds if has_bounds else None)
        setattr(m, v.name, var)
        columns.extend(var[k] for k in v.keys)
    indptr, indices, values = lm.matrix()
    rhs = lm._rhs
    for rows in lm.constraints.values():
        keys = lm.sets[rows.set_name].keys
        by_key = {k: rows.start + i for i, k in enumerate(keys)}

        def rule(_m: pyo.ConcreteModel, *key: Key, rows: Rows = rows,
                 by_key: dict[Key, int] = by_key) -> object:
            r = by_key[key if len(key) > 1 else key[0]]
            a, b = indptr[r], indptr[r + 1]
            if a == b:  # every term cancelled: 0 (sense) rhs holds or it does not
                holds = {"<=": rhs[r] >= 0, ">=": rhs[r] <= 0, "==": rhs[r] == 0}[rows.sense]
                return pyo.Constraint.Feasible if holds else pyo.Constraint.Infeasible
            body = pyo.quicksum(float(c) * columns[j]
                                for j, c in zip(indices[a:b], values[a:b], strict=True))
            if rows.sense == "<=":
                return body <= rhs[r]
            if rows.sense == ">=":
                return body >= rhs[r]
            return body == rhs[r]

        setattr(m, rows.name, pyo.Constraint(getattr(m, rows.set_name), rule=rule))
    cost, constant = lm.objective.cost, lm.objective.constant
    used = np.flatnonzero(cost)
    setattr(m, lm.objective.name, pyo.Objective(
        expr=pyo.quicksum(float(cost[j]) * columns[j] for j in used) + constant,
        sense=pyo.minimize))
    return m, columns
