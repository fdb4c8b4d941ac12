"""Case → Pyomo MILP. `build_model` is a flat list of builders, one per family."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyomo.environ as pyo

from capacity.case import Case
from capacity.errors import CaseInfeasibleError
from capacity.index_sets import IndexSets, build_index_sets
from capacity.model.constraints import CONSTRAINT_BUILDERS
from capacity.model.objective import add_total_cost, add_total_violation
from capacity.model.variables import add_sets, add_variables

__all__ = ["BuiltModel", "assemble_model", "build_model"]


@dataclass
class BuiltModel:
    """A built model and what produced it.

    Attributes:
        case: the case it was built from.
        pyomo: the Pyomo model; add constraints to it before calling `capacity.solve`.
        index_sets: the sparse sets and coefficients behind it.
        seconds: wall time by phase (``index_sets``, ``build``).
    """

    case: Case
    pyomo: pyo.ConcreteModel
    index_sets: IndexSets
    seconds: dict[str, float]


def build_model(case: Case, elastic: bool = False) -> BuiltModel:
    """Build the mixed-integer model of ``case`` (see models/formulation.md).

    Args:
        case: a validated case.
        elastic: build the elastic model used by `capacity.explain`: commitments and
            rules may be violated at a penalty, and the objective is the total violation
            (models/formulation.md, "Elastic mode").

    Returns:
        The `BuiltModel`; its ``pyomo`` attribute is an ordinary ``ConcreteModel``.

    Raises:
        CaseInfeasibleError: a committed offtake can never be served (no compatible,
            reachable, allowed suite); the reasons name anchor, program, market and period.

    Example:
        >>> import capacity, pyomo.environ as pyo
        >>> built = capacity.build_model(capacity.load_case())
        >>> m = built.pyomo
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
    """The Pyomo model over index sets already built from ``case`` (elastic if they are)."""
    t0 = time.perf_counter()
    m = pyo.ConcreteModel(name=case.name)
    add_sets(m, ix)
    add_variables(m, ix)
    for add in CONSTRAINT_BUILDERS:
        add(m, ix)
    if ix.elastic:
        add_total_violation(m, ix)
    else:
        add_total_cost(m, ix)
    return BuiltModel(case, m, ix, {"build": time.perf_counter() - t0})
