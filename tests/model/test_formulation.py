"""The formulation document and the built model name the same components, both ways;
the builders' declared dependencies hold; structural counts of the tiny cases are stored
and explained (Temoa/IDAES style)."""

from __future__ import annotations

import re
from pathlib import Path

import highspy
import pyomo.environ as pyo
import pytest

import capacity
from capacity.model import BUILDERS, BuildOrderError, run_builders

from conftest import tiny

pytestmark = pytest.mark.component

DOC = Path(__file__).resolve().parents[2] / "models" / "formulation.md"


def _documented(section: str) -> set[str]:
    """Backticked names in the first column of the section's table."""
    text = DOC.read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Za-z_]+)` \|", body, flags=re.M))


def _built(kind: type) -> set[str]:
    m = capacity.build_model(capacity.load_case()).pyomo
    return {c.local_name for c in m.component_objects(kind, descend_into=False)}


@pytest.mark.parametrize(("section", "kind"), [("Sets", pyo.Set), ("Variables", pyo.Var),
                                               ("Constraints", pyo.Constraint),
                                               ("Objective", pyo.Objective)])
def test_document_and_model_name_the_same_components(section: str, kind: type) -> None:
    assert _documented(section) == _built(kind)


def test_elastic_components_are_documented() -> None:
    text = DOC.read_text()
    body = text.split("## Elastic mode\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Za-z_]+)` \|", body, flags=re.M))
    plain = capacity.build_model(capacity.load_case()).pyomo
    elastic = capacity.build_model(capacity.load_case(), elastic=True).pyomo
    names = {c.local_name for c in plain.component_objects(descend_into=False)}
    added = {c.local_name for c in elastic.component_objects(descend_into=False)} - names
    assert documented == added


def test_every_builder_is_documented_and_named_after_its_constraint() -> None:
    text, constraints = DOC.read_text(), _documented("Constraints")
    for entry in BUILDERS:
        name = entry.add.__name__
        assert f"`{name}`" in text, f"{name} is not in formulation.md"
        if entry.add.__module__ == "capacity.model.constraints":
            family = name.removeprefix("add_")
            assert family in constraints, f"{name} builds an undocumented family"
            assert family in entry.makes, f"{name} does not make {family}"


@pytest.mark.parametrize("elastic", [False, True])
def test_builders_read_only_what_earlier_builders_made(elastic: bool) -> None:
    """The order of BUILDERS is what their declarations need, in both modes."""
    made: set[str] = set()
    for entry in BUILDERS:
        if not entry.runs(elastic):
            continue
        name = entry.add.__name__
        assert not set(entry.reads) - made, \
            f"{name} reads {sorted(set(entry.reads) - made)}, which no builder before it makes"
        assert not set(entry.makes) & made, f"{name} makes {sorted(set(entry.makes) & made)} again"
        made |= set(entry.makes)


@pytest.mark.parametrize("elastic", [False, True])
def test_builders_make_exactly_the_models_components(elastic: bool) -> None:
    """What BUILDERS declare they make is the built model (default case), both ways."""
    m = capacity.build_model(capacity.load_case(), elastic=elastic).pyomo
    built = {c.local_name for c in m.component_objects(descend_into=False)}
    assert {name for e in BUILDERS if e.runs(elastic) for name in e.makes} == built


