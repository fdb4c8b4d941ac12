"""Contingency analysis (`capacity stress`, `capacity.studies.stress`) on the tiny case
`data/tiny/outage` (README), worked by hand: SA at 1 a batch, SB at 2 + 0.5 to market A,
5 batches of P1 committed in A in each of 2030–2032, a transfer 1 per site.

- Without its outage the plan makes everything at SA: 15 + 1 = 16. SA lost from 2031,
  2030 held: SB makes 2031's and 2032's 10 batches (25) after a new transfer (1):
  5 + 1 + 25 + 1 = 32, an increase of 16, nothing lost.
- With `max_sites` 1 the plan's transfer to SA stands and none to SB is allowed: 2031's
  and 2032's commitments break (10 batches); the recovery costs 5 + 1 = 6 without the
  penalty (−10 against 16) and 10 × 1000 of penalty.
- With its outage (SA lost from 2031) the plan is 32 (SA in 2030, SB after); banning B's
  exports to A from 2031 (`--by lane`) leaves nothing for 2031–2032: 10 batches lost,
  the recovery costs 5 + 1 + 1 (both transfers were made in 2030) = 7, −25 against 32.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.studies.stress import (
    StressError,
    contingencies,
    read_stress_plan,
    stress,
)

from conftest import TEST_OPTIONS, edited, run, tiny

pytestmark = [pytest.mark.solver]


def saved_plan(case: capacity.Case, folder: Path) -> Path:
    """Save ``case`` as a folder, solve it from there, save the plan: what a planner has."""
    case.save(folder / "case")
    loaded = capacity.load_case(folder / "case")
    plan = capacity.solve(loaded, TEST_OPTIONS)
    assert plan.status == "optimal"
    return plan.save(folder / "plan")


@pytest.fixture(scope="module")
def no_outage_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    off = edited(tiny("outage"), outages=lambda o: o.assign(active=False))
    return saved_plan(off, tmp_path_factory.mktemp("no_outage"))


def _row(result: object, name: str) -> pd.Series:
    summary = result.summary.set_index("scenario")  # type: ignore[attr-defined]
    return summary.loc[name]


def test_losing_the_cheap_site_on_a_local_cluster(no_outage_plan: Path,
                                                  tmp_path: Path) -> None:
    plan = read_stress_plan(no_outage_plan)
    assert [o.name for o in contingencies(plan, "site", 2031)] == ["site-SA"]
    assert [o.name for o in contingencies(plan, "operator", 2031)] == ["operator-OA"]
    result = stress(plan, by="site", first=2031, out=tmp_path / "out", workers=2,
                    options=TEST_OPTIONS)
    ref, lost = _row(result, "none"), _row(result, "site-SA")
    assert ref["recovery_cost_musd"] == pytest.approx(16.0)
    assert lost["outage"] == "SA lost from 2031"
    assert lost["recovery_cost_musd"] == pytest.approx(32.0)
    assert lost["cost_increase_musd"] == pytest.approx(16.0)
    assert lost["committed_lost_batches"] == 0 and lost["penalty_musd"] == 0
    assert bool(lost["checked"]) and bool(ref["checked"])
    assert result.broken.empty and result.lost.empty
    built = result.recovery[["scenario", "what", "site", "program_or_market"]]
    assert built.values.tolist() == [["site-SA", "transfer", "SB", "P1"]]
    # the recovery's shipments are in the store like a batch's
    ships = capacity.studies.batch.read_results(tmp_path / "out", "shipments")
    mine = ships[ships["scenario"] == "site-SA"]
    assert mine.groupby(["site", "period"])["batches"].sum().to_dict() == {
        ("SA", 2030): 5.0, ("SB", 2031): 5.0, ("SB", 2032): 5.0}


def test_a_recovery_reports_the_commitments_it_breaks(tmp_path: Path) -> None:
    one_site = edited(tiny("outage"), outages=lambda o: o.assign(active=False),
                      programs=lambda p: p.assign(max_sites=1))
    result = stress(saved_plan(one_site, tmp_path), by="site", first=2031,
                    out=tmp_path / "out", workers=1, options=TEST_OPTIONS)
    lost = _row(result, "site-SA")
    assert lost["committed_lost_batches"] == pytest.approx(10.0)
    assert lost["recovery_cost_musd"] == pytest.approx(6.0)
    assert lost["cost_increase_musd"] == pytest.approx(-10.0)
    assert lost["penalty_musd"] == pytest.approx(10_000.0)
    assert bool(lost["checked"]), lost["check_problems"]
    broken = result.broken[["program", "market", "period", "short_batches"]]
    assert broken.values.tolist() == [["P1", "A", 2031, 5.0], ["P1", "A", 2032, 5.0]]
    assert "committed offtake of ANCH for P1 in A, period 2031" in result.broken["offtake"][0]
    heat = result.heat()
    assert heat.loc["site-SA", "A"] == pytest.approx(10.0)
    assert result.worst()["scenario"].tolist() == ["site-SA"]


def test_an_export_ban_on_top_of_the_case_outage(tmp_path: Path) -> None:
    result = stress(saved_plan(tiny("outage"), tmp_path), by="lane", first=2031,
                    out=tmp_path / "out", workers=1, options=TEST_OPTIONS)
    assert _row(result, "none")["recovery_cost_musd"] == pytest.approx(32.0)
    ban = _row(result, "lane-B-A")
    assert ban["outage"] == "B exports to A banned from 2031"
    assert ban["committed_lost_batches"] == pytest.approx(10.0)
    assert ban["cost_increase_musd"] == pytest.approx(-25.0)
    assert bool(ban["checked"]), ban["check_problems"]
    lost = result.lost.set_index("period")
    assert lost["committed_lost"].to_dict() == {2031: 5.0, 2032: 5.0}


def test_resume_skips_finished_contingencies(no_outage_plan: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    stress(no_outage_plan, by="site", first=2031, out=out, workers=1, options=TEST_OPTIONS)
    before = {p.name: p.read_text() for p in (out / "done").glob("*.json")}
    assert sorted(before) == ["none.json", "site-SA.json"]
    with pytest.raises(FileExistsError):
        stress(no_outage_plan, by="site", first=2031, out=out, workers=1,
               options=TEST_OPTIONS)
    seen: list[str] = []
    again = stress(no_outage_plan, by="site", first=2031, out=out, workers=1,
                   options=TEST_OPTIONS, resume=True,
                   progress=lambda name, _summary: seen.append(name))
    assert seen == []  # nothing solved again
    assert {p.name: p.read_text() for p in (out / "done").glob("*.json")} == before
    assert _row(again, "site-SA")["cost_increase_musd"] == pytest.approx(16.0)
    # a different --from is another study: its contingencies are solved afresh
    stress(no_outage_plan, by="site", first=2032, out=out, workers=1,
           options=TEST_OPTIONS, resume=True,
           progress=lambda name, _summary: seen.append(name))
    assert sorted(seen) == ["none", "site-SA"]
    assert json.loads((out / "done" / "site-SA.json").read_text())["from_period"] == 2032


def test_bad_input_is_refused(no_outage_plan: Path, tmp_path: Path) -> None:
    plan = read_stress_plan(no_outage_plan)
    with pytest.raises(StressError, match="--by must be one of site, operator, country, "
                       "lane, not 'planet'"):
        contingencies(plan, "planet", 2031)
    for args, words in [
        (["--by", "planet"], "--by must be one of site, operator, country, lane"),
        (["--from", "1999"], "--from 1999 is not a period of the case (2030–2032)"),
        (["--market", "MARS"], "--market 'MARS' is not a region of the case"),
    ]:
        done = run("stress", str(no_outage_plan), *args)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    case = no_outage_plan.parent / "case"
    done = run("stress", str(case))
    assert done.returncode == 2
    assert f"{case} is not a plan folder (no summary.json)" in done.stderr
    ok = run("stress", str(no_outage_plan), "--from", "2031", "--workers", "1",
             "--out", str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert "SA lost from 2031" in ok.stdout and "2 of 2 recoveries solved and checked" \
        in ok.stdout
