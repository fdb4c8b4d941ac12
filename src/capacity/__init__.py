"""capacity: an optimisation engine for shared biomanufacturing capacity.

Load a case, build and solve the mixed-integer model with HiGHS, read the plan as tidy
tables::

    import capacity
    case = capacity.load_case()            # the embedded default case
    plan = capacity.solve(case, capacity.SolveOptions(time_limit_s=60))
    plan.status, plan.objective, plan.gap
    plan.builds                            # capacity built: site, modality, scale, period
"""

from __future__ import annotations

__version__ = "0.1.0"

from capacity.case import Case, load_case
from capacity.default import default_case_path, tiny_case_path
from capacity.errors import CaseError, CaseInfeasibleError, Problem
from capacity.explain import Conflict, Explanation, explain
from capacity.model import BuiltModel, build_model
from capacity.plan import Plan
from capacity.solve import SolveOptions, solve

__all__ = [
    "BuiltModel",
    "Case",
    "CaseError",
    "CaseInfeasibleError",
    "Conflict",
    "Explanation",
    "Plan",
    "Problem",
    "SolveOptions",
    "__version__",
    "build_model",
    "default_case_path",
    "explain",
    "load_case",
    "solve",
    "tiny_case_path",
]