def test_a_builder_is_held_to_its_entry() -> None:
    """A build stops a builder that reads a name its entry does not give, reads one no
    builder before it made, or makes other names than its entry says."""
    from dataclasses import replace

    from capacity.model.constraints import add_ship_requires_open_site
    from capacity.model.index_sets import build_index_sets
    from capacity.model.linear import LinearModel

    ix = build_index_sets(tiny("candidate_site"))
    entries = list(BUILDERS)
    i = next(i for i, e in enumerate(entries) if e.add is add_ship_requires_open_site)
    run_builders(LinearModel("as declared"), ix, entries)
    undeclared = replace(entries[i], reads=("Ship", "OpenBy"))  # not OPEN_BY_ST
    with pytest.raises(BuildOrderError, match="reads OPEN_BY_ST, which its entry"):
        run_builders(LinearModel("undeclared"), ix, [*entries[:i], undeclared, *entries[i + 1:]])
    swapped = [*entries[:i - 1], entries[i], entries[i - 1], *entries[i + 1:]]  # site_open_by
    with pytest.raises(BuildOrderError, match="reads OPEN_BY_ST, which no builder before"):
        run_builders(LinearModel("too early"), ix, swapped)
    unnamed = replace(entries[i], makes=("ship_requires_open_site",))
    with pytest.raises(BuildOrderError, match=r"made .*SHIP_OPEN_PSMT"):
        run_builders(LinearModel("unnamed"), ix, [*entries[:i], unnamed, *entries[i + 1:]])


