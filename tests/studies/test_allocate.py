"""Value of pooling and cost allocation, checked by hand on tiny games.

`pooling` (data/tiny/pooling): startups A, B, C need 1, 2, 3 batches. An existing site
makes them at 4/batch; a candidate site opens for 6 and makes them at 1/batch. So
c(S) = min(6 + n_S, 4·n_S): A 4, B 8, C 9, AB 9, AC 10, BC 11, ABC 12.
Shapley by the six orders: A = (2·4 + 1 + 1 + 2·1)/6 = 2, B = (2·8 + 5 + 2 + 2·2)/6 = 4.5,
C = (2·9 + 6 + 3 + 2·3)/6 = 5.5.

`empty_core` (data/tiny/empty_core): three startups need 1 batch each; the existing site
charges 6/batch, the candidate opens for 5 with room for 2 batches at 1/batch. So
c(i) = 6, c(pair) = 7, c(ABC) = 5 + 2 + 6 = 13. Pairs would pay at most 7 each, so
x(N) ≤ 3·7/2 = 10.5 < 13: the core is empty although pooling saves 18 − 13 = 5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.errors import CaseError
from capacity.studies.allocate import (
    allocate,
    coalition_case,
    consortium,
    least_core,
    nucleolus,
    shapley_exact,
    shapley_sampled,
)

from conftest import TEST_OPTIONS, edited, rows, run, tiny

pytestmark = pytest.mark.solver


def _by_member(frame: pd.DataFrame, column: str) -> dict[str, float]:
    return dict(zip(frame["member"], frame[column].round(9), strict=True))


@pytest.fixture(scope="module")
def pooling() -> capacity.Allocation:
    return allocate(tiny("pooling"), workers=2, options=TEST_OPTIONS)


def test_shapley_worked_out_by_hand(pooling: capacity.Allocation) -> None:
    assert _by_member(pooling.members, "standalone_musd") == {"A": 4, "B": 8, "C": 9}
    assert _by_member(pooling.members, "allocated_musd") == {"A": 2, "B": 4.5, "C": 5.5}
    assert _by_member(pooling.members, "saving_musd") == {"A": 2, "B": 3.5, "C": 3.5}
    costs = dict(zip(pooling.coalitions["members"], pooling.coalitions["cost_musd"],
                     strict=True))
    assert costs == pytest.approx({"A": 4, "B": 8, "C": 9, "A, B": 9, "A, C": 10,
                                   "B, C": 11, "A, B, C": 12})
    assert (pooling.grand_cost, pooling.standalone_total, pooling.value_of_pooling) == \
        pytest.approx((12, 21, 9))


def test_allocations_are_efficient_and_in_a_non_empty_core(
        pooling: capacity.Allocation) -> None:
    assert pooling.members["allocated_musd"].sum() == pytest.approx(pooling.grand_cost)
    # Largest excess: B, C pay 10 of their 11; the least core's ε* = −1.5 (hand: A's
    # singleton and BC's pair add up to x(N) − 15, so max ≥ −1.5, reached at x_A = 2.5).
    assert pooling.in_core and pooling.members["in_core"].all()
    assert pooling.largest_violation == pytest.approx(-1.0)
    assert pooling.least_core_epsilon == pytest.approx(-1.5)
    assert pooling.core_empty is False


def test_nucleolus_worked_out_by_hand() -> None:
    # Round 1 fixes x_A = 2.5 (A and BC at −1.5); round 2 balances AB (x_B − 6.5) against
    # AC (2 − x_B): x_B = 4.25, x_C = 5.25.
    result = allocate(tiny("pooling"), method="nucleolus", workers=1, options=TEST_OPTIONS)
    assert _by_member(result.members, "allocated_musd") == {"A": 2.5, "B": 4.25, "C": 5.25}
    assert result.method == "nucleolus" and result.in_core


def test_empty_core_is_detected_and_the_nucleolus_offered() -> None:
    result = allocate(tiny("empty_core"), workers=2, options=TEST_OPTIONS)
    third = 13 / 3
    # symmetry: identical members get equal shares
    assert list(result.members["allocated_musd"]) == pytest.approx([third] * 3)
    assert result.value_of_pooling == pytest.approx(5.0)
    assert not result.in_core and result.core_empty is True
    assert result.largest_violation == pytest.approx(2 * third - 7)
    assert result.violating_coalition == "A, B"
    assert result.least_core_epsilon == pytest.approx(5 / 3)
    assert list(result.members["nucleolus_musd"]) == pytest.approx([third] * 3)
    assert not result.members["in_core"].any()
    assert any("outside the core" in n for n in result.notes)


def test_sampled_shapley_is_efficient_with_an_interval() -> None:
    result = allocate(tiny("pooling"), samples=64, seed=3, workers=1, options=TEST_OPTIONS)
    frame = result.members
    assert result.method == "shapley_sampled" and result.samples == 64
    assert frame["allocated_musd"].sum() == pytest.approx(12.0)
    exact = {"A": 2.0, "B": 4.5, "C": 5.5}
    for row in frame.itertuples(index=False):
        half = (row.ci_high_musd - row.ci_low_musd) / 2
        assert 0 < half < 2 and abs(row.allocated_musd - exact[row.member]) < 4 * half


def test_sampled_intervals_cover_the_exact_value_95_percent_of_the_time() -> None:
    # The pooling game's costs (module docstring); 400 seeds × 3 members, no solver.
    cost = {frozenset(s): c for s, c in [("", 0), ("A", 4), ("B", 8), ("C", 9), ("AB", 9),
                                         ("AC", 10), ("BC", 11), ("ABC", 12)]}
    exact = {"A": 2.0, "B": 4.5, "C": 5.5}
    hits = []
    for seed in range(400):
        rng = np.random.default_rng(seed)
        orders = [tuple("ABC"[i] for i in rng.permutation(3)) for _ in range(100)]
        mean, half = shapley_sampled(orders, cost)
        hits += [abs(mean[m] - exact[m]) <= half[m] for m in exact]
    assert 0.92 <= np.mean(hits) <= 0.98


def test_pooled_reservation_saving_is_shared() -> None:
    # Alone, each startup takes its own block (fee 4 + 3 batches = 7); together they fill
    # the pooled block (6.4 + 6 = 12.4). Symmetric: 6.2 each, a saving of 0.8 each.
    case = edited(tiny("pooled_reservation"),
                  members=rows({"member": "S1", "kind": "startup"},
                               {"member": "S2", "kind": "startup"}))
    alone = coalition_case(case, consortium(case), frozenset({"S1"}))
    assert alone.reservations["reservation"].tolist() == ["R_S1", "R_POOL"]
    assert alone.reservations["members"].tolist() == [("S1",), ("S1",)]
    result = allocate(case, workers=1, options=TEST_OPTIONS)
    assert _by_member(result.members, "standalone_musd") == {"S1": 7, "S2": 7}
    assert _by_member(result.members, "allocated_musd") == {"S1": 6.2, "S2": 6.2}


def test_anchors_are_the_default_members() -> None:
    # No members table: the anchors are the consortium; an offtake belongs to its anchor.
    case = edited(tiny("pooling"), members=lambda df: df.iloc[0:0],
                  anchors=rows({"anchor": "ANCH"}, {"anchor": "ANCH2"}),
                  offtakes=lambda df: df.assign(anchor=["ANCH", "ANCH", "ANCH2"]))
    con = consortium(case)
    assert con.members == ("ANCH", "ANCH2")
    alone = coalition_case(case, con, frozenset({"ANCH2"}))
    assert alone.offtakes["program"].tolist() == ["PC"]


@pytest.mark.parametrize(("names", "message"), [
    (["A", "Z"], "'Z' is neither a startup"),
    (["A", "A"], "'A' is named twice"),
    (["A"], "at least two members"),
])
def test_bad_members_are_named(names: list[str], message: str) -> None:
    with pytest.raises(CaseError, match=message):
        consortium(tiny("pooling"), names)


def test_nucleolus_needs_every_coalition() -> None:
    with pytest.raises(CaseError, match="the nucleolus needs every coalition"):
        allocate(tiny("pooling"), method="nucleolus", samples=10)


def test_airport_game_shapley_in_closed_form() -> None:
    # c(S) = max need in S (a runway): φ1 = a1/3, φ2 = a1/3 + (a2 − a1)/2,
    # φ3 = φ2 + (a3 − a2); a = (3, 5, 11) → 1, 2, 8. No solver involved.
    need = {"a": 3.0, "b": 5.0, "c": 11.0}
    cost = {frozenset(s): max((need[m] for m in s), default=0.0)
            for s in ([], ["a"], ["b"], ["c"], ["a", "b"], ["a", "c"], ["b", "c"],
                      ["a", "b", "c"])}
    assert shapley_exact(list(need), cost) == pytest.approx({"a": 1, "b": 2, "c": 8})
    # The airport game's core holds the nucleolus; its least core ε* is negative.
    x, eps = least_core(list(need), cost)
    assert sum(x.values()) == pytest.approx(11) and eps < 0
    nucl = nucleolus(list(need), cost)
    assert sum(nucl.values()) == pytest.approx(11)
    assert all(nucl[m] <= need[m] + 1e-9 for m in need)
    orders = [("a", "b", "c"), ("c", "b", "a")]
    mean, _half = shapley_sampled(orders, cost)
    assert mean == pytest.approx({"a": 1.5, "b": 1.0, "c": 8.5})  # (3+0)/2, (2+0)/2, (6+11)/2


def test_cli_allocate_json_and_resume(tmp_path: Path) -> None:
    case = str(capacity.tiny_case_path("empty_core"))
    first = run("allocate", case, "--json", "--workers", "1", "--out", str(tmp_path / "c"))
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["core_empty"] is True and data["value_of_pooling_musd"] == pytest.approx(5)
    again = run("allocate", case, "--out", str(tmp_path / "c"))
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = run("allocate", case, "--out", str(tmp_path / "c"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "outside the core: coalition {A, B}" in resumed.stdout
    bad = run("allocate", case, "--members", "A,Z")
    assert bad.returncode == 2 and "'Z' is neither a startup" in bad.stderr


def test_gap_in_musd_bounds_every_share() -> None:
    # Each coalition proven within 0.5 MUSD: every cost, and so every Shapley value, is
    # within 0.5 of the exact (2, 4.5, 5.5); the tiny game is solved exactly anyway.
    result = allocate(tiny("pooling"), workers=1, options=TEST_OPTIONS, gap_musd=0.5)
    shares = _by_member(result.members, "allocated_musd")
    assert all(abs(shares[m] - v) <= 0.5 for m, v in {"A": 2, "B": 4.5, "C": 5.5}.items())
    assert any("within 0.5 MUSD" in n for n in result.notes)
    with pytest.raises(CaseError, match="--gap-musd"):
        allocate(tiny("pooling"), gap_musd=-1.0)


def test_cli_refuses_a_negative_gap() -> None:
    bad = run("allocate", str(capacity.tiny_case_path("pooling")), "--gap-musd", "-1")
    assert bad.returncode == 2 and "--gap-musd" in bad.stderr
