"""Solver choice: SCIP and Gurobi solve the engine's compiled matrices from the engine's
start, to the same optimum as HiGHS, through the same extraction, checker and Plan
(`capacity.engine.external`). The optima are the tiny cases' hand results
(data/tiny/README.md); pip's Gurobi licence (2,000 variables and constraints) holds them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import capacity
from capacity.case.generate import generate_case
from capacity.engine.backend import status_of

from conftest import TEST_OPTIONS, assert_checked, edited, offtakes, run, tiny

pytestmark = pytest.mark.solver

SOLVERS = ["scip", "gurobi"]
NAMES = {"scip": "SCIP", "gurobi": "Gurobi"}

# (case, the optimum worked out by hand in data/tiny/README.md or the case's own README)
HAND_OPTIMA = [("two_sites", 11.0), ("candidate_site", 17.0), ("domestic_share", 50.0),
               ("changeovers", 34.0), ("rationing", 50.0), ("approvals", 59.5),
               ("launch_stock", 19.8), ("launch_dropped", -800.0), ("clinical_phase", -4.0),
               ("pooled_reservation", 12.4)]


@pytest.fixture(scope="module")
def tier_s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated tier S (6,492 columns: over pip's Gurobi licence, so SCIP only): SCIP
    spends its first seconds in the root LP, so a short limit or a stop lands mid-solve."""
    out = tmp_path_factory.mktemp("solvers") / "tier-S"
    generate_case("S", 1).save(out)
    return out


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize(("name", "optimum"), HAND_OPTIMA, ids=[n for n, _ in HAND_OPTIMA])
def test_same_optimum_as_highs_on_the_tiny_cases(solver: str, name: str,
                                                 optimum: float) -> None:
    case = tiny(name)
    highs = capacity.solve(case, TEST_OPTIONS)
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"solver": solver}))
    assert plan.status == highs.status == "optimal", plan.messages
    assert plan.objective == pytest.approx(optimum, abs=1e-6)
    assert highs.objective == pytest.approx(optimum, abs=1e-6)
    assert plan.gap is not None and plan.gap <= 1e-6
    assert plan.options["solver"] == solver
    assert set(plan.counters) == {"mip_nodes", "simplex_iterations"}
    assert_checked(case, plan)  # the independent checker reads the same tables


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_engine_start_is_the_solvers_first_plan(solver: str) -> None:
    # approvals: the greedy start never approves SB (81, data/tiny/approvals/README.md);
    # the optimum approves it (59.5). The solver reports the start as taken, and the first
    # plan the solve reports is the start's.
    seen: list[float | None] = []
    plan = capacity.solve(tiny("approvals"), TEST_OPTIONS.model_copy(update={"solver": solver}),
                          progress=lambda at, incumbent, bound: seen.append(incumbent))
    assert plan.objective == pytest.approx(59.5)
    assert seen[0] == pytest.approx(81.0)
    assert f"{NAMES[solver]} started from the engine's plan (the completed constructive " \
           "start)" in plan.messages
    # without a start, nothing is said about one
    cold = capacity.solve(tiny("approvals"), TEST_OPTIONS.model_copy(
        update={"solver": solver, "mip_start": False}))
    assert cold.objective == pytest.approx(59.5)
    assert not any("engine's plan" in m for m in cold.messages)


def test_scip_holds_the_start_when_the_time_limit_stops_it(tier_s: Path) -> None:
    # one second on tier S ends inside SCIP's root LP: the plan is the start, and it is
    # SCIP's (not the engine's fallback, which says so)
    case = capacity.load_case(tier_s)
    seen: list[float] = []
    plan = capacity.solve(case, capacity.SolveOptions(solver="scip", time_limit_s=1),
                          progress=lambda at, incumbent, bound: seen.extend(
                              [incumbent] if incumbent is not None else []))
    assert plan.status == "time_limit_feasible", plan.messages
    assert plan.objective == pytest.approx(seen[0])
    assert not any("before finding a plan of its own" in m for m in plan.messages)
    assert "SCIP started from the engine's plan (the completed constructive start)" \
        in plan.messages


@pytest.mark.parametrize("solver", SOLVERS)
def test_an_infeasible_case_is_infeasible_and_explained(solver: str) -> None:
    # two_sites with 15 batches a period committed: P1 goes to one site, each holds 10
    case = edited(tiny("two_sites"), offtakes=offtakes(15))
    plan = capacity.solve(case, TEST_OPTIONS.model_copy(update={"solver": solver}))
    assert plan.status == "infeasible"
    assert not plan.has_solution and not plan.tables
    assert any("at most 10 can be supplied" in m for m in plan.messages), plan.messages


def test_a_time_limit_without_a_plan_says_so(tier_s: Path) -> None:
    # no start, a hundredth of a second: SCIP is still presolving tier S (half a second
    # was enough for a plan on an idle machine)
    plan = capacity.solve(capacity.load_case(tier_s), capacity.SolveOptions(
        solver="scip", time_limit_s=0.01, mip_start=False))
    assert plan.status == "no_solution"
    assert not plan.has_solution and not plan.tables
    assert "no feasible plan found within the 0.01 s time limit" in plan.messages


