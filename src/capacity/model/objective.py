"""The objective: discounted total cost, net of co-investment and of the value served."""

from __future__ import annotations

import pyomo.environ as pyo

from capacity.index_sets import IndexSets

RULE_WEIGHT = 0.999  # elastic mode: a rule gives way just before a signed commitment


def add_total_cost(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Minimise discounted total cost (MUSD).

    total_cost = Σ build_cost·Build − Σ finance_saving·Finance + Σ open_cost·Open
               + Σ assign_cost·Assign + Σ ship_cost·Ship − Σ serve_value·Serve
               + Σ reserve_cost·Reserve + Σ shortfall_cost·Shortfall + existing_fixed_cost

    Coefficients are discounted in `build_index_sets`: ship_cost covers production,
    transport and tariffs; open_cost covers opening and fixed costs from opening on;
    existing sites' fixed costs are a constant, kept so the objective is the true total.
    shortfall_cost (discounted unmet penalty) exists only in the stochastic model.
    """
    m.total_cost = pyo.Objective(
        expr=pyo.quicksum(ix.build_cost[b] * m.Build[b] for b in ix.build)
        - pyo.quicksum(ix.finance_saving[x] * m.Finance[x] for x in ix.finance)
        + pyo.quicksum(ix.open_cost[o] * m.Open[o] for o in ix.open)
        + pyo.quicksum(ix.assign_cost[a] * m.Assign[a] for a in ix.assign)
        + pyo.quicksum(ix.ship_cost[k] * m.Ship[k] for k in ix.ship)
        - pyo.quicksum(ix.serve_value[d] * m.Serve[d] for d in ix.serve)
        + pyo.quicksum(ix.reservations.cost[r] * m.Reserve[r] for r in ix.reservations.reserve)
        + pyo.quicksum(ix.shortfall_cost[d] * m.Shortfall[d] for d in ix.shortfall_cost)
        + ix.existing_fixed_cost,
        sense=pyo.minimize,
    )


def add_total_violation(m: pyo.ConcreteModel, ix: IndexSets) -> None:
    """Elastic mode: minimise how far commitments and rules are violated, in batches.

    total_violation = Σ Shortfall + w·(Σ DomesticShortfall + Σ OperatorExcess
                    + Σ CountryExcess + Σ LateExcess + Σ_{barred lanes} Ship
                    + Σ_k module_batches[k]·ExtraModules[k]
                    + Σ_(k,t) module_batches[k]·EarlyModules[k,t])

    Every term counts batches (an extra module counts the batches it adds), so no family
    is preferred by its units, except LateExcess (years of time to market: a year late
    weighs like a batch short). w = RULE_WEIGHT < 1 breaks ties: where giving way on a rule
    and on the signed commitment it blocks are equally large, the rule gives, so the
    explanation names the rule. Costs play no part: the question is what cannot hold.
    """
    m.BARRED_SHIP = pyo.Set(dimen=4, initialize=ix.barred_ship, ordered=True)
    m.total_violation = pyo.Objective(
        expr=pyo.quicksum(m.Shortfall.values())
        + RULE_WEIGHT * (
            pyo.quicksum(m.DomesticShortfall.values())
            + pyo.quicksum(m.OperatorExcess.values())
            + pyo.quicksum(m.CountryExcess.values())
            + pyo.quicksum(m.LateExcess.values())
            + pyo.quicksum(m.Ship[k] for k in ix.barred_ship)
            + pyo.quicksum(ix.suite_module[k] * m.ExtraModules[k] for k in m.MODULE_CAP_K)
            + pyo.quicksum(ix.suite_module[r[:3]] * m.EarlyModules[r] for r in m.EARLY_KT)),
        sense=pyo.minimize,
    )
