"""Scenario files: overrides and sweeps worked out by hand on the tiny cases, and every
kind of bad scenario file refused with its location."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import capacity
from capacity.studies.scenarios import read_scenarios

from conftest import TEST_OPTIONS, scenario_problems

pytestmark = pytest.mark.component

TINY = Path(capacity.tiny_case_path("two_sites"))


def scenario_file(tmp_path: Path, body: str, case: str = "two_sites") -> Path:
    """A scenario file beside a copy of a tiny case (base: case)."""
    shutil.copytree(capacity.tiny_case_path(case), tmp_path / "case", dirs_exist_ok=True)
    path = tmp_path / "scenarios.yaml"
    path.write_text("base: case\n" + body)
    return path


def test_set_scale_drop_add(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, """
scenarios:
  - name: dearer_sa
    overrides: [{table: suites, where: {site: SA}, set: {variable_cost_musd_per_batch: 3}}]
  - name: more_offtake
    overrides: [{table: offtakes, where: {program.modality: antibody},
                 scale: {committed_batches: 1.5}}]
  - name: one_period
    overrides: [{table: offtakes, where: {period: 2031}, drop: true}]
  - name: new_lane_cost
    overrides:
      - {table: lanes, where: {origin: B, market: A}, drop: true}
      - {table: lanes, add: [{origin: B, market: A, transport_musd_per_batch: 0.1}]}
""")
    s = read_scenarios(path)
    assert list(s.scenarios) == ["dearer_sa", "more_offtake", "one_period", "new_lane_cost"]
    suites = s.case("dearer_sa").suites.set_index("site")["variable_cost_musd_per_batch"]
    assert suites.to_dict() == {"SA": 3.0, "SB": 2.0}
    assert list(s.case("more_offtake").offtakes["committed_batches"]) == [7.5, 7.5]
    assert list(s.case("one_period").offtakes["period"]) == [2030]
    lanes = s.case("new_lane_cost").lanes.set_index(["origin", "market"])
    assert lanes.at[("B", "A"), "transport_musd_per_batch"] == 0.1
    assert lanes.at[("B", "A"), "tariff_rate"] == 0.0  # the column default
    # the base case is untouched
    assert list(s.base.offtakes["committed_batches"]) == [5.0, 5.0]


@pytest.mark.solver
def test_overrides_reach_lanes_by_modality_and_bloc(tmp_path: Path) -> None:
    # data/tiny/lanes_modality (its README): 42.8 with CART's 10 Korean lots from the US
    # at 2.5. A dearer cryo default NA → Asia (0.3 → 0.6) makes them 2.8 from the US,
    # still below 3.0 from Japan: 45.8. A cheaper cryo lane JP → KR for cell lots
    # (1.0 → 0.4) brings them to Japan at 2.4: 41.8.
    path = scenario_file(tmp_path, """
scenarios:
  - name: dearer_cryo_default
    overrides: [{table: lane_defaults, where: {origin_bloc: NA, modality: cell_autologous},
                 set: {transport_musd_per_batch: 0.6}}]
  - name: cheaper_cryo_lane
    overrides: [{table: lanes, where: {origin: JP, market: KR, modality: cell_autologous},
                 set: {transport_musd_per_batch: 0.4}}]
""", case="lanes_modality")
    s = read_scenarios(path)
    objectives = {name: capacity.solve(s.case(name), TEST_OPTIONS).objective
                  for name in s.scenarios}
    assert objectives == pytest.approx({"dearer_cryo_default": 45.8,
                                        "cheaper_cryo_lane": 41.8})


def test_overrides_reach_transfer_times(tmp_path: Path) -> None:
    # Hand-checked in tests/model/test_families.py: P1's transfers taking a period with
    # 2031's commitment only, 5 × 1 + 1 = 6; SA's alone taking one on two sites, 19.5.
    path = scenario_file(tmp_path, """
scenarios:
  - name: slow
    overrides: [{table: programs, set: {tech_transfer_periods: 1}},
                {table: offtakes, where: {period: 2030}, drop: true}]
  - name: slow_at_sa
    overrides: [{table: tech_transfers, add: [{program: P1, site: SA,
                                               tech_transfer_periods: 1}]},
                {table: programs, set: {max_sites: 2}}]
