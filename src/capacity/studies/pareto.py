"""Pareto fronts of cost against a policy objective, by the epsilon-constraint method
(models/formulation.md, "Pareto fronts").

Secondary objectives, each for one market M (``--objective KIND:M``):

- ``domestic_share`` (maximise): the smallest share, over the periods with supply to M,
  of M's supply made in M.
- ``operator_share`` (minimise): the largest share of one operator in M's supply, over
  operators and periods (a linear proxy of concentration).
- ``country_share`` (minimise): the same for producing regions.
- ``time_to_market`` (minimise): the programs' mean years of M's potential demand left
  unserved: a program launched L years after its demand starts scores L (a linear proxy
  of weighted time to market; models/formulation.md).

- ``resilience`` (minimise; ``--objective resilience:expected`` or ``resilience:worst``):
  the committed batches a plan leaves unmet under the case's ``disruptions`` (expected
  over, or worst of, their scenarios, every program succeeding), against the cost of the
  plan when nothing is disrupted (`capacity.studies.resilience.lost_supply_front`: each
  point an extensive form over the disruption scenarios, solved in turn in this process;
  ``workers``, ``scheduler``, ``out`` and ``resume`` do not apply).

Each of the others is exactly what a rule of the case states (`min_domestic_share`,
`max_operator_share` / `max_country_share` with subject ``*``, `max_time_to_market`), so
point ε of the front is the case plus one such rule at ε: the cheapest plan whose
objective is at least (at most) ε. The points run from the cost-optimal plan's own value
to the best conceivable (1 for a domestic share; 1/n for n operators or regions able to
supply M; for time to market, the demand no site can ever serve). Point 0 is the
cost-optimal plan itself (its rule would change nothing); the others are solved in
parallel as one batch (`capacity.studies.batch.run_batch`). Points no plan can reach are reported
as such; the front holds the non-dominated plans.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.case.schema import RULE_MEASURES
from capacity.engine.options import SolveOptions
from capacity.engine.solve import solve
from capacity.errors import CaseError, Problem
from capacity.model.index_sets import build_index_sets, time_to_market_weights
from capacity.model.measures import batch_weights
from capacity.studies.batch import Progress, ResultStore, plan_resume, read_results, run_batch
from capacity.studies.scenarios import case_digest

# objective kind -> (rule kind, sense)
OBJECTIVES = {"domestic_share": ("min_domestic_share", "maximise"),
              "operator_share": ("max_operator_share", "minimise"),
              "country_share": ("max_country_share", "minimise"),
              "time_to_market": ("max_time_to_market", "minimise"),
              "resilience": ("", "minimise")}
RESILIENCE_MEASURES = ("expected", "worst")
PARETO_RULE = "PARETO_EPSILON"


@dataclass(frozen=True)
class Objective:
    """A secondary objective: its kind and market (for ``resilience``, in place of the
    market, ``expected`` or ``worst``), and for a share what it counts (``measure``:
    batches, value or weight, as `rules.measure`)."""

    kind: str
    market: str
    measure: str = "batches"

    @property
    def sense(self) -> str:
        return OBJECTIVES[self.kind][1]

    def __str__(self) -> str:
        return f"{self.kind}:{self.market}" + (
            f":{self.measure}" if self.measure != "batches" else "")

    def better(self, a: float, b: float) -> bool:
        """a is strictly better than b."""
        return a > b if self.sense == "maximise" else a < b


def parse_objective(text: str, case: Case) -> Objective:
    """``KIND:MARKET[:MEASURE]`` (or ``resilience:expected|worst``) → `Objective`. A
    share counts in MEASURE (``batches``, ``value``, ``weight``: `rules.measure`);
    without one, in the measure of the case's own active rule of that kind on the
    market, else in batches.

    Raises:
        CaseError: an unknown kind or measure, a market that is not a region of the
            case, a measure for time to market, or a share in value where a batch of
            the market has no value.
    """
    kind, _, rest = text.partition(":")
    market, _, measure = rest.partition(":")
    if kind not in OBJECTIVES or not market:
        raise CaseError([Problem("--objective", None, None,
                                 f"{text!r}: give KIND:MARKET with KIND one of "
                                 f"{', '.join(OBJECTIVES)} (e.g. domestic_share:JP)")])
    if kind == "resilience":
        if market not in RESILIENCE_MEASURES or measure:
            raise CaseError([Problem("--objective", None, None,
                                     f"{text!r}: give resilience:expected or "
                                     "resilience:worst")])
        return Objective(kind, market)
    if market not in set(case.regions["region"]):
        raise CaseError([Problem("--objective", None, None,
                                 f"market {market!r} is not a region of the case "
                                 f"({', '.join(sorted(case.regions['region']))})")])
    if measure and (measure not in RULE_MEASURES or kind == "time_to_market"):
        raise CaseError([Problem("--objective", None, None,
                                 f"{text!r}: a share counts in {', '.join(RULE_MEASURES)}; "
                                 "time to market takes no measure")])
    if not measure:
        rules = case.rules
        own = rules[rules["active"] & (rules["kind"] == OBJECTIVES[kind][0])
                    & (rules["market"] == market)]
        measure = str(own["measure"].iloc[0]) if len(own) else "batches"
    if measure == "value":
        unvalued = sorted(d for d, w in batch_weights(case, "value", _demand_keys(
            case, market)).items() if w <= 0)
        if unvalued:
            p, m, t = unvalued[0]
            raise CaseError([Problem("--objective", None, None,
                                     f"{text!r} counts value, but a batch of {p} in {m} in "
                                     f"{t} has none (demand.value_musd_per_batch or "
                                     "offtakes.price_musd_per_batch)")])
    return Objective(kind, market, measure if kind != "time_to_market" else "batches")


def _demand_keys(case: Case, market: str) -> list[tuple[str, str, int]]:
    """(p,m,t) with committed or potential demand in ``market``."""
    keys = {(str(p), str(m), int(t)) for p, m, t, b in case.offtakes[
        ["program", "market", "period", "committed_batches"]].itertuples(index=False)
        if m == market and b > 0}
    keys |= {(str(p), str(m), int(t)) for p, m, t, b in case.demand[
        ["program", "market", "period", "potential_batches"]].itertuples(index=False)
        if m == market and b > 0}
    return sorted(keys)


def measure(objective: Objective, tables: Mapping[str, pd.DataFrame],
            case: Case) -> float | None:
    """The objective's value in a plan (its ``shipments`` and ``unmet_demand`` tables);
    None when nothing is supplied to the market."""
    shipments = tables["shipments"]
    if objective.kind == "time_to_market":
        weights = time_to_market_weights(case, objective.market)
        unmet = tables["unmet_demand"]
        unserved = {(p, m, int(t)): float(u) for p, m, t, u in zip(
            unmet["program"], unmet["market"], unmet["period"], unmet["unmet_batches"],
            strict=True)}
        return float(sum(w * unserved.get(d, 0.0) for d, w in weights.items()))
    operators = dict(zip(case.sites["site"], case.sites["operator"], strict=True))
    to_market = shipments[shipments["market"] == objective.market]
    if to_market.empty or to_market["batches"].sum() <= 0:
        return None
    if objective.measure != "batches":  # each batch counted in the measure
        weight = batch_weights(case, objective.measure, _demand_keys(case, objective.market))
        to_market = to_market.assign(batches=[
            b * weight.get((p, m, int(t)), 0.0) for p, m, t, b in to_market[
                ["program", "market", "period", "batches"]].itertuples(index=False)])
    total = to_market.groupby("period")["batches"].sum()
    if objective.kind == "domestic_share":
        home = to_market[to_market["origin"] == objective.market]
        return float((home.groupby("period")["batches"].sum()
                      .reindex(total.index, fill_value=0.0) / total).min())
    who = to_market["site"].map(operators) if objective.kind == "operator_share" \
        else to_market["origin"]
    by_who = to_market.groupby([to_market["period"], who])["batches"].sum()
    return float((by_who / by_who.index.get_level_values(0).map(total).to_numpy()).max())


def best_conceivable(objective: Objective, case: Case) -> float:
    """The end of the front: 1 for a domestic share; 1/n for n operators (regions) with
    a lane to the market (no plan spreads supply thinner); for time to market, the
    potential demand no site can serve."""
    if objective.kind == "domestic_share":
        return 1.0
    ix = build_index_sets(case)
    if objective.kind == "time_to_market":
        weights = time_to_market_weights(case, objective.market)
        servable = set(ix.serve)
        return float(sum(w * ix.potential[d] for d, w in weights.items()
                         if d not in servable))
    owner = ix.site_operator if objective.kind == "operator_share" else ix.site_region
    suppliers = {owner[s] for (_p, s, mk, _t) in ix.ship if mk == objective.market}
    return 1.0 / max(len(suppliers), 1)


def with_epsilon(case: Case, objective: Objective, epsilon: float) -> Case:
    """``case`` plus the rule that holds the objective at ε."""
    rule = {"rule": PARETO_RULE, "kind": OBJECTIVES[objective.kind][0],
            "market": objective.market,
            "subject": "" if objective.kind in ("domestic_share", "time_to_market") else "*",
            "share": 0.0 if objective.kind == "time_to_market" else float(epsilon),
            "limit_years": float(epsilon) if objective.kind == "time_to_market" else 0.0,
            "basis": "supply", "measure": objective.measure, "active": True}
    rules = pd.concat([case.rules, pd.DataFrame([rule])], ignore_index=True)
    return replace(case, rules=rules)


class EpsilonPoints:
    """The front's points as `run_batch` reads a scenario set: ``p00`` … at their ε."""

    def __init__(self, case: Case, objective: Objective, epsilons: Sequence[float],
                 options: SolveOptions) -> None:
        self.base, self.objective, self.options = case, objective, options
        width = len(str(len(epsilons) - 1))
        self.scenarios = {f"p{i:0{width}d}": float(e) for i, e in enumerate(epsilons)}
        self._base_digest: str | None = None

    def case(self, name: str) -> Case:
        return with_epsilon(self.base, self.objective, self.scenarios[name])

    def fingerprint(self, name: str) -> str:
        """What the point's case depends on (`capacity.studies.batch.fingerprint`): the case, the
        objective and ε."""
        if self._base_digest is None:
            self._base_digest = case_digest(self.base)
        return f"{self._base_digest} {self.objective} {self.scenarios[name]!r}"

    def solve_options(self, name: str, **changes: Any) -> SolveOptions:
        """No explanation for points no plan reaches: unreachable is the answer."""
        return self.options.model_copy(update={"explain": False, **changes})


