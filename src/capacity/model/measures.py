"""Rule measures: what a share rule or a service level counts (issue 31).

One AAV vector lot (~12 MUSD) and one CAR-T patient lot (~0.3 MUSD) are different
amounts of medicine, yet a rule that counts batches counts them alike, so a market's
domestic share can be met by cell lots alone. A rule's `measure` (`rules.measure`) says
what one batch counts for in it:

- ``batches`` (the default, the rule as it always was): each batch counts 1;
- ``value``: each batch of program p shipped to market m in period t counts w[p,m,t],
  its value in MUSD: `demand.value_musd_per_batch` of (p,m,t) where above 0, else the
  committed-weighted mean of the offtakes' `price_musd_per_batch` of (p,m,t) (a batch
  only committed has no demand row). Validation refuses a value rule on a market with a
  batch worth neither (`capacity.case.validate`), so no batch silently counts 0;
- ``weight``: each batch counts w[p] = `programs.weight`, else its modality's
  `modalities.weight` (default 1), e.g. doses or patients per batch.

Shipments do not tell committed batches from potential ones, so one weight holds for
every batch of (p,m,t). The model (models/formulation.md, "Rule measures") multiplies
each shipment's, served batch's and demand's coefficient in the share rows
(`min_domestic_share`, `max_operator_share`, `max_country_share`) and the service level
(`min_service_level`) by its weight; a max-share rule in a measure other than batches
bounds its shipments by share × `MeasuredSupply[n,m,t]` (`add_measured_market_supply`),
the market's supply in that measure, rather than by `Supply[m,t]`, which counts batches.
With every rule in batches, nothing here adds a row, a column or a coefficient: the model
is the one before measures existed.

The weights are computed by `build_measures`, called from `build_index_sets` and kept as
`IndexSets.measures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from capacity.case import Case
from capacity.model.linear import Key, LinearModel, Term

DemandKey = tuple[str, str, int]  # (program, market, period)

# How a rule measured so is named where its share is reported ("domestic share of ...")
# and the unit of its amounts (explain's shortfalls, the KPI tables).
MEASURE_NOUN = {"batches": "batches", "value": "value", "weight": "weighted batches"}
MEASURE_UNIT = {"batches": "batches", "value": "MUSD", "weight": "weighted batches"}


@dataclass(frozen=True)
class Measures:
    """The weights of the measures the case's active rules use (``batches`` never
    appears: every weight 1).

    Attributes:
        weight: by measure (``value``, ``weight``), w[p,m,t] of every (p,m,t) with
            committed or potential demand in a market some active rule of that measure
            applies to.
    """

    weight: dict[str, dict[DemandKey, float]] = field(default_factory=dict)

    def of(self, measure: str, key: DemandKey) -> float:
        """w[p,m,t] in ``measure``: 1 for ``batches``."""
        return 1.0 if measure == "batches" else self.weight[measure][key]


class _Rule(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def market(self) -> str: ...
    @property
    def measure(self) -> str: ...


class WithMeasures(Protocol):
    """What the builders here read of the index sets (`IndexSets`, which builds this
    module's data and so cannot be imported by it)."""

    @property
    def measures(self) -> Measures: ...
    @property
    def ship(self) -> list[tuple[str, str, str, int]]: ...
    @property
    def share_rules(self) -> Sequence[_Rule]: ...
    @property
    def ships_by_market(self) -> dict[tuple[str, int], np.ndarray]: ...


def build_measures(case: Case, keys: Iterable[DemandKey]) -> Measures:
    """The weights of ``keys`` (the case's demand keys) in every measure an active rule
    other than ``batches`` uses, for the markets of those rules (see the module doc)."""
    markets: dict[str, set[str]] = defaultdict(set)
    for rule in case.rules.itertuples(index=False):
        if rule.active and rule.measure != "batches":
            markets[str(rule.measure)].add(str(rule.market))
    if not markets:
        return Measures()
    keys = sorted(set(keys))
    return Measures({n: batch_weights(case, n, [d for d in keys if d[1] in wanted])
                     for n, wanted in sorted(markets.items())})


def batch_weights(case: Case, measure: str, keys: Iterable[DemandKey]
                  ) -> dict[DemandKey, float]:
    """w[p,m,t] of each (p,m,t) of ``keys`` in ``measure`` (``value``: 0 where the case
    gives the batch no value, which validation refuses for a rule in value)."""
    if measure == "batches":
        return dict.fromkeys(keys, 1.0)
    if measure == "value":
        value = _values(case)
        return {d: value.get(d, 0.0) for d in keys}
    weight = case.per_program("weight")
    return {d: weight[d[0]] for d in keys}


def _values(case: Case) -> dict[DemandKey, float]:
    """w[p,m,t] of the ``value`` measure: the demand's value per batch where above 0,
    else the offtakes' committed-weighted mean price."""
    paid: dict[DemandKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p, m, t, b, x in case.offtakes[["program", "market", "period", "committed_batches",
                                        "price_musd_per_batch"]].itertuples(index=False):
        if b > 0:
            row = paid[(str(p), str(m), int(t))]
            row[0] += float(b) * float(x)
            row[1] += float(b)
    out = {d: b_x / b for d, (b_x, b) in paid.items()}
    for p, m, t, x in case.demand[["program", "market", "period",
                                   "value_musd_per_batch"]].itertuples(index=False):
        if x > 0:
            out[(str(p), str(m), int(t))] = float(x)
    return out


def ship_weights(ix: WithMeasures, measure: str, positions: np.ndarray) -> np.ndarray:
    """w[p,m,t] of the shipments at ``positions`` of SHIP, in ``measure``."""
    if measure == "batches":
        return np.ones(len(positions))
    ship = ix.ship
    weight = ix.measures.weight[measure]
    return np.fromiter((weight[(ship[i][0], ship[i][2], ship[i][3])] for i in positions.tolist()),
                       dtype=float, count=len(positions))


def measured_markets(ix: WithMeasures) -> list[tuple[str, str, int]]:
    """MEASURED_SUPPLY_NMT: (n,m,t) for each measure n ≠ batches of an active max-share
    rule on market m, in the periods with supply to m."""
    wanted = {(u.measure, u.market) for u in ix.share_rules
              if u.kind in ("max_operator_share", "max_country_share")
              and u.measure != "batches"}
    return sorted((n, m, t) for (n, m) in wanted for (mk, t) in ix.ships_by_market
                  if mk == m)


def add_measured_market_supply(lm: LinearModel, ix: WithMeasures) -> None:
    """Supply to a market in a measure other than batches, as one variable, for its
    max-share rules in that measure (as `add_market_supply` is for batches).

    ∀(n,m,t) ∈ MEASURED_SUPPLY_NMT:
        MeasuredSupply[n,m,t] ≤ Σ_{(p,s,m,t) ∈ SHIP} w_n[p,m,t]·Ship[p,s,m,t]
    """
    by_market = ix.ships_by_market
    lm.add_set("MEASURED_SUPPLY_NMT", measured_markets(ix), 3)
    lm.add_var("MeasuredSupply", "MEASURED_SUPPLY_NMT", "continuous")

    def rule(nmt: Key) -> tuple[list[Term], float]:
        n, m, t = nmt
        shipped = by_market[(m, t)]
        return [("MeasuredSupply", [nmt], 1.0),
                ("Ship", shipped, -ship_weights(ix, n, shipped))], 0.0

    lm.add_rows("measured_market_supply", "MEASURED_SUPPLY_NMT", "<=", rule)
