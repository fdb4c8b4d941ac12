"""Outages (models/formulation.md, "Outages"): the tiny case `data/tiny/outage` worked by
hand in its README, the same model without the table, validation, the checker."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity import CaseError, CaseInfeasibleError
from capacity.model import assemble_model, build_model
from capacity.model.index_sets import build_index_sets
from capacity.model.outages import Outage, case_outages, with_outages
from capacity.results.check import check_plan

from conftest import TEST_OPTIONS, edited, rows, solved, tiny

pytestmark = pytest.mark.unit


def outage_rows(*records: dict[str, object]) -> pd.DataFrame:
    return rows(*({"market": "", "until_period": None, "active": True} | r for r in records))


def without_table(case: capacity.Case) -> capacity.Case:
    frames = {k: v for k, v in case.tables().items() if k != "outages"}
    return capacity.Case.from_frames(frames, name=case.name)


def test_lost_cheap_site_moves_the_rest_to_the_dear_one() -> None:
    """README: SA makes 2030's 5 batches, SB the other 10: 5 + 25 + 2 = 32."""
    plan = solved(tiny("outage"))
    assert plan.objective == pytest.approx(32.0)
    by_site = plan.shipments.groupby(["site", "period"])["batches"].sum().to_dict()
    assert by_site == {("SA", 2030): 5.0, ("SB", 2031): 5.0, ("SB", 2032): 5.0}


def test_without_the_outage_everything_at_the_cheap_site() -> None:
    """README: 15 batches at 1 and one transfer: 16; an outage ending in 2031: 24.5."""
    off = edited(tiny("outage"), outages=lambda o: o.assign(active=False))
    assert solved(off).objective == pytest.approx(16.0)
    brief = edited(tiny("outage"), outages=lambda o: o.assign(
        until_period=pd.array([2031], dtype="Int64")))
    assert solved(brief).objective == pytest.approx(24.5)


def _matrices(case: capacity.Case) -> tuple[np.ndarray, ...]:
    lm = build_model(case).linear
    indptr, indices, values = lm.matrix()
    lower, upper = lm.bounds()
    row_lo, row_up = lm.row_bounds()
    return indptr, indices, values, lower, upper, row_lo, row_up, lm.objective.cost


def test_a_case_without_outages_builds_the_identical_model() -> None:
    """No table, an inactive row, and the same case before outages existed (two_sites'
    data in three periods): the same matrices, bounds and objective."""
    case = tiny("outage")
    off = edited(case, outages=lambda o: o.assign(active=False))
    for a, b in zip(_matrices(without_table(case)), _matrices(off), strict=True):
        np.testing.assert_array_equal(a, b)
    assert build_index_sets(off).outages.ship_cut.size == 0


def test_an_outage_changes_bounds_only() -> None:
    """Same columns and rows as without it; Ship of SA in 2031 and 2032 bounded by 0."""
    case = tiny("outage")
    with_it, without = build_model(case).linear, build_model(without_table(case)).linear
    for name in ("matrix", "row_bounds"):
        for a, b in zip(getattr(with_it, name)(), getattr(without, name)(), strict=True):
            np.testing.assert_array_equal(a, b)
    ship = with_it.variables["Ship"]
    cut = [k for k, up in zip(ship.keys, ship.upper, strict=True) if up == 0]
    assert cut == [("P1", "SA", "A", 2031), ("P1", "SA", "A", 2032)]


def test_with_outages_replaces_the_case_outages() -> None:
    case = tiny("outage")
    ix = build_index_sets(case)
    assert [o.describe() for o in case_outages(case)] == ["SA lost from 2031"]
    swapped = with_outages(ix, case, [Outage("B_BAN", "country", "B", "A", 2030, 2030)])
    assert [ix.ship[i] for i in swapped.outages.ship_cut] == [("P1", "SB", "A", 2030)]
    assert swapped.ship == ix.ship and swapped.demand_rows == ix.demand_rows
    assert swapped.outages.outages[0].describe() == "B exports to A banned in 2030"
    assert with_outages(ix, case, []).outages.ship_cut.size == 0


def test_an_outage_that_leaves_no_site_names_itself() -> None:
    """SA lost from 2031 and B's exports to A banned 2031–2032: 2031's and 2032's
    commitments are unservable, naming both outages; priced, they go short."""
    case = edited(tiny("outage"), outages=outage_rows(
        {"outage": "SA_LOST", "kind": "site", "subject": "SA", "from_period": 2031},
        {"outage": "B_BAN", "kind": "country", "subject": "B", "market": "A",
         "from_period": 2031, "until_period": 2032}))
    with pytest.raises(CaseInfeasibleError) as info:
        build_model(case)
    text = str(info.value)
    assert "committed offtake of ANCH for P1 in A, period 2031" in text
    assert "outage B_BAN: B exports to A banned 2031–2032" in text
    assert "outage SA_LOST: SA lost from 2031" in text
    ix = build_index_sets(case)
    priced = replace(ix, shortfall_cost={d: 100.0 for d in sorted(ix.committed)})
    plan = capacity.solve(assemble_model(case, priced), TEST_OPTIONS)
    # 2030 from SA (5 + transfer 1), 10 batches short at 100 each
    assert plan.objective == pytest.approx(6.0 + 1000.0)


@pytest.mark.parametrize(("record", "column", "words"), [
    ({"kind": "site", "subject": "NOWHERE"}, "subject", "unknown site 'NOWHERE'"),
    ({"kind": "operator", "subject": "SA"}, "subject", "unknown operator 'SA'"),
    ({"kind": "country", "subject": "OA"}, "subject", "unknown region 'OA'"),
    ({"kind": "site", "subject": "SA", "market": "MARS"}, "market", "unknown region 'MARS'"),
    ({"kind": "site", "subject": "SA", "until_period": 2030}, "until_period",
     "2030 is before from_period 2031"),
    ({"kind": "planet", "subject": "SA"}, "kind", "planet"),
])
def test_bad_outage_rows_are_located(record: dict[str, object], column: str,
                                     words: str) -> None:
    with pytest.raises(CaseError) as info:
        edited(tiny("outage"), outages=outage_rows(
            {"outage": "X", "from_period": 2031} | record))
    problems = info.value.problems
    assert any(p.column == column and p.row == 2 and words in p.message
               and "outages" in p.source for p in problems), [str(p) for p in problems]


def test_checker_flags_shipments_on_cut_arcs() -> None:
    """The plan made without the outage ships from SA in 2031 and 2032: two `outage`
    violations against the case with it; the plan made with it has none."""
    case = tiny("outage")
    blind = capacity.solve(without_table(case), TEST_OPTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        found = check_plan(case, blind.save(Path(tmp) / "plan")).violations
    cut = [v for v in found if v.family == "outage"]
    assert [(v.entity, v.amount) for v in cut] == [("P1@SA→A 2031", 5.0),
                                                   ("P1@SA→A 2032", 5.0)]
    assert "outage SA_LOST (site SA lost from 2031)" in cut[0].message