@dataclass
class ParetoFront:
    """The outcome of `pareto`.

    Attributes:
        objective: the secondary objective.
        points: every point solved: ``point``, ``epsilon``, ``status``, ``cost`` (MUSD),
            ``value`` (the objective's value in the plan), ``on_front`` (feasible and
            non-dominated), ``changes`` (builds and openings that differ from the previous
            point on the front).
        messages: what the reader should know.
    """

    objective: Objective
    points: pd.DataFrame
    messages: list[str] = field(default_factory=list)

    @property
    def front(self) -> pd.DataFrame:
        """The non-dominated plans, from the cost-optimal one on."""
        return self.points[self.points["on_front"]].reset_index(drop=True)

    def to_json(self) -> dict[str, Any]:
        return {"objective": str(self.objective), "sense": self.objective.sense,
                "points": self.points.replace({np.nan: None}).to_dict(orient="records"),
                "messages": self.messages}

    def figure(self) -> Any:
        """A plotly figure of the front (cost against the objective), hover: changes."""
        import plotly.graph_objects as go

        front, off = self.front, self.points[~self.points["on_front"]
                                             & self.points["value"].notna()]
        fig = go.Figure()
        fig.add_trace(go.Scatter(
            x=front["value"], y=front["cost"], mode="lines+markers", name="front",
            text=front["changes"], marker={"size": 9, "symbol": "circle"},
            line={"color": "#0072B2"},
            hovertemplate="%{x:.3f}, %{y:,.1f} MUSD<br>%{text}<extra></extra>"))
        if not off.empty:
            fig.add_trace(go.Scatter(x=off["value"], y=off["cost"], mode="markers",
                                     name="dominated", marker={"symbol": "x", "size": 8,
                                                               "color": "#999999"}))
        fig.update_layout(
            title=f"Cost against {self.objective} ({self.objective.sense})",
            xaxis_title=str(self.objective), yaxis_title="net cost, MUSD (present value)",
            template="plotly_white")
        return fig

    def write_plot(self, path: str | Path) -> Path:
        """The figure as one self-contained HTML file (plotly.js embedded: works offline)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.figure().write_html(target, include_plotlyjs=True, full_html=True)
        return target


def pareto(case: Case, objective: str | Objective, points: int = 5,
           options: SolveOptions | None = None, workers: int | None = None,
           scheduler: str | None = None, out: str | Path | None = None,
           resume: bool = False, progress: Progress | None = None) -> ParetoFront:
    """The front of cost against ``objective`` by the epsilon-constraint method.

    Args:
        case: a validated case.
        objective: ``KIND:MARKET`` (see the module docstring) or an `Objective`.
        points: points on the front, the cost-optimal plan first (at least 2).
        options: solve options of every point.
        workers: local Dask worker processes, as for `capacity.studies.batch.run_batch`.
        scheduler: a running Dask scheduler's address, as for
            `capacity.studies.batch.run_batch`.
        out: keep the points' solves here (resumable with ``resume``).
        resume: skip the points already solved in ``out`` whose case and definition are
            unchanged.
        progress: called with (point, summary) as each point finishes.

    Raises:
        CaseError: a bad objective, or the case itself has no plan (the front starts at
            its cost-optimal plan).

    Example:
        >>> import capacity
        >>> front = capacity.pareto(capacity.load_case(capacity.tiny_case_path(
        ...     "domestic_share")), "domestic_share:A", points=3, workers=1)
        >>> front.front[["epsilon", "cost"]].round(2).values.tolist()
        [[0.6, 50.0], [0.8, 56.0], [1.0, 61.0]]
    """
    if points < 2:
        raise CaseError([Problem("--points", None, None, "give at least 2 points")])
    options = options or SolveOptions()
    goal = objective if isinstance(objective, Objective) else parse_objective(objective, case)
    if goal.kind == "resilience":
        return _resilience_front(case, goal, points, options, progress)
    cheapest = solve(case, options)
    if not cheapest.has_solution:
        raise CaseError([Problem(case.name, None, None, f"the case itself ends "
                                 f"{cheapest.status}, so there is no front: "
                                 + "; ".join(cheapest.messages))])
    v0 = measure(goal, cheapest.tables, case)
    if v0 is None:
        raise CaseError([Problem("--objective", None, None, "the cost-optimal plan supplies "
                                 f"nothing to {goal.market}")])
    end = best_conceivable(goal, case)
    if not goal.better(end, v0):
        end = v0
    grid = [v0] if end == v0 else list(np.linspace(v0, end, points))
    source = EpsilonPoints(case, goal, grid, options)
    with tempfile.TemporaryDirectory(prefix="capacity-pareto-") as tmp:
        folder = Path(out or tmp)
        store = ResultStore(folder)
        first = next(iter(source.scenarios))
        resumed = plan_resume(source, store, resume)
        if first not in resumed.skipped:
            # Point 0 (the rule at the cost-optimal plan's own value) is that plan: stored
            # as it is rather than solved again.
            start = {"scenario": first, **cheapest.summary(), "error": None,
                     "fingerprint": resumed.fingerprints[first]}
            store.write(start, cheapest.tables)
            if progress is not None:
                progress(first, start)
        summary = run_batch(source, folder, workers=workers, scheduler=scheduler,
                            resume=True, progress=progress)
        tables = {name: read_results(folder, name)
                  for name in ("shipments", "unmet_demand", "builds", "openings",
                               "assignments")}
    front = ParetoFront(goal, _points_table(source, summary, tables))
    unreachable = front.points[front.points["status"] == "infeasible"]
    if not unreachable.empty:
        sign = "≥" if goal.sense == "maximise" else "≤"
        front.messages.append(f"no plan reaches {goal} {sign} "
                              f"{unreachable['epsilon'].iloc[0]:.3f} (points run from the "
                              "cost-optimal value outwards): the front ends before")
    if end == v0:
        front.messages.append(f"the cost-optimal plan already has the best conceivable "
                              f"{goal} ({v0:.3f})")
    return front


def _points_table(source: EpsilonPoints, summary: pd.DataFrame,
                  tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per point with its value, whether it is on the front, and what changes."""
    goal = source.objective
    by_name = summary.set_index("scenario")
    rows = []
    for name, epsilon in source.scenarios.items():
        status = str(by_name.at[name, "status"]) if name in by_name.index else "missing"
        feasible = status in ("optimal", "time_limit_feasible")
        mine = {k: _of(tables[k], name) for k in ("shipments", "unmet_demand")}
        rows.append({"point": name, "epsilon": epsilon, "status": status,
                     "cost": float(by_name.at[name, "objective"]) if feasible else None,
                     "value": measure(goal, mine, source.base) if feasible else None,
                     "gap": by_name.at[name, "gap"] if feasible and "gap" in by_name else None})
    table = pd.DataFrame(rows)
    table["on_front"] = _on_front(table, goal)
    changes, previous = [], None
    for r in table.itertuples():
        if not r.on_front:
            changes.append("")
            continue
        mine = _decisions(tables, r.point)
        changes.append("cost-optimal plan" if previous is None else _diff(previous, mine))
        previous = mine
    table["changes"] = changes
    return table


