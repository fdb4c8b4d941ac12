"""Elastic mode as an overlay on the hard model (models/formulation.md, "Elastic mode").

`build_model(case, elastic=True)` builds the model `capacity.explain` solves to find out
why a case is infeasible: commitments and rules may give way, each by a slack, and the
objective is the total violation. The hard builders (`capacity.model.constraints`) know
nothing of it. Elastic mode is, in three places:

- the sets (`build_index_sets(case, elastic=True)`): shipments on barred lanes are kept
  (``barred_ship``), Build's bound grows by ``ELASTIC_EXTRA_MODULES``, every commitment
  may go short (``may_go_short``: SHORTFALL_PMT, and no `committed_cover` rows), every
  suite with builds gets a `module_cap` row (``module_cap_rows``);
- the builders here, each a slack on one hard family: a variable over the family's row
  set and its entry on each row (`LinearModel.add_terms`; continuity of supply's,
  `add_continuity_shortfall`, is with its family in `capacity.model.continuity`);
- the objective, `add_total_violation`.

`capacity.model.BUILDERS` runs each builder here right after the family it relaxes (and
`add_early_modules` just before `suite_capacity`), only in elastic mode. That keeps
every column and row where it was when these slacks were written inside the hard
builders, so the elastic model HiGHS sees, and so what `explain` finds, did not change
with the move.
"""

from __future__ import annotations

import numpy as np

from capacity.model.index_sets import IndexSets, group
from capacity.model.linear import LinearModel

RULE_WEIGHT = 0.999  # a rule gives way just before a signed commitment


def _slack(lm: LinearModel, family: str, var: str, coef: float) -> None:
    """A continuous slack ``var`` ≥ 0 over the rows of ``family``, coef on each row."""
    rows = lm.constraints[family]
    n = len(lm.add_var(var, rows.set_name, "continuous").keys)
    lm.add_terms(family, [(var, np.arange(n), np.arange(n), coef)])


def add_extra_modules(lm: LinearModel, ix: IndexSets) -> None:
    """Modules beyond a suite's cap.

    ∀k ∈ MODULE_CAP_K:  Σ_t Build[k,t] − ExtraModules[k] ≤ max_modules[k]
    (in elastic mode every suite with builds has a row; Build's bound has room for
    ``ELASTIC_EXTRA_MODULES`` more)
    """
    _slack(lm, "module_cap", "ExtraModules", -1.0)


def add_domestic_shortfall(lm: LinearModel, ix: IndexSets) -> None:
    """Supply to a market short of its minimum domestic share.

    ∀(u,t) ∈ DOMESTIC_SHARE_UT:  domestic − share[u]·all + DomesticShortfall[u,t] ≥ 0
    """
    _slack(lm, "min_domestic_share", "DomesticShortfall", 1.0)


def add_service_shortfall(lm: LinearModel, ix: IndexSets) -> None:
    """A market's demand served short of its minimum service level.

    ∀(u,t) ∈ SERVICE_LEVEL_UT:  Σ Serve − Σ Shortfall + ServiceShortfall[u,t] ≥ level·D − C
    """
    _slack(lm, "min_service_level", "ServiceShortfall", 1.0)


def add_operator_excess(lm: LinearModel, ix: IndexSets) -> None:
    """An operator's supply to a market beyond its maximum share.

    ∀(u,o,t) ∈ OPERATOR_SHARE_UOT:  mine − share[u]·Supply[m,t] − OperatorExcess[u,o,t] ≤ 0
    """
    _slack(lm, "max_operator_share", "OperatorExcess", -1.0)


def add_country_excess(lm: LinearModel, ix: IndexSets) -> None:
    """A producing region's supply to a market beyond its maximum share.

    ∀(u,r,t) ∈ COUNTRY_SHARE_URT:  mine − share[u]·Supply[m,t] − CountryExcess[u,r,t] ≤ 0
    """
    _slack(lm, "max_country_share", "CountryExcess", -1.0)


