"""python -m benchmarks.solvers: one generated case, solved side by side by the engine
(HiGHS, and SCIP through ``solver="scip"``) and by HiGHS, SCIP and CBC reading the same
MPS file with their defaults.

    python -m benchmarks.solvers [--family uniform|realistic] [--tier S] [--seed 1]
                                 [--time-limit 60] [--plan-at 60]
                                 [--paths engine,engine-scip,highs-mps,scip-mps,cbc-mps]
                                 [--rewrite]

The case is generated at ``--tier`` of ``--family`` (issue 33's side-by-side table is the
realistic family's national tier, N), built once, and written as MPS by the engine's writer
(`capacity.engine.model_file`, as ``capacity solve --write-model`` does). Each path then
runs in a fresh process, one after the other, one thread, seed 0, gap target 1e-4, the
same time limit:

- ``engine``: ``capacity.solve`` on the validated case (index sets, build, transfer, the
  constructive start, then HiGHS; every step of the engine's path);
- ``engine-scip``: the same with ``SolveOptions(solver="scip")``: the compiled matrices
  and the completed start to SCIP (`capacity.engine.external`);
- ``highs-mps``: highspy reading the MPS file, HiGHS's defaults;
- ``scip-mps``: PySCIPOpt reading the MPS file, SCIP's defaults;
- ``cbc-mps``: the CBC binary that PuLP ships, on the MPS file (``-timeMode elapsed
  -sec``, ``-threads 1``, ``-ratioGap``), its log read as it runs.

Gurobi is left out: pip's licence stops at 2,000 variables and constraints (tier S has
6,492 columns, realistic tier N 115,939).

Reported per path: time to the first plan (wall clock from the path's first step: the
engine's solve call, or the solver reading the file), the best plan at ``--plan-at``
seconds (from each better plan's time, kept as the run goes), the plan and the proven bound at
the time limit and their gap (the net objective, MUSD, as every path's objective is the
engine's: the MPS carries the constant), and peak resident memory of the process (for
CBC, of the CBC process). Writes benchmarks/solvers_results.json and the *solvers*
section of RESULTS.md (``--rewrite``: the section alone, from the JSON). ``--paths``
with some of the paths re-runs those and keeps the others of the last run, where the
tier, seed and time limit are the same.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import re
import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "solvers_results.json"
PATHS = ("engine", "engine-scip", "highs-mps", "scip-mps", "cbc-mps")
GAP = 1e-4
LABELS = {"engine": "engine (HiGHS, constructive start and its steps)",
          "engine-scip": "engine → SCIP (`--solver scip`: matrices + start)",
          "highs-mps": "HiGHS defaults on the MPS",
          "scip-mps": "SCIP defaults on the MPS",
          "cbc-mps": "CBC (PuLP's binary) on the MPS"}


def _gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return abs(objective - bound) / max(abs(objective), 1.0)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(case_dir: str, time_limit: float,
               solver: Literal["highs", "scip"]) -> dict[str, Any]:
    """The engine's whole solve of the case, with ``solver``."""
    import capacity

    case = capacity.load_case(case_dir)
    t0 = time.perf_counter()

    plans: list[tuple[float, float]] = []

    def progress(at: float, incumbent: float | None, bound: float | None) -> None:
        if incumbent is not None and (not plans or incumbent < plans[-1][1] - 1e-9):
            plans.append((time.perf_counter() - t0, incumbent))

    plan = capacity.solve(case, capacity.SolveOptions(
        time_limit_s=time_limit, mip_rel_gap=GAP, threads=1, seed=0, explain=False,
        solver=solver), progress=progress)
    return {"status": plan.status, "first_plan_s": plans[0][0] if plans else None,
            "objective": plan.objective, "bound": plan.bound, "gap": plan.gap,
            "seconds": time.perf_counter() - t0, "peak_mib": _peak_mib(),
            "counters": plan.counters, "plans": plans}


def run_highs_mps(mps: str, time_limit: float) -> dict[str, Any]:
    """highspy on the MPS file, HiGHS's defaults (one thread, seed 0)."""
    import highspy

    highs = highspy.Highs()  # type: ignore[no-untyped-call]
    for name, value in (("output_flag", False), ("threads", 1), ("random_seed", 0),
                        ("mip_rel_gap", GAP), ("time_limit", time_limit)):
        highs.setOptionValue(name, value)
    plans: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    def improving(event: Any) -> None:
        plans.append((time.perf_counter() - t0, float(event.data_out.objective_function_value)))

    highs.cbMipImprovingSolution.subscribe(improving)
    highs.readModel(mps)
    highs.run()
    info = highs.getInfo()
    has_plan = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    objective = float(info.objective_function_value) if has_plan else None
    bound = float(info.mip_dual_bound) if abs(info.mip_dual_bound) < 1e20 else None
    return {"status": highs.modelStatusToString(highs.getModelStatus()),
            "first_plan_s": plans[0][0] if plans else None, "objective": objective,
            "bound": bound, "gap": _gap(objective, bound),
            "seconds": time.perf_counter() - t0, "peak_mib": _peak_mib(),
            "counters": {"mip_nodes": int(info.mip_node_count)}, "plans": plans}