""")
    s = read_scenarios(path)
    slow, slow_at_sa = s.case("slow"), s.case("slow_at_sa")
    assert list(slow.programs["tech_transfer_periods"]) == [1]
    transfers = slow_at_sa.tech_transfers
    assert list(transfers["tech_transfer_periods"]) == [1]
    assert transfers["tech_transfer_musd"].isna().all()  # the program's cost applies
    assert capacity.solve(slow).objective == pytest.approx(6.0)
    assert capacity.solve(slow_at_sa).objective == pytest.approx(19.5)


def test_overrides_reach_approvals(tmp_path: Path) -> None:
    # data/tiny/approvals, hand-checked in its README: as given 59.5; without the US
    # requirement (its approvals table kept, unused) 40.5; SB's inspection at 30, 81; a
    # new US site SN approved from 2030 at 1 a batch (SB's row dropped), 10 × 1 × 2.7 = 27.
    path = scenario_file(tmp_path, """
scenarios:
  - name: base
  - name: no_fda
    overrides: [{table: regions, where: {region: US}, set: {approval_required: false}}]
  - name: dear_inspection
    overrides: [{table: approvals, where: {site: SB}, set: {cost_musd: 30}}]
  - name: new_us_site
    overrides:
      - {table: approvals, where: {site: SB}, drop: true}
      - {table: sites, add: [{site: SN, operator: OU, region: US, status: existing}]}
      - {table: suites, add: [{site: SN, modality: antibody, scale: commercial,
                               existing_batches_per_period: 10,
                               variable_cost_musd_per_batch: 1}]}
      - {table: approvals, add: [{site: SN, market: US, approved_from: 2030}]}
""", case="approvals")
    s = read_scenarios(path)
    assert not s.case("no_fda").regions.set_index("region").at["US", "approval_required"]
    assert s.case("dear_inspection").approvals["cost_musd"].tolist() == [0.0, 30.0]
    objectives = {name: capacity.solve(s.case(name)).objective for name in s.scenarios}
    assert objectives == pytest.approx({"base": 59.5, "no_fda": 40.5, "dear_inspection": 81.0,
                                        "new_us_site": 27.0})


def test_overrides_reach_program_phases(tmp_path: Path) -> None:
    # clinical_phase (data/tiny/README.md, tests/model/test_families.py): its phases
    # assigned apart serve both, −4; moving as one, the clinical phase goes unserved, 14.
    path = scenario_file(tmp_path, """
scenarios:
  - name: together
    overrides: [{table: programs, where: {program: BISPEC_1},
                 set: {phases_at_one_site: true}}]
""", case="clinical_phase")
    s = read_scenarios(path)
    assert list(s.base.programs["phases_at_one_site"]) == [False]
    together = s.case("together")
    assert list(together.programs["phases_at_one_site"]) == [True]
    assert capacity.solve(s.base).objective == pytest.approx(-4.0)
    plan = capacity.solve(together)
    assert plan.objective == pytest.approx(14.0)
    assert plan.messages[0].startswith("BISPEC_1's clinical phase: 0 of 10")
def test_overrides_reach_shelf_lives_and_stock_targets(tmp_path: Path) -> None:
    # Hand-checked in tests/model/test_families.py on launch_stock: made ahead 19.8; no
    # shelf life (the modality's, or the program's own) 38; a stock target of 15 in A at
    # the end of 2031 33.2; a sweep over the holding cost: 2.5 makes stock dearer than SB.
    path = scenario_file(tmp_path, """
scenarios:
  - name: fresh_only
    overrides: [{table: modalities, where: {modality: antibody},
                 set: {shelf_life_periods: 0}}]
  - name: program_fresh
    overrides: [{table: programs, set: {shelf_life_periods: 0}}]
  - name: reserve
    overrides: [{table: stock_targets, add: [{program: P1, market: A, period: 2031,
                                               min_batches: 15}]}]
sweeps:
  - name: holding
    grid: {h: [0.2, 2.5]}
    overrides: [{table: programs, set: {holding_cost_musd_per_batch_period: "{h}"}}]
""", case="launch_stock")
    s = read_scenarios(path)
    assert list(s.case("reserve").stock_targets["min_batches"]) == [15.0]
    costs = {name: capacity.solve(s.case(name)).objective for name in s.scenarios}
    assert costs == pytest.approx({"fresh_only": 38.0, "program_fresh": 38.0,
                                   "reserve": 33.2, "holding[h=0.2]": 19.8,
                                   "holding[h=2.5]": 38.0})
def test_overrides_reach_continuity_of_supply(tmp_path: Path) -> None:
    # Hand-checked in tests/model/test_families.py (launch_dropped): off, TIL is dropped in
    # 2031 (−800); a case-wide share of 0.8 (the settings row replaced) keeps 136 (−664);
    # TIL's own 1 (set on the programs table) keeps all 170 (−630); a sweep of the
    # settings row's share.
    path = scenario_file(tmp_path, """
