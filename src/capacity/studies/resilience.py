"""Resilience bought on purpose: the N−1 plan and lost supply under disruption
(models/formulation.md, "N−1" and "Pareto fronts").

N−1 (`n_minus_one`): every committed offtake is still met if any one site (operator,
country) is lost from a period on, with recourse per contingency. The extensive form of
`capacity.studies.stochastic.build_extensive_form` holds one block for the plan with no
loss and one per contingency (the case with that outage, `with_outages`: the same
variables), sharing the first stage (``Build``, ``Open``, ``Approve``, ``Finance``,
``FinanceOpening``, the transfers decided before readout); commitments are hard in
every block. The objective is the no-loss plan's cost, plus ``recourse_weight`` times the
sum of the contingencies' costs (0 by default: a recovery only has to exist; a small
weight, e.g. 0.01, makes the recoveries cheap as well, at that weight's price on the
no-loss plan).

Lost supply (`lost_supply_front`, ``capacity pareto --objective resilience:expected`` or
``resilience:worst``): the committed batches left unmet in the scenarios of the case's
``disruptions`` table (disruptions only: the programs all succeed), against the no-loss
plan's cost, by the epsilon-constraint method on the same extensive form with unmet
commitments allowed in the disrupted blocks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from capacity.case import Case
from capacity.engine.options import SolveOptions
from capacity.engine.solve import solve
from capacity.errors import CaseError, CaseInfeasibleError, Problem
from capacity.model import assemble_model
from capacity.model.index_sets import IndexSets
from capacity.model.outages import Outage, case_outages, offtake_words, with_outages
from capacity.output_folder import FIRST_STAGE_TABLES
from capacity.results.extract import extract_tables
from capacity.results.plan import Plan
from capacity.studies.stochastic import (
    Evaluation,
    ExtensiveForm,
    Scenario,
    StochasticOptions,
    base_index_sets,
    build_extensive_form,
    draw_scenarios,
    first_stage_keys,
    fix_first_stage,
    save_blocks,
    solve_extensive_form,
)

LossKind = Literal["site", "operator", "country"]
LOSS_KINDS: tuple[LossKind, ...] = ("site", "operator", "country")
BASE = "base"  # the block with no loss
Progress = Callable[[str], None]


def loss_contingencies(case: Case, by: LossKind, first: int | None = None) -> list[Outage]:
    """One outage per site (operator, country: a region with sites) that has a suite,
    lost from period ``first`` (the first period when None) to the end, sorted by
    subject.

    Raises:
        CaseError: ``by`` is not site, operator or country, or ``first`` is not a period.
    """
    if by not in LOSS_KINDS:
        raise CaseError([Problem("--n-minus-1", None, None,
                                 f"{by!r}: give site, operator or country")])
    periods = sorted(int(t) for t in case.periods["period"])
    start = periods[0] if first is None else int(first)
    if start not in periods:
        raise CaseError([Problem("--from", None, None, f"{first} is not a period of the "
                                 f"case ({periods[0]}–{periods[-1]})")])
    with_suites = set(case.suites["site"])
    sites = case.sites[case.sites["site"].isin(with_suites)]
    column = {"site": "site", "operator": "operator", "country": "region"}[by]
    subjects = sorted(set(sites[column]))
    return [Outage(f"lose {s}", by, str(s), None, start, None) for s in subjects]


def unrecoverable(case: Case, ix: IndexSets, outages: list[Outage]) -> list[str]:
    """The commitments no recovery can meet, one sentence each, the commitment first:
    a commitment servable with the case's own outages that an added outage leaves no site
    to serve (e.g. the only site qualified for a program is lost)."""
    own = case_outages(case)
    reasons = []
    for outage in outages:
        lost = with_outages(ix, case, [*own, outage])
        for key in sorted(set(lost.why_unservable) - set(ix.why_unservable)):
            reasons.append(f"{offtake_words(case, *key)} cannot be met if "
                           f"{outage.describe()}: {lost.why_unservable[key]}")
    return reasons


def n_minus_one_first_stage(case: Case, ix: IndexSets, first: int) -> dict[str, list[Any]]:
    """The N−1 plan's first stage: capacity (``Build``, ``Open``), approvals,
    co-investment, and the transfers (``Assign``) of programs with
    `transfer_before_readout` that start before the loss (period ``first``): decided
    before anyone knows which loss comes. Transfers from the loss on are recourse."""
    keys = first_stage_keys(case, ix)
    start = ix.phases.transfer_start
    keys["Assign"] = [a for a in keys["Assign"]
                      if start.get(a, ix.program_start.get(a[0], first)) < first]
    return keys


def ef_size(ef: ExtensiveForm) -> dict[str, int]:
    """Columns, rows and nonzeros of an extensive form: its blocks' and the
    non-anticipativity rows (two nonzeros each)."""
    size = {"columns": 0, "rows": 0, "nonzeros": 0}
    for built in ef.blocks.values():
        block = built.linear.size()
        size["columns"] += block["variables"]
        size["rows"] += block["constraints"]
        size["nonzeros"] += block["nonzeros"]
    tied = len(ef.pyomo.nonanticipativity)
    size["rows"] += tied
    size["nonzeros"] += 2 * tied
    return size


@dataclass
class NMinusOneResult:
    """The N−1 plan (see the module docstring).

    Attributes:
        status: of the extensive-form solve (``optimal``, ``time_limit_feasible``,
            ``infeasible``, ...).
        objective, bound, gap: MUSD, the no-loss plan's cost (plus ``recourse_weight`` ×
            the recoveries' costs), its best bound and relative gap.
        by, first: what is lost (site, operator, country) and from which period.
        contingencies: one row per contingency: ``contingency`` (block name), ``lost``
            (in words), ``cost`` of its recovery (MUSD, the whole horizon), ``extra_cost``
            (over the no-loss plan), ``recovery`` (the transfers it makes that the
            no-loss plan does not).
        no_loss_cost: the N−1 plan's cost when nothing is lost.
        plain_cost: today's plan (the case solved alone), when asked for;
            ``price`` = no_loss_cost − plain_cost, the price of N−1 robustness.
        first_stage: plan tables of the first stage, shared by every contingency.
        contingency_tables: each block's plan tables (``base`` included).
        size: columns, rows, nonzeros of the extensive form.
        messages, seconds: what the reader should know; wall time by phase.
    """

    case_name: str
    by: str
    first: int
    recourse_weight: float
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    contingencies: pd.DataFrame
    size: dict[str, int]
    no_loss_cost: float | None = None
    plain_cost: float | None = None
    first_stage: dict[str, pd.DataFrame] = field(default_factory=dict)
    contingency_tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.objective is not None

    @property
    def price(self) -> float | None:
        """The price of N−1 robustness: no_loss_cost − plain_cost (MUSD)."""
        if self.no_loss_cost is None or self.plain_cost is None:
            return None
        return self.no_loss_cost - self.plain_cost

    def summary(self) -> dict[str, Any]:
        """The headline numbers and the contingencies, JSON-ready."""
        return {"case": self.case_name, "n_minus_1": self.by, "from": self.first,
                "recourse_weight": self.recourse_weight, "status": self.status,
                "objective": self.objective, "bound": self.bound, "gap": self.gap,
                "no_loss_cost": self.no_loss_cost, "plain_cost": self.plain_cost,
                "price": self.price, "size": self.size,
                "contingencies": self.contingencies.replace({np.nan: None}).to_dict(
                    orient="records"),
                "first_stage": {k: v.to_dict(orient="records")
                                for k, v in self.first_stage.items()},
                "messages": self.messages, "seconds": self.seconds}

    def save(self, folder: str | Path, *, force: bool = False,
             protect: tuple[str | Path, ...] = ()) -> Path:
        """Write ``summary.json``, ``contingencies.csv``, the first-stage tables and each
        block's tables (``contingencies/<name>/<table>.csv``), all or nothing, as
        `capacity.Plan.save` does."""

        return save_blocks(folder, self.summary(), ("contingencies", self.contingencies),
                           self.first_stage, self.contingency_tables, "N-1 plan",
                           force=force, protect=protect)


def contingency_plan(result: NMinusOneResult, name: str) -> Plan:
    """One block's plan (``base`` or a contingency) of an N−1 result, as a `Plan` to
    save, report or check (against `capacity.studies.stress.contingency_case`: the case
    with the block's outage added)."""
    tables = result.contingency_tables[name]
    cost = float(result.contingencies.set_index("contingency").at[name, "cost"])
    return Plan(result.case_name, "optimal" if result.status == "optimal"
                else "time_limit_feasible", cost, None, None, {}, {}, tables=tables,
                net_cost=cost, messages=[f"N−1 block {name}"])


def contingency_scenarios(outages: list[Outage], recourse_weight: float) -> list[Scenario]:
    """The blocks of the N−1 extensive form: ``base`` (weight 1, no loss) and one per
    contingency (``c01`` …, weight ``recourse_weight``)."""
    width = len(str(len(outages)))
    return [Scenario(BASE, 1.0, ()),
            *(Scenario(f"c{i + 1:0{width}d}", recourse_weight, (), (o,))
              for i, o in enumerate(outages))]


def n_minus_one(case: Case, by: LossKind = "site", first: int | None = None,
                recourse_weight: float = 0.0, options: SolveOptions | None = None,
                compare: bool = True, progress: Progress | None = None,
                decompose: Literal["ef", "ph"] = "ef", ph_iterations: int = 50,
                ) -> NMinusOneResult:
    """The cheapest plan that meets every committed offtake whatever one site (operator,
    country) is lost from period ``first`` on (see the module docstring).

    Args:
        case: a validated case.
        by: what one contingency loses: a ``site``, an ``operator``'s sites or a
            ``country``'s (a region's) sites.
        first: the period the loss starts (the first period when None).
        recourse_weight: weight of each contingency's cost in the objective (0: the
            no-loss plan's cost alone).
        options: HiGHS settings of the solve.
        compare: also solve the case alone (today's plan), for the price of N−1.
        progress: called with a line of text as each phase starts.
        decompose: ``ef``, the extensive form solved whole, or ``ph``, progressive
            hedging over the blocks (`capacity.studies.stochastic.solve_progressive_hedging`,
            with mpi-sppy) for networks whose extensive form is too large: it needs a
            ``recourse_weight`` > 0 (PH weighs the blocks by it, normalised to sum to
            one; a block of weight 0 would not pull the consensus) and reports the
            consensus plan's costs, not per-block tables. PH is a heuristic here: a
            weight too small to pull the consensus towards the backups (0.01 on
            `n_minus_one`; 1 works) ends with a plan some contingency cannot carry out,
            reported as ``infeasible`` with the contingency named.
        ph_iterations: most PH iterations.

    Raises:
        CaseError: a bad ``by``, ``first`` or ``decompose``, or ``recourse_weight`` out of
            range (0 with ``ph``).
        CaseInfeasibleError: a commitment no recovery can meet after some loss (each
            named with the loss), or one the case itself cannot meet.

    Example:
        >>> import capacity
        >>> r = capacity.n_minus_one(capacity.load_case(capacity.tiny_case_path(
        ...     "n_minus_one")), by="site")
        >>> r.no_loss_cost, r.plain_cost, r.price
        (17.0, 11.0, 6.0)
    """
    if not 0 <= recourse_weight <= 1e3:
        raise CaseError([Problem("--recourse-weight", None, None,
                                 f"{recourse_weight:g}: give a weight from 0 to 1000")])
    if decompose not in ("ef", "ph"):
        raise CaseError([Problem("--decompose", None, None,
                                 f"{decompose!r}: give ef or ph")])
    if decompose == "ph" and recourse_weight <= 0:
        raise CaseError([Problem("--recourse-weight", None, None,
                                 "progressive hedging weighs each contingency by it: give "
                                 "a weight > 0 (e.g. 0.01) with --decompose ph")])
    options = options or SolveOptions()
    say = progress or (lambda _line: None)
    outages = loss_contingencies(case, by, first)
    t0 = time.perf_counter()
    ix = base_index_sets(case, None)
    broken = unrecoverable(case, ix, outages)
    if broken:
        raise CaseInfeasibleError(broken)
    scenarios = contingency_scenarios(outages, recourse_weight)
    if decompose == "ph":
        return _by_progressive_hedging(case, by, outages, scenarios, recourse_weight,
                                       options, compare, ph_iterations, say)
    say(f"building the N−1 extensive form: no loss and {len(outages)} contingencies "
        f"(one {by} lost from {outages[0].first if outages else '-'})")
    start = outages[0].first if outages else int(case.periods["period"].min())
    ef = build_extensive_form(case, scenarios, StochasticOptions(evaluate=False), ix,
                              n_minus_one_first_stage(case, ix, start))
    seconds = {"build": time.perf_counter() - t0}
    size = ef_size(ef)
    say(f"solving: {size['columns']:,} columns, {size['rows']:,} rows, "
        f"{size['nonzeros']:,} nonzeros")
    rp = solve_extensive_form(ef, options)
    seconds["solve"] = rp.seconds
    table = pd.DataFrame({"contingency": [s.name for s in scenarios],
                          "lost": [s.disrupted() for s in scenarios]})
    result = NMinusOneResult(case.name, by, start, recourse_weight, rp.status, rp.objective,
                             rp.bound, rp.gap, table, size, messages=list(rp.messages),
                             seconds=seconds)
    if compare:
        say("today's plan (the case alone)")
        plain = solve(case, options)
        if plain.has_solution:
            result.plain_cost = plain.net_cost
        else:
            result.messages.append(f"the case alone ended {plain.status}: no price reported")
    if not rp.feasible:
        result.messages.append(_no_plan(case, rp, scenarios, options, say))
        return result
    if rp.status == "time_limit_feasible":
        result.messages.append(f"time limit reached: plan within gap {rp.gap:.2%}")
    _fill(result, ef, rp)
    return result


def _by_progressive_hedging(case: Case, by: str, outages: list[Outage],
                            scenarios: list[Scenario], weight: float, options: SolveOptions,
                            compare: bool, iterations: int, say: Progress) -> NMinusOneResult:
    """The N−1 plan by progressive hedging: blocks weighted 1 : w : … : w, normalised."""
    from capacity.studies.stochastic import solve_progressive_hedging

    total = 1.0 + weight * (len(scenarios) - 1)
    weighted = [replace(s, probability=s.probability / total) for s in scenarios]
    t0 = time.perf_counter()
    ix = base_index_sets(case, None)
    start = outages[0].first if outages else int(case.periods["period"].min())
    ph = solve_progressive_hedging(case, StochasticOptions(evaluate=False), options,
                                   iterations, progress=say, scenarios=weighted,
                                   first_stage=n_minus_one_first_stage(case, ix, start))
    table = pd.DataFrame({"contingency": [s.name for s in scenarios],
                          "lost": [s.disrupted() for s in scenarios]})
    if ph is None:  # an MPI rank other than 0
        return NMinusOneResult(case.name, by, start, weight, "error", None, None, None,
                               table, {})
    result = NMinusOneResult(case.name, by, start, weight, ph.status, None, None, None,
                             table, {}, messages=list(ph.messages),
                             seconds={"ph": time.perf_counter() - t0})
    if compare:
        plain = solve(case, options)
        result.plain_cost = plain.net_cost if plain.has_solution else None
    if not ph.has_solution or "cost" not in ph.scenarios:
        return result
    costs = dict(zip(ph.scenarios["scenario"], ph.scenarios["cost"], strict=True))
    result.no_loss_cost = float(costs[BASE])
    result.objective = float(costs[BASE] + weight * sum(c for n, c in costs.items()
                                                        if n != BASE))
    result.bound = None if ph.bound is None else ph.bound * total
    result.gap = ph.gap
    result.first_stage = ph.first_stage
    result.contingencies = table.assign(
        cost=[float(costs[s.name]) for s in scenarios],
        extra_cost=[float(costs[s.name]) - result.no_loss_cost for s in scenarios],
        recovery=["(not reported by progressive hedging)"] * len(scenarios))
    return result


def _fill(result: NMinusOneResult, ef: ExtensiveForm, rp: Evaluation) -> None:
    """First-stage tables; per contingency its cost and what its recovery transfers."""
    for sc in ef.scenarios:
        built = ef.blocks[sc.name]
        result.contingency_tables[sc.name] = extract_tables(built, built.pyomo_values())
    base = result.contingency_tables[BASE]
    result.first_stage = {k: base[k] for k in FIRST_STAGE_TABLES}
    result.no_loss_cost = rp.costs[BASE]

    def transfers(tables: Mapping[str, pd.DataFrame]) -> set[tuple[str, str]]:
        a = tables["assignments"]
        return set(zip(a["program"], a["site"], strict=True))

    before = transfers(base)
    recovery = []
    for sc in ef.scenarios:
        new = sorted(transfers(result.contingency_tables[sc.name]) - before)
        recovery.append("; ".join(f"transfer {p} to {s}" for p, s in new)
                        or ("—" if sc.name == BASE else "no new transfer"))
    costs = [rp.costs[s.name] for s in ef.scenarios]
    result.contingencies = result.contingencies.assign(
        cost=costs, extra_cost=[c - rp.costs[BASE] for c in costs], recovery=recovery)


def _no_plan(case: Case, rp: Evaluation, scenarios: list[Scenario], options: SolveOptions,
             say: Progress) -> str:
    """Why there is no N−1 plan: for an infeasible one, the contingencies that no plan
    can recover from even alone (each solved with the case's own first stage free)."""
    if rp.status == "no_solution":
        return f"no N−1 plan found within the {options.time_limit_s:g} s time limit"
    if rp.status != "infeasible":
        return f"the solve stopped: {rp.status} {' '.join(rp.messages)}".strip()
    alone = []
    ix = base_index_sets(case, None)
    # Feasibility is the question: stop at the first plan (a gap of 100 %).
    quick = options.model_copy(update={"explain": False, "mip_rel_gap": 1.0})
    for sc in scenarios[1:]:
        say(f"which loss breaks it: {sc.disrupted()}")
        lost = with_outages(ix, case, [*case_outages(case), *sc.outages])
        plan = solve(assemble_model(case, lost), quick)
        if plan.status == "infeasible":
            alone.append(f"if {sc.disrupted()}: {_short(case, sc, options, say)}")
    if alone:
        return "infeasible: no recovery meets every commitment " + " | ".join(alone)
    return ("infeasible: each loss can be recovered from alone, but no one set of "
            "first-stage decisions (capacity, approvals, transfers started before the "
            "loss) recovers from all of them: more candidate capacity, lead time or "
            "programs' max_sites would let one")


UNMET_PENALTY = 1000.0  # MUSD a committed batch: far above any batch's cost in a case


def _short(case: Case, sc: Scenario, options: SolveOptions, say: Progress) -> str:
    """The commitments a loss leaves unmet whatever the recovery: its block alone with
    unmet commitments priced (`UNMET_PENALTY`), the shortfalls in words."""
    say(f"what {sc.disrupted()} leaves unmet")
    ix = with_outages(base_index_sets(case, UNMET_PENALTY), case,
                      [*case_outages(case), *sc.outages])
    built = assemble_model(case, ix)
    plan = solve(built, options.model_copy(update={"explain": False}))
    if not plan.has_solution or built.solution is None:
        return f"no recovery plan (the priced solve ended {plan.status})"
    x, lm = built.solution, built.linear
    short = [(k, float(v)) for k, v in zip(lm.variables["Shortfall"].keys,
                                           lm.values(x, "Shortfall"), strict=True)
             if v > 1e-6]
    if not short:
        return "no recovery plan meets every commitment and rule"
    return "; ".join(f"{offtake_words(case, *k)} short by {v:g} batches" for k, v in short)


# --- lost supply under disruption -----------------------------------------------------

LostMeasure = Literal["expected", "worst"]


def disruption_only_scenarios(case: Case, count: int = 64, seed: int = 0
                              ) -> tuple[list[Scenario], bool]:
    """The scenarios of the case's ``disruptions`` table alone (every program succeeds),
    as `capacity.studies.stochastic.draw_scenarios` makes them.

    Raises:
        CaseError: the case has no disruptions table.
    """
    if case.disruptions.empty:
        raise CaseError([Problem("--objective", None, None,
                                 "resilience objectives measure lost supply over the case's "
                                 "disruptions table, and this case has none (see "
                                 "docs/case-format.md, disruptions)")])
    certain = replace(case, readouts=case.readouts.iloc[0:0],
                      programs=case.programs.assign(success_probability=1.0))
    return draw_scenarios(certain, count, seed)


@dataclass
class LostSupplyModel:
    """The extensive form for lost supply: ``base`` (no disruption, commitments hard)
    and one block per disruption scenario (commitments may go unmet), the shared first
    stage, and the lost-supply measure as an expression."""

    ef: ExtensiveForm
    measure: Any  # a Pyomo expression or variable: batches
    kind: LostMeasure
    lost: dict[str, Any]  # block -> its committed batches unmet (expression)


def lost_supply_model(case: Case, kind: LostMeasure, scenarios: list[Scenario],
                      penalty: float = 1.0) -> LostSupplyModel:
    """Build the extensive form of `LostSupplyModel`. Unmet commitments in a disrupted
    block cost ``penalty`` MUSD a batch in that block's cost, which the objective does not
    count (weight 0): the blocks need only be feasible; the measure is constrained or
    minimised instead."""
    ix = base_index_sets(case, penalty)
    blocks = [Scenario(BASE, 1.0, ()), *(replace(s, probability=0.0) for s in scenarios)]
    ef = build_extensive_form(case, blocks, StochasticOptions(evaluate=False), ix)
    for v in ef.blocks[BASE].pyomo.Shortfall.values():
        v.fix(0.0)  # no disruption: every commitment met
    lost = {s.name: pyo.quicksum(ef.blocks[s.name].pyomo.Shortfall.values())
            for s in scenarios}
    if kind == "expected":
        measure: Any = pyo.quicksum(s.probability * lost[s.name] for s in scenarios)
    else:
        ef.pyomo.WorstLost = pyo.Var(domain=pyo.NonNegativeReals)
        ef.pyomo.worst_lost = pyo.Constraint(
            [s.name for s in scenarios], rule=lambda m, n: m.WorstLost >= lost[n])
        measure = ef.pyomo.WorstLost
    return LostSupplyModel(ef, measure, kind, lost)


def _solve_point(model: LostSupplyModel, epsilon: float | None, options: SolveOptions
                 ) -> tuple[str, float | None, float | None, str]:
    """Cheapest no-loss plan with the measure ≤ ε (None: unconstrained), then, its first
    stage fixed, the least lost supply it allows: (status, cost, lost supply, its
    capacity in words)."""
    ef, m = model.ef, model.ef.pyomo
    if hasattr(m, "epsilon_cap"):
        m.del_component(m.epsilon_cap)
    if epsilon is not None:
        m.epsilon_cap = pyo.Constraint(expr=model.measure <= epsilon + 1e-9)
    rp = solve_extensive_form(ef, options)
    if not rp.feasible:
        return rp.status, None, None, ""
    cost = rp.costs[BASE]
    builds = _builds_in_words(ef)
    values = first_stage_values_pyomo(ef)
    for built in ef.blocks.values():
        fix_first_stage(built.pyomo, values)
    try:
        lost = _minimise(ef, model.measure, options)
    finally:
        for built in ef.blocks.values():
            for name in values:
                getattr(built.pyomo, name).unfix()
    return rp.status, cost, lost, builds


def first_stage_values_pyomo(ef: ExtensiveForm) -> dict[str, dict[Any, float]]:
    """The first-stage values of the base block's Pyomo model (after a solve)."""
    base = ef.blocks[BASE].pyomo
    return {name: {k: float(pyo.value(getattr(base, name)[k])) for k in keys}
            for name, keys in ef.first_stage.items()}


def _minimise(ef: ExtensiveForm, expr: Any, options: SolveOptions) -> float | None:
    """Minimise ``expr`` over the extensive form (its objective swapped for the while)."""
    m = ef.pyomo
    m.total_cost.deactivate()
    m.lost_objective = pyo.Objective(expr=expr)
    try:
        rp = solve_extensive_form(ef, options)
    finally:
        m.del_component(m.lost_objective)
        m.total_cost.activate()
    return float(pyo.value(expr)) if rp.feasible else None


def lost_supply_front(case: Case, kind: LostMeasure, points: int = 5,
                      options: SolveOptions | None = None, scenarios: int = 64,
                      seed: int = 0, progress: Callable[[str, dict[str, Any]], None]
                      | None = None) -> pd.DataFrame:
    """The points of the front of the no-loss plan's cost against lost supply (expected
    or worst over the disruption scenarios), from the cost-optimal plan's lost supply to
    the least any plan allows: one row per point, ``point``, ``epsilon``, ``status``,
    ``cost``, ``value`` (committed batches lost), ``builds`` (modules and openings of the
    plan, in words).

    Raises:
        CaseError: the case has no disruptions table, or its own plan is infeasible.
    """
    options = options or SolveOptions()
    drawn, _exact = disruption_only_scenarios(case, scenarios, seed)
    model = lost_supply_model(case, kind, drawn)
    status, cost, v0, builds0 = _solve_point(model, None, options)
    if cost is None or v0 is None:
        raise CaseError([Problem(case.name, None, None, f"the case itself ends {status}, so "
                                 "there is no front")])
    end = _minimise(model.ef, model.measure, options)
    end = v0 if end is None else min(end, v0)
    grid = [v0] if math.isclose(end, v0, abs_tol=1e-6) else list(np.linspace(v0, end, points))
    width = len(str(len(grid) - 1))
    rows = []
    for i, eps in enumerate(grid):
        name = f"p{i:0{width}d}"
        st, c, v, builds = (status, cost, v0, builds0) if i == 0 else \
            _solve_point(model, float(eps), options)
        row = {"point": name, "epsilon": float(eps), "status": st, "cost": c, "value": v,
               "builds": builds}
        rows.append(row)
        if progress is not None:
            progress(name, {"status": st, "objective": c})
    return pd.DataFrame(rows)


def _builds_in_words(ef: ExtensiveForm) -> str:
    """The base block's modules and openings, e.g. ``SB antibody commercial ×1; opens SC``."""
    m = ef.blocks[BASE].pyomo
    parts = [f"{s} {q} {c} ×{round(pyo.value(m.Build[s, q, c, t]))} ({t})"
             for (s, q, c, t) in ef.first_stage["Build"]
             if round(pyo.value(m.Build[s, q, c, t])) > 0]
    parts += [f"opens {s} ({t})" for (s, t) in ef.first_stage["Open"]
              if round(pyo.value(m.Open[s, t])) > 0]
    return "; ".join(parts) or "no new capacity"


__all__ = ["LOSS_KINDS", "NMinusOneResult", "contingency_plan",
           "contingency_scenarios", "ef_size",
           "first_stage_values_pyomo", "loss_contingencies", "lost_supply_front", "n_minus_one",
           "unrecoverable"]