# Stored sizes: change them only with a comment saying why the model changed.
# two_sites: Ship = 1 program × 2 sites × 1 market × 2 periods = 4; Assign 2; no builds,
# openings or funds. Rows: suite_capacity 4 (2 suites × 2 periods), production 4,
# program_site_limit 1 (2 sites > max_sites 1), demand_balance 2 = 11.
# candidate_site: + Open 2 (2 periods), Build 2 → 10 variables; rows: suite_capacity 4,
# module_cap 1, site_opens_once 1, module_requires_open_site 2, production 4,
# program_site_limit 1, demand_balance 2 = 15; + ship_requires_open_site 2 (P1 at SC in
# 2030 and 2031; added with the strong facility-location linking) = 17; + OpenBy 2 and
# site_open_by 2 (SC in 2030 and 2031; the linking rows' sparse form) → 12 variables,
# 19 rows.
# approvals: Ship 5 (SU to the US in 2030-2032; SB only from 2031, when its approval can
# hold: none in 2030, by sparsity), Approve 2 (SB's US approval decided in 2030 or 2031),
# ApprovedBy 2 (2031, 2032); no Assign (no transfer cost, two sites allowed). Rows:
# suite_capacity 5, demand_balance 3, approval_once 1, approved_by 2,
# ship_requires_approval 2 (SB's shipments; SU's are approved: none) = 13.
# launch_stock (inventory, shelf life 1): Ship 2 (P1 from SA and SB to A in 2032), Assign 2,
# Make 4 (SA and SB in 2031, launch stock, and 2032), Stock 2 (SA and SB at the end of
# 2031) → 10 variables; rows: suite_capacity 4 (2 suites × 2031, 2032, counting Make),
# stock_balance 4, make_requires_assignment 4, ship_requires_assignment 2,
# demand_balance 1 = 15 (no shelf_life row: nothing can be made L periods before a stock;
# no production_requires_assignment: U = ΣV; no site limit: two sites allowed).
# changeovers: Ship 2 programs × 2 sites × 1 market × 2 periods = 8, Assign 4, Build 2
# (SA, 2030 and 2031), Produce 8 (a campaign binary per Ship's (p,s,t): every suite charges
# a changeover) → 22 variables, 12 binary. Rows: suite_capacity 4, module_cap 1,
# ship_requires_assignment 8, program_site_limit 2, demand_balance 4,
# production_requires_campaign 8 = 27 (no production_requires_assignment row: one
# market, so U = V; no committed_cover: 10 committed a period, 20 slots in place).
EXPECTED_SIZES = {
    "two_sites": {"variables": 6, "binary": 2, "integer": 0, "continuous": 4,
                  "constraints": 11},
    "candidate_site": {"variables": 12, "binary": 4, "integer": 2, "continuous": 6,
                       "constraints": 19},
    "approvals": {"variables": 9, "binary": 2, "integer": 0, "continuous": 7,
                  "constraints": 13},
    "launch_stock": {"variables": 10, "binary": 2, "integer": 0, "continuous": 8,
                     "constraints": 15},
    "changeovers": {"variables": 22, "binary": 12, "integer": 2, "continuous": 8,
                    "constraints": 27},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_structural_counts(name: str) -> None:
    from capacity.engine.solve import model_size

    size = model_size(capacity.build_model(tiny(name)).pyomo)
    size.pop("nonzeros")
    assert size == EXPECTED_SIZES[name]


def test_no_unused_variables() -> None:
    """Every variable appears in at least one constraint or the objective (default case)."""
    from pyomo.core.expr.visitor import identify_variables

    m = capacity.build_model(capacity.load_case()).pyomo
    used = set()
    for con in m.component_data_objects(pyo.Constraint, active=True):
        used |= {id(v) for v in identify_variables(con.body)}
    used |= {id(v) for v in identify_variables(m.total_cost.expr)}
    unused = [v.name for v in m.component_data_objects(pyo.Var) if id(v) not in used]
    assert unused == []


def test_build_is_deterministic() -> None:
    """Two builds of the same case give identical LP files (sorted sets, fixed order)."""
    import tempfile

    texts = []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.lp"
            capacity.build_model(tiny("domestic_share")).pyomo.write(
                str(path), io_options={"symbolic_solver_labels": True})
            texts.append(path.read_text())
    assert texts[0] == texts[1]


def _lp_arrays(highs: object, order: list[int] | None = None) -> dict[str, object]:
    """The model HiGHS holds, columns permuted into ``order`` (column j of HiGHS is
    column order[j] of the result)."""
    import numpy as np
    from scipy.sparse import csc_matrix, csr_matrix

    lp = highs.getLp()  # type: ignore[attr-defined]
    a = lp.a_matrix_
    kind = csr_matrix if a.format_ == highspy.MatrixFormat.kRowwise else csc_matrix
    shape = (lp.num_row_, lp.num_col_)
    matrix = kind((a.value_, a.index_, a.start_), shape=shape).tocoo()
    perm = np.arange(lp.num_col_) if order is None else np.asarray(order)
    matrix = csr_matrix((matrix.data, (matrix.row, perm[matrix.col])), shape=shape)
    matrix.sort_indices()

    def by_column(values: object) -> object:
        out = np.empty(lp.num_col_)
        out[perm] = np.asarray(values, dtype=float)
        return out

    integer = by_column([float(v == highspy.HighsVarType.kInteger)
                         for v in lp.integrality_] or np.zeros(lp.num_col_))
    return {"matrix": matrix, "row_lower": np.asarray(lp.row_lower_),
            "row_upper": np.asarray(lp.row_upper_), "cost": by_column(lp.col_cost_),
            "offset": lp.offset_, "col_lower": by_column(lp.col_lower_),
            "col_upper": by_column(lp.col_upper_), "integer": integer}


@pytest.mark.parametrize("elastic", [False, True])
@pytest.mark.parametrize("name", ["default", "bank_loop", "pooled_reservation",
                                  "domestic_share", "candidate_site", "launch_stock",
                                  "changeovers"])
def test_pyomo_model_is_the_same_matrices(name: str, elastic: bool) -> None:
    """What a solve hands HiGHS (the builders' own matrices) and the Pyomo model made
    from them, compiled by Pyomo, are the same model entry for entry: a caller who adds
    constraints to ``BuiltModel.pyomo`` changes only what they add."""
    import numpy as np

    from capacity.engine.highs import compile_to_highs, pass_linear

    case = capacity.load_case() if name == "default" else tiny(name)
    built = capacity.build_model(case, elastic=elastic)
    ours = _lp_arrays(pass_linear(built.linear).highs)
    compiled = compile_to_highs(built.pyomo)
    where = {id(v): j for j, v in enumerate(built.pyomo_columns())}
    theirs = _lp_arrays(compiled.highs, [where[id(v)] for v in compiled.columns or ()])
    assert ours["matrix"].shape == theirs["matrix"].shape  # type: ignore[attr-defined]
    assert abs(ours["matrix"] - theirs["matrix"]).max() == 0  # type: ignore[operator]
    for key in ("row_lower", "row_upper", "cost", "col_lower", "col_upper", "integer"):
        assert np.array_equal(ours[key], theirs[key]), key  # type: ignore[arg-type]
    assert ours["offset"] == pytest.approx(theirs["offset"], abs=1e-9)


def test_linear_model_by_hand() -> None:
    """max x_a + 2·x_b (minimise the negation) s.t. x_a + x_b ≤ 1.5 and
    x_b − x_b + x_a ≥ 0.5 (the x_b terms cancel and leave no entry), x_b ≤ 1, x_b
    integer: optimum x_b = 1, x_a = 0.5, objective −2.5, by hand."""
    import numpy as np

    from capacity.engine.highs import pass_linear
    from capacity.model.linear import LinearModel, to_pyomo

    lm = LinearModel("hand")
    lm.add_set("I", ["a", "b"])
    lm.add_set("ROW", ["cap", "floor"])
    lm.add_var("X", "I", "continuous", upper=[np.inf, 1.0])
    lm.add_var("Y", "I", "integer", upper=1.0)  # Y_a unused by any row: bounds only
    lm.add_rows("both", "ROW", "<=", lambda r: (
        [("X", ["a", "b"], 1.0)], 1.5) if r == "cap" else
        ([("X", ["b"], 1.0), ("X", ["b"], -1.0), ("X", ["a"], -1.0)], -0.5))
    lm.add_rows("y_is_x", "I", "==", lambda i: ([("Y", [i], 1.0), ("X", [i], -1.0)], 0.0)
                if i == "b" else ([("Y", [i], 1.0)], 0.0))
    lm.set_objective("total", [("X", ["a", "b"], [-1.0, -2.0])], constant=0.0)
    indptr, indices, values = lm.matrix()
    assert indptr.tolist() == [0, 2, 3, 4, 6]  # the cancelled x_b pair is gone
    # columns X_a 0, X_b 1, Y_a 2, Y_b 3, sorted within each row
    assert indices.tolist() == [0, 1, 0, 2, 1, 3] and values.tolist() == [1, 1, -1, 1, -1, 1]
    lower, upper = lm.row_bounds()
    assert lower.tolist() == [-np.inf, -np.inf, 0.0, 0.0]
    assert upper.tolist() == [1.5, -0.5, 0.0, 0.0]
    assert lm.size() == {"variables": 4, "binary": 0, "integer": 2, "continuous": 2,
                         "constraints": 4, "nonzeros": 6}
    highs = pass_linear(lm).highs
    highs.run()
    assert highs.getInfo().objective_function_value == pytest.approx(-2.5)
    assert list(highs.getSolution().col_value) == pytest.approx([0.5, 1.0, 0.0, 1.0])
    m, columns = to_pyomo(lm)
    assert [v.name for v in columns] == ["X[a]", "X[b]", "Y[a]", "Y[b]"]
    assert str(m.both["floor"].body) == "- X[a]" and m.both["floor"].upper == -0.5
    assert m.X["b"].ub == 1.0 and m.X["a"].ub is None and m.Y["a"].is_integer()
    # a row whose terms all cancel is 0 ≤ rhs: Pyomo gets a trivial row, true or false
    lm.add_rows("cancelled", "I", "<=", lambda i: (
        [("X", [i], 1.0), ("X", [i], -1.0)], 0.0 if i == "a" else -1.0))
    trivial, _ = to_pyomo(lm)
    holds, fails = trivial.cancelled["a"], trivial.cancelled["b"]
    assert (pyo.value(holds.body), holds.upper) == (0.0, 0.0)
    assert (pyo.value(fails.body), fails.upper) == (1.0, 0.0)


def test_rows_as_arrays_and_positions_by_hand() -> None:
    """One family written three ways (a rule naming keys, a rule naming positions, whole
    arrays) gives the same rows: r0 = X_a + 2·X_c ≤ 3, r1 = X_b − X_b + X_a = 1 (the X_b
    pair cancels). A variable declared after the rows widens the matrix with empty
    columns."""
    import numpy as np

    from capacity.engine.highs import pass_linear
    from capacity.model.linear import LinearModel

    lm = LinearModel("three ways")
    lm.add_set("I", ["a", "b", "c"])
    lm.add_set("R", ["r0", "r1"])
    lm.add_var("X", "I", "continuous")
    terms = {"r0": ([("X", ["a", "c"], [1.0, 2.0])], 3.0),
             "r1": ([("X", ["b"], 1.0), ("X", ["b"], -1.0), ("X", ["a"], 1.0)], 1.0)}
    positions = {"r0": ([("X", np.array([0, 2]), [1.0, 2.0])], 3.0),
                 "r1": ([("X", np.array([1, 1, 0]), [1.0, -1.0, 1.0])], 1.0)}
    lm.add_rows("by_key", "R", "<=", terms.__getitem__)
    lm.add_rows("by_position", "R", "<=", positions.__getitem__)
    lm.add_rows_from_arrays("as_arrays", "R", "<=", np.array([3.0, 1.0]), [
        ("X", np.array([0, 0, 1, 1]), np.array([0, 2, 1, 0]), np.array([1.0, 2.0, 1.0, 1.0])),
        ("X", np.array([1]), np.array([1]), -1.0)])
    lm.add_set("J", ["z"])
    lm.add_var("Z", "J", "continuous")
    indptr, indices, values = lm.matrix()
    assert indptr.tolist() == [0, 2, 3, 5, 6, 8, 9]
    assert indices.tolist() == [0, 2, 0] * 3 and values.tolist() == [1.0, 2.0, 1.0] * 3
    assert lm.row_bounds()[1].tolist() == [3.0, 1.0] * 3
    assert lm.size()["variables"] == 4 and lm.size()["constraints"] == 6
    # an LP (no integer column) reaches HiGHS too: min −X_a − X_c = −2 at X_a = X_c = 1
    lm.set_objective("total", [("X", ["a", "c"], -1.0)])
    highs = pass_linear(lm).highs
    highs.run()
    assert highs.getInfo().objective_function_value == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="as_arrays_again: 1 right-hand sides for 2 rows"):
        lm.add_rows_from_arrays("as_arrays_again", "R", "<=", np.array([1.0]), [
            ("X", np.array([0]), np.array([0]), 1.0)])


