"""The objective: discounted total cost, net of co-investment and of the value served."""

from __future__ import annotations

import pyomo.environ as pyo

from capacity.index_sets import IndexSets


def add_total_cost(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Minimise discounted total cost (MUSD).

    total_cost = Σ build_cost·Build − Σ finance_saving·Finance + Σ open_cost·Open
               + Σ assign_cost·Assign + Σ ship_cost·Ship − Σ serve_value·Serve
               + existing_fixed_cost

    Coefficients are discounted in `build_index_sets`: ship_cost covers production,
    transport and tariffs; open_cost covers opening and fixed costs from opening on;
    existing sites' fixed costs are a constant, kept so the objective is the true total.
    """
    m.total_cost = pyo.Objective(
        expr=pyo.quicksum(ix.build_cost[b] * m.Build[b] for b in ix.build)
        - pyo.quicksum(ix.finance_saving[x] * m.Finance[x] for x in ix.finance)
        + pyo.quicksum(ix.open_cost[o] * m.Open[o] for o in ix.open)
        + pyo.quicksum(ix.assign_cost[a] * m.Assign[a] for a in ix.assign)
        + pyo.quicksum(ix.ship_cost[k] * m.Ship[k] for k in ix.ship)
        - pyo.quicksum(ix.serve_value[d] * m.Serve[d] for d in ix.serve)
        + ix.existing_fixed_cost,
        sense=pyo.minimize,
    )
