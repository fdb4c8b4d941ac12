"""Case → MILP. `build_model` runs `BUILDERS`, a flat list with one builder per
family, writing sparse matrices (`capacity.model.linear`); the Pyomo model is made from
them on first use.

The builders' order is load-bearing: a builder reads, by name, sets, variables and rows
that builders before it made (`ship_requires_open_site` reads OPEN_BY_ST and OpenBy,
which `site_open_by` makes; the share rules read Supply from `market_supply`; the
objectives read Shortfall from `demand_balance`). So each entry of `BUILDERS` declares
what it ``reads`` and what it ``makes``, and the order is checked twice: a test
(tests/model/test_formulation.py) checks that whatever a builder reads an earlier builder
makes, in both modes; and `assemble_model` holds every builder to its declaration at
every build (`LinearModel.scope`: a name it does not declare is not there to read, and
it must make exactly what it says).

A feature's family may live in a module of its own: site approvals per market are
`capacity.model.approvals` (their sets on `IndexSets.approvals`, their builders listed
here after `ship_requires_open_site`).

Why declare rather than make every set up front, before the builders: most of what
builders share is not a set but a variable a family introduces with its rows (OpenBy,
Supply, Shortfall, elastic mode's slacks), which belongs with that family's math; making
them all up front would split each family in two and move columns. The one set several
builders read, CAPACITY_KT, is made up front (`add_sets`). The list stays the PyPSA
shape: one line per family, in the order they run, with the dependencies on it.

Elastic mode (`capacity.model.elastic`) is an overlay: its entries, marked
``only="elastic"``, each put a slack on one hard family, and run right after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyomo.environ as pyo

from capacity.case import Case
from capacity.errors import CaseInfeasibleError
from capacity.model.approvals import (
    add_approval_once,
    add_approval_requires_open_site,
    add_approved_by,
    add_ship_requires_approval,
)
from capacity.model.changeovers import add_changeover_slots, add_production_requires_campaign
from capacity.model.constraints import (
    add_committed_cover,
    add_demand_balance,
    add_financing_within_capex,
    add_financing_within_opening,
    add_fund_budget,
    add_fund_opening_share_cap,
    add_fund_share_cap,
    add_market_supply,
    add_max_country_share,
    add_max_operator_share,
    add_max_time_to_market,
    add_min_domestic_share,
    add_min_service_level,
    add_module_cap,
    add_module_requires_open_site,
    add_operating_margin,
    add_production_requires_assignment,
    add_program_site_limit,
    add_reinvest_from_margin,
    add_reservation_capacity,
    add_reservation_min_take,
    add_reserved_use_is_production,
    add_ship_requires_assignment,
    add_ship_requires_open_site,
    add_site_open_by,
    add_site_opens_once,
    add_suite_capacity,
)
from capacity.model.continuity import (
    add_continuity_of_supply,
    add_continuity_shortfall,
    add_launch_monotone,
    add_supply_requires_launch,
)
from capacity.model.elastic import (
    add_country_excess,
    add_domestic_shortfall,
    add_early_modules,
    add_early_modules_to_capacity,
    add_extra_modules,
    add_late_excess,
    add_operator_excess,
    add_service_shortfall,
    add_total_violation,
)
from capacity.model.index_sets import IndexSets, build_index_sets
from capacity.model.inventory import (
    add_make_requires_assignment,
    add_make_requires_open_site,
    add_reserved_use_is_making,
    add_shelf_life,
    add_stock_balance,
    add_stock_target,
    add_target_shortfall,
)
from capacity.model.linear import LinearModel, to_pyomo
from capacity.model.objective import add_total_cost
from capacity.model.outages import add_outage_cuts
from capacity.model.phases import add_scale_up_requires_assignment
from capacity.model.variables import add_sets, add_variables

__all__ = ["BUILDERS", "BuildOrderError", "Builder", "BuiltModel", "assemble_model",
           "build_model", "run_builders"]


@dataclass
class BuiltModel:
    """A built model and what produced it.

    Attributes:
        case: the case it was built from.
        linear: the model as sparse matrices, what a solve hands HiGHS.
        index_sets: the sparse sets and coefficients behind it.
        seconds: wall time by phase (``index_sets``, ``build``).
        solution: the values of ``linear``'s columns in the last plan `capacity.solve`
            found for it (None before).

    ``pyomo`` is the same model in Pyomo, made on first use: add constraints to it or fix
    variables before calling `capacity.solve`, which then solves the Pyomo model.
    """

    case: Case
    linear: LinearModel
    index_sets: IndexSets
    seconds: dict[str, float]
    _pyomo: tuple[pyo.ConcreteModel, list[pyo.Var]] | None = field(default=None, repr=False)
    solution: np.ndarray | None = field(default=None, repr=False)

    @property
    def pyomo(self) -> pyo.ConcreteModel:
        """The Pyomo model (every set, variable and constraint named as in
        models/formulation.md), made from ``linear`` the first time it is asked for."""
        if self._pyomo is None:
            t0 = time.perf_counter()
            self._pyomo = to_pyomo(self.linear)
            self.seconds["pyomo"] = time.perf_counter() - t0
        return self._pyomo[0]

    @property
    def has_pyomo(self) -> bool:
        """Whether the Pyomo model has been made (a caller may have changed it)."""
        return self._pyomo is not None

    def pyomo_columns(self) -> list[pyo.Var]:
        """The Pyomo variables in ``linear``'s column order."""
        self.pyomo  # noqa: B018 - made on first use
        assert self._pyomo is not None
        return self._pyomo[1]

    def pyomo_values(self) -> np.ndarray:
        """The Pyomo variables' values in ``linear``'s column order (None as 0)."""
        return np.array([v.value or 0.0 for v in self.pyomo_columns()], dtype=float)


