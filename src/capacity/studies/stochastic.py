"""Two-stage stochastic planning over programs' clinical success (models/formulation.md,
"Two-stage stochastic planning").

Capacity is committed years before trials read out. A program succeeds with its
probability (`programs.success_probability`, or phase by phase in `readouts`); a failed
program has no demand, committed or potential, from its readout on. A case's
`disruptions` table adds independent events of the network's own (a site, an operator or
a country cut off, an export ban) that happen with their probability
(models/formulation.md, "Disruption scenarios"). A scenario says which programs fail and
when and which disruptions happen, with its probability: all combinations when there are
at most ``scenarios`` of them, else that many seeded draws (identical draws merged). A
scenario's disruptions are outages of its block (`capacity.model.outages.with_outages`:
the same variables, so the first stage is shared and hedged against them).

First stage, shared by every scenario: modules built (``Build``), sites opened (``Open``),
site approvals decided (``Approve``),
co-investment (``Finance``, ``FinanceOpening``) and the technology transfers decided before readout
(``Assign`` of programs with `transfer_before_readout`). Second stage, per scenario:
production, shipments, demand served, reservations, unmet commitments (at
``unmet_penalty``, when given; else commitments must be met in every scenario).

The extensive form holds one copy of the deterministic model per scenario (same sets,
the scenario's demand: `capacity.model.index_sets.with_demand`) with first-stage variables tied
by non-anticipativity rows, and minimises the expected cost, or (1−λ)·E[cost] + λ·CVaR_α.
Reported with it: the wait-and-see value (WS, each scenario solved knowing its outcome),
the expected-value plan (EV: demand at its expectation) evaluated on the scenarios (EEV),
EVPI = RP − WS and VSS = EEV − RP, in the objective's own measure.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pydantic import BaseModel, ConfigDict, Field
from pyomo.common.tee import capture_output

from capacity.case import Case
from capacity.engine import interrupt
from capacity.engine.highs import use_threads
from capacity.engine.options import SolveOptions
from capacity.engine.resolver import Resolver
from capacity.engine.run import relative_gap
from capacity.engine.solve import optimise_pyomo, solve
from capacity.errors import CaseInfeasibleError
from capacity.model import BuiltModel, assemble_model
from capacity.model.index_sets import IndexSets, build_index_sets, with_demand
from capacity.model.outages import Outage, case_outages, offtake_words, with_outages
from capacity.output_folder import FIRST_STAGE_TABLES, Kind, write_folder
from capacity.results.extract import extract_tables

# The integer first-stage decisions: what an evaluated plan fixes (Finance and
# FinanceOpening, the rest of the first stage, are re-chosen; see `first_stage_keys`).
CAPACITY_DECISIONS = ("Build", "Open", "Assign", "Approve")
MAX_EXACT = 4096  # never enumerate more combinations than this, whatever --scenarios says
Progress = Callable[[str], None]


class StochasticOptions(BaseModel):
    """How to set up and solve the stochastic model.

    Attributes:
        scenarios: at most this many scenarios: every combination of outcomes when there
            are no more, else this many seeded draws.
        seed: seed of the draws.
        cvar_alpha: with ``cvar_weight`` > 0, the CVaR level: the mean cost of the worst
            1 − α of probability.
        cvar_weight: λ in (1−λ)·E[cost] + λ·CVaR_α (0: expected cost only).
        unmet_penalty: MUSD per committed batch left unmet in a scenario (discounted like
            every cost); None: commitments must be met in every scenario.
        evaluate: also compute WS, EV, EEV, EVPI and VSS (one solve per scenario and two
            more).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenarios: int = Field(default=8, ge=1, le=MAX_EXACT)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    cvar_alpha: float = Field(default=0.9, gt=0, lt=1)
    cvar_weight: float = Field(default=0.0, ge=0, le=1)
    unmet_penalty: float | None = Field(default=None, ge=0, le=1e6)
    evaluate: bool = True


@dataclass(frozen=True)
class Scenario:
    """One outcome of the programs' readouts and of the disruptions: ``failed`` maps each
    program that fails to the first period it has no demand; ``outages`` are the
    disruptions that happen (or, for `capacity.studies.resilience`, the contingency)."""

    name: str
    probability: float
    failed: tuple[tuple[str, int], ...]
    outages: tuple[Outage, ...] = ()

    def describe(self) -> str:
        """The failures in words (``all succeed`` when none), then the disruptions."""
        failures = ", ".join(f"{p} fails ({t})" for p, t in self.failed) or "all succeed"
        return failures + "".join(f"; {o.describe()}" for o in self.outages)

    def disrupted(self) -> str:
        """The disruptions in words (``none`` when none happen)."""
        return "; ".join(o.describe() for o in self.outages) or "none"


