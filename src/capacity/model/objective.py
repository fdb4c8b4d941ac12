"""The objective: discounted total cost, net of co-investment and of the value served.

Elastic mode's objective, the total violation, is `capacity.model.elastic`'s.
"""

from __future__ import annotations

import numpy as np

from capacity.model.index_sets import IndexSets
from capacity.model.linear import LinearModel


def add_total_cost(lm: LinearModel, ix: IndexSets) -> None:
    """Minimise discounted total cost (MUSD).

    total_cost = Σ build_cost·Build − Σ finance_saving·Finance + Σ open_cost·Open
               − Σ finance_opening_saving·FinanceOpening
               + Σ assign_cost·Assign − Σ scale_up_saving·ScaleUp
               + Σ ship_cost·Ship − Σ serve_value·Serve
               + Σ make_cost·Make + Σ hold_cost·Stock
               + Σ reserve_cost·Reserve + Σ shortfall_cost·Shortfall
               + Σ approval_cost·Approve + existing_fixed_cost

    Coefficients are discounted in `build_index_sets`: ship_cost covers production,
    transport and tariffs; open_cost covers opening and fixed costs from opening on;
    existing sites' fixed costs are a constant, kept so the objective is the true total.
    A storable program's production is paid when made (make_cost on Make; its ship_cost
    holds transport and tariffs only) and its stock costs hold_cost a period
    (`capacity.model.inventory`).
    shortfall_cost (discounted unmet penalty) exists only in the stochastic model. Money a
    fund pays, for modules or openings alike, saves df_t·(1 − repayment_share) a MUSD.
    approval_cost[a,τ] = df_τ·cost[a]: a site's pre-approval inspection for a market,
    discounted at the decision (`capacity.model.approvals`). A commercial phase made at
    the site of its clinical phase earns its transfer back (ScaleUp,
    `capacity.model.phases`).
    """
    res, inv = ix.reservations, ix.inventory
    lm.set_objective("total_cost", [
        ("Build", ix.build, [ix.build_cost[b] for b in ix.build]),
        ("Finance", ix.finance, [-ix.finance_saving[x] for x in ix.finance]),
        ("FinanceOpening", ix.finance_opening,
         [-ix.finance_opening_saving[x] for x in ix.finance_opening]),
        ("Open", ix.open, [ix.open_cost[o] for o in ix.open]),
        ("Assign", ix.assign, [ix.assign_cost[a] for a in ix.assign]),
        ("ScaleUp", ix.phases.scale_up, [-ix.phases.scale_up_saving[a]
                                         for a in ix.phases.scale_up]),
        ("Ship", np.arange(len(ix.ship)), ix.ship_cost),  # by position: no key lookup
        ("Serve", ix.serve, [-ix.serve_value[d] for d in ix.serve]),
        ("Make", inv.make, [inv.make_cost[k] for k in inv.make]),
        ("Stock", inv.stock, [inv.hold_cost[k] for k in inv.stock]),
        ("Reserve", res.reserve, [res.cost[r] for r in res.reserve]),
        ("Shortfall", list(ix.shortfall_cost), list(ix.shortfall_cost.values())),
        ("Approve", ix.approvals.decide, [ix.approvals.cost[d] for d in ix.approvals.decide])],
        ix.existing_fixed_cost)

