"""Cut-set MIR cuts on suite groups and reduced-cost fixing (`capacity.engine.cuts`).

Hand case `module_rounding` (data/tiny/module_rounding/README.md): one suite SA with no
capacity of its own and modules of 10 batches at capex 30 (up to 3); P1 has 15 batches
committed, P2 4 potential batches worth 5; each batch costs 1. The optimum builds 2
modules: 60 + 19 − 20 = **59**. The LP relaxation builds 1.9: 57 + 19 − 20 = **56**. The
MIR of P = {P1, P2}, δ = 10 (b = 1.9, f = 0.9) is 9·Build − Ship_P1 − Ship_P2 ≥ −1, and
with it the LP is 59: the whole gap closed.

Validity is checked two ways on the shipped tiny cases: every cut the separation looks
at (every prefix and divisor, violated or not) is minimised over the case's MILP and
never falls below its right side; and on two cases every vector of `Build` values is
fixed in turn and the cut minimised over what is left.
"""

from __future__ import annotations

import itertools

import highspy
import numpy as np
import pytest

import capacity
from capacity import Case
from capacity.case.default import data_root
from capacity.engine.cuts import (
    Cut,
    cut_groups,
    mir_cut,
    reduced_cost_fixing,
    root_cuts,
)
from capacity.engine.highs import CompiledModel, pass_arrays, pass_linear
from capacity.model import BuiltModel, build_model

from conftest import TEST_OPTIONS, edited, offtakes, rows, tiny, with_program

TINY = sorted(p.name for p in (data_root() / "tiny").iterdir() if p.is_dir())
CUTS = TEST_OPTIONS.model_copy(update={"cuts": True})


def lp_point(built: BuiltModel) -> np.ndarray:
    """The LP relaxation's solution of ``built``."""
    lm = built.linear
    lower, upper = lm.bounds()
    row_lower, row_upper = lm.row_bounds()
    lp = pass_arrays(lm.objective.cost, lm.objective.constant, lower, upper,
                     np.zeros(lm.n_cols, dtype=bool), lm.matrix(), row_lower, row_upper)
    lp.highs.run()
    assert lp.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return lp.solution()


def least_activity(built: BuiltModel, cut: Cut, lower: np.ndarray | None = None,
                   upper: np.ndarray | None = None) -> float | None:
    """The least value of the cut's left side over the integer plans of ``built`` (with
    columns held within ``lower``/``upper`` where given); None where there is none."""
    lm = built.linear
    own_lower, own_upper = lm.bounds()
    row_lower, row_upper = lm.row_bounds()
    cost = np.zeros(lm.n_cols)
    np.add.at(cost, cut.columns, cut.coefficients)
    mip = pass_arrays(cost, 0.0, own_lower if lower is None else lower,
                      own_upper if upper is None else upper, lm.integer_columns(),
                      lm.matrix(), row_lower, row_upper)
    mip.highs.setOptionValue("mip_rel_gap", 0.0)
    mip.highs.setOptionValue("mip_abs_gap", 0.0)
    mip.highs.run()
    status = mip.highs.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    assert status == highspy.HighsModelStatus.kOptimal
    # the dual bound: the proven least value, whatever plan HiGHS stopped at
    return float(mip.highs.getInfo().mip_dual_bound)