def program_outcomes(case: Case) -> dict[str, list[tuple[int | None, float]]]:
    """Each program whose outcome matters: its possible failure periods (None: it
    succeeds) with their probabilities, which sum to one.

    A program matters when its success is uncertain and it has demand at or after its
    first readout. Readouts come from ``readouts`` or else one at ``commercial_from`` (the
    first period when empty) with ``success_probability``.
    """
    first = int(case.periods["period"].min())
    demand_periods: dict[str, list[int]] = {}
    for frame, col in ((case.offtakes, "committed_batches"), (case.demand, "potential_batches")):
        for p, t, b in zip(frame["program"], frame["period"], frame[col], strict=True):
            if b > 0:
                demand_periods.setdefault(p, []).append(int(t))
    phases: dict[str, list[tuple[int, float]]] = {}
    for p, t, q in sorted(zip(case.readouts["program"], case.readouts["period"],
                              case.readouts["success_probability"], strict=True)):
        phases.setdefault(p, []).append((int(t), float(q)))
    for p, q, cf in zip(case.programs["program"], case.programs["success_probability"],
                        case.programs["commercial_from"], strict=True):
        if p not in phases and q < 1:
            phases[p] = [(int(cf) if pd.notna(cf) else first, float(q))]
    out = {}
    for p, readouts in sorted(phases.items()):
        if not readouts or max(demand_periods.get(p, [-1])) < readouts[0][0]:
            continue
        outcomes: list[tuple[int | None, float]] = []
        alive = 1.0
        for t, q in readouts:
            if alive * (1 - q) > 0:
                outcomes.append((t, alive * (1 - q)))
            alive *= q
        if alive > 0:
            outcomes.append((None, alive))
        if len(outcomes) > 1:
            out[p] = outcomes
    return out


def disruption_outages(case: Case) -> list[tuple[Outage, float]]:
    """Each row of the case's ``disruptions`` table as the outage it causes when it
    happens, with its probability, in the table's order.

    ``periods`` counts periods of the horizon from ``from_period``; a disruption that
    lasts past the last period (or has no ``periods``) runs to the end.
    """
    periods = sorted(int(t) for t in case.periods["period"])
    out = []
    for row in case.disruptions.itertuples(index=False):
        first = int(row.from_period)
        last: int | None = None
        if pd.notna(row.periods):
            end = periods.index(first) + int(row.periods) - 1
            last = periods[end] if end < len(periods) - 1 else None
        out.append((Outage(str(row.disruption), row.kind, str(row.subject),
                           str(row.market) or None, first, last), float(row.probability)))
    return out


def outcome_combinations(case: Case) -> int:
    """How many scenarios every combination of the outcomes would make."""
    uncertain = [q for _o, q in disruption_outages(case) if 0 < q < 1]
    return math.prod(len(o) for o in program_outcomes(case).values()) << len(uncertain)


def draw_scenarios(case: Case, count: int = 8, seed: int = 0) -> tuple[list[Scenario], bool]:
    """The scenarios of ``case`` and whether they are exact (every combination).

    Outcomes: each program's (`program_outcomes`) and, for each disruption of the case
    whose probability is strictly between 0 and 1, whether it happens (one with
    probability 1 happens in every scenario; one with 0 in none). Every combination when
    there are at most ``count``, each with the product of its probabilities; else
    ``count`` seeded draws, identical ones merged (probability = draws / count).
    """
    outcomes: dict[str, list[tuple[Any, float]]] = dict(program_outcomes(case))
    programs = list(outcomes)
    certain: list[Outage] = []
    for outage, q in disruption_outages(case):
        if q >= 1:
            certain.append(outage)
        elif q > 0:  # drawn after the programs: a case without disruptions draws as before
            outcomes[f"\0{outage.name}"] = [(outage, q), (None, 1 - q)]
    dims = list(outcomes)
    combos = math.prod(len(o) for o in outcomes.values())
    if combos <= min(count, MAX_EXACT):
        chosen = [(combo, math.prod(prob for _t, prob in combo))
                  for combo in itertools.product(*(outcomes[d] for d in dims))]
        exact = True
    else:
        rng = np.random.default_rng(seed)
        draws: Counter[tuple[int, ...]] = Counter()
        for _ in range(count):
            draws[tuple(int(rng.choice(len(outcomes[d]), p=[q for _t, q in outcomes[d]]))
                        for d in dims)] += 1
        chosen = [(tuple(outcomes[d][i] for d, i in zip(dims, idx, strict=True)), n / count)
                  for idx, n in draws.items()]
        exact = False
    chosen.sort(key=lambda c: (-c[1], str(c[0])))
    width = len(str(len(chosen)))
    scenarios = [Scenario(f"s{i + 1:0{width}d}", prob,
                          tuple((p, t) for p, (t, _q) in zip(programs, combo[:len(programs)],
                                                             strict=True)
                                if t is not None),
                          tuple(certain) + tuple(o for o, _q in combo[len(programs):]
                                                 if o is not None))
                 for i, (combo, prob) in enumerate(chosen)]
    return scenarios, exact


def scenario_case(case: Case, failed: Iterable[tuple[str, int]]) -> Case:
    """``case`` with the demand of failed programs removed from their failure period on."""
    stop = dict(failed)
    if not stop:
        return case

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        limit = frame["program"].map(stop)
        return frame[limit.isna() | (frame["period"] < limit)].reset_index(drop=True)

    return replace(case, offtakes=keep(case.offtakes), demand=keep(case.demand))


