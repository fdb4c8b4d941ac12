"""Pareto fronts by epsilon-constraint, checked by hand on `domestic_share`.

`domestic_share` (data/tiny/domestic_share): 10 batches of P1 per period for market A,
two periods; SA in A makes them at 3, SB in B at 1 + 0.5 lane; a transfer costs 1 per
site; the case's rule asks for at least 60 % made in A. At domestic share s (both sites):
cost = 2·10·(3s + 1.5(1 − s)) + 2 = 32 + 30s; at s = 1 only SA: 60 + 1 = 61.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.errors import CaseError
from capacity.studies.pareto import measure, pareto

from conftest import TEST_OPTIONS, edited, run, tiny

pytestmark = pytest.mark.solver


@pytest.fixture(scope="module")
def domestic() -> capacity.ParetoFront:
    return pareto(tiny("domestic_share"), "domestic_share:A", points=5,
                  options=TEST_OPTIONS, workers=2)


def test_front_worked_out_by_hand(domestic: capacity.ParetoFront) -> None:
    front = domestic.front
    assert front["epsilon"].tolist() == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0])
    assert front["cost"].tolist() == pytest.approx([50, 53, 56, 59, 61])
    assert front["value"].tolist() == pytest.approx([0.6, 0.7, 0.8, 0.9, 1.0])
    assert front["changes"].iloc[-1] == "no transfer P1 to SB"


def test_first_point_is_the_cost_optimal_plan(domestic: capacity.ParetoFront) -> None:
    plan = capacity.solve(tiny("domestic_share"), TEST_OPTIONS)
    first = domestic.front.iloc[0]
    assert first["cost"] == pytest.approx(plan.objective)
    assert first["value"] == pytest.approx(measure(domestic.objective, plan.tables,
                                                   tiny("domestic_share")))


def test_front_is_monotone_and_non_dominated(domestic: capacity.ParetoFront) -> None:
    front = domestic.front
    assert front["cost"].is_monotonic_increasing and front["value"].is_monotonic_increasing
    for a in front.itertuples():
        for b in front.itertuples():
            dominates = b.cost <= a.cost and b.value >= a.value and \
                (b.cost < a.cost or b.value > a.value)
            assert not dominates, (a.point, b.point)


def test_concentration_front_goes_to_an_even_split() -> None:
    """Minimise the largest operator share in A. Two operators supply A: below 1/2 no
    plan exists. With the domestic rule dropped the cost-optimal plan buys all from SB
    (OB's share 1; one transfer: 30 + 1 = 31). OA's share s costs 2·10·(1.5 + 1.5s) + 2
    transfers: s = 0.25 (OB at 0.75) → 39.5, s = 0.5 → 47."""
    case = capacity.Case.from_frames({**tiny("domestic_share").tables(),
                                      "rules": tiny("domestic_share").rules.iloc[0:0]})
    front = pareto(case, "operator_share:A", points=3, options=TEST_OPTIONS, workers=1)
    assert front.points["epsilon"].tolist() == pytest.approx([1.0, 0.75, 0.5])
    assert front.front["cost"].tolist() == pytest.approx([31, 39.5, 47])
    assert front.front["value"].tolist() == pytest.approx([1.0, 0.75, 0.5])
    assert front.front["value"].is_monotonic_decreasing


def test_time_to_market_front() -> None:
    """clinical_bet, certain, potential worth 5: serving costs 12 a module for 8 of
    margin. 1 year late costs 0, 0.5 years 4 (one module), 0 years 8 (two): see
    tests/model/test_families.py."""
    case = edited(tiny("clinical_bet"), programs=lambda t: t.assign(success_probability=1.0),
                  demand=lambda t: t.assign(value_musd_per_batch=5.0))
    front = pareto(case, "time_to_market:A", points=3, options=TEST_OPTIONS, workers=1)
    assert front.front["epsilon"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert front.front["cost"].tolist() == pytest.approx([0, 4, 8])
    assert front.front["value"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert front.front["changes"].tolist()[1:] == [
        "+1 modules SA antibody commercial; transfer P1 to SA",  # it starts producing
        "+1 modules SA antibody commercial"]


def test_points_beyond_reach_end_the_front() -> None:
    """SA can make only 8 of the 10 batches: no plan is more than 80 % domestic."""
    case = edited(tiny("domestic_share"), suites=lambda t: t.assign(
        existing_batches_per_period=t["existing_batches_per_period"].where(
            t["site"] != "SA", 8)))
    front = pareto(case, "domestic_share:A", points=5, options=TEST_OPTIONS, workers=1)
    assert front.points["status"].tolist() == ["optimal"] * 3 + ["infeasible"] * 2
    assert front.front["value"].tolist() == pytest.approx([0.6, 0.7, 0.8])
    assert any("no plan reaches domestic_share:A ≥ 0.900" in m for m in front.messages)


def test_plot_is_self_contained_html(domestic: capacity.ParetoFront, tmp_path: Path) -> None:
    path = domestic.write_plot(tmp_path / "front.html")
    text = path.read_text()
    assert "plotly" in text and "cdn.plot.ly" not in text.split("<body>")[0]
    assert "domestic_share:A" in text


def test_bad_objectives_are_named() -> None:
    with pytest.raises(CaseError, match="give KIND:MARKET"):
        pareto(tiny("domestic_share"), "share:A")
    with pytest.raises(CaseError, match="not a region"):
        pareto(tiny("domestic_share"), "domestic_share:XX")
    with pytest.raises(CaseError, match="at least 2"):
        pareto(tiny("domestic_share"), "domestic_share:A", points=1)


def test_cli_json_and_plot(tmp_path: Path) -> None:
    done = run("pareto", str(capacity.tiny_case_path("domestic_share")), "--objective",
               "domestic_share:A", "--points", "3", "--workers", "1", "--json",
               "--plot", str(tmp_path / "front.html"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    points = pd.DataFrame(result["points"])
    assert points["cost"].tolist() == pytest.approx([50, 56, 61])
    assert (tmp_path / "front.html").stat().st_size > 100_000  # plotly.js embedded
    bad = run("pareto", str(capacity.tiny_case_path("domestic_share")), "--objective", "x")
    assert bad.returncode == 2 and "KIND:MARKET" in bad.stderr
