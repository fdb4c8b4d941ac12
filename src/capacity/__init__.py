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

import importlib
from typing import TYPE_CHECKING, Any

from capacity._version import __version__

# The public API by where it lives. Imported on first use (PEP 562), so that `import
# capacity` and `capacity --help` do not load Pyomo, HiGHS, Dask and every study.
_EXPORTS = {
    "Case": "capacity.case", "load_case": "capacity.case",
    "default_case_path": "capacity.case.default", "tiny_case_path": "capacity.case.default",
    "write_template": "capacity.case.template",
    "BuiltModel": "capacity.model", "build_model": "capacity.model",
    "SolveOptions": "capacity.engine.options",
    "Resolver": "capacity.engine.resolver", "solve": "capacity.engine.solve",
    "Conflict": "capacity.engine.explain", "Explanation": "capacity.engine.explain",
    "explain": "capacity.engine.explain",
    "Plan": "capacity.results.plan",
    "CaseError": "capacity.errors", "CaseInfeasibleError": "capacity.errors",
    "Problem": "capacity.errors",
    "ScenarioSet": "capacity.studies.scenarios",
    "default_scenarios_path": "capacity.studies.scenarios",
    "read_scenarios": "capacity.studies.scenarios",
    "read_results": "capacity.studies.batch", "run_batch": "capacity.studies.batch",
    "compare": "capacity.studies.compare",
    "Allocation": "capacity.studies.allocate", "allocate": "capacity.studies.allocate",
    "ParetoFront": "capacity.studies.pareto", "pareto": "capacity.studies.pareto",
    "StochasticOptions": "capacity.studies.stochastic",
    "StochasticResult": "capacity.studies.stochastic",
    "solve_stochastic": "capacity.studies.stochastic",
    "StressResult": "capacity.studies.stress", "stress": "capacity.studies.stress",
    "NMinusOneResult": "capacity.studies.resilience",
    "n_minus_one": "capacity.studies.resilience",
}

__all__ = [  # the names of `_EXPORTS` (a test checks both say the same)
    "Allocation",
    "BuiltModel",
    "Case",
    "CaseError",
    "CaseInfeasibleError",
    "Conflict",
    "Explanation",
    "NMinusOneResult",
    "ParetoFront",
    "Plan",
    "Problem",
    "Resolver",
    "ScenarioSet",
    "SolveOptions",
    "StochasticOptions",
    "StochasticResult",
    "StressResult",
    "__version__",
    "allocate",
    "build_model",
    "compare",
    "default_case_path",
    "default_scenarios_path",
    "explain",
    "load_case",
    "n_minus_one",
    "pareto",
    "read_results",
    "read_scenarios",
    "run_batch",
    "solve",
    "solve_stochastic",
    "stress",
    "tiny_case_path",
    "write_template",
]


def __getattr__(name: str) -> Any:
    """The public API's names, each imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'capacity' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from capacity.case import Case, load_case
    from capacity.case.default import default_case_path, tiny_case_path
    from capacity.case.template import write_template
    from capacity.engine.explain import Conflict, Explanation, explain
    from capacity.engine.options import SolveOptions
    from capacity.engine.resolver import Resolver
    from capacity.engine.solve import solve
    from capacity.errors import CaseError, CaseInfeasibleError, Problem
    from capacity.model import BuiltModel, build_model
    from capacity.results.plan import Plan
    from capacity.studies.allocate import Allocation, allocate
    from capacity.studies.batch import read_results, run_batch
    from capacity.studies.compare import compare
    from capacity.studies.pareto import ParetoFront, pareto
    from capacity.studies.resilience import NMinusOneResult, n_minus_one
    from capacity.studies.scenarios import ScenarioSet, default_scenarios_path, read_scenarios
    from capacity.studies.stochastic import StochasticOptions, StochasticResult, solve_stochastic
    from capacity.studies.stress import StressResult, stress