def survival(case: Case) -> dict[tuple[str, int], float]:
    """P(program still has demand in period t), for programs whose outcome matters."""
    periods = sorted(int(t) for t in case.periods["period"])
    out = {}
    for p, outcomes in program_outcomes(case).items():
        for t in periods:
            out[(p, t)] = sum(q for stop, q in outcomes if stop is None or t < stop)
    return out


def expected_case(case: Case) -> Case:
    """``case`` with every demand at its expectation over the programs' outcomes."""
    alive = survival(case)

    def scaled(frame: pd.DataFrame, col: str) -> pd.DataFrame:
        factor = [alive.get((p, int(t)), 1.0) for p, t in zip(frame["program"],
                                                                frame["period"], strict=True)]
        return frame.assign(**{col: frame[col] * np.asarray(factor, dtype=float)})

    return replace(case, offtakes=scaled(case.offtakes, "committed_batches"),
                   demand=scaled(case.demand, "potential_batches"))


def risk_measure(costs: Iterable[float], probabilities: Iterable[float],
                 alpha: float, weight: float) -> float:
    """(1−λ)·E[cost] + λ·CVaR_α(cost) of a discrete distribution.

    CVaR_α is the mean of the worst 1 − α of probability (the tail's last outcome counted
    in part).

    Example:
        >>> risk_measure([10, 20, 40], [0.5, 0.3, 0.2], alpha=0.7, weight=1.0)
        33.33333333333333
    """
    pairs = sorted(zip(costs, probabilities, strict=True), reverse=True)
    mean = sum(c * q for c, q in pairs)
    if weight == 0:
        return mean
    tail, left = 0.0, 1 - alpha
    for c, q in pairs:
        take = min(q, left)
        tail += c * take
        left -= take
        if left <= 1e-12:
            break
    return (1 - weight) * mean + weight * tail / (1 - alpha)


@dataclass
class ExtensiveForm:
    """The extensive form: one block per scenario (``scenario[name]``, a `BuiltModel` of
    its case) and the shared first stage."""

    case: Case
    scenarios: list[Scenario]
    pyomo: pyo.ConcreteModel
    blocks: dict[str, BuiltModel]
    first_stage: dict[str, list[Any]]  # variable name -> its keys


FirstStage = Mapping[str, Mapping[Any, float]]  # variable name -> key -> value


def first_stage_values(built: BuiltModel, keys: Mapping[str, list[Any]]
                       ) -> dict[str, dict[Any, float]]:
    """The first-stage decisions of a scenario model `capacity.solve` solved."""
    x, lm = built.solution, built.linear
    assert x is not None, "solve the model first"
    return {name: {k: float(x[lm.column(name, k)]) for k in ks} for name, ks in keys.items()}


def fix_first_stage(m: pyo.ConcreteModel, values: FirstStage,
                    names: Iterable[str] | None = None) -> None:
    """Fix the named first-stage decisions (all given, by default) of a scenario model;
    integers rounded."""
    for name in values if names is None else names:
        var = getattr(m, name)
        for k, v in values.get(name, {}).items():
            var[k].fix(round(v) if var[k].is_integer() else v)


def scenario_sets(case: Case, ix: IndexSets, failed: Iterable[tuple[str, int]],
                  outages: Iterable[Outage] = ()) -> tuple[Case, IndexSets]:
    """The case of one scenario and its index sets: the base sets ``ix``, its demand,
    and its ``outages`` on top of the case's own (the same variables and row families)."""
    scase = scenario_case(case, failed)
    six = with_demand(ix, scase)
    extra = list(outages)
    if extra:
        six = with_outages(six, scase, [*case_outages(case), *extra])
    return scase, six


def scenario_model(case: Case, ix: IndexSets, failed: Iterable[tuple[str, int]],
                   outages: Iterable[Outage] = ()) -> BuiltModel:
    """The deterministic model of one scenario (`scenario_sets`)."""
    return assemble_model(*scenario_sets(case, ix, failed, outages))


def _scenario_table(scenarios: list[Scenario]) -> pd.DataFrame:
    failed = [", ".join(f"{p} fails ({t})" for p, t in s.failed) or "all succeed"
              for s in scenarios]
    table = pd.DataFrame({"scenario": [s.name for s in scenarios],
                          "probability": [s.probability for s in scenarios],
                          "failed": failed})
    if any(s.outages for s in scenarios):
        table["disrupted"] = [s.disrupted() for s in scenarios]
    return table


def base_index_sets(case: Case, unmet_penalty: float | None) -> IndexSets:
    """The deterministic index sets, with unmet commitments priced when asked.

    Raises:
        CaseInfeasibleError: a commitment no site can ever serve (without a penalty).
    """
    ix = build_index_sets(case)
    if unmet_penalty is not None:
        discount = dict(zip(case.periods["period"], case.periods["discount_factor"],
                            strict=True))
        ix = replace(ix, shortfall_cost={d: float(discount[d[2]]) * unmet_penalty
                                         for d in sorted(ix.committed)})
    elif ix.unservable:
        raise CaseInfeasibleError(ix.unservable)
    return ix


