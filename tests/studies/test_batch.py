"""Batch solves on real Dask clusters: identical to serial solves, failures recorded,
resume after a kill, a scheduler reached by address, persistent re-solve, comparison.

Tiny two_sites (P1 needs 5 batches in A in 2030 and 2031; SA in A costs 1/batch, SB in B
2/batch + 0.5 transport; transfer 1; one site): base = 5·1·2 + 1 = 11.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import capacity
from capacity.studies.batch import ResultStore, read_results, run_batch
from capacity.studies.compare import compare
from capacity.studies.scenarios import read_scenarios

from conftest import TEST_OPTIONS

pytestmark = pytest.mark.solver

SCENARIOS = """
base: case
options: {mip_rel_gap: 1.0e-9, time_limit_s: 120}
scenarios:
  - name: base
  # SA at 3/batch: SB wins at 2.5: 5·2.5·2 + 1 = 26 (costs only: re-uses base's model)
  - name: dearer_sa
    overrides: [{table: suites, where: {site: SA}, set: {variable_cost_musd_per_batch: 3}}]
  # SA doubled to 2/batch: still cheaper than SB: 5·2·2 + 1 = 21
  - name: sa_doubled
    overrides: [{table: suites, where: {site: SA}, scale: {variable_cost_musd_per_batch: 2}}]
  # 7.5 batches a period, SA holds 10: 7.5·1·2 + 1 = 16
  - name: more_offtake
    overrides: [{table: offtakes, scale: {committed_batches: 1.5}}]
  # 15 a period, each site holds 10, one site allowed: infeasible
  - name: too_much
    overrides: [{table: offtakes, scale: {committed_batches: 3}}]
  # not a valid case: recorded as an error, the batch goes on
  - name: broken
    overrides: [{table: offtakes, set: {committed_batches: -1}}]