def build_model(case: Case, elastic: bool = False) -> BuiltModel:
    """Build the mixed-integer model of ``case`` (see models/formulation.md).

    Args:
        case: a validated case.
        elastic: build the elastic model used by `capacity.explain`: commitments and
            rules may be violated at a penalty, and the objective is the total violation
            (models/formulation.md, "Elastic mode").

    Returns:
        The `BuiltModel`; its ``linear`` model is what HiGHS solves, its ``pyomo``
        attribute the same model as an ordinary ``ConcreteModel``.

    Raises:
        CaseInfeasibleError: a committed offtake can never be served (no compatible,
            reachable, allowed suite); the reasons name anchor, program, market and period.

    Example:
        >>> import capacity, pyomo.environ as pyo
        >>> built = capacity.build_model(capacity.load_case())
        >>> m = built.pyomo  # made on first use
        >>> m.no_new_sites = pyo.Constraint(expr=sum(m.Open.values()) <= 0)
        >>> capacity.solve(built).status
        'optimal'
    """
    t0 = time.perf_counter()
    ix = build_index_sets(case, elastic=elastic)
    if ix.unservable and not elastic:
        raise CaseInfeasibleError(ix.unservable)
    index_seconds = time.perf_counter() - t0
    built = assemble_model(case, ix)
    built.seconds = {"index_sets": index_seconds, **built.seconds}
    return built


def assemble_model(case: Case, ix: IndexSets) -> BuiltModel:
    """The model over index sets already built from ``case`` (elastic if they are)."""
    t0 = time.perf_counter()
    lm = LinearModel(case.name)
    run_builders(lm, ix)
    return BuiltModel(case, lm, ix, {"build": time.perf_counter() - t0})


@dataclass(frozen=True)
class Builder:
    """One entry of the build: ``add(lm, ix)``, with the model components (sets,
    variables, constraint families, the objective) it reads and those it makes, by name.

    ``only``: run in the elastic model only (``"elastic"``) or in the ordinary one only
    (``"plain"``); None: in both.
    """

    add: Callable[[LinearModel, IndexSets], None]
    reads: tuple[str, ...] = ()
    makes: tuple[str, ...] = ()
    only: Literal["elastic", "plain"] | None = None

    def runs(self, elastic: bool) -> bool:
        """Whether this entry runs in the elastic (or the ordinary) model."""
        return self.only is None or (self.only == "elastic") == elastic


