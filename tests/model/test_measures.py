"""Rule measures (issue 31): a share rule or service level counts batches, value or
weighted batches. Worked by hand on data/tiny/share_measure (its README): market A needs
2 AAV batches (GENE, 12 MUSD each) and 8 CAR-T lots (CART, 0.3 each); SA in A makes AAV
at 8 (1 a period) and CAR-T at 1.5, SB in B at 3 and 0.5; A_DOMESTIC_50: at least 50%
of A's supply made in A."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity import Case, CaseError
from capacity.engine.explain import explain
from capacity.model import build_model
from capacity.model.measures import Measures
from capacity.report import plan_report
from capacity.results.check import check_plan
from capacity.studies.batch import run_batch
from capacity.studies.compare import compare
from capacity.studies.pareto import measure as objective_value
from capacity.studies.pareto import parse_objective, with_epsilon

from conftest import edited, rows, run, solved, tiny

pytestmark = pytest.mark.solver


def measured(measure: str, case: Case | None = None, **rule: object) -> Case:
    """share_measure (or ``case``) with its rule counted in ``measure``."""
    base = case or tiny("share_measure")
    return edited(base, rules=lambda r: r.assign(measure=measure, **rule))


def domestic(plan: capacity.Plan) -> dict[str, float]:
    ships = plan.shipments
    return ships[ships["origin"] == "A"].groupby("program")["batches"].sum().to_dict()


def test_batches_value_and_weight_give_the_hand_optima() -> None:
    # no rule: everything from SB, 2 × 3 + 8 × 0.5 = 10
    assert solved(edited(tiny("share_measure"), rules=lambda r: r.assign(active=False))
                  ).objective == pytest.approx(10.0)
    # batches: 5 of 10 made in A; a CAR-T lot costs 1 more there, an AAV batch 5 more:
    # 5 lots from SA, 10 + 5 = 15. The domestic share of value is 1.5 of 26.4.
    by_batches = solved(tiny("share_measure"))
    assert by_batches.objective == pytest.approx(15.0)
    assert domestic(by_batches) == pytest.approx({"CART": 5.0})
    # value: 13.2 of 26.4 MUSD made in A; an AAV batch is 12 MUSD for 5 more (SA makes
    # one), a CAR-T lot 0.3 for 1 more: 1 AAV + 4 lots, 10 + 5 + 4 = 19
    by_value = solved(measured("value"))
    assert by_value.objective == pytest.approx(19.0)
    assert domestic(by_value) == pytest.approx({"GENE": 1.0, "CART": 4.0})
    # weight: aav 40, cell_autologous 1 (modalities.weight), the same ratio as value
    by_weight = solved(measured("weight"))
    assert by_weight.objective == pytest.approx(19.0)
    assert domestic(by_weight) == pytest.approx({"GENE": 1.0, "CART": 4.0})
    # a program's own weight overrides its modality's: GENE counting 1 is batches again
    own = edited(measured("weight"), programs=lambda p: p.assign(weight=[1.0, None]))
    assert solved(own).objective == pytest.approx(15.0)


def test_rule_kpis_report_the_share_in_the_rules_measure() -> None:
    kpis = solved(tiny("share_measure")).tables["rule_kpis"]
    row = kpis.iloc[0]
    assert (row["measure"], row["unit"], row["amount"], row["total"], row["share"]) == \
        ("batches", "batches", 5.0, 10.0, 0.5)
    row = solved(measured("value")).tables["rule_kpis"].iloc[0]
    assert (row["measure"], row["unit"]) == ("value", "MUSD")
    assert (row["amount"], row["total"], row["share"], row["limit"]) == \
        pytest.approx((13.2, 26.4, 0.5, 0.5))


def test_max_shares_in_value_use_their_own_supply() -> None:
    # OB at most 50% of A's batches and region B at most 50% of its value: the value
    # cap binds as the domestic one did (19); a Supply (batches) and a MeasuredSupply
    # (value) column each, and both caps hold in the plan
    case = edited(tiny("share_measure"), rules=rows(
        {"rule": "OB_CAP", "kind": "max_operator_share", "market": "A", "subject": "OB",
         "share": 0.5, "measure": "batches"},
        {"rule": "B_CAP", "kind": "max_country_share", "market": "A", "subject": "B",
         "share": 0.5, "measure": "value"}))
    built = build_model(case)
    plan = solved(case)
    assert plan.objective == pytest.approx(19.0)
    assert domestic(plan) == pytest.approx({"GENE": 1.0, "CART": 4.0})
    model = built.pyomo
    assert list(model.Supply) == [("A", 2030)]
    assert list(model.MeasuredSupply) == [("value", "A", 2030)]
    kpis = plan.tables["rule_kpis"].set_index("rule")
    assert kpis.at["B_CAP", "share"] == pytest.approx(0.5)
    assert kpis.at["OB_CAP", "share"] == pytest.approx(0.5)  # 5 of 10 batches


def test_a_case_in_batches_builds_what_it_built_before() -> None:
    # measure = batches everywhere: no weights, no MeasuredSupply, the same rows
    case = capacity.load_case()
    built = build_model(case)
    assert built.index_sets.measures == Measures()
    assert len(built.pyomo.MeasuredSupply) == 0
    explicit = edited(case, rules=lambda r: r.assign(measure="batches"))
    again = build_model(explicit)
    assert built.linear.size() == again.linear.size()


def test_checker_flags_a_plan_short_of_the_weighted_rule(tmp_path: Path) -> None:
    # the batches optimum (5 lots from SA) under the value rule: 1.5 of 26.4 MUSD made
    # in A, 13.2 − 1.5 = 11.7 MUSD short; the value optimum holds
    plan_dir = solved(tiny("share_measure")).save(tmp_path / "batches")
    found = {(v.family, v.entity): v for v in check_plan(measured("value"), plan_dir).violations}
    short = found[("min_domestic_share", "A_DOMESTIC_50 2030")]
    assert short.amount == pytest.approx(11.7)
    assert "1.5 of 26.4 MUSD of value" in short.message
    assert check_plan(tiny("share_measure"), plan_dir).ok
    value_dir = solved(measured("value")).save(tmp_path / "value")
    assert check_plan(measured("value"), value_dir).ok
    # weights: 40·0 + 1·5 = 5 of 40·2 + 8 = 88 weighted batches made in A: 39 short
    weight = {(v.family, v.entity): v.amount
              for v in check_plan(measured("weight"), plan_dir).violations}
    assert weight[("min_domestic_share", "A_DOMESTIC_50 2030")] == pytest.approx(39.0)


def test_service_level_in_weighted_batches(tmp_path: Path) -> None:
    # Potential demand beside the commitments: 1 GENE batch worth 2 (SB makes it at 3)
    # and 2 CART lots worth 0.1 (SB: 0.5), neither worth serving. A 90% service level in
    # weighted batches (aav 40, cell 1): demand 3·40 + 10 = 130, the commitments 88, so
    # 117 − 88 = 29 more: GENE costs 1/40 per weighted batch, CART 0.4/1: 29/40 = 0.725
    # GENE batch served, 10 + 0.725 = 10.725.
    case = edited(tiny("share_measure"),
                  demand=rows({"program": "GENE", "market": "A", "period": 2030,
                               "potential_batches": 1, "value_musd_per_batch": 2},
                              {"program": "CART", "market": "A", "period": 2030,
                               "potential_batches": 2, "value_musd_per_batch": 0.1}),
                  rules=rows({"rule": "A_SERVICE_90", "kind": "min_service_level",
                              "market": "A", "share": 0.9, "measure": "weight"}))
    plan = solved(case)
    assert plan.objective == pytest.approx(10.725)
    served = plan.unmet_demand.set_index("program")["served_batches"]
    assert served.to_dict() == pytest.approx({"GENE": 0.725, "CART": 0.0})
    # in batches 90% of 13 is 11.7: 1.7 more, CART cheapest per batch (0.4): 10.68
    assert solved(measured("batches", case)).objective == pytest.approx(10.68)
    # the checker: the rule-less optimum serves 88 of 130 weighted batches, 29 short
    free = edited(case, rules=lambda r: r.assign(active=False))
    plan_dir = solved(free).save(tmp_path / "plan")
    found = {(v.family, v.entity): v for v in check_plan(case, plan_dir).violations}
    short = found[("min_service_level", "A_SERVICE_90 2030")]
    assert short.amount == pytest.approx(29.0)
    assert "88 of A's 130 weighted batches" in short.message


def test_explain_speaks_in_the_rules_measure() -> None:
    # 90% of A's 26.4 MUSD of demand made in A is 23.76; SA can make 1 AAV batch and 8
    # lots, 14.4: 9.36 MUSD short (a share of demand: supplying less does not help)
    result = explain(measured("value", share=0.9, basis="demand"))
    assert not result.feasible
    (conflict,) = result.conflicts
    assert (conflict.family, conflict.unit) == ("min_domestic_share", "MUSD")
    assert conflict.amount == pytest.approx(9.36)
    assert "(90% of demand in A, counted in value)" in conflict.message
    assert "9.36 MUSD of domestic supply short" in conflict.message
    # of supply: the cheapest way out is to supply less GENE (in batches), and the rule
    # it names says what it counts
    result = explain(measured("value", share=0.9))
    (conflict,) = result.conflicts
    assert conflict.family == "committed_offtake"
    assert "the A domestic-share rule A_DOMESTIC_50 (counted in value)" in conflict.message


def test_report_and_summary_name_the_measure(tmp_path: Path) -> None:
    plan_dir = solved(measured("value")).save(tmp_path / "plan")
    text = plan_report(plan_dir, measured("value"), price_rules=False)
    section = text.split("<h2>Policy rules and their price</h2>")[1].split("</table>")[0]
    header = re.findall(r"<th>(.*?)</th>", section)
    cells = re.findall(r"<td>(.*?)</td>", section)
    assert dict(zip(header, cells, strict=True)) == {
        "rule": "A_DOMESTIC_50", "share": "domestic share of value in A", "limit": "≥ 50%",
        "achieved (tightest period)": "50.0%", "period": "2030"}
    assert "domestic share of value in A (rule A_DOMESTIC_50" in text  # the headline card
    proc = run("solve", str(capacity.tiny_case_path("share_measure")))
    assert "domestic share of batches in A: 50.0% (2030)" in proc.stdout


def test_measure_is_refused_where_it_means_nothing() -> None:
    base = tiny("share_measure")
    with pytest.raises(CaseError) as info:
        edited(base, rules=rows(
            {"rule": "BAR", "kind": "barred", "market": "A", "subject": "OB",
             "measure": "value"},
            {"rule": "TTM", "kind": "max_time_to_market", "market": "A",
             "measure": "weight"}))
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {(2, "measure"), (3, "measure")}
    assert "no meaning for a barred rule" in str(info.value.problems[0])
    # a value rule on a market where a committed batch has no value or price
    with pytest.raises(CaseError) as info:
        measured("value", edited(base, offtakes=lambda o: o.assign(
            price_musd_per_batch=[12.0, 0.0])))
    (problem,) = info.value.problems
    assert (problem.row, problem.column) == (3, "price_musd_per_batch")
    assert "a batch of CART in A in 2030 has none" in problem.message
    # an unknown measure
    with pytest.raises(CaseError) as info:
        measured("patients")
    assert info.value.problems[0].column == "measure"


def test_compare_shows_each_rules_share_in_its_measure(tmp_path: Path) -> None:
    # SA's CAR-T lots at 0.4 (below SB's 0.5): all 8 made in A. In batches the rule does
    # not bind: 8 of 10 (80%). In value they are 2.4 of 26.4 MUSD: 10.8 / 12 = 0.9 AAV
    # batch more (shipments are continuous), 13.2 MUSD (50%), while 8.9 of 10 batches
    # (89%) are made in A; cost 0.9·8 + 1.1·3 + 8·0.4 = 13.7.
    shutil.copytree(capacity.tiny_case_path("share_measure"), tmp_path / "case")
    path = tmp_path / "scenarios.yaml"
    path.write_text("""base: case
