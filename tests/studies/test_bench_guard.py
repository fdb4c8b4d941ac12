"""CI guard on solve work: the realistic family's tier S (issue 33: the default case's
structure, so the guard measures what users solve), seeded, one thread, fixed HiGHS seed,
compared with the committed baseline (benchmarks/baseline_S.json). Fails on errors, on a
changed optimum, on a changed model size, or on HiGHS's work counters growing more than
25%. No wall-clock assertions: times are machine noise. Update the baseline with
`python -m benchmarks --update-baseline` when a change is meant to alter the work, and
say why in the commit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capacity.studies.bench import (
    GAP_MARKS,
    gap_at,
    gap_ratios,
    render_gap_ratios,
    render_measurement,
    run_tier,
)

pytestmark = pytest.mark.solver

BASELINE = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" /
                       "baseline_S.json").read_text())
GROWTH = 1.25


@pytest.fixture(scope="module")
def tier_s() -> dict[str, object]:
    return run_tier(BASELINE["tier"], seed=BASELINE["seed"], time_limit=600, gap=0.01,
                    family=BASELINE["family"])


def test_baseline_is_the_realistic_family() -> None:
    assert (BASELINE["family"], BASELINE["tier"]) == ("realistic", "S")


def test_tier_s_solves(tier_s: dict) -> None:  # type: ignore[type-arg]
    assert tier_s["status"] == BASELINE["status"] == "optimal"


def test_same_model(tier_s: dict) -> None:  # type: ignore[type-arg]
    assert tier_s["size"] == BASELINE["size"], "the model changed: update the baseline"


def test_optimum_unchanged(tier_s: dict) -> None:  # type: ignore[type-arg]
    # Both runs prove [bound, objective] brackets the optimum (gap ≤ 1%): if the optimum is
    # unchanged the two brackets must overlap.
    low = max(tier_s["bound"], BASELINE["bound"])
    high = min(tier_s["objective"], BASELINE["objective"])
    assert low <= high + 1e-6 * abs(high), (tier_s["objective"], BASELINE["objective"])


@pytest.mark.parametrize("counter", ["mip_nodes", "simplex_iterations"])
def test_work_does_not_grow(tier_s: dict, counter: str) -> None:  # type: ignore[type-arg]
    limit = GROWTH * BASELINE["counters"][counter] + 10
    assert tier_s["counters"][counter] <= limit, (counter, tier_s["counters"][counter])


def test_gap_marks_are_reached_in_order(tier_s: dict) -> None:  # type: ignore[type-arg]
    # it ends within 1%: every mark is reached, a tighter one never sooner, and the
    # 1% mark is the table's "1% gap s"
    reached = [tier_s["seconds_to_gap"][f"{mark:g}"] for mark in GAP_MARKS]
    assert all(at is not None for at in reached)
    assert reached == sorted(reached)
    assert reached[-1] == tier_s["seconds"]["gap_1pct"] <= tier_s["seconds"]["solve"]


def test_gap_ratios_by_hand() -> None:
    # the engine reaches 10% at 2 s and 2% at 50 s, the defaults 10% at 30 s and nothing
    # tighter within their 600 s: 15× at 10%, at least 12× at 2%, nothing at 1%
    def row(limit: float, **seconds: float) -> dict[str, Any]:
        to_gap = {f"{m:g}": seconds.get(f"g{m:g}".replace(".", "_")) for m in GAP_MARKS}
        return {"time_limit": limit, "seconds_to_gap": to_gap}

    engine = row(60, g0_2=2.0, g0_1=2.0, g0_05=20.0, g0_03=50.0, g0_02=50.0)
    defaults = row(600, g0_2=10.0, g0_1=30.0)
    rows = {r["gap"]: r for r in gap_ratios(engine, defaults)}
    assert rows[0.2]["ratio"] == 5.0 and rows[0.1]["ratio"] == 15.0
    assert rows[0.02]["ratio"] is None and rows[0.02]["ratio_at_least"] == 12.0
    assert rows[0.01]["ratio"] is None and rows[0.01]["ratio_at_least"] is None
    table = render_gap_ratios("M", engine, defaults)
    assert "| M | 10.0% | 2.0 | 30.0 | 15.0× |" in table
    assert "| M | 2.0% | 50.0 | not reached | > 12.0× (defaults: not reached) |" in table
    assert "| M | 1.0% | not reached | not reached | — |" in table


def test_gap_within_ten_root_lps_by_hand() -> None:
    # the gap closes to 40% at 25 s, 3.3% at 313 s and 2.8% at the 600-s limit; the root
    # LP alone takes 30 s, so ten of it (300 s) see 40%; with 336 s, ten (3,360 s) lie
    # beyond the run, and the table says it read the gap at the limit
    gaps = [(25.0, 0.40), (313.0, 0.033), (600.0, 0.028)]
    assert gap_at(gaps, 300.0) == 0.40 and gap_at(gaps, 3360.0) == 0.028
    assert gap_at(gaps, 10.0) is None
    size = {"binary": 1, "variables": 2, "constraints": 3, "nonzeros": 4}
    base = {"tier": "N", "sites": 100, "programs": 1000, "periods": 10, "time_limit": 600,
            "status": "time_limit_feasible", "objective": -43911.2, "bound": -45147.5,
            "gap": 0.028, "size": size, "peak_memory_mib": 1105, "seconds": {
                "first_feasible": 1.7, "index_sets": 1.0, "build": 1.5},
            "seconds_to_gap": {"0.02": None, "0.01": None}}
    short = render_measurement([{**base, "root_lp_seconds": 30.0, "gap_at_10x_root_lp": 0.40}])
    long = render_measurement([{**base, "root_lp_seconds": 336.0,
                                "gap_at_10x_root_lp": 0.028}])
    assert short.endswith("| — | — | 30.0 | 40.00% |")
    assert long.endswith("| — | — | 336.0 | 2.80% at the limit (3,360 s not run) |")
