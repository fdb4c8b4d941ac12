"""The plan's cost components: which of them the plan's decisions make.

The ``costs`` table (`capacity.results.extract`) sums to the net cost; one component,
`FIXED_EXISTING`, is a constant of the case that no decision changes. Readers (the CLI,
the report, a notebook) show the decisions' net cost apart from it.
"""

from __future__ import annotations

import pandas as pd

# the cost component no decision changes: the existing sites' fixed cost
FIXED_EXISTING = "fixed_existing"


def decision_cost(costs: pd.DataFrame) -> float:
    """The net cost the plan's decisions make: every cost component but `FIXED_EXISTING`
    (the existing sites' fixed cost, a constant of the case)."""
    return float(costs.loc[costs["component"] != FIXED_EXISTING, "pv_musd"].sum())