def add_late_excess(lm: LinearModel, ix: IndexSets) -> None:
    """Years of time to market beyond a rule's limit.

    ∀u ∈ TIME_TO_MARKET_U:  constant[u] − Σ weight·Serve − LateExcess[u] ≤ limit[u]
    """
    _slack(lm, "max_time_to_market", "LateExcess", -1.0)


def add_early_modules(lm: LinearModel, ix: IndexSets) -> None:
    """Modules counted before their lead time allows: at most the modules the plan builds.

    EARLY_KT = the CAPACITY_KT rows of suites that have build periods;
    ∀(k,t) ∈ EARLY_KT:  EarlyModules[k,t] ≤ Σ_t' Build[k,t']      (early_modules_built)

    They count in `suite_capacity` (`add_early_modules_to_capacity`). Built before that
    family, so that these rows come before its rows, where they always were.
    """
    builds = group(ix.build, lambda b: b[:3])
    lm.add_set("EARLY_KT", [r for r in lm.sets["CAPACITY_KT"].keys if r[:3] in builds], 4)
    lm.add_var("EarlyModules", "EARLY_KT", "continuous")
    lm.add_rows("early_modules_built", "EARLY_KT", "<=", lambda r: (
        [("EarlyModules", [r], 1.0), ("Build", builds[r[:3]], -1.0)], 0.0))


def add_early_modules_to_capacity(lm: LinearModel, ix: IndexSets) -> None:
    """Early modules add to the suite's capacity.

    ∀(k,t) ∈ EARLY_KT:  suite_capacity[k,t] gets − module_batches[k]·EarlyModules[k,t] on
    the left (+ on the right: module_batches[k]·EarlyModules[k,t] more slots)
    """
    row = {r: i for i, r in enumerate(lm.sets["CAPACITY_KT"].keys)}
    early = lm.variables["EarlyModules"].keys
    lm.add_terms("suite_capacity", [(
        "EarlyModules", np.fromiter((row[r] for r in early), dtype=np.int64, count=len(early)),
        np.arange(len(early)), np.array([-ix.suite_module[r[:3]] for r in early], dtype=float))])


def add_total_violation(lm: LinearModel, ix: IndexSets) -> None:
    """Minimise how far commitments and rules are violated, in batches.

    total_violation = Σ Shortfall + w·(Σ DomesticShortfall + Σ ServiceShortfall
                    + Σ OperatorExcess + Σ CountryExcess + Σ LateExcess + Σ TargetShortfall
                    + Σ ContinuityShortfall
                    + Σ_{barred lanes} Ship
                    + Σ_k module_batches[k]·ExtraModules[k]
                    + Σ_(k,t) module_batches[k]·EarlyModules[k,t])

    Every term counts batches (an extra module counts the batches it adds), so no family
    is preferred by its units, except LateExcess (years of time to market: a year late
    weighs like a batch short). w = RULE_WEIGHT < 1 breaks ties: where giving way on a rule
    and on the signed commitment it blocks are equally large, the rule gives, so the
    explanation names the rule. Costs play no part: the question is what cannot hold.
    """
    lm.add_set("BARRED_SHIP", ix.barred_ship, 4)
    slacks = lm.variables
    extra, early = slacks["ExtraModules"].keys, slacks["EarlyModules"].keys
    lm.set_objective("total_violation", [
        ("Shortfall", slacks["Shortfall"].keys, 1.0),
        *[(slack, slacks[slack].keys, RULE_WEIGHT)
          for slack in ("DomesticShortfall", "ServiceShortfall", "OperatorExcess",
                        "CountryExcess", "LateExcess", "TargetShortfall",
                        "ContinuityShortfall")],
        ("Ship", ix.barred_ship, RULE_WEIGHT),
        ("ExtraModules", extra, [RULE_WEIGHT * ix.suite_module[k] for k in extra]),
        ("EarlyModules", early, [RULE_WEIGHT * ix.suite_module[r[:3]] for r in early])])