def test_status_rules_are_highs_rules() -> None:
    # Gurobi solves every tiny case before it reads its clock, so its stop at a limit
    # without a plan is checked here, on the rule both solvers share
    assert status_of("limit", has_plan=False) == "no_solution"
    assert status_of("limit", has_plan=True) == "time_limit_feasible"
    assert status_of("interrupted", has_plan=True) == "interrupted"
    assert status_of("error", has_plan=True) == "time_limit_feasible"
    assert status_of("error", has_plan=False) == "error"
    assert status_of("optimal", has_plan=True) == "optimal"


def test_gurobi_over_its_size_limited_licence_says_so() -> None:
    plan = capacity.solve(capacity.load_case(), capacity.SolveOptions(solver="gurobi"))
    assert plan.status == "error"
    assert not plan.has_solution
    [message] = [m for m in plan.messages if "licence" in m]
    assert "6,012 variables and 8,477 constraints" in message
    assert "up to 2,000 of each" in message and "scip" in message


def test_a_stop_requested_through_the_api_stops_scip(tier_s: Path) -> None:
    from capacity.engine import interrupt

    case = capacity.load_case(tier_s)
    # the request lands while SCIP is in its root LP, where no event of SCIP's comes
    started: list[float] = []
    timer = threading.Timer(0.0, lambda: None)

    def progress(at: float, incumbent: float | None, bound: float | None) -> None:
        nonlocal timer
        if not started:  # the start is in hand: SCIP runs next
            started.append(time.monotonic())
            timer = threading.Timer(2.0, interrupt.request)
            timer.start()

    plan = capacity.solve(case, capacity.SolveOptions(solver="scip", time_limit_s=300),
                          progress=progress)
    timer.join()
    assert plan.status == "interrupted", plan.messages
    assert time.monotonic() - started[0] < 30  # not the 300-s limit
    assert plan.tables  # the start SCIP held, kept apart (has_solution is False)
    assert not interrupt.requested()


def test_ctrl_c_stops_scip_and_keeps_stdout_json(tier_s: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "capacity", "solve", str(tier_s),
                             "--solver", "scip", "--time-limit", "300", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # loaded, SCIP solving
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - sent < 15
    assert json.loads(stdout)["status"] == "interrupted"  # nothing else on stdout


def test_cli_solver_option(tmp_path: Path) -> None:
    done = run("solve", str(capacity.tiny_case_path("two_sites")), "--solver", "scip",
               "--json", "--write-model", str(tmp_path / "m.mps"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "optimal" and summary["objective"] == pytest.approx(11.0)
    assert summary["options"]["solver"] == "scip"
    assert "ROWS" in (tmp_path / "m.mps").read_text()
    bad = run("solve", str(capacity.tiny_case_path("two_sites")), "--solver", "cplex")
    assert bad.returncode == 2 and "--solver" in bad.stderr


@pytest.mark.parametrize(("solver", "package"), [("scip", "pyscipopt"),
                                                 ("gurobi", "gurobipy")])
def test_a_solver_not_installed_exits_2_naming_the_extra(solver: str, package: str) -> None:
    # the package made unimportable, as on a machine without it (Python's own way: None
    # in sys.modules makes an import fail with ModuleNotFoundError)
    code = (f"import sys; sys.modules[{package!r}] = None; "
            "sys.argv = ['capacity', 'solve', sys.argv[1], '--solver', sys.argv[2]]; "
            "from capacity.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code,
                           str(capacity.tiny_case_path("two_sites")), solver],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"needs the {package} package, which is not installed" in done.stderr
    assert "pip install 'biomanufacturing-capacity[solvers]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_scip_notes_the_threads_it_does_not_use() -> None:
    plan = capacity.solve(tiny("two_sites"), TEST_OPTIONS.model_copy(
        update={"solver": "scip", "threads": 2}))
    assert plan.objective == pytest.approx(11.0)
    assert "SCIP solves on one thread (threads=2 not used)" in plan.messages


@pytest.mark.parametrize("solver", SOLVERS)
def test_studies_re_solving_through_the_resolver_use_the_solver(solver: str) -> None:
    from capacity.engine.resolver import Resolver

    resolver = Resolver()
    options = TEST_OPTIONS.model_copy(update={"solver": solver})
    plans = [resolver.solve(tiny("two_sites"), options) for _ in range(2)]
    assert resolver.reused == 1  # the second solve re-used the model, same solver
    assert all(p.objective == pytest.approx(11.0) for p in plans)
    assert all(f"{NAMES[solver]} started from the engine's plan (the completed "
               "constructive start)" in p.messages for p in plans)


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_callers_pyomo_changes_reach_the_solver(solver: str) -> None:
    # two_sites with P1 barred from SA (its Assign fixed at 0): SB at 2 a batch plus the
    # 0.5 lane, 5 batches in each of two periods, and the transfer: 2 × 5 × 2.5 + 1 = 26
    built = capacity.build_model(tiny("two_sites"))
    for key, assign in built.pyomo.Assign.items():
        if "SA" in key:
            assign.fix(0)
    plan = capacity.solve(built, TEST_OPTIONS.model_copy(update={"solver": solver}))
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(26.0)
    assert set(plan.assignments["site"]) == {"SB"}
