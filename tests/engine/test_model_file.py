"""`--write-model`: a named model that other readers take and solve to the engine's optimum
(issue 31, friction 9: PuLP's MPS reader failed on HiGHS's `UI` bounds and objective
constant, and every row and column was anonymous)."""

from __future__ import annotations

from pathlib import Path

import highspy
import pulp
import pyomo.environ as pyo
import pytest

import capacity
from capacity.engine.model_file import safe_names

from conftest import TEST_OPTIONS

pytestmark = pytest.mark.solver


def test_pulp_reads_the_mps_and_finds_the_engines_optimum(tmp_path: Path) -> None:
    # candidate_site opens SC and builds a module (integers both), then ships from it:
    # the plan the engine found is the one PuLP's model of the file solves to, by name
    case = capacity.load_case(capacity.tiny_case_path("candidate_site"))
    model = tmp_path / "model.mps"
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"model_file": str(model)}))
    text = model.read_text()
    assert " UI " not in text and "RANGES" not in text
    _variables, problem = pulp.LpProblem.fromMPS(str(model))
    problem.solve(pulp.HiGHS(msg=False))
    assert pulp.LpStatus[problem.status] == "Optimal"
    assert pulp.value(problem.objective) == pytest.approx(plan.objective, abs=1e-6)
    chosen = {v.name: v.varValue for v in problem.variables() if v.varValue}
    (site, period), = plan.openings[["site", "period"]].itertuples(index=False)
    assert chosen[f"Open({site},{period})"] == 1
    assert chosen["objective_constant"] == 1  # the objective's constant, as a column
    for row in plan.shipments.itertuples(index=False):
        key = f"Ship({row.program},{row.site},{row.market},{row.period})"
        assert chosen[key] == pytest.approx(row.batches)


def test_highs_reads_the_default_case_back_with_names(tmp_path: Path) -> None:
    # the default case (constant fixed costs of existing sites included) written and read
    # back by HiGHS solves to the same optimum, in MPS and in LP
    built = capacity.build_model(capacity.load_case())
    for suffix in (".mps", ".lp"):
        path = tmp_path / f"default{suffix}"
        plan = capacity.solve(built, TEST_OPTIONS.model_copy(update={"model_file": str(path)}))
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("mip_rel_gap", 1e-9)
        assert highs.readModel(str(path)) == highspy.HighsStatus.kOk
        highs.run()
        assert highs.getInfo().objective_function_value == pytest.approx(plan.objective,
                                                                         abs=1e-6)
        names = set(highs.allVariableNames())
        assert any(n.startswith("Ship(") for n in names) or \
            any(n.startswith("Ship[") for n in names)


def test_a_callers_pyomo_constraint_is_written_under_its_name(tmp_path: Path) -> None:
    built = capacity.build_model(capacity.load_case(capacity.tiny_case_path("two_sites")))
    m = built.pyomo
    m.cap_sa = pyo.Constraint(expr=sum(v for k, v in m.Ship.items() if k[1] == "SA") <= 3)
    path = tmp_path / "model.mps"
    plan = capacity.solve(built, TEST_OPTIONS.model_copy(update={"model_file": str(path)}))
    text = path.read_text()
    assert " L cap_sa\n" in text and "Ship(P1,SA,A,2030)" in text
    _variables, problem = pulp.LpProblem.fromMPS(str(path))
    problem.solve(pulp.HiGHS(msg=False))
    assert pulp.value(problem.objective) == pytest.approx(plan.objective, abs=1e-6)


def test_names_are_safe_and_unique() -> None:
    assert safe_names(["Ship[P 1,S-A,A,2030]", "Ship[P_1,S-A,A,2030]", "Ship[P/1,S-A,A,2030]",
                       "objective_constant"]) == \
        ["Ship(P_1,S-A,A,2030)", "Ship(P_1,S-A,A,2030)_2", "Ship(P_1,S-A,A,2030)_3",
         "objective_constant_2"]
