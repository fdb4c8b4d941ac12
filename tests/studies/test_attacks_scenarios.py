"""Attacks on scenario files and batch stores (issue 29, round two): a scenario file that
reads or writes outside its folder, a resume that keeps results of an older definition,
files sized to exhaust memory or the stack, duplicate keys, override values that are not
one finite cell. Each must end in a clear exit-2 error naming the file (and the line or
key), or, for a resume, in a re-solve that says why.

Tiny two_sites (data/tiny/README.md): base = 2·5·1 + 1 = 11; with SA at 3 per batch SB
wins at 2 + 0.5: 2·5·2.5 + 1 = 26; with SA at 1.5: 2·5·1.5 + 1 = 16.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.studies.scenarios import read_scenarios

from conftest import TEST_OPTIONS, scenario_problems, tiny

pytestmark = pytest.mark.component

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def scenario_file(folder: Path, body: str, case: str = "two_sites") -> Path:
    """``folder/s.yaml`` (``base: case``, then ``body``) beside a copy of a tiny case."""
    shutil.copytree(capacity.tiny_case_path(case), folder / "case", dirs_exist_ok=True)
    path = folder / "s.yaml"
    path.write_text("base: case\n" + body)
    return path


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "capacity", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})


def flat(text: str) -> str:
    """Text with its line wrapping undone (error consoles wrap long lines)."""
    return " ".join(text.split())


# --- nothing outside the scenario file's folder is read or written -----------------------

def test_a_table_linking_out_of_the_folder_is_refused_unread(tmp_path: Path) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text("API_TOKEN=hunter2\n")
    path = scenario_file(tmp_path / "s", "scenarios: [{name: base}]\n")
    periods = path.parent / "case" / "periods.csv"
    periods.unlink()
    periods.symlink_to(secret)
    run = cli("batch", str(path), "--out", str(tmp_path / "out"), "--workers", "1")
    assert run.returncode == 2, run.stderr
    said = flat(run.stderr)
    assert str(path) in said and "periods.csv links outside the scenario file's folder" in said
    assert "hunter2" not in run.stdout + run.stderr
    assert "API_TOKEN" not in run.stdout + run.stderr
    assert not (tmp_path / "out" / "done").exists()
    # a link that stays inside the scenario file's folder is read as the table
    inside = path.parent / "periods.csv"
    shutil.copy(capacity.tiny_case_path("two_sites") / "periods.csv", inside)
    periods.unlink()
    periods.symlink_to(inside)
    assert list(read_scenarios(path).base.periods["period"]) == [2030, 2031]


def test_batch_writes_no_model_file_a_scenario_file_names(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "x.mps"
    target.parent.mkdir()
    path = scenario_file(tmp_path / "s", f"options: {{model_file: {target}, time_limit_s: 30}}"
                         "\nscenarios: [{name: base}]\n")
    run = cli("batch", str(path), "--out", str(tmp_path / "out"), "--workers", "1")
    assert run.returncode == 2, run.stderr
    said = flat(run.stderr)
    assert str(path) in said and "'options'" in said and "model_file" in said
    assert not target.exists()
    assert not (tmp_path / "out" / "done").exists()


@pytest.mark.parametrize(("body", "where"), [
    ("scenarios: [{name: x, options: {model_file: ../x.lp}}]", "'scenarios[x].options'"),
    ("sweeps: [{name: s, grid: {a: [1]}, options: {model_file: x.mps},\n"
     "          overrides: [{table: lanes, set: {tariff_rate: '{a}'}}]}]", "'sweeps[s].options'"),
])
def test_no_scenario_or_sweep_names_a_model_file(tmp_path: Path, body: str, where: str) -> None:
    found = scenario_problems(scenario_file(tmp_path, body))
    assert any(where in p and "model_file" in p for p in found), found
    assert all(p.startswith(str(tmp_path / "s.yaml")) for p in found)


@needs_fifo
def test_a_fifo_in_the_base_case_is_refused_not_waited_on(tmp_path: Path) -> None:
    path = scenario_file(tmp_path / "s", "scenarios: [{name: base}]\n")
    periods = path.parent / "case" / "periods.csv"
    periods.unlink()
    os.mkfifo(periods)
    run = cli("batch", str(path), "--out", str(tmp_path / "out"), "--workers", "1",
              timeout=60)
    assert run.returncode == 2, run.stderr
    said = flat(run.stderr)
    assert str(path) in said and "periods.csv is not a regular file" in said


# --- the scenario file itself: its kind, size, nesting, aliases, keys --------------------

@needs_fifo
def test_a_fifo_scenario_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "s.yaml")
    run = cli("scenario", str(tmp_path / "s.yaml"), timeout=60)
    assert run.returncode == 2, run.stderr
    assert f"{tmp_path / 's.yaml'}: is not a regular file" in flat(run.stderr)


def test_an_oversized_scenario_file_is_refused_unparsed(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "scenarios: [{name: x}]\n" + "#" * (17 * 1024**2) + "\n")
    found = scenario_problems(path)
    assert found == [f"{path}: is 17.0 MiB; a scenario file may be at most 16 MiB (a sweep "
                     "says many scenarios in a few lines)"]


def _alias_bomb(levels: int) -> str:
    """YAML anchors, each a list of ten aliases of the one before: 10**levels values in a
    few hundred bytes."""
    lines = ["options: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]"
              for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_key_given_twice_is_refused_but_a_merge_may_restate_one(tmp_path: Path) -> None:
    # YAML keeps the later value, silently: scenario a was never solved
    path = scenario_file(tmp_path / "a", "scenarios: [{name: a}]\nscenarios: [{name: b}]\n")
    assert scenario_problems(path) == [f"{path}: line 3: key 'scenarios' is given twice (first at "
                              "line 2); the earlier value would be lost"]
    # a merge key's entries may be restated: that is what a merge is for
    path = scenario_file(tmp_path / "b", "options: &o {time_limit_s: 5, mip_rel_gap: 0.1}\n"
                         "scenarios: [{name: a, options: {<<: *o, time_limit_s: 9}}]\n")
    options = read_scenarios(path).solve_options("a")
    assert (options.time_limit_s, options.mip_rel_gap) == (9, 0.1)


@pytest.mark.parametrize(("body", "expected"), [
    # a key given twice, deeper down
    ("scenarios:\n  - name: a\n    name: b\n", "line 4: key 'name' is given twice"),
    ("scenarios: [{name: a, overrides: [{table: lanes, set: {tariff_rate: 1, tariff_rate: 2}}]}]",
     "line 2: key 'tariff_rate' is given twice"),
    # nested past the stack: an internal error (RecursionError) before
    ("scenarios: " + "[" * 20_000 + "]" * 20_000 + "\n", "line 2: nested more than 64 levels"),
    # an alias bomb: 10**9 values with the aliases expanded
    (_alias_bomb(9) + "scenarios: [{name: a, overrides: [{table: lanes, where: "
     "{origin: *a8}, drop: true}]}]\n", "with its aliases expanded the file holds more than"),
    # a grid of 10**6 points: refused from its shape, before expanding any
    ("sweeps: [{name: big, grid: {a: [" + ", ".join(map(str, range(100))) + "], b: ["
     + ", ".join(map(str, range(100))) + "], c: [" + ", ".join(map(str, range(100)))
     + "]}, overrides: [{table: lanes, set: {tariff_rate: '{a}'}}]}]\n",
     "column 'sweeps': makes 1,000,000 scenarios (big: 1,000,000); at most 100,000"),
    # 100,000 points, each copying a where-list of 1,000 values
    ("sweeps: [{name: wide, grid: {a: [" + ", ".join(map(str, range(100))) + "], b: ["
     + ", ".join(map(str, range(1000))) + "]}, overrides: [{table: lanes, where: {origin: ["
     + ", ".join(f"X{i}" for i in range(1000)) + "]}, set: {tariff_rate: '{a}'}}]}]\n",
     "expanded, the sweeps hold"),
])
def test_scenario_files_are_bounded_before_anything_is_built(tmp_path: Path, body: str,
                                                             expected: str) -> None:
    path = scenario_file(tmp_path, body)
    started = time.perf_counter()
    found = scenario_problems(path)
    assert time.perf_counter() - started < 20  # the size was known without building it
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(path)) for p in found)


# --- override values: one finite cell each ----------------------------------------------

@pytest.mark.parametrize(("override", "expected"), [
    # more values than rows: an internal error (pandas ValueError) before
    ("{table: offtakes, set: {committed_batches: [1, 2, 3]}}",
     "set: column 'committed_batches' takes one number or text, not a list ([1, 2, 3])"),
    # as many values as rows: spread over them, silently
    ("{table: offtakes, set: {committed_batches: [1, 2]}}",
     "set: column 'committed_batches' takes one number or text, not a list"),
    ("{table: lanes, set: {tariff_rate: {a: 1}}}",
     "set: column 'tariff_rate' takes one number or text, not a dict"),
    # NaN reads as a blank cell: the column default (tariff 0), silently
    ("{table: lanes, set: {tariff_rate: .nan}}",
     "set: column 'tariff_rate': nan is not a finite number"),
    ("{table: lanes, scale: {tariff_rate: .nan}}",
     "scale: column 'tariff_rate': nan is not a finite number"),
    ("{table: lanes, scale: {tariff_rate: .inf}}",  # 0 · inf = NaN: the default again
     "scale: column 'tariff_rate': inf is not a finite number"),
])
def test_override_values_are_single_finite_cells(tmp_path: Path, override: str,
                                                 expected: str) -> None:
    path = scenario_file(tmp_path, f"scenarios: [{{name: x, overrides: [{override}]}}]\n")
    found = scenario_problems(path)
    assert any(p.startswith(f"{path}, column 'scenario x, override 1")
               and expected in p for p in found), found


def test_a_list_too_long_for_its_rows_exits_2_not_internal_error(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "scenarios: [{name: x, overrides: "
                         "[{table: offtakes, set: {committed_batches: [1, 2, 3]}}]}]\n")
    run = cli("scenario", str(path), "x", "--out", str(tmp_path / "x"))
    assert run.returncode == 2, run.stderr
    assert "internal error" not in run.stderr
    assert "column 'committed_batches' takes one number or text" in flat(run.stderr)


def test_error_locations_keep_their_brackets(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, "sweeps: [{name: s, grid: {a: [1]}, overrides: "
                         "[{table: lanes, set: {tariff_rate: '{b}'}}]}]\n")
    run = cli("scenario", str(path))
    assert run.returncode == 2, run.stderr
    assert f"{path}, column 'sweeps[s]': '{{b}}' names no sweep parameter" in flat(run.stderr)


# --- a resume solves again what changed, and says so ------------------------------------

RESUMED = """options: {time_limit_s: 60, mip_rel_gap: 1.0e-9}
scenarios:
  - name: base
  - name: dearer_sa
    overrides: [{table: suites, where: {site: SA}, set: {variable_cost_musd_per_batch: COST}}]
