"""HTML reports: contents checked by hand on tiny cases, and rendered in headless
Chromium (Debian's `chromium`, driven by Playwright): no console errors, no network, every
chart drawn; the default case's screenshot goes to artifacts/ for CI.

`domestic_share` (data/tiny/domestic_share): cost 50 with its 60 % domestic rule, 31
without (everything from SB at 1.5 and one transfer): the rule's price is 19.

`rationing` (data/tiny/rationing, worked out in tests/model/test_families.py): the same
rule costs 50 and leaves all 20 potential batches unserved; without it 21, none unserved:
price 29, unmet caused +20. With its 100 % service level on as well: 62, none unserved;
the domestic rule's price is then 41 (21 without it) and causes no unmet demand, the
service level's price 12 (50 without it) and it causes −20 (20 served that would not be).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyomo.environ as pyo
import pytest

import capacity
from capacity.errors import CaseError
from capacity.report import _most_concentrated, plan_report, rule_prices, write_report
from capacity.results.plan import read_saved_plan
from capacity.studies.batch import run_batch
from capacity.studies.compare import compare, to_markdown

from conftest import TEST_OPTIONS, run, tiny

pytestmark = pytest.mark.solver

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SECTIONS = ("Headline", "Capacity built", "Utilisation", "Costs", "Startups&#x27; slots",
            "Flows", "Map", "Policy rules and their price", "Markets", "Provenance")


def _saved(case: capacity.Case, folder: Path) -> Path:
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "optimal"
    return plan.save(folder)


def test_rule_price_worked_out_by_hand() -> None:
    prices = rule_prices(tiny("domestic_share"), 50.0, TEST_OPTIONS)
    assert prices[["rule", "binding"]].values.tolist() == [["A_DOMESTIC_60", True]]
    assert prices["price_musd"].iloc[0] == pytest.approx(19)
    assert prices["limit"].iloc[0] == "≥ 60%"


def test_rule_price_carries_the_unmet_demand_it_causes() -> None:
    prices = rule_prices(tiny("rationing"), 50.0, TEST_OPTIONS, unmet_batches=20.0)
    assert prices[["rule", "binding"]].values.tolist() == [["A_DOMESTIC_60", True]]
    assert prices["price_musd"].iloc[0] == pytest.approx(29.0)
    assert prices["unmet_caused_batches"].iloc[0] == pytest.approx(20.0)
    both = capacity.Case.from_frames({**tiny("rationing").tables(), "rules": tiny(
        "rationing").rules.assign(active=True)})
    prices = rule_prices(both, 62.0, TEST_OPTIONS, unmet_batches=0.0).set_index("rule")
    assert prices["price_musd"].to_dict() == pytest.approx({"A_DOMESTIC_60": 41.0,
                                                           "A_SERVICE_100": 12.0})
    assert prices["unmet_caused_batches"].to_dict() == pytest.approx(
        {"A_DOMESTIC_60": 0.0, "A_SERVICE_100": -20.0})
    assert prices.at["A_SERVICE_100", "limit"] == "≥ 100% of demand served"
    assert rule_prices(tiny("rationing"), 50.0, TEST_OPTIONS)[
        "unmet_caused_batches"].isna().all()  # not known without the plan's unmet demand


def test_plan_report_shows_the_rationing_a_rule_causes(tmp_path: Path) -> None:
    text = plan_report(_saved(tiny("rationing"), tmp_path / "plan"))
    section = text.split("<h2>Policy rules and their price</h2>")[1].split("</table>")[0]
    header = re.findall(r"<th>(.*?)</th>", section)
    cells = re.findall(r"<td>(.*?)</td>", section)
    row = dict(zip(header, cells, strict=True))
    assert row["rule"] == "A_DOMESTIC_60"
    assert (row["price (MUSD)"], row["unmet caused (batches)"]) == ("29.0", "+20.0")
    assert "20 of 20 batches" in text  # the headline's potential demand unserved


def test_compare_shows_the_unmet_demand_beside_the_price(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(capacity.tiny_case_path("rationing"), case)
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(
        "base: case\noptions: {mip_rel_gap: 1.0e-9}\nscenarios:\n  - name: base\n"
        "  - name: no_rule\n    overrides:\n"
        "      - {table: rules, where: {rule: A_DOMESTIC_60}, set: {active: false}}\n"
        "  - name: served\n    overrides:\n"
        "      - {table: rules, where: {rule: A_SERVICE_100}, set: {active: true}}\n")
    run_batch(scenarios, tmp_path / "runs", workers=1)
    table = compare(tmp_path / "runs").set_index("scenario")
    assert table.loc["no_rule", ["delta_objective", "delta_unmet_potential_batches"]] \
        .tolist() == pytest.approx([-29.0, -20.0])
    assert table.loc["served", ["delta_objective", "delta_unmet_potential_batches"]] \
        .tolist() == pytest.approx([12.0, -20.0])
    assert "| no_rule | optimal | 21.0 | -29.0 | 0 | 0 | 0.0 | -20.0 |" in \
        to_markdown(table.reset_index())
    text = write_report(tmp_path / "runs", tmp_path / "compare.html").read_text()
    assert "delta_unmet_potential_batches" in text and "-20.0" in text


def test_plan_report_holds_every_section(tmp_path: Path) -> None:
    folder = _saved(tiny("domestic_share"), tmp_path / "plan")
    text = plan_report(folder)
    for heading in SECTIONS:
        assert f"<h2>{heading}</h2>" in text, heading
    assert "50.0 MUSD" in text and "A_DOMESTIC_60" in text and "19.0" in text
    assert "no coordinates in the case" in text  # tiny cases have none: said, not drawn
    assert '<script src="http' not in text  # nothing loaded from a CDN
    assert "PlotlyGeoAssets" in text


def test_plan_remembers_its_case(tmp_path: Path) -> None:
    folder = _saved(tiny("two_sites"), tmp_path / "plan")
    assert json.loads((folder / "summary.json").read_text())["case_source"] == \
        str(capacity.tiny_case_path("two_sites").resolve())
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "case_source": "/gone"}))
    with pytest.raises(CaseError, match="give the case"):
        plan_report(folder)
    assert "<h2>Headline</h2>" in plan_report(folder, tiny("two_sites"), price_rules=False)


def test_not_a_plan_is_named(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"is .* a plan saved by"):
        read_saved_plan(tmp_path)
    with pytest.raises(CaseError, match="neither a saved plan"):
        write_report(tmp_path, tmp_path / "r.html")
    done = run("report", str(tmp_path), "--out", str(tmp_path / "r.html"))
    assert done.returncode == 2 and "neither a saved plan" in done.stderr


@pytest.fixture(scope="module")
def batch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("case") / "case"
    shutil.copytree(capacity.tiny_case_path("domestic_share"), case)
    scenarios = case.parent / "scenarios.yaml"
    scenarios.write_text(
        "base: case\noptions: {mip_rel_gap: 1.0e-9}\nscenarios:\n  - name: base\n"
        "  - name: no_rule\n    overrides:\n"
        "      - {table: rules, where: {rule: A_DOMESTIC_60}, set: {active: false}}\n")
    out = case.parent / "runs"
    run_batch(scenarios, out, workers=1)
    return out


def test_batch_report_prices_each_scenario(batch_dir: Path, tmp_path: Path) -> None:
    path = write_report(batch_dir, tmp_path / "compare.html")
    text = path.read_text()
    for heading in ("Price of each policy", "Domestic shares", "Capacity", "All scenarios",
                    "Provenance"):
        assert f"<h2>{heading}</h2>" in text, heading
    assert "-19.0" in text  # no_rule: 31 − 50


# --- in a real browser -------------------------------------------------------------------

def _browser() -> Any:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; "
                    ".ci/run installs it where it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    return chromium, sync_playwright


def _render(html_file: Path, screenshot: Path | None = None) -> dict[str, Any]:
    """Open the file in headless Chromium with the network cut; what the page said and
    drew."""
    chromium, sync_playwright = _browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        said: list[str] = []
        requested: list[str] = []
        page.on("console", lambda m: said.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: said.append(f"pageerror: {e}"))
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("file:")
                   else (requested.append(route.request.url), route.abort()))
        page.goto(html_file.as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0 && "
                               "[...document.querySelectorAll('.js-plotly-plot')]"
                               ".every(d => d._fullLayout)", timeout=30_000)
        charts = page.evaluate("""[...document.querySelectorAll('.js-plotly-plot')].map(d => ({
            id: d.id, traces: d.data.length,
            labels: [...d.querySelectorAll('.main-svg .trace text')].map(t => t.textContent),
            panels: [...d.querySelectorAll('.annotation-text')].map(t => t.textContent),
            legend: [...d.querySelectorAll('.legendtext')].map(t => t.textContent),
            yaxes: Object.keys(d._fullLayout).filter(k => /^yaxis\\d*$/.test(k)).sort()
                .map(k => ({title: d._fullLayout[k].title.text, top: d._fullLayout[k].range[1]})),
            marks: d.querySelectorAll('.main-svg .trace, .main-svg .hm image, .main-svg '
                                      + '.sankey .sankey-link, .main-svg .geo .scatterlayer '
                                      + 'path').length}))""")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
        browser.close()
    return {"said": said, "requested": requested, "charts": charts}


def test_default_report_renders_in_chromium(tmp_path: Path) -> None:
    _browser()
    folder = _saved(capacity.load_case(), tmp_path / "plan")
    path = write_report(folder, tmp_path / "report.html")
    seen = _render(path, ARTIFACTS / "report-default.png")
    assert seen["said"] == [] and seen["requested"] == []
    assert [c["id"] for c in seen["charts"]] == ["capacity", "utilisation", "costs",
                                                 "assignments", "flows", "map"]
    for chart in seen["charts"]:
        assert chart["traces"] > 0 and chart["marks"] > 0, chart
    # the numbers a reader sees on the cost waterfall: each component, then the net cost
    costs = read_saved_plan(folder)[0]["costs"]
    shown = next(c for c in seen["charts"] if c["id"] == "costs")["labels"]
    drawn = costs[costs["pv_musd"].abs() > 1e-9]["pv_musd"]
    expected = [f"{v:,.1f}" for v in [*drawn, drawn.sum()]]
    assert [label.replace("\u2212", "-") for label in shown] == expected
    assert expected[-1] == "-711.5"
    # capacity built: a panel and an axis of its own per modality built, each scaled to
    # its own bars (AAV's few vector lots are not drawn on the cell lots' axis), and a
    # legend of the regions that built (issue 31, friction 5)
    builds = read_saved_plan(folder)[0]["builds"]
    chart = next(c for c in seen["charts"] if c["id"] == "capacity")
    built = builds.groupby(["modality", "online_period"])["batches_added"].sum() \
        .groupby("modality").max()
    assert sorted(chart["panels"]) == sorted(built.index)
    tops = {a["title"].split(" ")[0]: a["top"] for a in chart["yaxes"]}
    for modality, tallest in built.items():
        assert tallest <= tops[modality] <= 1.5 * tallest, (modality, tops)
    region = capacity.load_case().sites.set_index("site")["region"]
    assert sorted(chart["legend"]) == sorted(set(builds["site"].map(region)))
    assert (ARTIFACTS / "report-default.png").stat().st_size > 50_000


def test_batch_report_renders_in_chromium(batch_dir: Path, tmp_path: Path) -> None:
    _browser()
    seen = _render(write_report(batch_dir, tmp_path / "compare.html"))
    assert seen["said"] == [] and seen["requested"] == []
    assert [c["id"] for c in seen["charts"]] == ["price", "shares", "build"]
    assert all(c["traces"] > 0 and c["marks"] > 0 for c in seen["charts"])


def test_cli_report(tmp_path: Path) -> None:
    folder = _saved(tiny("domestic_share"), tmp_path / "plan")
    done = run("report", str(folder), "--out", str(tmp_path / "r.html"), "--no-rule-prices")
    assert done.returncode == 0, done.stderr
    assert "works offline" in done.stdout
    assert "rule prices not computed" in (tmp_path / "r.html").read_text()
    assert pd.read_csv(folder / "costs.csv")["pv_musd"].sum() == pytest.approx(50)


def test_headline_concentration_weighs_markets_by_supply() -> None:
    # X: one supplier of 2 batches (HHI 10,000) is under 5% of supply; Y: 100 batches at
    # 5,000 and 300 at 3,000, (5,000·100 + 3,000·300)/400 = 3,500; Z: 500 at 2,000.
    kpis = pd.DataFrame({"market": ["X", "Y", "Y", "Z"], "period": [1, 1, 2, 1],
                         "supply_batches": [2.0, 100.0, 300.0, 500.0],
                         "domestic_share": [1.0] * 4,
                         "hhi_operator": [10_000.0, 5_000.0, 3_000.0, 2_000.0],
                         "hhi_country": [10_000.0] * 4})
    assert _most_concentrated(kpis) == "3,500 (Y, supply-weighted over 400 batches)"


def test_report_says_its_prices_lack_the_callers_constraints(tmp_path: Path) -> None:
    # A constraint the planner added to the Pyomo model is not in the rule re-solves,
    # which are made from the case: the plan records it and the report says so plainly
    # (issue 31, friction 6: prices 58.6 → 60.8 MUSD with nothing said).
    built = capacity.build_model(tiny("domestic_share"))
    m = built.pyomo
    m.at_most_8_abroad = pyo.Constraint(
        expr=sum(v for k, v in m.Ship.items() if k[1] == "SB" and k[3] == 2030) <= 8)
    plan = capacity.solve(built, TEST_OPTIONS)
    assert plan.model_changes == ["constraint at_most_8_abroad added (1 row)"]
    assert any("re-solves from the case" in line for line in plan.messages)
    text = plan_report(plan.save(tmp_path / "plan"))
    assert "solved with changes made to its Pyomo model (constraint at_most_8_abroad " \
           "added (1 row)). Each rule's re-solve here is made from the case alone" in text
    plain = plan_report(_saved(tiny("domestic_share"), tmp_path / "plain"))
    assert "changes made to its Pyomo model" not in plain