def disrupted_unservable(case: Case, ix: IndexSets, scenarios: Iterable[Scenario]
                         ) -> list[str]:
    """Commitments a scenario's disruptions leave no site to serve, the commitment first
    (``committed offtake of … cannot be met in s2 (SA lost from 2031): …``): with
    commitments hard in every scenario, no first stage can meet them."""
    own = case_outages(case)
    reasons = []
    for sc in scenarios:
        if not sc.outages:
            continue
        committed = with_demand(ix, scenario_case(case, sc.failed)).committed
        lost = with_outages(ix, case, [*own, *sc.outages])
        for key in sorted(set(lost.why_unservable) - set(ix.why_unservable)):
            if committed.get(key, 0.0) > 0:
                reasons.append(f"{offtake_words(case, *key)} cannot be met in {sc.name} "
                               f"({sc.disrupted()}): {lost.why_unservable[key]} (give an "
                               "unmet penalty to price it)")
    return reasons


def first_stage_keys(case: Case, ix: IndexSets) -> dict[str, list[Any]]:
    """The first-stage variables and their keys (Assign of programs transferred before
    their readout)."""
    early = set(case.programs.loc[case.programs["transfer_before_readout"], "program"])
    return {"Build": list(ix.build), "Open": list(ix.open), "Finance": list(ix.finance),
            "FinanceOpening": list(ix.finance_opening), "Approve": list(ix.approvals.decide),
            "Assign": [a for a in ix.assign if a[0] in early]}


def build_extensive_form(case: Case, scenarios: list[Scenario],
                         options: StochasticOptions | None = None,
                         ix: IndexSets | None = None,
                         first_stage: dict[str, list[Any]] | None = None) -> ExtensiveForm:
    """Build the extensive form of ``case`` over ``scenarios`` (see the module docstring);
    ``first_stage`` (variable name → keys) replaces `first_stage_keys` (the N−1 plan
    shares the transfers made before the loss instead of those before readout).

    The objective ``total_cost`` is the expected cost, or (1−λ)·E + λ·CVaR_α by
    Rockafellar–Uryasev: η + Σ_ω π_ω·Excess_ω/(1−α), Excess_ω ≥ cost_ω − η, Excess_ω ≥ 0.
    """
    options = options or StochasticOptions()
    ix = ix or base_index_sets(case, options.unmet_penalty)
    first = first_stage_keys(case, ix) if first_stage is None else first_stage
    ef = pyo.ConcreteModel(name=f"{case.name} (extensive form)")
    blocks: dict[str, BuiltModel] = {}
    for sc in scenarios:
        built = scenario_model(case, ix, sc.failed, sc.outages)
        built.pyomo.total_cost.deactivate()
        ef.add_component(sc.name, built.pyomo)
        blocks[sc.name] = built
    ref = blocks[scenarios[0].name].pyomo
    ef.nonanticipativity = pyo.ConstraintList()
    for built in list(blocks.values())[1:]:
        for name, keys in first.items():
            mine, theirs = getattr(built.pyomo, name), getattr(ref, name)
            for k in keys:
                ef.nonanticipativity.add(mine[k] == theirs[k])
    cost = {sc.name: blocks[sc.name].pyomo.total_cost.expr for sc in scenarios}
    prob = {sc.name: sc.probability for sc in scenarios}
    expected = pyo.quicksum(prob[n] * cost[n] for n in cost)
    if options.cvar_weight > 0:
        ef.VaR = pyo.Var(domain=pyo.Reals)
        ef.Excess = pyo.Var(list(cost), domain=pyo.NonNegativeReals)
        ef.excess_over_var = pyo.Constraint(
            list(cost), rule=lambda m, n: m.Excess[n] >= cost[n] - m.VaR)
        cvar = ef.VaR + pyo.quicksum(prob[n] * ef.Excess[n] for n in cost) \
            / (1 - options.cvar_alpha)
        lam = options.cvar_weight
        ef.total_cost = pyo.Objective(expr=(1 - lam) * expected + lam * cvar)
    else:
        ef.total_cost = pyo.Objective(expr=expected)
    return ExtensiveForm(case, scenarios, ef, blocks, first)


@dataclass
class Evaluation:
    """The outcome of one solve of the extensive form (or of one scenario)."""

    status: str
    objective: float | None  # the risk measure (the expected cost when λ = 0)
    bound: float | None
    costs: dict[str, float] = field(default_factory=dict)  # scenario -> cost
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "time_limit_feasible")

    @property
    def gap(self) -> float | None:
        return relative_gap(self.objective, self.bound)


def solve_extensive_form(ef: ExtensiveForm, solve_options: SolveOptions) -> Evaluation:
    """Solve the extensive form with HiGHS; costs per scenario when a plan is found."""
    t0 = time.perf_counter()
    try:
        run = optimise_pyomo(ef.pyomo, solve_options)
        interrupt.stop_if_interrupted(run.status)
    except Exception as err:  # the interface failed: report it
        return Evaluation("error", None, None, messages=[f"{type(err).__name__}: {err}"],
                          seconds=time.perf_counter() - t0)
    bound = run.bound
    if run.status not in ("optimal", "time_limit_feasible"):  # None: not run (no start)
        return Evaluation(run.status or "error", None, bound,
                          seconds=time.perf_counter() - t0)
    run.load()
    costs = {n: float(pyo.value(b.pyomo.total_cost)) for n, b in ef.blocks.items()}
    return Evaluation(run.status, float(pyo.value(ef.pyomo.total_cost)), bound, costs,
                      seconds=time.perf_counter() - t0)