"""


@pytest.mark.solver
def test_resume_solves_again_what_changed_and_says_why(tmp_path: Path) -> None:
    path = scenario_file(tmp_path / "s", RESUMED.replace("COST", "3"))
    out = tmp_path / "out"
    batch = ["batch", str(path), "--out", str(out), "--workers", "1"]

    def objectives() -> dict[str, float]:
        summary = pd.read_parquet(out / "summary.parquet")
        return dict(zip(summary["scenario"], summary["objective"].round(6), strict=True))

    first = cli(*batch)
    assert first.returncode == 0, first.stderr
    assert objectives() == {"base": 11.0, "dearer_sa": 26.0}
    base_result = (out / "done" / "base.json").read_text()

    # unchanged: nothing solved again
    same = cli(*batch, "--resume")
    assert same.returncode == 0, same.stderr
    assert "resuming: 2 of 2 scenarios already finished" in flat(same.stderr)
    assert "re-solving" not in same.stderr

    # one scenario's definition changed: it alone is solved again (SA at 1.5: still SA)
    path.write_text("base: case\n" + RESUMED.replace("COST", "1.5"))
    redefined = cli(*batch, "--resume")
    assert redefined.returncode == 0, redefined.stderr
    said = flat(redefined.stderr)
    assert "resuming: 1 of 2 scenarios already finished" in said
    assert ("re-solving 1 finished scenarios whose definition, base case or options "
            "changed: dearer_sa") in said
    assert objectives() == {"base": 11.0, "dearer_sa": 16.0}
    assert (out / "done" / "base.json").read_text() == base_result

    # the base case changed (SA at 1.5 for every scenario): both are solved again
    suites = path.parent / "case" / "suites.csv"
    suites.write_text(suites.read_text().replace("SA,antibody,commercial,10,1.0",
                                                 "SA,antibody,commercial,10,1.5"))
    rebased = cli(*batch, "--resume")
    assert rebased.returncode == 0, rebased.stderr
    assert "changed: base, dearer_sa" in flat(rebased.stderr)
    assert objectives() == {"base": 16.0, "dearer_sa": 16.0}
    assert json.loads((out / "done" / "base.json").read_text())["objective"] == 16.0


@pytest.mark.solver
def test_pareto_resume_follows_an_edited_case(tmp_path: Path) -> None:
    # domestic_share (tests/studies/test_pareto.py): at domestic share s,
    # 2·10·(3s + 1.5(1 − s)) + 2; SA at 4 instead of 3: 2·10·(4s + 1.5(1 − s)) + 2, so 62
    # at 0.6, 72 at 0.8, and SA alone 2·10·4 + 1 = 81 at 1.
    case = tiny("domestic_share")
    front = capacity.pareto(case, "domestic_share:A", points=3, options=TEST_OPTIONS,
                            workers=1, out=tmp_path / "out")
    assert front.front["cost"].round(6).tolist() == [50.0, 56.0, 61.0]
    suites = case.suites.copy()
    suites.loc[suites["site"] == "SA", "variable_cost_musd_per_batch"] = 4.0
    dearer = capacity.Case.from_frames({**case.tables(), "suites": suites}, name=case.name)
    again = capacity.pareto(dearer, "domestic_share:A", points=3, options=TEST_OPTIONS,
                            workers=1, out=tmp_path / "out", resume=True)
    assert again.front[["epsilon", "cost"]].round(6).values.tolist() == [
        [0.6, 62.0], [0.8, 72.0], [1.0, 81.0]]


@pytest.mark.solver
def test_allocate_resume_follows_an_edited_case(tmp_path: Path) -> None:
    # pooling (data/tiny/README.md): c(S) = min(6 + n, 4n) for n batches, so c(N) = 12;
    # NEW opening at 8 instead of 6: c(N) = min(8 + 6, 24) = 14.
    case = tiny("pooling")
    first = capacity.allocate(case, workers=1, out=tmp_path / "out", options=TEST_OPTIONS)
    assert first.grand_cost == pytest.approx(12.0)
    sites = case.sites.copy()
    sites.loc[sites["site"] == "NEW", "opening_cost_musd"] = 8.0
    dearer = capacity.Case.from_frames({**case.tables(), "sites": sites}, name=case.name)
    again = capacity.allocate(dearer, workers=1, out=tmp_path / "out", resume=True,
                              options=TEST_OPTIONS)
    assert again.grand_cost == pytest.approx(14.0)
