"""The case generators: the uniform family exactly as it was, the realistic family built to
the default case's structure (issue 33), both seeded and deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.case.generate import frames_of, generate_case, generate_frames
from capacity.case.generate.realistic import PROFILES, REALISTIC_TIERS
from capacity.studies.bench import case_statistics

from conftest import run


def _digest(frames: dict[str, pd.DataFrame]) -> str:
    h = hashlib.sha256()
    for name in sorted(frames):
        h.update(name.encode())
        h.update(frames[name].to_csv(index=False).encode())
    return h.hexdigest()


@pytest.mark.parametrize(("tier", "digest"), [
    # main's generate.py before the realistic family (commit 4ef6f9c), seed 1
    ("S", "7684b7801cc77d80bb2579c34803072b459a4450ca807618d342ff5c431737a6"),
    ("M", "d82335c6b5a932c4bdf2692353a216a757e50fa6a4a1c2cd6a1dde399b0a1040"),
])
def test_uniform_family_is_unchanged(tier: str, digest: str) -> None:
    assert _digest(generate_frames(tier, 1)) == digest
    assert _digest(frames_of(tier, 1)) == digest  # the default family


def test_realistic_family_is_seeded_and_deterministic() -> None:
    one, again = frames_of("S", 1, "realistic"), frames_of("S", 1, "realistic")
    assert _digest(one) == _digest(again)
    assert _digest(one) != _digest(frames_of("S", 2, "realistic"))


@pytest.fixture(scope="module")
def tier_s() -> capacity.Case:
    return generate_case("S", 1, "realistic")


def _home(case: capacity.Case) -> dict[str, str]:
    """A program's home: the market of its first clinical demand (always at home)."""
    first = case.demand.sort_values(["program", "period"]).drop_duplicates("program")
    return dict(zip(first["program"], first["market"], strict=True))


@pytest.mark.parametrize("tier", ["S", "N"])
def test_qualified_short_lists_mostly_at_home(tier: str) -> None:
    case = tier_s_or(tier)
    t = REALISTIC_TIERS[tier]
    assert (len(case.sites), len(case.programs), len(case.periods)) == (
        t.sites, t.programs, t.periods)
    region = case.sites.set_index("site")["region"].to_dict()
    home = _home(case)
    lists = case.programs.set_index("program")["qualified_sites"]
    sizes = lists.map(len)
    assert sizes.max() <= 6 and (sizes[sizes > 0] >= 2).mean() > 0.9
    near = [PROFILES[region[s]].zone == PROFILES[home[p]].zone
            for p, sites in lists.items() for s in sites]
    # at S a modality often has no site in a program's zone (12 sites); at N most do
    assert sum(near) / len(near) > (0.4 if tier == "S" else 0.6)


def tier_s_or(tier: str) -> capacity.Case:
    return generate_case(tier, 1, "realistic")


def test_costs_follow_region_and_operator(tier_s: capacity.Case) -> None:
    # the cheapest region's suites cost less per batch than the dearest's, modality by
    # modality: costs are a region factor × an operator factor × ±5 % noise
    suites = tier_s.suites.merge(tier_s.sites[["site", "region"]], on="site")
    mean = suites.groupby(["modality", "scale", "region"])["variable_cost_musd_per_batch"] \
        .mean().unstack("region")
    both = mean[["CN", "US"]].dropna()
    assert len(both) > 0 and (both["CN"] < both["US"]).all()


def test_lifecycle_features_of_the_default_case(tier_s: capacity.Case) -> None:
    default = capacity.load_case()
    assert (tier_s.programs["tech_transfer_periods"] == 1).all()
    assert not tier_s.programs["phases_at_one_site"].any()
    approval = tier_s.regions.set_index("region")["approval_required"]
    assert approval.to_dict() == {r: r == "US" for r in approval.index}
    assert set(tier_s.approvals["site"]) == set(tier_s.sites["site"])
    pd.testing.assert_frame_equal(tier_s.modalities.reset_index(drop=True),
                                  default.modalities.reset_index(drop=True))
    anchored = set(tier_s.offtakes["program"])
    continuity = tier_s.programs.set_index("program")["continuity_share"]
    assert (continuity[sorted(anchored)] == 0.8).all()
    assert continuity.drop(sorted(anchored)).isna().all()


def test_statistics_near_the_default_case() -> None:
    # committed share and sites a program can be made at, beside the default case's
    # (7.9 %, 7.2 sites of 22): the family's list is short whatever the network's size
    n = case_statistics(generate_case("N", 1, "realistic"))
    assert n["committed_share"] == pytest.approx(0.079, abs=0.005)
    assert 2.0 <= n["sites_per_program_mean"] <= 5.0 and n["sites_per_program_max"] <= 6
    uniform = case_statistics(generate_case("S", 1))
    assert uniform["committed_share"] < 0.03  # what the realistic family corrects


def test_cli_writes_a_realistic_case(tmp_path: Path) -> None:
    done = run("generate", "--family", "realistic", "--tier", "S", "--out",
               str(tmp_path / "s"))
    assert done.returncode == 0, done.stderr
    assert "realistic tier S, 12 sites, 40 programs, 6 periods" in done.stdout
    again = capacity.load_case(tmp_path / "s")
    assert set(again.offtakes["program"]) == set(generate_case("S", 1, "realistic")
                                                 .offtakes["program"])
    wrong = run("generate", "--family", "realistic", "--tier", "M", "--out",
                str(tmp_path / "m"))
    assert wrong.returncode == 2 and "S, N, G" in wrong.stderr
    assert not (tmp_path / "m").exists()
    unknown = run("generate", "--family", "fancy", "--tier", "S", "--out", str(tmp_path / "f"))
    assert unknown.returncode == 2 and "uniform, realistic" in unknown.stderr