@dataclass
class StochasticResult:
    """The stochastic plan and what uncertainty is worth (see the module docstring).

    Attributes:
        status: of the extensive-form solve (``optimal``, ``time_limit_feasible``, ...);
            ``feasible`` for a progressive-hedging plan (evaluated, not proven optimal).
        objective, bound, gap: the risk measure minimised (the expected cost when
            ``cvar_weight`` is 0), MUSD, its best bound and relative gap.
        exact: the scenarios are every combination (else seeded draws).
        scenarios: one row per scenario: ``probability``, ``failed`` (in words),
            ``cost`` of the stochastic plan, ``wait_and_see`` (its optimum knowing the
            outcome), ``expected_value_plan`` (the EV plan's cost there), batches
            ``served``, ``unmet_potential``, ``unmet_committed``.
        expected_cost, cvar: E[cost] and CVaR_α of the stochastic plan.
        wait_and_see, eev: the measure of the wait-and-see costs and of the EV plan's;
            None when not evaluated (``eev`` None with a message when the EV plan cannot
            be carried out in some scenario).
        evpi, vss: objective − wait_and_see and eev − objective.
        first_stage: plan tables of the first stage (``builds``, ``openings``,
            ``assignments``, ``financing``, ``approvals``), shared by every scenario.
        ev_builds: the modules the expected-value plan would build.
        scenario_tables: each scenario's plan tables.
        messages: what the user should know.
        seconds: wall time by phase.
    """

    case_name: str
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    exact: bool
    options: StochasticOptions
    scenarios: pd.DataFrame
    expected_cost: float | None = None
    cvar: float | None = None
    wait_and_see: float | None = None
    eev: float | None = None
    first_stage: dict[str, pd.DataFrame] = field(default_factory=dict)
    ev_builds: pd.DataFrame = field(default_factory=pd.DataFrame)
    scenario_tables: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def has_solution(self) -> bool:
        return self.objective is not None

    @property
    def evpi(self) -> float | None:
        """Expected value of perfect information: objective − wait_and_see (≥ 0)."""
        if self.objective is None or self.wait_and_see is None:
            return None
        return self.objective - self.wait_and_see

    @property
    def vss(self) -> float | None:
        """Value of the stochastic solution: eev − objective (≥ 0)."""
        if self.objective is None or self.eev is None:
            return None
        return self.eev - self.objective

    def summary(self) -> dict[str, Any]:
        """The headline numbers and the scenarios, JSON-ready."""
        return {
            "case": self.case_name, "status": self.status, "objective": self.objective,
            "bound": self.bound, "gap": self.gap, "exact": self.exact,
            "expected_cost": self.expected_cost, "cvar": self.cvar,
            "wait_and_see": self.wait_and_see, "eev": self.eev, "evpi": self.evpi,
            "vss": self.vss, "options": self.options.model_dump(),
            "scenarios": self.scenarios.to_dict(orient="records"),
            "first_stage": {k: v.to_dict(orient="records") for k, v in self.first_stage.items()},
            "ev_builds": self.ev_builds.to_dict(orient="records"),
            "messages": self.messages, "seconds": self.seconds,
        }

    def save(self, folder: str | Path, *, force: bool = False,
             protect: tuple[str | Path, ...] = ()) -> Path:
        """Write ``summary.json``, ``scenarios.csv``, the first-stage tables and each
        scenario's tables (``scenarios/<name>/<table>.csv``), all or nothing, as
        `capacity.Plan.save` does (the same refusals, ``force`` and ``protect``)."""

        return save_blocks(folder, self.summary(), ("scenarios", self.scenarios),
                           self.first_stage, self.scenario_tables, "stochastic plan",
                           force=force, protect=protect)


def save_blocks(folder: str | Path, summary: dict[str, Any],
                table: tuple[str, pd.DataFrame], first_stage: Mapping[str, pd.DataFrame],
                blocks: Mapping[str, Mapping[str, pd.DataFrame]], what: Kind, *,
                force: bool = False, protect: tuple[str | Path, ...] = ()) -> Path:
    """Write an extensive form's result, all or nothing (`write_folder`, as
    `capacity.Plan.save`): ``summary.json``, ``<name>.csv`` of ``table`` = (name,
    frame) (its blocks: scenarios, contingencies), the first-stage tables, and each
    block's tables under ``<name>/<block>/``."""
    name, frame = table

    def write(tmp: Path) -> None:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        frame.to_csv(tmp / f"{name}.csv", index=False)
        for stage, rows in first_stage.items():
            rows.to_csv(tmp / f"{stage}.csv", index=False)
        for block, tables in blocks.items():
            (tmp / name / block).mkdir(parents=True)
            for table_name, rows in tables.items():
                rows.to_csv(tmp / name / block / f"{table_name}.csv", index=False)

    return write_folder(Path(folder), write, what, force=force, protect=protect)