scenarios:
  - name: base
  - name: kept
    overrides: [{table: settings, drop: true},
                {table: settings, add: [{continuity_share: 0.8}]}]
  - name: til_fully
    overrides: [{table: programs, where: {program: TIL}, set: {continuity_share: 1.0}}]
sweeps:
  - name: share
    grid: {s: [0.0, 0.8]}
    overrides: [{table: settings, set: {continuity_share: "{s}"}}]
""", case="launch_dropped")
    s = read_scenarios(path)
    assert list(s.case("kept").settings["continuity_share"]) == [0.8]
    assert s.case("til_fully").programs.set_index("program")["continuity_share"].to_dict() \
        == pytest.approx({"TIL": 1.0, "CART": float("nan")}, nan_ok=True)
    assert {name: capacity.solve(s.case(name)).objective
            for name in ("base", "kept", "til_fully", "share[s=0.0]", "share[s=0.8]")} \
        == pytest.approx({"base": -800.0, "kept": -664.0, "til_fully": -630.0,
                          "share[s=0.0]": -800.0, "share[s=0.8]": -664.0})


def test_overrides_reach_changeovers(tmp_path: Path) -> None:
    # Hand-checked in tests/model/test_families.py (data/tiny/changeovers): with a changeover
    # of 1 slot per program P2 goes to SB, 34; without (the modality's at 0, or SA's own at
    # 0, which wins over the modality's) both share SA, 22. A two_sites case without a
    # modalities table takes its override on the built-in list: a changeover of 6 at
    # antibody suites leaves SA 10 − 6 = 4 slots for 5 batches, so P1 goes to SB (10 slots,
    # 5 + 6 = 11 > 10 too): no plan.
    path = scenario_file(tmp_path, """
scenarios:
  - name: base
  - name: free
    overrides: [{table: modalities, where: {modality: antibody}, set: {changeover_slots: 0}}]
  - name: free_at_sa
    overrides: [{table: suites, where: {site: SA}, set: {changeover_slots: 0}}]
  - name: doubled
    overrides: [{table: modalities, scale: {changeover_slots: 2}}]
""", case="changeovers")
    s = read_scenarios(path)
    assert list(s.case("free").modalities["changeover_slots"]) == [0.0]
    assert s.case("free_at_sa").suites.set_index("site")["changeover_slots"].to_dict() == \
        pytest.approx({"SA": 0.0, "SB": float("nan")}, nan_ok=True)
    assert list(s.case("doubled").modalities["changeover_slots"]) == [2.0]
    assert [capacity.solve(s.case(n)).objective for n in ("base", "free", "free_at_sa")] == \
        pytest.approx([34.0, 22.0, 22.0])
    built_in = scenario_file(tmp_path / "built_in", """
scenarios:
  - name: long_changeovers
    overrides: [{table: modalities, where: {modality: antibody}, set: {changeover_slots: 6}}]
""")
    case = read_scenarios(built_in).case("long_changeovers")
    assert case.modalities.set_index("modality").at["antibody", "changeover_slots"] == 6.0
    assert capacity.solve(case).status == "infeasible"


def test_grid_and_samples(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, """
options: {time_limit_s: 30}
sweeps:
  - name: cost
    grid: {c: [1, 2], t: [0.0, 0.5]}
    overrides: [{table: suites, where: {site: SA}, set: {variable_cost_musd_per_batch: "{c}"}},
                {table: lanes, set: {tariff_rate: "{t}"}}]
  - name: draw
    samples: {n: 3, seed: 7, parameters: {f: {uniform: [0.5, 1.0]}}}
    options: {time_limit_s: 5}
    overrides: [{table: offtakes, scale: {committed_batches: "{f}"}}]
