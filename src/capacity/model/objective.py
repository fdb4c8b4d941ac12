"""The objective: discounted total cost, net of co-investment and of the value served."""

from __future__ import annotations

import numpy as np

from capacity.index_sets import IndexSets
from capacity.model.linear import LinearModel

RULE_WEIGHT = 0.999  # elastic mode: a rule gives way just before a signed commitment


def add_total_cost(lm: LinearModel, ix: IndexSets) -> None:
    """Minimise discounted total cost (MUSD).

    total_cost = Σ build_cost·Build − Σ finance_saving·Finance + Σ open_cost·Open
               + Σ assign_cost·Assign + Σ ship_cost·Ship − Σ serve_value·Serve
               + Σ reserve_cost·Reserve + Σ shortfall_cost·Shortfall + existing_fixed_cost

    Coefficients are discounted in `build_index_sets`: ship_cost covers production,
    transport and tariffs; open_cost covers opening and fixed costs from opening on;
    existing sites' fixed costs are a constant, kept so the objective is the true total.
    shortfall_cost (discounted unmet penalty) exists only in the stochastic model.
    """
    res = ix.reservations
    lm.set_objective("total_cost", [
        ("Build", ix.build, [ix.build_cost[b] for b in ix.build]),
        ("Finance", ix.finance, [-ix.finance_saving[x] for x in ix.finance]),
        ("Open", ix.open, [ix.open_cost[o] for o in ix.open]),
        ("Assign", ix.assign, [ix.assign_cost[a] for a in ix.assign]),
        ("Ship", np.arange(len(ix.ship)), ix.ship_cost),  # by position: no key lookup
        ("Serve", ix.serve, [-ix.serve_value[d] for d in ix.serve]),
        ("Reserve", res.reserve, [res.cost[r] for r in res.reserve]),
        ("Shortfall", list(ix.shortfall_cost), list(ix.shortfall_cost.values()))],
        ix.existing_fixed_cost)


def add_total_violation(lm: LinearModel, ix: IndexSets) -> None:
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
    lm.add_set("BARRED_SHIP", ix.barred_ship, 4)
    module = [ix.suite_module[k] for k in lm.sets["MODULE_CAP_K"][1]]
    early = lm.sets["EARLY_KT"][1]
    lm.set_objective("total_violation", [
        ("Shortfall", lm.sets["SHORTFALL_PMT"][1], 1.0),
        *[(slack, lm.sets[lm.variables[slack].set_name][1], RULE_WEIGHT)
          for slack in ("DomesticShortfall", "OperatorExcess", "CountryExcess", "LateExcess")],
        ("Ship", ix.barred_ship, RULE_WEIGHT),
        ("ExtraModules", lm.sets["MODULE_CAP_K"][1], [RULE_WEIGHT * b for b in module]),
        ("EarlyModules", early, [RULE_WEIGHT * ix.suite_module[r[:3]] for r in early])])