class BuildOrderError(RuntimeError):
    """A builder read or made a model component other than its entry declares."""


_SETS = ("BUILD", "OPEN", "ASSIGN", "SHIP", "SERVE", "FINANCE", "FINANCE_OPENING",
         "RESERVE_VT", "RESERVE_USE_VPT", "REINVEST_FT", "MARGIN_T")

# The build, in order. Each family's own set (UPPER), any variable it introduces
# (PascalCase) and its rows (snake_case) are in ``makes``; ``reads`` names what earlier
# entries made. Elastic entries follow the family they relax (`capacity.model.elastic`).
BUILDERS: tuple[Builder, ...] = (
    Builder(add_sets,
            makes=("PERIODS", *_SETS, "CAPACITY_KT")),
    Builder(add_variables,
            reads=_SETS, makes=("Build", "Open", "Assign", "Ship", "Serve", "Finance",
                                "FinanceOpening", "Reserve", "ReservedUse", "Margin",
                                "Profitable", "Reinvest")),
    Builder(add_stock_balance,
            reads=("Ship",),
            makes=("MAKE_PSCT", "STOCK_PSCT", "WRITE_OFF_PSCT", "STOCK_BALANCE_PSCT", "Make",
                   "Stock", "WriteOff", "stock_balance")),
    Builder(add_shelf_life,
            reads=("Make", "Stock"), makes=("SHELF_LIFE_PSCT", "shelf_life")),
    Builder(add_outage_cuts,
            reads=("Ship", "Make")),
    Builder(add_early_modules, only="elastic",
            reads=("CAPACITY_KT", "Build"),
            makes=("EARLY_KT", "EarlyModules", "early_modules_built")),
    Builder(add_suite_capacity,
            reads=("CAPACITY_KT", "Ship", "Make", "ReservedUse", "Build"),
            makes=("suite_capacity",)),
    Builder(add_early_modules_to_capacity, only="elastic",
            reads=("CAPACITY_KT", "EarlyModules", "suite_capacity")),
    Builder(add_module_cap,
            reads=("Build",), makes=("MODULE_CAP_K", "module_cap")),
    Builder(add_extra_modules, only="elastic",
            reads=("MODULE_CAP_K", "module_cap"), makes=("ExtraModules",)),
    Builder(add_site_opens_once,
            reads=("Open",), makes=("OPENS_ONCE_S", "site_opens_once")),
    Builder(add_module_requires_open_site,
            reads=("Build", "Open"), makes=("REQUIRES_OPEN_KT", "module_requires_open_site")),
    Builder(add_site_open_by,
            reads=("Open",), makes=("OPEN_BY_ST", "OpenBy", "site_open_by")),
    Builder(add_ship_requires_open_site,
            reads=("OPEN_BY_ST", "Ship", "OpenBy"),
            makes=("SHIP_OPEN_PSMT", "ship_requires_open_site")),
    Builder(add_approval_once,
            makes=("APPROVE", "Approve", "APPROVAL_ONCE_A", "approval_once")),
    Builder(add_approval_requires_open_site,
            reads=("Approve", "Open"),
            makes=("APPROVAL_OPEN_AT", "approval_requires_open_site")),
    Builder(add_approved_by,
            reads=("Approve",), makes=("APPROVED_BY_AT", "ApprovedBy", "approved_by")),
    Builder(add_ship_requires_approval,
            reads=("APPROVED_BY_AT", "Ship", "ApprovedBy"),
            makes=("SHIP_APPROVAL_PSMT", "ship_requires_approval")),
    Builder(add_make_requires_open_site,
            reads=("Make", "Open"), makes=("MAKE_OPEN_PSCT", "make_requires_open_site")),
    Builder(add_ship_requires_assignment,
            reads=("Ship", "Assign"), makes=("SHIP_ASSIGN_PSMT", "ship_requires_assignment")),
    Builder(add_production_requires_assignment,
            reads=("Ship", "Assign"),
            makes=("PRODUCTION_PST", "production_requires_assignment")),
    Builder(add_make_requires_assignment,
            reads=("Make", "Assign"), makes=("MAKE_ASSIGN_PSCT", "make_requires_assignment")),
    Builder(add_program_site_limit,
            reads=("Assign",), makes=("SITE_LIMIT_PC", "program_site_limit")),
    Builder(add_scale_up_requires_assignment,
            reads=("Assign",),
            makes=("SCALE_UP_PS", "ScaleUp", "SCALE_UP_PSC", "scale_up_requires_assignment")),
    Builder(add_demand_balance,
            reads=("Ship", "Serve"),
            makes=("DEMAND_PMT", "SHORTFALL_PMT", "Shortfall", "demand_balance")),
    Builder(add_min_domestic_share,
            reads=("Ship",), makes=("DOMESTIC_SHARE_UT", "min_domestic_share")),
    Builder(add_domestic_shortfall, only="elastic",
            reads=("DOMESTIC_SHARE_UT", "min_domestic_share"), makes=("DomesticShortfall",)),
    Builder(add_min_service_level,
            reads=("Serve", "Shortfall"), makes=("SERVICE_LEVEL_UT", "min_service_level")),
    Builder(add_service_shortfall, only="elastic",
            reads=("SERVICE_LEVEL_UT", "min_service_level"), makes=("ServiceShortfall",)),
    Builder(add_supply_requires_launch,
            reads=("Serve", "Shortfall"),
            makes=("LAUNCH_PMT", "Launch", "SUPPLY_LAUNCH_PMT", "supply_requires_launch")),
    Builder(add_launch_monotone,
            reads=("Launch",), makes=("LAUNCH_MONOTONE_PMT", "launch_monotone")),
    Builder(add_continuity_of_supply,
            reads=("Launch", "Serve", "Shortfall"),
            makes=("CONTINUITY_PMT", "continuity_of_supply")),
    Builder(add_continuity_shortfall, only="elastic",
            reads=("CONTINUITY_PMT", "continuity_of_supply"), makes=("ContinuityShortfall",)),
    Builder(add_market_supply,
            reads=("Ship",), makes=("SUPPLY_MT", "Supply", "market_supply")),
    Builder(add_max_operator_share,
            reads=("Ship", "Supply"), makes=("OPERATOR_SHARE_UOT", "max_operator_share")),
    Builder(add_operator_excess, only="elastic",
            reads=("OPERATOR_SHARE_UOT", "max_operator_share"), makes=("OperatorExcess",)),
    Builder(add_max_country_share,
            reads=("Ship", "Supply"), makes=("COUNTRY_SHARE_URT", "max_country_share")),
    Builder(add_country_excess, only="elastic",
            reads=("COUNTRY_SHARE_URT", "max_country_share"), makes=("CountryExcess",)),
    Builder(add_max_time_to_market,
            reads=("Serve",), makes=("TIME_TO_MARKET_U", "max_time_to_market")),
    Builder(add_late_excess, only="elastic",
            reads=("TIME_TO_MARKET_U", "max_time_to_market"), makes=("LateExcess",)),
    Builder(add_stock_target,
            reads=("Stock",), makes=("STOCK_TARGET_PMT", "stock_target")),
    Builder(add_target_shortfall, only="elastic",
            reads=("STOCK_TARGET_PMT", "stock_target"), makes=("TargetShortfall",)),
    Builder(add_financing_within_capex,
            reads=("Finance", "Build"), makes=("FINANCED_KT", "financing_within_capex")),
    Builder(add_fund_share_cap,
            reads=("Finance", "Build"), makes=("FUND_SHARE_FKT", "fund_share_cap")),
    Builder(add_financing_within_opening,
            reads=("FinanceOpening", "Open"),
            makes=("FINANCED_OPENING_ST", "financing_within_opening")),
    Builder(add_fund_opening_share_cap,
            reads=("FinanceOpening", "Open"),
            makes=("FUND_OPENING_SHARE_FST", "fund_opening_share_cap")),
    Builder(add_fund_budget,
            reads=("Finance", "FinanceOpening", "Reinvest"),
            makes=("FUND_BUDGET_FT", "fund_budget")),
    Builder(add_reservation_capacity,
            reads=("RESERVE_VT", "ReservedUse", "Reserve"), makes=("reservation_capacity",)),
    Builder(add_reservation_min_take,
            reads=("ReservedUse", "Reserve"), makes=("MIN_TAKE_VT", "reservation_min_take")),
    Builder(add_reserved_use_is_production,
            reads=("ReservedUse", "Ship"), makes=("RESERVED_PST", "reserved_use_is_production")),
    Builder(add_reserved_use_is_making,
            reads=("ReservedUse", "Make"),
            makes=("RESERVED_MAKE_PSCT", "reserved_use_is_making")),
    Builder(add_production_requires_campaign,
            reads=("Ship",), makes=("CAMPAIGN_PST", "Produce", "production_requires_campaign")),
    Builder(add_changeover_slots,
            reads=("CAPACITY_KT", "RESERVED_PST", "Produce", "suite_capacity",
                   "reserved_use_is_production")),
    Builder(add_operating_margin,
            reads=("MARGIN_T", "Margin", "Serve", "Ship", "Make", "Stock", "Open", "Reserve"),
            makes=("operating_margin",)),
    Builder(add_reinvest_from_margin,
            reads=("REINVEST_FT", "Reinvest", "Margin", "Profitable"),
            makes=("reinvest_from_margin", "reinvest_only_from_profit")),
    Builder(add_committed_cover,
            reads=("Build", "Reserve"), makes=("COVER_QCT", "committed_cover")),
    Builder(add_total_cost, only="plain",
            reads=("Build", "Finance", "FinanceOpening", "Open", "Assign", "ScaleUp", "Ship",
                   "Serve", "Make", "Stock", "Reserve", "Shortfall", "Approve"),
            makes=("total_cost",)),
    Builder(add_total_violation, only="elastic",
            reads=("Shortfall", "DomesticShortfall", "ServiceShortfall", "OperatorExcess",
                   "CountryExcess", "LateExcess", "TargetShortfall", "ContinuityShortfall",
                   "Ship", "ExtraModules", "EarlyModules"),
            makes=("BARRED_SHIP", "total_violation")),
)