def test_module_rounding_by_hand() -> None:
    built = build_model(tiny("module_rounding"))
    groups = cut_groups(built)
    assert [g.key for g in groups] == [("antibody", "commercial", 2030)]
    assert groups[0].existing == 0 and list(groups[0].demand) == [15.0, 4.0]
    root = root_cuts(pass_linear(built.linear), groups, 10.0)
    assert root.lp_bound == pytest.approx(56.0)
    assert root.cut_bound == pytest.approx(59.0)
    [cut] = root.cuts
    lm = built.linear
    terms = {lm.variables["Build"].keys[0]: 9.0}
    for key in lm.variables["Ship"].keys:
        terms[key] = -1.0
    columns = [lm.column("Build", ("SA", "antibody", "commercial", 2030)),
               *(lm.column("Ship", k) for k in lm.variables["Ship"].keys)]
    assert dict(zip(cut.columns.tolist(), cut.coefficients.tolist(), strict=True)) == \
        pytest.approx(dict(zip(columns, [9.0, -1.0, -1.0], strict=True)))
    assert cut.lower == pytest.approx(-1.0) and cut.divisor == 10 and cut.programs == 2
    plan = capacity.solve(built, CUTS)
    assert plan.status == "optimal" and plan.objective == pytest.approx(59.0)
    assert "root cuts: 1 cut-set MIR rows in 1 rounds, LP bound 56.000 → 59.000" in \
        " ".join(plan.messages)


def test_cuts_leave_the_case_unchanged_without_the_option() -> None:
    plan = capacity.solve(tiny("module_rounding"), TEST_OPTIONS)
    assert plan.objective == pytest.approx(59.0)
    assert not any("cut" in m for m in plan.messages)
    assert plan.size["constraints"] == 4


def variants() -> dict[str, Case]:
    """The shipped tiny cases, and variants of them whose demand exceeds the existing
    capacity by a fraction of a module (where the cuts have a right side > 0): more
    committed at the candidate site; larger campaigns where changeovers take slots; a
    potential demand of 5 for modules of 2 ordered a period ahead; two sites with
    modules of 4 and 6 and batches that fail (slots 1.25 and 1)."""
    cases = {name: tiny(name) for name in TINY}
    cases["candidate_site, 13 committed"] = edited(
        tiny("candidate_site"), offtakes=offtakes(13), programs=with_program(max_sites=2))
    cases["changeovers, 9 + 7"] = edited(tiny("changeovers"), offtakes=lambda df: df.assign(
        committed_batches=df["program"].map({"P1": 9, "P2": 7})))
    cases["clinical_bet, 5 potential"] = edited(
        tiny("clinical_bet"), demand=lambda df: df.assign(potential_batches=5))
    sizes = rows(*({"site": s, "modality": "antibody", "scale": "commercial",
                    "existing_batches_per_period": 1, "module_batches_per_period": m,
                    "module_capex_musd": c, "max_modules": 2, "lead_time_periods": 0,
                    "variable_cost_musd_per_batch": v}
                   for s, m, c, v in (("SA", 4, 5.0, 1.0), ("SB", 6, 6.0, 1.5))))
    cases["two_sites, modules 4 and 6"] = edited(
        tiny("two_sites"), suites=sizes, offtakes=offtakes(7),
        programs=with_program(max_sites=2),
        yields=rows({"program": "P1", "site": "SA", "success_rate": 0.8}))
    return cases


VARIANTS = variants()


def every_cut(built: BuiltModel) -> list[Cut]:
    """Every MIR of every group: each non-empty set P of its programs (not only the
    prefixes the separation tries), each divisor: the group's module and block sizes
    (those the separation tries) and others (any δ > 0 gives a valid MIR)."""
    out = []
    for group in cut_groups(built):
        for n in range(1, len(group.programs) + 1):
            for chosen in itertools.combinations(range(len(group.programs)), n):
                for divisor in np.union1d(group.integer_sizes, [1.0, 2.5, 3.0, 7.0]):
                    cut = mir_cut(group, np.array(chosen), float(divisor))
                    if cut is not None:
                        out.append(cut)
    return out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_cut_holds_at_every_plan(name: str) -> None:
    built = build_model(VARIANTS[name])
    for cut in every_cut(built):
        least = least_activity(built, cut)
        assert least is not None and least >= cut.lower - 1e-6 * max(1.0, abs(cut.lower)), \
            (cut.group, cut.divisor, cut.programs, least, cut.lower)