""")
    s = read_scenarios(path)
    assert list(s.scenarios)[:4] == ["cost[c=1,t=0.0]", "cost[c=1,t=0.5]", "cost[c=2,t=0.0]",
                                     "cost[c=2,t=0.5]"]
    case = s.case("cost[c=2,t=0.5]")
    assert case.suites.set_index("site").at["SA", "variable_cost_musd_per_batch"] == 2.0
    assert set(case.lanes["tariff_rate"]) == {0.5}
    draws = [s.case(f"draw#{i}").offtakes["committed_batches"].iloc[0] / 5 for i in (1, 2, 3)]
    assert all(0.5 <= f <= 1.0 for f in draws) and len(set(draws)) == 3
    assert draws == [read_scenarios(path).case(f"draw#{i}").offtakes["committed_batches"]
                     .iloc[0] / 5 for i in (1, 2, 3)]  # seeded: the same draws again
    assert s.solve_options("cost[c=1,t=0.0]").time_limit_s == 30
    assert s.solve_options("draw#1").time_limit_s == 5


@pytest.mark.parametrize(("body", "expected"), [
    ("scenarios: [{name: x, overrides: [{table: nope, drop: true}]}]",
     "scenarios[x].overrides[0]': Value error, unknown table 'nope'"),
    ("scenarios: [{name: x, overrides: [{table: suites, drop: true, set: {a: 1}}]}]",
     "give exactly one of set, scale, drop, add (got set, drop)"),
    ("scenarios: [{name: x, overrides: [{table: suites, where: {site: ZZ}, drop: true}]}]",
     "column 'scenario x, override 1 (suites)': where {'site': 'ZZ'} selects no rows"),
    ("scenarios: [{name: x, overrides: [{table: suites, set: {colour: red}}]}]",
     "set: unknown column 'colour'"),
    ("scenarios: [{name: x, overrides: [{table: sites, scale: {status: 2}}]}]",
     "scale: column 'status' is not numeric"),
    ("scenarios: [{name: x, overrides: [{table: suites, where: {program.modality: aav}, "
     "drop: true}]}]", "'program.modality' does not name a column"),
    ("scenarios: [{name: x, options: {time_limit_s: -1}}]",
     "column 'scenario x: options.time_limit_s': Input should be greater than 0"),
    ("scenarios: [{name: x, colour: red}]", "scenarios[x].colour': Extra inputs"),
    ("scenarios: [{name: ../x}]", "use letters, digits"),
    ("scenarios: [{name: x}, {name: x}]", "scenario 'x' is named twice"),
    ("sweeps: [{name: s, grid: {a: [1]}, overrides: [{table: lanes, set: {tariff_rate: '{b}'}}]}]",
     "names no sweep parameter"),
    ("scenarios: [{name: x, overrides: [{table: offtakes, set: {committed_batches: -5}}]}]",
     "scenario x: offtakes, row 2, column 'committed_batches'"),
    ("scenarios: [{name: x}\n", "is not valid YAML"),
    ("!!python/object/apply:os.system ['echo unsafe']", "is not valid YAML"),
])
def test_bad_scenario_files_are_located(tmp_path: Path, body: str, expected: str) -> None:
    found = scenario_problems(scenario_file(tmp_path, body))
    assert any(expected in p for p in found), found
    assert all(p.startswith((str(tmp_path / "scenarios.yaml"), "scenario x:")) for p in found)


def test_base_case_must_lie_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    path = tmp_path / "inner" / "s.yaml"
    path.write_text(f"base: ../{TINY.name}\nscenarios: [{{name: x}}]\n")
    found = scenario_problems(path)
    assert "lies outside the scenario file's folder" in found[0]


def test_default_scenarios_materialise_through_the_cli(tmp_path: Path) -> None:
    path = capacity.default_scenarios_path()
    run = subprocess.run([sys.executable, "-m", "capacity", "scenario", str(path),
                          "jp_domestic_50", "--out", str(tmp_path / "case")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    written = capacity.load_case(tmp_path / "case")
    expected = read_scenarios(path).case("jp_domestic_50")
    assert written.rules.equals(expected.rules)
    assert written.rules.set_index("rule").at["JP_DOMESTIC_30", "share"] == 0.5
    listing = subprocess.run([sys.executable, "-m", "capacity", "scenario", str(path)],
                             capture_output=True, text=True, check=True).stdout
    assert "jp_share[share=0.2]: 1 override(s)" in listing
    missing = subprocess.run([sys.executable, "-m", "capacity", "scenario", str(path), "nope",
                              "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert missing.returncode == 2 and "no scenario 'nope'" in missing.stderr