def run_builders(lm: LinearModel, ix: IndexSets,
                 builders: Iterable[Builder] = BUILDERS) -> None:
    """Run the builders that apply (elastic or not, as ``ix``), in order, each held to
    its entry: it can look up only what it ``reads`` (`LinearModel.scope`) and must make
    exactly what it ``makes``.

    Raises:
        BuildOrderError: a builder read a component its entry does not name, read one no
            earlier builder made, or made other components than its entry names.
    """
    entries = list(builders)
    known = {name for b in entries for name in (*b.reads, *b.makes)}
    for b in entries:
        if not b.runs(ix.elastic):
            continue
        name = b.add.__name__
        try:
            with lm.scope(b.reads) as made:
                b.add(lm, ix)
        except KeyError as err:
            key = err.args[0] if err.args else None
            if isinstance(key, str) and key in b.reads:
                raise BuildOrderError(f"{name} reads {key}, which no builder before it "
                                      "made") from err
            if isinstance(key, str) and (key in known or key in lm.sets
                                         or key in lm.variables or key in lm.constraints):
                raise BuildOrderError(f"{name} reads {key}, which its entry in BUILDERS "
                                      "does not name") from err
            raise
        if sorted(made) != sorted(b.makes):
            raise BuildOrderError(f"{name} made {sorted(made)}, its entry in BUILDERS "
                                  f"names {sorted(b.makes)}")