scenarios:
  - name: base
  - name: cheap_cells
    overrides: [{table: suites, where: {site: SA, modality: cell_autologous},
                 set: {variable_cost_musd_per_batch: 0.4}}]
  - name: cheap_cells_value
    overrides:
      - {table: suites, where: {site: SA, modality: cell_autologous},
         set: {variable_cost_musd_per_batch: 0.4}}
      - {table: rules, set: {measure: value}}
""")
    run_batch(path, tmp_path / "out", workers=1)
    table = compare(tmp_path / "out").set_index("scenario")
    assert table["rule_share_A_DOMESTIC_50"].to_dict() == pytest.approx(
        {"base": 0.5, "cheap_cells": 0.8, "cheap_cells_value": 0.5})
    assert table["domestic_share_A"].to_dict() == pytest.approx(
        {"base": 0.5, "cheap_cells": 0.8, "cheap_cells_value": 0.89})
    assert table.at["cheap_cells_value", "objective"] == pytest.approx(13.7)


def test_scenarios_override_the_measure(tmp_path: Path) -> None:
    shutil.copytree(capacity.tiny_case_path("share_measure"), tmp_path / "case")
    path = tmp_path / "scenarios.yaml"
    path.write_text("""base: case
scenarios:
  - name: by_value
    overrides: [{table: rules, where: {rule: A_DOMESTIC_50}, set: {measure: value}}]
  - name: heavier_cells
    overrides:
      - {table: rules, set: {measure: weight}}
      - {table: modalities, where: {modality: cell_autologous}, set: {weight: 40}}