"""
EXPECTED = {"base": 11.0, "dearer_sa": 26.0, "sa_doubled": 21.0, "more_offtake": 16.0}


@pytest.fixture
def scenario_path(tmp_path: Path) -> Path:
    shutil.copytree(capacity.tiny_case_path("two_sites"), tmp_path / "case")
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIOS)
    return path


def _objectives(summary: pd.DataFrame) -> dict[str, float]:
    solved = summary[summary["status"] == "optimal"]
    return dict(zip(solved["scenario"], solved["objective"].round(9), strict=True))


def test_local_cluster_matches_serial_solves(scenario_path: Path, tmp_path: Path) -> None:
    summary = run_batch(scenario_path, tmp_path / "out", workers=2)
    status = dict(zip(summary["scenario"], summary["status"], strict=True))
    assert status == {**{n: "optimal" for n in EXPECTED}, "too_much": "infeasible",
                      "broken": "error"}
    assert _objectives(summary) == EXPECTED
    error = summary.set_index("scenario").at["broken", "error"]
    assert "offtakes, row 2, column 'committed_batches'" in error
    # identical to solving each scenario's case on its own
    scenarios = read_scenarios(scenario_path)
    shipments = read_results(tmp_path / "out", "shipments")
    for name, objective in EXPECTED.items():
        plan = capacity.solve(scenarios.case(name), TEST_OPTIONS)
        assert plan.objective == pytest.approx(objective, abs=1e-9)
        mine = shipments[shipments["scenario"] == name].drop(columns="scenario")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), plan.shipments,
                                      check_dtype=False)
    # dearer_sa and sa_doubled differ from base only in costs; 6 jobs on 2 workers are cut
    # into chains of at most ⌈6/4⌉ = 2: [base, dearer_sa] (re-used model), [sa_doubled]
    reused = summary.set_index("scenario")["reused_model"]
    assert bool(reused["dearer_sa"])
    assert not bool(reused["sa_doubled"]) and not bool(reused["more_offtake"])


def test_chains_are_cut_to_keep_workers_busy() -> None:
    from capacity.studies.batch import Job, split_chains

    jobs = [Job(f"s{i}", None, capacity.SolveOptions()) for i in range(9)]
    cut = split_chains([jobs[:7], jobs[7:]], workers=2)  # at most ⌈9/4⌉ = 3 a chain
    assert [[j.name for j in c] for c in cut] == [["s0", "s1", "s2"], ["s3", "s4", "s5"],
                                                  ["s6"], ["s7", "s8"]]
    assert [len(c) for c in split_chains([jobs], workers=1)] == [5, 4]


def test_without_persistence_the_results_are_the_same(scenario_path: Path,
                                                       tmp_path: Path) -> None:
    summary = run_batch(scenario_path, tmp_path / "out", workers=1, persistent=False)
    assert _objectives(summary) == EXPECTED
    assert not summary["reused_model"].fillna(False).astype(bool).any()


def test_compare_prices_each_scenario(scenario_path: Path, tmp_path: Path) -> None:
    run_batch(scenario_path, tmp_path / "out", workers=2)
    table = compare(tmp_path / "out").set_index("scenario")
    assert table.at["base", "delta_objective"] == 0.0
    assert table.at["dearer_sa", "delta_objective"] == pytest.approx(15.0)  # 26 − 11
    assert table.at["more_offtake", "delta_objective"] == pytest.approx(5.0)  # 16 − 11
    # base production 5·1·2 = 10; dearer_sa ships from SB: 5·2·2 = 20 (transport apart)
    assert table.at["base", "cost_production"] == pytest.approx(10.0)
    assert table.at["dearer_sa", "delta_cost_production"] == pytest.approx(10.0)
    assert table.at["dearer_sa", "delta_cost_transport"] == pytest.approx(5.0)
    assert table.at["base", "domestic_share_A"] == 1.0
    assert table.at["dearer_sa", "domestic_share_A"] == 0.0
    assert pd.isna(table.at["broken", "objective"])
    other = compare(tmp_path / "out", base="dearer_sa").set_index("scenario")
    assert other.at["base", "delta_objective"] == pytest.approx(-15.0)
    with pytest.raises(KeyError, match="no finished scenario 'nope'"):
        compare(tmp_path / "out", base="nope")


def test_existing_results_are_not_mixed(scenario_path: Path, tmp_path: Path) -> None:
    run_batch(scenario_path, tmp_path / "out", workers=1)
    with pytest.raises(FileExistsError, match="use --resume"):
        run_batch(scenario_path, tmp_path / "out", workers=1)


def _wait_for(predicate: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError("condition not met in time")


def test_resume_after_a_killed_batch(tmp_path: Path) -> None:
    # The default case's scenarios take seconds each on one worker: kill the batch after
    # the first has finished, resume, and check nothing was lost or solved twice.
    path = tmp_path / "scenarios.yaml"
    path.write_text("base: default\noptions: {time_limit_s: 60}\nscenarios:\n" + "".join(
        f"  - {{name: tariff_{i}, overrides: [{{table: lanes, where: {{market: US}}, "
        f"set: {{tariff_rate: 0.{i}}}}}]}}\n" for i in range(1, 6)))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "capacity", "batch", str(path), "--out", str(out),
           "--workers", "1", "--no-persistent"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    store = ResultStore(out)
    try:
        _wait_for(lambda: len(store.finished()) >= 1, 240)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    before = {p.name: p.read_text() for p in (out / "done").glob("*.json")}
    assert 1 <= len(before) < 5
    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} of 5 scenarios already finished" in resumed.stderr
    after = {p.name: p.read_text() for p in (out / "done").glob("*.json")}
    assert len(after) == 5
    assert all(after[name] == text for name, text in before.items())  # not solved again
    summary = pd.read_parquet(out / "summary.parquet")
    assert sorted(summary["scenario"]) == [f"tariff_{i}" for i in range(1, 6)]
    assert (summary["status"] == "optimal").all()
    assert len(read_results(out, "costs")["scenario"].unique()) == 5


def test_scheduler_and_workers_in_separate_processes(scenario_path: Path,
                                                     tmp_path: Path) -> None:
    # A scheduler and two workers started as their own processes on loopback, reached by
    # address, as on a cluster.
    info = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", "0",
                               "--scheduler-file", str(info), "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(info.exists, 60)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address,
                 "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        run = subprocess.run([sys.executable, "-m", "capacity", "batch", str(scenario_path),
                              "--out", str(tmp_path / "out"), "--scheduler", address],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 1, run.stderr  # too_much and broken have no plan
        assert "4 of 6 scenarios have a plan" in run.stdout
        summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
        assert _objectives(summary) == EXPECTED
        assert summary["worker_pid"].nunique() >= 1
        assert os.getpid() not in set(summary["worker_pid"])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