def run_scip_mps(mps: str, time_limit: float) -> dict[str, Any]:
    """PySCIPOpt on the MPS file, SCIP's defaults (it solves on one thread)."""
    import pyscipopt
    from pyscipopt import SCIP_EVENTTYPE  # type: ignore[attr-defined]

    plans: list[tuple[float, float]] = []
    t0 = time.perf_counter()

    class Plans(pyscipopt.Eventhdlr):
        def eventinit(self) -> None:
            self.model.catchEvent(SCIP_EVENTTYPE.BESTSOLFOUND, self)

        def eventexec(self, event: Any) -> dict[str, Any]:
            plans.append((time.perf_counter() - t0, float(self.model.getPrimalbound())))
            return {}

    m = pyscipopt.Model()
    m.hideOutput()
    m.readProblem(mps)
    m.includeEventhdlr(Plans(), "plans", "each better plan")
    for name, value in (("limits/time", time_limit), ("limits/gap", GAP),
                        ("randomization/randomseedshift", 0)):
        m.setParam(name, value)
    m.optimize()
    objective = m.getPrimalbound() if m.getNSols() else None
    bound = m.getDualbound() if abs(m.getDualbound()) < 1e20 else None
    return {"status": m.getStatus(), "first_plan_s": plans[0][0] if plans else None,
            "objective": objective, "bound": bound, "gap": _gap(objective, bound),
            "seconds": time.perf_counter() - t0, "peak_mib": _peak_mib(),
            "counters": {"mip_nodes": int(m.getNTotalNodes())}, "plans": plans}


_CBC_NUMBER = r"(-?[0-9.eE+-]+)"


