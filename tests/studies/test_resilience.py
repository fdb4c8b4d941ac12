"""Resilience bought on purpose, checked by hand on `n_minus_one` and `disruption`.

`n_minus_one` (data/tiny/n_minus_one, its README works both optima out): 2030–2031,
discount 1; SA in A makes 10 batches a period at 1; SB in B has no capacity but one module
of 10 for capex 6 (lead 0), batches at 2 + 0.5 lane to A; P1 on one site, transfer 1;
ANCH commits 5 a period in A.
- Today's plan: SA, 10 × 1 + 1 = 11.
- N−1 by site: losing SA from 2030 leaves only SB, which has nothing unless the module is
  built beforehand: the first stage builds it. No loss: 11 + 6 = 17 (price of N−1: 6).
  SA lost: 6 + 1 + 10 × 2.5 = 32 (15 more). SB lost: the no-loss plan, 17.

`disruption` is the same network with P1 allowed on two sites and one disruption: SA
lost from 2031 with probability 0.25 (its README). P1's transfers are first stage
(`transfer_before_readout`). With an unmet penalty of 10 a committed batch:
- P1 at SA only: 11 without the disruption, 5 + 1 + 5 × 10 = 56 with it: E = 22.25;
- P1 at SA and SB with SB's module: 18 and 5 + 12.5 + 2 + 6 = 25.5: E = 19.875, the
  stochastic plan (RP).
- WS = 0.75 × 11 + 0.25 × 25.5 = 14.625 (EVPI 5.25); the EV plan ignores the disruption:
  EEV = 22.25, VSS = 2.375.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.errors import CaseError, CaseInfeasibleError
from capacity.studies.resilience import (
    contingency_plan,
    loss_contingencies,
    lost_supply_front,
    n_minus_one,
)
from capacity.studies.stochastic import StochasticOptions, draw_scenarios, solve_stochastic
from capacity.studies.stress import contingency_case

from conftest import TEST_OPTIONS, assert_checked, edited, rows, run, tiny

pytestmark = pytest.mark.solver


def _modules(tables: dict[str, pd.DataFrame]) -> list[tuple[str, int]]:
    b = tables["builds"]
    return [(str(s), int(n)) for s, n in zip(b["site"], b["modules"], strict=True)]


def test_n_minus_one_worked_out_by_hand() -> None:
    result = n_minus_one(tiny("n_minus_one"), by="site", options=TEST_OPTIONS)
    assert result.status == "optimal"
    assert (result.no_loss_cost, result.plain_cost, result.price) == pytest.approx((17, 11, 6))
    assert _modules(result.first_stage) == [("SB", 1)]  # the backup, built up front
    table = result.contingencies.set_index("lost")
    assert table.loc["SA lost from 2030", ["cost", "extra_cost"]].tolist() == \
        pytest.approx([32, 15])
    assert table.loc["SA lost from 2030", "recovery"] == "transfer P1 to SB"
    assert table.loc["SB lost from 2030", ["cost", "extra_cost"]].tolist() == \
        pytest.approx([17, 0])
    assert table.loc["none", "cost"] == pytest.approx(17)


def test_each_recovery_checked_against_its_case_with_the_outage() -> None:
    """The independent checker (no model code) verifies every block's plan against the
    case plus that block's outage row, and flags the no-loss plan under SA's loss."""
    case = tiny("n_minus_one")
    result = n_minus_one(case, by="site", options=TEST_OPTIONS, compare=False)
    outages = {o.subject: o for o in loss_contingencies(case, "site")}
    for name, lost in zip(result.contingencies["contingency"],
                          result.contingencies["lost"], strict=True):
        subject = lost.split(" ")[0]
        checked = case if lost == "none" else contingency_case(case, outages[subject])
        assert_checked(checked, contingency_plan(result, name))
    with pytest.raises(AssertionError, match="outage"):
        assert_checked(contingency_case(case, outages["SA"]),
                       contingency_plan(result, "base"))


def test_by_operator_and_by_country_lose_the_same_sites_here() -> None:
    for by, words in (("operator", "OA's sites lost from 2030"),
                      ("country", "A's sites lost from 2030")):
        result = n_minus_one(tiny("n_minus_one"), by=by, options=TEST_OPTIONS, compare=False)
        assert result.no_loss_cost == pytest.approx(17)
        assert result.contingencies.set_index("lost").loc[words, "cost"] == pytest.approx(32)


def test_a_later_loss_needs_the_transfer_made_before_it() -> None:
    """SA lost from 2031: P1's transfer starts in 2030, before anyone knows, so it is
    first stage. With P1 on one site no plan survives; with max_sites 2 the plan makes
    both transfers up front: 11 + 6 + 1 = 18 without loss; losing SA, 2030 at SA (5) and
    2031 at SB (12.5), plus 6 + 2: 25.5."""
    case = tiny("n_minus_one")
    one_site = n_minus_one(case, by="site", first=2031, options=TEST_OPTIONS, compare=False)
    assert one_site.status == "infeasible"
    assert any("max_sites" in m for m in one_site.messages), one_site.messages
    two = edited(case, programs=lambda t: t.assign(max_sites=2))
    result = n_minus_one(two, by="site", first=2031, options=TEST_OPTIONS)
    assert result.first == 2031
    assert (result.no_loss_cost, result.price) == pytest.approx((18, 7))
    table = result.contingencies.set_index("lost")
    assert table.loc["SA lost from 2031", "cost"] == pytest.approx(25.5)
    assert table.loc["SB lost from 2031", "cost"] == pytest.approx(18)


def test_a_loss_no_recovery_survives_names_the_commitment_first() -> None:
    """Without SB's suite only SA can make P1: losing it leaves the commitment with no
    site, said before any solve, the commitment leading."""
    case = edited(tiny("n_minus_one"), suites=lambda t: t[t["site"] == "SA"],
                  lanes=lambda t: t.iloc[0:0])
    with pytest.raises(CaseInfeasibleError) as info:
        n_minus_one(case, by="site", options=TEST_OPTIONS)
    first = info.value.reasons[0]
    assert first.startswith("committed offtake of ANCH for P1 in A, period 2030 cannot be "
                            "met if SA lost from 2030"), first


def test_a_recovery_that_needs_more_than_one_plan_can_build_is_explained() -> None:
    """SB's module capped at 4 batches: it exists, so the loss is not refused up front,
    but no recovery meets 5 a period; the message names the loss."""
    case = edited(tiny("n_minus_one"), suites=lambda t: t.assign(
        module_batches_per_period=[0, 4]))
    result = n_minus_one(case, by="site", options=TEST_OPTIONS, compare=False)
    assert result.status == "infeasible" and not result.has_solution
    assert any("if SA lost from 2030: committed offtake of ANCH for P1 in A, period 2030 "
               "short by 1 batches" in m for m in result.messages), result.messages


def test_progressive_hedging_over_the_contingencies() -> None:
    """Blocks weighted 1 : 1 : 1: the extensive form's optimum is 17 + 32 + 17 = 66 with
    the backup; PH's consensus reaches it (a small weight, 0.01, leaves the backup out of
    the consensus and is reported as a plan some contingency cannot carry out)."""
    result = n_minus_one(tiny("n_minus_one"), recourse_weight=1.0, decompose="ph",
                         options=TEST_OPTIONS, compare=False)
    assert result.status == "feasible"
    assert (result.objective, result.no_loss_cost) == pytest.approx((66, 17))
    assert _modules(result.first_stage) == [("SB", 1)]
    small = n_minus_one(tiny("n_minus_one"), recourse_weight=0.01, decompose="ph",
                        options=TEST_OPTIONS, compare=False)
    assert small.status == "infeasible" and any("cannot be carried out in c1" in m
                                                for m in small.messages)


def test_bad_options_are_named() -> None:
    with pytest.raises(CaseError, match="--n-minus-1"):
        n_minus_one(tiny("n_minus_one"), by="region")  # type: ignore[arg-type]
    with pytest.raises(CaseError, match="--from"):
        n_minus_one(tiny("n_minus_one"), first=1999)
    with pytest.raises(CaseError, match="--recourse-weight"):
        n_minus_one(tiny("n_minus_one"), decompose="ph")


def test_cli_n_minus_one(tmp_path: Path) -> None:
    case = str(capacity.tiny_case_path("n_minus_one"))
    done = run("solve", case, "--n-minus-1", "site", "--threads", "1", "--json",
               "--out", str(tmp_path / "n1"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["no_loss_cost"], summary["price"]) == pytest.approx((17, 6))
    assert summary["size"]["columns"] > 0 and summary["size"]["nonzeros"] > 0
    saved = pd.read_csv(tmp_path / "n1" / "contingencies.csv")
    assert len(saved) == 3 and (tmp_path / "n1" / "builds.csv").exists()
    text = run("solve", case, "--n-minus-1", "site", "--threads", "1")
    assert "price of N−1: 6.0 MUSD" in text.stdout, text.stdout
    for args, says in ((("--n-minus-1", "region"), "site, operator or country"),
                       (("--n-minus-1", "site", "--from", "1999"), "--from"),
                       (("--from", "2031",), "go with --n-minus-1")):
        bad = run("solve", case, *args)
        assert bad.returncode == 2 and says in bad.stderr, bad.stderr
    # the report of the N−1 plan: the price, each contingency's recovery, the backup
    report = run("report", str(tmp_path / "n1"), "--out", str(tmp_path / "n1.html"))
    assert report.returncode == 0, report.stderr
    shown = _report_text(tmp_path / "n1.html")
    assert "6.0 MUSD price of N−1" in shown and "17.0 MUSD N−1 plan's cost" in shown
    assert "c1 SA lost from 2030 32.00 +15.00 transfer P1 to SB" in shown
    assert "Modules built (first stage) site modality scale period" in shown
    assert "SB antibody commercial 2030 2030 1 10.0 6.0" in shown


def _report_text(path: Path) -> str:
    """What a reader sees of a report: its text, tags and scripts removed, spaces
    collapsed."""
    page = path.read_text()
    page = re.sub(r"<script.*?</script>", " ", page[page.index("<h1>"):], flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# --- disruption scenarios in the stochastic plan ------------------------------------------


def test_hedged_plan_worked_out_by_hand() -> None:
    result = solve_stochastic(tiny("disruption"), StochasticOptions(unmet_penalty=10),
                              TEST_OPTIONS)
    assert result.status == "optimal" and result.exact
    assert (result.objective, result.wait_and_see, result.eev) == \
        pytest.approx((19.875, 14.625, 22.25))
    assert (result.evpi, result.vss) == pytest.approx((5.25, 2.375))
    assert _modules(result.first_stage) == [("SB", 1)]
    assert result.ev_builds.empty  # the plan that ignores the disruption builds nothing
    table = result.scenarios.set_index("disrupted")
    assert table.loc["SA lost from 2031", ["probability", "cost", "expected_value_plan"]] \
        .tolist() == pytest.approx([0.25, 25.5, 56])
    assert table.loc["none", ["probability", "cost"]].tolist() == pytest.approx([0.75, 18])
    transfers = result.first_stage["assignments"]
    assert sorted(transfers["site"]) == ["SA", "SB"]
    assert set(table["failed"]) == {"all succeed"}


def test_hard_commitments_need_the_backup_and_leave_vss_unbounded() -> None:
    result = solve_stochastic(tiny("disruption"), solve_options=TEST_OPTIONS)
    assert result.objective == pytest.approx(19.875)
    assert result.eev is None
    assert any("VSS is unbounded" in m for m in result.messages)


def test_a_disruption_no_plan_survives_names_the_commitment_first() -> None:
    """Without SB's suite nothing can make P1 once SA is lost: with hard commitments the
    plan is refused before any solve, the commitment and the scenario named."""
    case = edited(tiny("disruption"), suites=lambda t: t[t["site"] == "SA"],
                  lanes=lambda t: t.iloc[0:0])
    with pytest.raises(CaseInfeasibleError) as info:
        solve_stochastic(case, solve_options=TEST_OPTIONS)
    assert info.value.reasons[0].startswith(
        "committed offtake of ANCH for P1 in A, period 2031 cannot be met in s2 (SA lost "
        "from 2031)"), info.value.reasons
    priced = solve_stochastic(case, StochasticOptions(unmet_penalty=10), TEST_OPTIONS)
    assert priced.objective == pytest.approx(0.75 * 11 + 0.25 * 56)


def test_a_case_without_disruptions_draws_as_before() -> None:
    scenarios, exact = draw_scenarios(tiny("clinical_bet"))
    assert exact and [s.outages for s in scenarios] == [(), ()]
    result = solve_stochastic(tiny("clinical_bet"), solve_options=TEST_OPTIONS)
    assert "disrupted" not in result.scenarios.columns


def test_disruptions_combine_with_clinical_outcomes() -> None:
    # P1 succeeds with 0.5 (readout at commercial_from 2030): 2 × 2 outcomes.
    case = edited(tiny("disruption"), programs=lambda t: t.assign(success_probability=0.5))
    scenarios, exact = draw_scenarios(case, count=8)
    assert exact and len(scenarios) == 4
    probs = {(bool(s.failed), bool(s.outages)): s.probability for s in scenarios}
    assert probs == pytest.approx({(False, False): 0.375, (True, False): 0.375,
                                   (False, True): 0.125, (True, True): 0.125})
    sampled, exact = draw_scenarios(case, count=3, seed=5)
    assert not exact and sum(s.probability for s in sampled) == pytest.approx(1)
    assert sampled == draw_scenarios(case, count=3, seed=5)[0]  # seeded


def test_certain_and_impossible_disruptions() -> None:
    case = edited(tiny("disruption"), disruptions=lambda t: pd.concat(
        [t.assign(probability=1.0), t.assign(disruption="D0", probability=0.0)]))
    scenarios, exact = draw_scenarios(case)
    assert exact and len(scenarios) == 1
    assert scenarios[0].disrupted() == "SA lost from 2031"


def test_a_disruption_of_some_periods_and_an_export_ban() -> None:
    # SA lost in 2030 only: the duration counts periods; an export ban names its market.
    case = edited(tiny("disruption"), disruptions=rows(
        {"disruption": "D1", "kind": "site", "subject": "SA", "probability": 0.25,
         "from_period": 2030, "periods": 1},
        {"disruption": "BAN", "kind": "country", "subject": "B", "market": "A",
         "probability": 0.5, "from_period": 2031}))
    words = {s.disrupted() for s in draw_scenarios(case)[0]}
    assert words == {"none", "SA lost in 2030", "B exports to A banned from 2031",
                     "SA lost in 2030; B exports to A banned from 2031"}


def test_a_disruption_of_an_unknown_subject_is_named() -> None:
    with pytest.raises(CaseError) as info:
        edited(tiny("disruption"), disruptions=lambda t: t.assign(subject="NOPE"))
    text = str(info.value)
    assert "disruptions" in text and "subject" in text and "unknown site 'NOPE'" in text


def test_cli_stochastic_shows_the_disruptions() -> None:
    done = run("stochastic", str(capacity.tiny_case_path("disruption")),
               "--unmet-penalty", "10")
    assert done.returncode == 0, done.stderr
    assert "SA lost from 2031" in done.stdout and "VSS = EEV − RP = 2.4 MUSD" in done.stdout


def test_report_of_a_stochastic_plan_with_disruptions(tmp_path: Path) -> None:
    done = run("stochastic", str(capacity.tiny_case_path("disruption")),
               "--unmet-penalty", "10", "--out", str(tmp_path / "st"))
    assert done.returncode == 0, done.stderr
    report = run("report", str(tmp_path / "st"), "--out", str(tmp_path / "st.html"))
    assert report.returncode == 0, report.stderr
    shown = _report_text(tmp_path / "st.html")
    # the README's numbers: RP 19.875, WS 14.625, EEV 22.25, EVPI 5.25, VSS 2.375
    for card in ("19.9 MUSD expected cost (RP)", "14.6 MUSD wait-and-see (WS)",
                 "5.2 MUSD EVPI = RP − WS", "2.4 MUSD VSS = EEV − RP"):
        assert card in shown, card
    assert "s2 0.25 all succeed SA lost from 2031 25.50" in shown
    assert "SB antibody commercial 2030 2030 1 10.0 6.0" in shown  # the hedged backup


# --- cost against lost supply ---------------------------------------------------------------


@pytest.mark.parametrize(("measure", "lost"), [("expected", 1.25), ("worst", 5.0)])
def test_lost_supply_front_by_hand(measure: str, lost: float) -> None:
    """SA alone: 11, and 5 committed batches lost in 2031 if SA goes (probability 0.25);
    the backup (transfer to SB and its module): 18, nothing lost."""
    front = capacity.pareto(tiny("disruption"), f"resilience:{measure}", points=3,
                            options=TEST_OPTIONS)
    on = front.front
    assert on["value"].tolist() == pytest.approx([lost, 0])
    assert on["cost"].tolist() == pytest.approx([11, 18])
    assert "SB antibody commercial ×1" in on["changes"].iloc[1]


def test_lost_supply_needs_a_disruptions_table() -> None:
    with pytest.raises(CaseError, match="disruptions"):
        lost_supply_front(tiny("n_minus_one"), "expected")
    with pytest.raises(CaseError, match="resilience:expected"):
        capacity.pareto(tiny("disruption"), "resilience:mean")


def test_cli_pareto_resilience() -> None:
    done = run("pareto", str(capacity.tiny_case_path("disruption")), "--objective",
               "resilience:worst", "--points", "2", "--json")
    assert done.returncode == 0, done.stderr
    points = json.loads(done.stdout)["points"]
    on = [p for p in points if p["on_front"]]
    assert [p["value"] for p in on] == pytest.approx([5, 0])
    assert [p["cost"] for p in on] == pytest.approx([11, 18])