def _on_front(table: pd.DataFrame, goal: Objective) -> list[bool]:
    """Each point: feasible and not dominated (equal plans: the first stands)."""
    return [
        r.cost is not None and not pd.isna(r.cost) and not any(
            o.cost is not None and not pd.isna(o.cost) and o.point != r.point
            and o.cost <= r.cost + 1e-9 and not goal.better(r.value, o.value)
            and (o.cost < r.cost - 1e-9 or goal.better(o.value, r.value)
                 or o.point < r.point)  # equal plans: the first stands
            for o in table.itertuples())
        for r in table.itertuples()]


def _resilience_front(case: Case, goal: Objective, points: int, options: SolveOptions,
                      progress: Progress | None) -> ParetoFront:
    """The front of cost against lost supply under the case's disruptions."""
    from capacity.studies.resilience import lost_supply_front

    table = lost_supply_front(case, goal.market, points, options,  # type: ignore[arg-type]
                              progress=progress)
    table["on_front"] = _on_front(table, goal)
    changes, previous = [], None
    for r in table.itertuples():
        if not r.on_front:
            changes.append("")
            continue
        changes.append("cost-optimal plan: " + r.builds if previous is None
                       else ("builds " + r.builds if r.builds != previous
                             else "same capacity, other flows"))
        previous = r.builds
    table["changes"] = changes
    table = table.drop(columns="builds")
    front = ParetoFront(goal, table)
    front.messages.append("value: committed batches left unmet under the disruptions "
                          f"({goal.market} over their scenarios); cost: the plan when "
                          "nothing is disrupted")
    if len(table) == 1:
        front.messages.append("the cost-optimal plan already loses the least supply any "
                              "plan can")
    return front