def solve_stochastic(case: Case, options: StochasticOptions | None = None,
                     solve_options: SolveOptions | None = None,
                     progress: Progress | None = None) -> StochasticResult:
    """Solve the two-stage stochastic model of ``case`` and value its information.

    Args:
        case: a validated case; programs' success probabilities (and ``readouts``) make
            the scenarios.
        options: scenarios, risk measure, unmet penalty (`StochasticOptions`).
        solve_options: HiGHS settings for every solve (time limit per solve).
        progress: called with a line of text as each phase starts.

    Returns:
        The `StochasticResult`; without a plan (infeasible, time limit) its messages say
        why.

    Raises:
        CaseInfeasibleError: a commitment no site can serve, in any scenario, or one a
            scenario's disruptions leave no site to serve (give an unmet penalty to price
            it instead).

    Example:
        >>> import capacity
        >>> from capacity.studies.stochastic import solve_stochastic
        >>> r = solve_stochastic(capacity.load_case(capacity.tiny_case_path("clinical_bet")))
        >>> r.objective, r.wait_and_see, r.eev
        (0.0, -8.0, 2.0)
    """
    options = options or StochasticOptions()
    solve_options = solve_options or SolveOptions()
    say = progress or (lambda _line: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    scenarios, exact = draw_scenarios(case, options.scenarios, options.seed)
    ix = base_index_sets(case, options.unmet_penalty)
    if options.unmet_penalty is None:
        broken = disrupted_unservable(case, ix, scenarios)
        if broken:
            raise CaseInfeasibleError(broken)
    say(f"building the extensive form: {len(scenarios)} scenarios")
    ef = build_extensive_form(case, scenarios, options, ix)
    seconds["build"] = time.perf_counter() - t0
    say("solving the extensive form")
    rp = solve_extensive_form(ef, solve_options)
    seconds["solve"] = rp.seconds
    result = StochasticResult(case.name, rp.status, rp.objective, rp.bound, rp.gap, exact,
                              options, _scenario_table(scenarios), seconds=seconds,
                              messages=rp.messages)
    if not exact:
        result.messages.append(f"{len(scenarios)} distinct scenarios from "
                               f"{options.scenarios} seeded draws (seed {options.seed}) of "
                               f"{outcome_combinations(case)}"
                               " combinations: the values are sample estimates")
    if not rp.feasible:
        result.messages.append(_no_plan(rp, solve_options))
        return result
    if rp.status == "time_limit_feasible":
        result.messages.append(f"time limit reached: plan within gap {rp.gap:.2%}")
    _fill_plan(result, ef, rp)
    if options.evaluate:
        t1 = time.perf_counter()
        _evaluate_information(result, ef, ix, solve_options, say)
        seconds["evaluate"] = time.perf_counter() - t1
    return result


def _measure(options: StochasticOptions, scenarios: list[Scenario],
             costs: Mapping[str, float]) -> float:
    return risk_measure([costs[s.name] for s in scenarios],
                        [s.probability for s in scenarios],
                        options.cvar_alpha, options.cvar_weight)


def _no_plan(ev: Evaluation, solve_options: SolveOptions) -> str:
    if ev.status == "infeasible":
        return ("infeasible: no one first-stage plan meets every scenario's commitments "
                "(solve the case alone to see why, or give an unmet penalty)")
    if ev.status == "no_solution":
        return f"no plan found within the {solve_options.time_limit_s:g} s time limit"
    return f"the solve stopped: {ev.status} {' '.join(ev.messages)}".strip()


def _fill_plan(result: StochasticResult, ef: ExtensiveForm, rp: Evaluation) -> None:
    """First-stage tables, and per scenario its cost, tables and unmet demand."""
    served, unmet_potential, unmet_committed = [], [], []
    for sc in ef.scenarios:
        built = ef.blocks[sc.name]
        tables = extract_tables(built, built.pyomo_values())
        result.scenario_tables[sc.name] = tables
        unmet = tables["unmet_demand"]
        served.append(float(unmet["served_batches"].sum()))
        unmet_potential.append(float(unmet["unmet_batches"].sum()))
        short = built.pyomo.Shortfall
        unmet_committed.append(float(sum(v.value or 0.0 for v in short.values())))
    first = result.scenario_tables[ef.scenarios[0].name]
    result.first_stage = {k: first[k] for k in FIRST_STAGE_TABLES}
    result.scenarios = result.scenarios.assign(
        cost=[rp.costs[s.name] for s in ef.scenarios], served=served,
        unmet_potential=unmet_potential, unmet_committed=unmet_committed)
    probs = {s.name: s.probability for s in ef.scenarios}
    result.expected_cost = sum(probs[n] * c for n, c in rp.costs.items())
    result.cvar = risk_measure(rp.costs.values(), probs.values(),
                               result.options.cvar_alpha, 1.0)


def _evaluate_information(result: StochasticResult, ef: ExtensiveForm, ix: IndexSets,
                          solve_options: SolveOptions, say: Progress) -> None:
    """WS (each scenario alone), the EV plan and EEV (it fixed in every scenario)."""
    case, options = ef.case, result.options
    ws: dict[str, float] = {}
    # every scenario and the EV case have the sets ``ix`` (their own demand): one model
    # in HiGHS, sent only what changes (`Resolver.solve_on`)
    resolver = Resolver()
    for i, sc in enumerate(ef.scenarios):
        say(f"wait-and-see {i + 1}/{len(ef.scenarios)}: {sc.name} ({sc.describe()})")
        plan = resolver.solve_on(*scenario_sets(case, ix, sc.failed, sc.outages),
                                 solve_options)
        interrupt.stop_if_interrupted(plan.status)
        if plan.net_cost is None or plan.status not in ("optimal", "time_limit_feasible"):
            result.messages.append(f"wait-and-see: scenario {sc.name} ended {plan.status}; "
                                   "WS and EVPI not reported")
            ws = {}
            break
        ws[sc.name] = plan.net_cost
    if ws:
        result.wait_and_see = _measure(options, ef.scenarios, ws)
        result.scenarios = result.scenarios.assign(
            wait_and_see=[ws[s.name] for s in ef.scenarios])
    say("expected-value plan")
    ecase = expected_case(case)
    ev_plan = resolver.solve_on(ecase, with_demand(ix, ecase), solve_options)
    interrupt.stop_if_interrupted(ev_plan.status)
    ev_built = resolver.built
    if not ev_plan.has_solution or ev_built is None:
        result.messages.append(f"expected-value problem ended {ev_plan.status}; EEV and VSS "
                               "not reported")
        return
    result.ev_builds = ev_plan.builds
    values = first_stage_values(ev_built, ef.first_stage)
    say("evaluating the expected-value plan in every scenario")
    for built in ef.blocks.values():
        fix_first_stage(built.pyomo, values, CAPACITY_DECISIONS)
    try:
        eev = solve_extensive_form(ef, solve_options)
    finally:
        for built in ef.blocks.values():
            for name in CAPACITY_DECISIONS:
                getattr(built.pyomo, name).unfix()
    if eev.feasible:
        result.eev = _measure(options, ef.scenarios, eev.costs)
        result.scenarios = result.scenarios.assign(
            expected_value_plan=[eev.costs[s.name] for s in ef.scenarios])
    elif eev.status == "infeasible":
        result.messages.append("the expected-value plan cannot meet every scenario's "
                               "commitments: VSS is unbounded (give an unmet penalty to "
                               "price the shortfall)")
    else:
        result.messages.append(f"evaluating the expected-value plan ended {eev.status}; "
                               "VSS not reported")


PH_INSTALL = "progressive hedging needs mpi-sppy: pip install -e \".[mpi]\""


def solve_progressive_hedging(case: Case, options: StochasticOptions | None = None,
                              solve_options: SolveOptions | None = None,
                              iterations: int = 50, rho: float = 1.0,
                              progress: Progress | None = None,
                              scenarios: list[Scenario] | None = None,
                              first_stage: dict[str, list[Any]] | None = None,
                              ) -> StochasticResult | None:
    """The stochastic plan by progressive hedging (mpi-sppy) over the same scenario models,
    for scenario counts the extensive form cannot hold. Run under ``mpiexec -n K`` to
    spread the scenarios over K processes (every rank calls this; rank 0 gets the
    result, the others None).

    PH decomposes by scenario and prices disagreement on the first stage until the
    scenarios agree (a heuristic for integer first stages). The consensus plan (integers
    rounded) is then evaluated exactly: each scenario solved with it fixed. ``objective``
    is the expected cost of that plan (an upper bound); ``bound`` is PH's trivial bound
    (the wait-and-see value), so ``gap`` says how far from optimal it can be.
    ``scenarios`` (with probabilities summing to one) replace the case's own draws, and
    ``first_stage`` the transfers `first_stage_keys` shares: the N−1 plan
    (`capacity.studies.resilience`) passes its contingencies and its first stage.

    Raises:
        ImportError: mpi-sppy is not installed (`PH_INSTALL` says how).
        ValueError: a CVaR objective was asked for (PH here minimises the expected cost).
    """
    quiet = io.StringIO()  # mpi-sppy's timing lines: our progress speaks instead
    try:
        with capture_output(quiet):
            from mpisppy import MPI
            from mpisppy.opt.ph import PH
            from mpisppy.utils import sputils
    except ImportError as err:
        raise ImportError(PH_INSTALL) from err
    if MPI.COMM_WORLD.Get_rank() != 0:
        progress = None  # one voice: rank 0's
    options = options or StochasticOptions()
    if options.cvar_weight > 0:
        raise ValueError("progressive hedging minimises the expected cost: use the "
                         "extensive form for a CVaR objective")
    solve_options = solve_options or SolveOptions()
    say = progress or (lambda _line: None)
    t0 = time.perf_counter()
    if scenarios is None:
        scenarios, exact = draw_scenarios(case, options.scenarios, options.seed)
    else:
        exact = True
    by_name = {s.name: s for s in scenarios}
    ix = base_index_sets(case, options.unmet_penalty)
    first = first_stage_keys(case, ix) if first_stage is None else first_stage

    def creator(name: str) -> pyo.ConcreteModel:
        m = scenario_model(case, ix, by_name[name].failed, by_name[name].outages).pyomo
        stage_one = pyo.quicksum(ix.build_cost[b] * m.Build[b] for b in ix.build) \
            + pyo.quicksum(ix.open_cost[o] * m.Open[o] for o in ix.open) \
            - pyo.quicksum(ix.finance_saving[x] * m.Finance[x] for x in ix.finance) \
            - pyo.quicksum(ix.finance_opening_saving[x] * m.FinanceOpening[x]
                           for x in ix.finance_opening) \
            + pyo.quicksum(ix.approvals.cost[d] * m.Approve[d] for d in ix.approvals.decide)
        sputils.attach_root_node(m, stage_one, [m.Build, m.Open, m.Finance, m.FinanceOpening,
                                                m.Approve]
                                 + [m.Assign[a] for a in first["Assign"]])
        m._mpisppy_probability = by_name[name].probability
        return m

    ph_options = {
        "solver_name": "appsi_highs", "PHIterLimit": iterations, "defaultPHrho": rho,
        "convthresh": 1e-4, "verbose": False, "display_progress": False,
        "display_timing": False,
        "solver_options_layers": [{"when": "default", "options": {
            "time_limit": solve_options.time_limit_s, "mip_rel_gap": solve_options.mip_rel_gap,
            "threads": solve_options.threads, "random_seed": solve_options.seed}}],
        "linearize_proximal_terms": True, "linearize_binary_proximal_terms": True,
        "proximal_linearization_tolerance": 1e-1,
    }
    say(f"progressive hedging: {len(scenarios)} scenarios, at most {iterations} iterations")
    use_threads(solve_options.threads)  # every PH subproblem asks HiGHS for this many
    with capture_output(quiet):
        ph = PH(ph_options, [s.name for s in scenarios], creator)
        conv, _eobj, trivial_bound = ph.ph_main()
    consensus = _consensus(ph)
    seconds = {"ph": time.perf_counter() - t0}
    say("evaluating the consensus plan in every scenario")
    t1 = time.perf_counter()
    costs = _evaluate_local(case, ix, by_name, list(ph.local_scenarios), consensus,
                            solve_options)
    gathered = ph.comms["ROOT"].gather(costs, root=0)
    if ph.cylinder_rank != 0:
        return None
    seconds["evaluate"] = time.perf_counter() - t1
    table = _scenario_table(scenarios)
    result = StochasticResult(case.name, "error", None, None, None, exact, options, table,
                              seconds=seconds)
    merged = {n: c for part in gathered for n, c in part.items()}
    missing = sorted(n for n, c in merged.items() if c is None)
    result.messages.append(f"progressive hedging stopped at convergence {conv:.2e} "
                           f"(threshold 1e-4, at most {iterations} iterations)")
    if missing:
        result.status = "infeasible"
        result.messages.append("the consensus plan cannot be carried out in "
                               f"{', '.join(missing)}: raise --ph-iterations or use the "
                               "extensive form")
        return result
    plan_costs = {n: float(c) for n, c in merged.items() if c is not None}
    result.status = "feasible"  # a plan, not proven optimal
    result.objective = _measure(options, scenarios, plan_costs)
    result.expected_cost = result.objective
    result.cvar = risk_measure([plan_costs[s.name] for s in scenarios],
                               [s.probability for s in scenarios], options.cvar_alpha, 1.0)
    result.bound = float(trivial_bound)
    result.gap = relative_gap(result.objective, result.bound)
    result.scenarios = table.assign(cost=[plan_costs[s.name] for s in scenarios])
    result.messages.append("bound: PH's trivial bound (wait-and-see); the gap is an upper "
                           "limit on how far the plan is from optimal")
    built = assemble_model(case, ix)
    fix_first_stage(built.pyomo, consensus)  # only the first stage is read off it
    tables = extract_tables(built, built.pyomo_values())
    result.first_stage = {k: tables[k] for k in ("builds", "openings", "approvals")}
    return result


def _consensus(ph: Any) -> dict[str, dict[Any, float]]:
    """PH's average first stage (xbar), integers rounded, by variable name and key."""
    scenario = next(iter(ph.local_scenarios.values()))
    out: dict[str, dict[Any, float]] = {}
    for (node, i), var in scenario._mpisppy_data.nonant_indices.items():
        value = float(pyo.value(scenario._mpisppy_model.xbars[(node, i)]))
        if var.is_integer():
            value = float(round(value))
        out.setdefault(var.parent_component().local_name, {})[var.index()] = value
    return out


def _evaluate_local(case: Case, ix: IndexSets, by_name: Mapping[str, Scenario],
                    names: list[str], plan: FirstStage,
                    solve_options: SolveOptions) -> dict[str, float | None]:
    """Each named scenario's cost with the first stage fixed to ``plan`` (None: no plan
    can follow it there)."""
    costs: dict[str, float | None] = {}
    for name in names:
        built = scenario_model(case, ix, by_name[name].failed, by_name[name].outages)
        fix_first_stage(built.pyomo, plan)
        outcome = solve(built, solve_options.model_copy(update={"explain": False}))
        interrupt.stop_if_interrupted(outcome.status)
        costs[name] = outcome.net_cost if outcome.has_solution else None
    return costs
