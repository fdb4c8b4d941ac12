"""capacity: an optimisation engine for shared biomanufacturing capacity.

Load a case, build and solve the mixed-integer model with HiGHS, read the plan as tidy
tables::

    import capacity
    case = capacity.load_case()            # the embedded default case
    plan = capacity.solve(case, capacity.SolveOptions(time_limit_s=60))
    plan.status, plan.objective, plan.gap
    plan.builds                            # capacity built: site, modality, scale, period

Scenarios and batches: `read_scenarios` (a YAML file of overrides and sweeps),
`run_batch` (solve them all on Dask into one results store), `compare` (each scenario
against a base: the price of each policy). Governance: `allocate` (value of pooling and
a fair split of a consortium's cost: Shapley value, core check, nucleolus). Uncertainty
and trade-offs: `solve_stochastic` (two-stage plan over clinical success, with VSS and
EVPI), `pareto` (cost against a policy objective, epsilon-constraint).
"""

from __future__ import annotations

__version__ = "0.1.0"

from capacity.allocate import Allocation, allocate
from capacity.batch import read_results, run_batch
from capacity.case import Case, load_case
from capacity.compare import compare
from capacity.default import default_case_path, tiny_case_path
from capacity.errors import CaseError, CaseInfeasibleError, Problem
from capacity.explain import Conflict, Explanation, explain
from capacity.model import BuiltModel, build_model
from capacity.pareto import ParetoFront, pareto
from capacity.plan import Plan
from capacity.scenarios import ScenarioSet, default_scenarios_path, read_scenarios
from capacity.solve import Resolver, SolveOptions, solve
from capacity.stochastic import StochasticOptions, StochasticResult, solve_stochastic

__all__ = [
    "Allocation",
    "BuiltModel",
    "Case",
    "CaseError",
    "CaseInfeasibleError",
    "Conflict",
    "Explanation",
    "ParetoFront",
    "Plan",
    "Problem",
    "Resolver",
    "ScenarioSet",
    "SolveOptions",
    "StochasticOptions",
    "StochasticResult",
    "__version__",
    "allocate",
    "build_model",
    "compare",
    "default_case_path",
    "default_scenarios_path",
    "explain",
    "load_case",
    "pareto",
    "read_results",
    "read_scenarios",
    "run_batch",
    "solve",
    "solve_stochastic",
    "tiny_case_path",
]