def test_the_cases_have_cuts_to_check() -> None:
    """The test above is not vacuous: the variants give cuts, and some of them cut off
    their LP's solution."""
    made = violated = 0
    for case in VARIANTS.values():
        built = build_model(case)
        x = lp_point(built)
        for cut in every_cut(built):
            made += 1
            violated += cut.violation(x) > 1e-6
    assert made >= 30 and violated >= 6, (made, violated)


@pytest.mark.parametrize("name", ["module_rounding", "two_sites, modules 4 and 6"])
def test_cuts_hold_for_every_build_vector(name: str) -> None:
    built = build_model(VARIANTS[name])
    lm = built.linear
    build = lm.variables["Build"]
    columns = list(range(build.start, build.start + len(build.keys)))
    lower, upper = lm.bounds()
    cuts = every_cut(built)
    assert cuts
    checked = 0
    for values in itertools.product(*(range(int(upper[j]) + 1) for j in columns)):
        fixed_lower, fixed_upper = lower.copy(), upper.copy()
        fixed_lower[columns] = fixed_upper[columns] = values
        for cut in cuts:
            least = least_activity(built, cut, fixed_lower, fixed_upper)
            if least is not None:  # a Build vector with no plan has nothing to check
                checked += 1
                assert least >= cut.lower - 1e-6 * max(1.0, abs(cut.lower)), \
                    (values, cut.divisor, cut.programs, least, cut.lower)
    assert checked >= len(cuts) * 2


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_same_optimum_with_cuts(name: str) -> None:
    case = VARIANTS[name]
    without, with_cuts = capacity.solve(case, TEST_OPTIONS), capacity.solve(case, CUTS)
    assert with_cuts.status == without.status
    if without.objective is not None:
        assert with_cuts.objective == pytest.approx(without.objective, abs=1e-6)


def test_reduced_cost_fixing_keeps_the_incumbent() -> None:
    """two_sites: the LP optimum is the optimum (11: P1 at SA); with that plan as the
    incumbent, the gap is 0, and P1's assignment to SB, whose reduced cost is positive,
    is fixed at 0, as the plan has it. The solve still finds 11."""
    built = build_model(tiny("two_sites"))
    plan = capacity.solve(built, TEST_OPTIONS)
    assert plan.objective == pytest.approx(11.0)
    incumbent = built.solution.copy()
    compiled: CompiledModel = pass_linear(built.linear)
    root = root_cuts(compiled, cut_groups(built), 10.0)
    assert root.cut_bound == pytest.approx(11.0)
    fixed = reduced_cost_fixing(compiled, root, incumbent, 11.0)
    sb = built.linear.column("Assign", ("P1", "SB", "commercial"))
    assert fixed >= 1 and compiled.col_upper[sb] == 0 and incumbent[sb] == 0
    compiled.set_incumbent(incumbent)
    compiled.highs.run()
    assert compiled.highs.getInfo().objective_function_value == pytest.approx(11.0)


def test_cli_cuts_flag(tmp_path: object) -> None:
    from typer.testing import CliRunner

    from capacity.cli import app

    result = CliRunner().invoke(app, ["solve", str(data_root() / "tiny" / "module_rounding"),
                                      "--cuts", "--json"])
    assert result.exit_code == 0, result.output
    assert "root cuts: 1 cut-set MIR rows" in result.output


def test_no_cuts_where_they_would_not_be_valid_or_mapped() -> None:
    """Elastic mode (early modules on `suite_capacity`) has no groups; a model changed
    through Pyomo is solved without cuts, and the plan says why."""
    case = tiny("module_rounding")
    assert cut_groups(build_model(case, elastic=True)) == []
    built = build_model(case)
    built.pyomo.Build[("SA", "antibody", "commercial", 2030)].fix(3)
    plan = capacity.solve(built, CUTS)
    assert plan.objective == pytest.approx(89.0)  # 90 capex + 19 − 20
    assert any(m.startswith("cuts not added: HiGHS holds a model changed through Pyomo")
               for m in plan.messages)