""")
    s = capacity.read_scenarios(path)
    assert list(s.case("by_value").rules["measure"]) == ["value"]
    costs = {name: solved(s.case(name)).objective for name in s.scenarios}
    # every batch weighing 40 is batches again: 15
    assert costs == pytest.approx({"by_value": 19.0, "heavier_cells": 15.0})
    assert list(s.base.rules["measure"]) == ["batches"]


def test_shipped_modalities_say_what_one_batch_is() -> None:
    table = capacity.load_case(capacity.tiny_case_path("two_sites")).modalities \
        .set_index("modality")["batch"]
    assert "2,000 L" in table["antibody"]
    assert "patient lot" in table["cell_autologous"]
    assert "many doses" in table["cell_allogeneic"]
    assert "vector lot" in table["lentiviral"] and "vector lot" in table["aav"]
    assert isinstance(table, pd.Series)


def test_pareto_domestic_share_reads_the_rules_measure() -> None:
    # the rule counts value, so domestic_share:A does too: the batches optimum (5 CART
    # lots in A) makes 1.5 of 26.4 MUSD there, the value optimum 13.2
    case = measured("value")
    goal = parse_objective("domestic_share:A", case)
    assert (goal.measure, str(goal)) == ("value", "domestic_share:A:value")
    assert parse_objective("domestic_share:A", tiny("share_measure")).measure == "batches"
    batches_plan = solved(tiny("share_measure")).tables
    assert objective_value(goal, batches_plan, case) == pytest.approx(1.5 / 26.4)
    assert objective_value(goal, solved(case).tables, case) == pytest.approx(0.5)
    by_batches = parse_objective("domestic_share:A:batches", case)
    assert objective_value(by_batches, batches_plan, case) == pytest.approx(0.5)
    # ε-point rules carry the measure: at ε = 0.5 in value the optimum is 19
    free = edited(case, rules=lambda r: r.assign(active=False))
    assert solved(with_epsilon(free, goal, 0.5)).objective == pytest.approx(19.0)
    with pytest.raises(CaseError):
        parse_objective("time_to_market:A:value", case)
