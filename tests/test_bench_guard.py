"""CI guard on solve work: tier S, seeded, one thread, fixed HiGHS seed, compared with the
committed baseline (benchmarks/baseline_S.json). Fails on errors, on a changed optimum,
on a changed model size, or on HiGHS's work counters growing more than 25%. No wall-clock
assertions: times are machine noise. Update the baseline with
`python -m benchmarks --update-baseline` when a change is meant to alter the work, and
say why in the commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capacity.bench import run_tier

pytestmark = pytest.mark.solver

BASELINE = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" /
                       "baseline_S.json").read_text())
GROWTH = 1.25


@pytest.fixture(scope="module")
def tier_s() -> dict[str, object]:
    return run_tier("S", seed=BASELINE["seed"], time_limit=600, gap=0.01)


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