def _of(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=["scenario", "program", "site", "origin", "market",
                                     "period", "batches", "unmet_batches"])
    return frame[frame["scenario"] == name]


def _decisions(tables: dict[str, pd.DataFrame], name: str) -> dict[str, float]:
    """Modules per suite, sites opened and transfers in a point's plan."""
    out: dict[str, float] = {}
    builds = tables["builds"]
    if not builds.empty:
        mine = builds[builds["scenario"] == name]
        for (s, q, c), n in mine.groupby(["site", "modality", "scale"])["modules"].sum().items():
            out[f"{s} {q} {c}"] = float(n)
    openings = tables["openings"]
    if not openings.empty:
        for site in openings.loc[openings["scenario"] == name, "site"]:
            out[f"open {site}"] = 1.0
    assignments = tables["assignments"]
    if not assignments.empty:
        mine = assignments[assignments["scenario"] == name]
        for p, site in zip(mine["program"], mine["site"], strict=True):
            out[f"transfer {p} to {site}"] = 1.0
    return out


def _diff(before: dict[str, float], after: dict[str, float]) -> str:
    """The decisions that change, e.g. ``+2 modules SA antibody commercial; opens SC``."""
    parts = []
    for key in sorted(set(before) | set(after)):
        delta = after.get(key, 0.0) - before.get(key, 0.0)
        if abs(delta) < 0.5:
            continue
        if key.startswith("open "):
            parts.append(("opens " if delta > 0 else "no longer opens ") + key[5:])
        elif key.startswith("transfer "):
            parts.append(("" if delta > 0 else "no ") + key)
        else:
            parts.append(f"{delta:+.0f} modules {key}")
    return "; ".join(parts) or "same capacity, other flows"
