"""A plan in a notebook: its HTML summary and its charts one by one."""

from __future__ import annotations

import html

import pytest

import capacity
from capacity import Case, Plan
from capacity.results.notebook import money

from conftest import TEST_OPTIONS, tiny

pytestmark = pytest.mark.solver


def test_repr_html_shows_status_objective_and_key_tables(default_plan: Plan) -> None:
    shown = default_plan._repr_html_()
    assert "<td style=\"text-align:left\">optimal</td>" in shown
    objective = money(default_plan.objective, "MUSD")
    assert objective == "-711.5 MUSD"  # as a reader sees it, and as the CLI prints it
    assert f"net discounted cost</th><td style=\"text-align:left\">{objective}" in shown
    assert f"<b>costs</b> ({len(default_plan.costs)} rows" in shown and "served_value" in shown
    decisions = money(default_plan.objective - 980.6, "MUSD")  # the existing sites' 980.6
    label = html.escape("of which the plan's decisions (without the existing sites' fixed "
                        "cost, a constant)")
    assert f"{label}</th><td style=\"text-align:left\">{decisions}" in shown
    assert f"<b>builds</b> ({len(default_plan.builds)} rows)" in shown
    assert f"<b>assignments</b> ({len(default_plan.assignments)} rows, first 8 shown)" in shown
    assert shown.count("<tr>") < 60  # the heads, not whole tables
    assert f"shipments ({len(default_plan.shipments)})" in shown


def test_repr_html_escapes_what_the_plan_holds() -> None:
    plan = Plan.without_solution("<b>case</b>", "infeasible", {}, {"solve": 0.5},
                                 ["commitments <exceed> capacity & more"])
    shown = plan._repr_html_()
    assert "&lt;b&gt;case&lt;/b&gt;" in shown and "<b>case</b>" not in shown
    assert "commitments &lt;exceed&gt; capacity &amp; more" in shown
    assert "infeasible" in shown and "—" in shown  # no objective to show
    with pytest.raises(ValueError, match="no costs table to plot: status is infeasible"):
        plan.plot.costs()


def test_plot_costs_is_the_waterfall_of_the_plans_costs(default_plan: Plan) -> None:
    figure = default_plan.plot.costs()
    [waterfall] = figure.data
    costs = default_plan.costs[default_plan.costs["pv_musd"].abs() > 1e-9]
    assert list(waterfall.y[:-1]) == costs["pv_musd"].tolist()
    assert list(waterfall.x[:-1]) == costs["component"].str.replace("_", " ").tolist()
    assert waterfall.measure[-1] == "total"
    assert waterfall.y[-1] == pytest.approx(default_plan.net_cost, abs=1e-9)


def test_every_chart_draws_from_the_plans_recorded_case(default_plan: Plan) -> None:
    assert default_plan.case_source  # loaded from data/default: the charts find it
    plot = default_plan.plot
    built = plot.capacity()
    assert sum(sum(trace.y) for trace in built.data) == \
        pytest.approx(default_plan.builds["batches_added"].sum())
    assert plot.utilisation().data[0].type == "heatmap"
    assert {t.name for t in plot.assignments().data} == set(default_plan.production["site"])
    flows = plot.flows().data[0]
    assert sum(flows.link.value) == pytest.approx(default_plan.shipments["batches"].sum())
    assert plot.map() is not None


def test_charts_of_a_case_built_in_memory_take_the_case() -> None:
    case = tiny("two_sites")
    in_memory = Case.from_frames(case.tables(), name="edited")
    plan = capacity.solve(in_memory, TEST_OPTIONS)
    assert plan.case_source == ""
    with pytest.raises(ValueError, match="pass it"):
        plan.plot.capacity()
    figure = plan.plot.assignments(in_memory)
    assert [t.name for t in figure.data] == sorted(set(plan.production["site"]))
    # the charts that need no case draw without one
    assert sum(plan.plot.flows().data[0].link.value) == \
        pytest.approx(plan.shipments["batches"].sum())
