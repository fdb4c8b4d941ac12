"""Case → MILP. `build_model` is a flat list of builders, one per family, writing sparse
matrices (`capacity.model.linear`); the Pyomo model is made from them on first use."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from capacity.case import Case
from capacity.errors import CaseInfeasibleError
from capacity.index_sets import IndexSets, build_index_sets
from capacity.model.constraints import CONSTRAINT_BUILDERS
from capacity.model.linear import LinearModel, to_pyomo
from capacity.model.objective import add_total_cost, add_total_violation
from capacity.model.variables import add_sets, add_variables

__all__ = ["BuiltModel", "assemble_model", "build_model"]


@dataclass
class BuiltModel:
    """A built model and what produced it.

    Attributes:
        case: the case it was built from.
        linear: the model as sparse matrices, what a solve hands HiGHS.
        index_sets: the sparse sets and coefficients behind it.
        seconds: wall time by phase (``index_sets``, ``build``).
        solution: the values of ``linear``'s columns in the last plan `capacity.solve`
            found for it (None before).

    ``pyomo`` is the same model in Pyomo, made on first use: add constraints to it or fix
    variables before calling `capacity.solve`, which then solves the Pyomo model.
    """

    case: Case
    linear: LinearModel
    index_sets: IndexSets
    seconds: dict[str, float]
    _pyomo: tuple[pyo.ConcreteModel, list[pyo.Var]] | None = field(default=None, repr=False)
    solution: np.ndarray | None = field(default=None, repr=False)

    @property
    def pyomo(self) -> pyo.ConcreteModel:
        """The Pyomo model (every set, variable and constraint named as in
        models/formulation.md), made from ``linear`` the first time it is asked for."""
        if self._pyomo is None:
            t0 = time.perf_counter()
            self._pyomo = to_pyomo(self.linear)
            self.seconds["pyomo"] = time.perf_counter() - t0
        return self._pyomo[0]

    @property
    def has_pyomo(self) -> bool:
        """Whether the Pyomo model has been made (a caller may have changed it)."""
        return self._pyomo is not None

    def pyomo_columns(self) -> list[pyo.Var]:
        """The Pyomo variables in ``linear``'s column order."""
        self.pyomo  # noqa: B018 - made on first use
        assert self._pyomo is not None
        return self._pyomo[1]

    def pyomo_values(self) -> np.ndarray:
        """The Pyomo variables' values in ``linear``'s column order (None as 0)."""
        return np.array([v.value or 0.0 for v in self.pyomo_columns()], dtype=float)


def build_model(case: Case, elastic: bool = False) -> BuiltModel:
    """Build the mixed-integer model of ``case`` (see models/formulation.md).

    Args:
        case: a validated case.
        elastic: build the elastic model used by `capacity.explain`: commitments and
            rules may be violated at a penalty, and the objective is the total violation
            (models/formulation.md, "Elastic mode").

    Returns:
        The `BuiltModel`; its ``linear`` model is what HiGHS solves, its ``pyomo``
        attribute the same model as an ordinary ``ConcreteModel``.

    Raises:
        CaseInfeasibleError: a committed offtake can never be served (no compatible,
            reachable, allowed suite); the reasons name anchor, program, market and period.

    Example:
        >>> import capacity, pyomo.environ as pyo
        >>> built = capacity.build_model(capacity.load_case())
        >>> m = built.pyomo  # made on first use
        >>> m.no_new_sites = pyo.Constraint(expr=sum(m.Open.values()) <= 0)
        >>> capacity.solve(built).status
        'optimal'
    """
    t0 = time.perf_counter()
    ix = build_index_sets(case, elastic=elastic)
    if ix.unservable and not elastic:
        raise CaseInfeasibleError(ix.unservable)
    index_seconds = time.perf_counter() - t0
    built = assemble_model(case, ix)
    built.seconds = {"index_sets": index_seconds, **built.seconds}
    return built


def assemble_model(case: Case, ix: IndexSets) -> BuiltModel:
    """The model over index sets already built from ``case`` (elastic if they are)."""
    t0 = time.perf_counter()
    lm = LinearModel(case.name)
    add_sets(lm, ix)
    add_variables(lm, ix)
    for add in CONSTRAINT_BUILDERS:
        add(lm, ix)
    if ix.elastic:
        add_total_violation(lm, ix)
    else:
        add_total_cost(lm, ix)
    return BuiltModel(case, lm, ix, {"build": time.perf_counter() - t0})