def test_terms_on_declared_rows_and_scope_by_hand() -> None:
    """`add_terms` puts a slack on rows already declared, as elastic mode does:
    r0 = X_a + 2·X_c − S_r0 ≤ 3, r1 = X_b − S_r1 ≤ 1; inside `scope` only the names
    read, and those made there, can be looked up."""
    import numpy as np

    from capacity.model.linear import LinearModel

    lm = LinearModel("overlay")
    lm.add_set("I", ["a", "b", "c"])
    lm.add_set("R", ["r0", "r1"])
    lm.add_var("X", "I", "continuous")
    lm.add_rows("cap", "R", "<=", {"r0": ([("X", ["a", "c"], [1.0, 2.0])], 3.0),
                                   "r1": ([("X", ["b"], 1.0)], 1.0)}.__getitem__)
    with lm.scope(["R", "cap"]) as made:
        lm.add_var("S", "R", "continuous")
        lm.add_terms("cap", [("S", np.arange(2), np.arange(2), -1.0)])
        with pytest.raises(KeyError):
            lm.variables["X"]  # not read: not there
    assert made == ["S"] and list(lm.variables) == ["X", "S"]
    indptr, indices, values = lm.matrix()  # columns X_a 0, X_b 1, X_c 2, S_r0 3, S_r1 4
    assert indptr.tolist() == [0, 3, 5]
    assert indices.tolist() == [0, 2, 3, 1, 4] and values.tolist() == [1, 2, -1, 1, -1]
    with pytest.raises(ValueError, match="cap: a term of S names a row it does not have"):
        lm.add_terms("cap", [("S", np.array([2]), np.array([0]), 1.0)])
    with pytest.raises(ValueError, match="S declared twice"), lm.scope(["R"]):
        lm.add_var("S", "R", "continuous")