def run_cbc_mps(mps: str, time_limit: float) -> dict[str, Any]:
    """The CBC binary PuLP ships, on the MPS file; its log read line by line as it runs
    (the first "Integer solution" line is the first plan)."""
    import pulp

    cbc = pulp.apis.PULP_CBC_CMD().path
    plans: list[tuple[float, float]] = []
    lines = []
    t0 = time.perf_counter()
    # -timeMode elapsed: CBC's -sec counts CPU seconds otherwise (on a loaded machine,
    # far longer than the other paths' wall-clock limit)
    with subprocess.Popen([cbc, mps, "-timeMode", "elapsed", "-sec", f"{time_limit:g}",
                           "-threads", "1", "-ratioGap", f"{GAP:g}", "-solve", "-quit"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            found = re.search(rf"Integer solution of {_CBC_NUMBER}", line)
            if found:
                plans.append((time.perf_counter() - t0, float(found.group(1))))
    seconds = time.perf_counter() - t0
    log = "".join(lines)

    def read(label: str) -> float | None:
        found = re.search(rf"^{label}:\s+{_CBC_NUMBER}", log, re.MULTILINE)
        return float(found.group(1)) if found else None

    result = re.search(r"^Result - (.*)$", log, re.MULTILINE)
    objective = read("Objective value") if plans else None
    bound = read("Lower bound")
    if result and result.group(1).startswith("Optimal"):
        bound = objective
    nodes = read("Enumerated nodes")
    return {"status": result.group(1) if result else "no result line",
            "first_plan_s": plans[0][0] if plans else None, "objective": objective,
            "bound": bound, "gap": _gap(objective, bound), "seconds": seconds,
            "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "counters": {} if nodes is None else {"mip_nodes": int(nodes)},
            "plans": plans}


def run_path(path: str, case_dir: str, mps: str, time_limit: float) -> dict[str, Any]:
    """One path of the comparison, in this process."""
    if path == "engine":
        return run_engine(case_dir, time_limit, "highs")
    if path == "engine-scip":
        return run_engine(case_dir, time_limit, "scip")
    if path == "highs-mps":
        return run_highs_mps(mps, time_limit)
    if path == "scip-mps":
        return run_scip_mps(mps, time_limit)
    if path == "cbc-mps":
        return run_cbc_mps(mps, time_limit)
    raise ValueError(f"unknown path {path!r} ({', '.join(PATHS)})")


def in_fresh_process(path: str, case_dir: str, mps: str, time_limit: float) -> dict[str, Any]:
    """`run_path` in a fresh (spawned) process, so that its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_path, path, case_dir, mps, time_limit).result()


def prepare(tier: str, seed: int, family: str,
            folder: Path) -> tuple[Path, Path, dict[str, int]]:
    """The case folder and its MPS file (the engine's writer), and the model's size."""
    from capacity.case.generate import generate_case
    from capacity.engine.highs import pass_linear
    from capacity.engine.model_file import write_model
    from capacity.model import build_model

    case_dir, mps = folder / f"tier-{tier}", folder / f"tier-{tier}.mps"
    case = generate_case(tier, seed, family)
    case.save(case_dir)
    built = build_model(case)
    write_model(pass_linear(built.linear), str(mps))
    return case_dir, mps, built.linear.size()


def plan_at(plans: list[tuple[float, float]], seconds: float) -> float | None:
    """The best plan found by ``seconds`` (minimising), from (seconds, objective) pairs."""
    found = [objective for at, objective in plans if at <= seconds]
    return min(found) if found else None


def section(run: dict[str, Any]) -> str:
    """The *solvers* section of RESULTS.md from one run's JSON."""
    a, size = run["arguments"], run["size"]

    def num(x: float | None, digits: int = 1) -> str:
        return "none" if x is None else f"{x:,.{digits}f}"

    def pct(x: float | None) -> str:
        return "none" if x is None else f"{x:.2%}"

    at = a.get("plan_at", 60.0)
    family = a.get("family", "uniform")
    rows = [f"| path | status | first plan (s) | plan at {at:g} s | plan at the limit | "
            "bound | gap | gap (MUSD) | ended (s) | peak MiB | nodes | load |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path, r in run["paths"].items():
        musd = None if r["objective"] is None or r["bound"] is None \
            else abs(r["objective"] - r["bound"])
        rows.append(f"| {LABELS[path]} | {r['status']} | {num(r['first_plan_s'], 2)} | "
                    f"{num(plan_at(r.get('plans', []), at))} | "
                    f"{num(r['objective'])} | {num(r['bound'])} | {pct(r['gap'])} | "
                    f"{num(musd)} | {num(r['seconds'])} | {r['peak_mib']:,.0f} | "
                    f"{r['counters'].get('mip_nodes', 'n/a')} | "
                    f"{num(r.get('load_average'))} |")
    load = run["load_average"]
    command = (f"python -m benchmarks.solvers --family {family} --tier {a['tier']} "
               f"--seed {a['seed']} --time-limit {a['time_limit']:g} --plan-at {at:g}"
               if "family" in a else
               f"python -m benchmarks.solvers --tier {a['tier']} --seed {a['seed']} "
               f"--time-limit {a['time_limit']:g}")
    return (f"`{command}`: {family} tier {a['tier']} ({size['variables']:,} "
            f"columns, {size['binary'] + size['integer']:,} integer, "
            f"{size['constraints']:,} rows, {size['nonzeros']:,} nonzeros), each path in a "
            f"fresh process, one after the other, one thread, seed 0, gap target {GAP:g}, "
            f"{a['time_limit']:g} s each (wall clock). The machine is shared: its 1-minute "
            f"load average was {load['before']:.1f} before and {load['after']:.1f} after "
            "the run, and *load* is the average as each path started (2 cores; other "
            "jobs ran alongside, so each path had a fraction of a core, and not the same "
            "fraction): seconds are indicative, and plans and bounds at the limit depend on "
            "the work done in that time. First plan: wall clock from "
            "the engine's solve call (index sets, build, transfer, start included) or from "
            "the solver reading the MPS file; ended: wall clock to the path's end (a solver "
            "that heeds its limit late shows it here). Objective: the net cost minimised, "
            "MUSD.\n\n"
            + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", default="S")
    parser.add_argument("--family", default="uniform", choices=("uniform", "realistic"))
    parser.add_argument("--plan-at", type=float, default=60.0,
                        help="also report each path's best plan at this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--rewrite", action="store_true",
                        help="only rewrite RESULTS.md's section from the last run's JSON")
    args = parser.parse_args()
    from benchmarks.machine import replace_section

    if args.rewrite:
        replace_section(HERE / "RESULTS.md", "solvers",
                        section(json.loads(RESULTS.read_text())))
        return
    before = os.getloadavg()[0]
    arguments = {"tier": args.tier, "family": args.family, "seed": args.seed,
                 "time_limit": args.time_limit, "plan_at": args.plan_at}
    last = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    kept = {k: v for k, v in last.get("arguments", {}).items() if k != "paths"} == arguments
    results: dict[str, Any] = dict(last["paths"]) if kept else {}
    with tempfile.TemporaryDirectory() as tmp:
        case_dir, mps, size = prepare(args.tier, args.seed, args.family, Path(tmp))
        for path in args.paths.split(","):
            load = os.getloadavg()[0]
            results[path] = in_fresh_process(path, str(case_dir), str(mps), args.time_limit)
            r = results[path]
            r["load_average"] = load
            print(f"{path}: {r['status']}, first plan {r['first_plan_s']}, plan "
                  f"{r['objective']}, bound {r['bound']}, gap {r['gap']}, "
                  f"{r['peak_mib']:.0f} MiB", flush=True)
    results = {p: results[p] for p in PATHS if p in results}  # in the table's order
    run = {"arguments": {**arguments, "paths": ",".join(results)},
           "size": size, "load_average": {"before": before, "after": os.getloadavg()[0]},
           "paths": results}
    RESULTS.write_text(json.dumps(run, indent=2) + "\n")
    replace_section(HERE / "RESULTS.md", "solvers", section(run))
    print(section(run))


if __name__ == "__main__":
    main()
