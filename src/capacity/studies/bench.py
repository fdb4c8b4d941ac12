"""The tier benchmark: generate, validate, build, transfer and solve seeded cases, timing
each phase apart, with HiGHS reading the same model from MPS as the reference.

    capacity bench [--tiers S,M] [--repeat N] [--json FILE]      (or python -m benchmarks)

Every tier runs in a fresh process, so its peak memory is its own. HiGHS runs with one
thread and a fixed seed, so its work counters (nodes, simplex iterations) repeat exactly;
wall-clock times are reported as ratios measured in the same run.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

RELATIVE_GAP_MARK = 0.01  # "time to 1% gap"
# the gaps whose first time is recorded, so that two solve paths that never reach 1% can
# still be compared at the tightest gap both reach (`gap_ratios`)
GAP_MARKS = (0.20, 0.10, 0.05, 0.03, 0.02, 0.015, RELATIVE_GAP_MARK)


def run_tier(tier: str, seed: int = 1, time_limit: float = 600.0,
             gap: float = 1e-4, mip_start: bool = True,
             family: str = "uniform", root_lp: bool = False) -> dict[str, Any]:
    """Measure one tier of a case family (`capacity.case.generate.FAMILIES`) in this
    process (see module docstring). ``mip_start=False`` measures HiGHS's defaults on the
    same model (no constructive start). ``root_lp``: after the solve, also time HiGHS
    solving the model's LP relaxation alone (its default LP solver, one thread, the same
    time limit; `root_lp_seconds`), and give the proven gap the solve had reached within
    ten times that (``gap_at_10x_root_lp``)."""
    from capacity.case import Case
    from capacity.case.generate import frames_of, tiers_of
    from capacity.engine.highs import new_highs
    from capacity.engine.options import SolveOptions
    from capacity.engine.solve import solve
    from capacity.model import build_model

    seconds: dict[str, float | None] = {}
    t0 = time.perf_counter()
    frames = frames_of(tier, seed, family)
    seconds["generate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    case = Case.from_frames(frames, name=f"{family}-tier-{tier}")
    seconds["validate"] = time.perf_counter() - t0
    built = build_model(case)
    seconds["index_sets"], seconds["build"] = built.seconds["index_sets"], built.seconds["build"]
    marks: dict[str, float] = {}
    to_gap: dict[float, float] = {}
    incumbents: list[tuple[float, float]] = []  # (HiGHS's seconds, incumbent) as improved
    gaps: list[tuple[float, float]] = []  # (HiGHS's seconds, proven gap) as it closed
    best: list[float] = [float("inf"), float("-inf")]  # incumbent, bound (minimised)

    def progress(at: float, incumbent: float | None, bound: float | None) -> None:
        # HiGHS reports the incumbent and the bound in separate callbacks: the gap is of
        # the best of each seen so far
        if incumbent is not None:
            if incumbent < best[0]:
                incumbents.append((at, incumbent))
            best[0] = min(best[0], incumbent)
            marks.setdefault("first_feasible", at)
        if bound is not None:
            best[1] = max(best[1], bound)
        if best[0] == float("inf") or best[1] == float("-inf"):
            return
        gap_now = abs(best[0] - best[1]) / max(abs(best[0]), 1.0)
        if not gaps or gap_now < gaps[-1][1] * (1 - 1e-9):  # closed, not float noise
            gaps.append((at, gap_now))
        for mark in GAP_MARKS:
            if gap_now <= mark:
                to_gap.setdefault(mark, at)

    with tempfile.TemporaryDirectory() as tmp:
        mps = Path(tmp) / "model.mps"
        options = SolveOptions(time_limit_s=time_limit, mip_rel_gap=gap, threads=1, seed=0,
                               explain=False, model_file=str(mps), mip_start=mip_start)
        plan = solve(built, options, progress=progress)
        reader = new_highs()
        t0 = time.perf_counter()
        reader.readModel(str(mps))
        seconds["mps_read"] = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)  # before the relaxation's own run
        lp, lp_objective = relaxation(reader, time_limit) if root_lp else (None, None)
    for phase in ("start", "transfer", "solve", "extract"):
        seconds[phase] = plan.seconds.get(phase)
    seconds["first_feasible"] = marks.get("first_feasible")
    # HiGHS's clock (from the start of its run); the plan's own gap at the end counts too
    # (a proof of optimality, or a bound the progress calls did not carry)
    for mark in GAP_MARKS:
        if mark not in to_gap and plan.gap is not None and plan.gap <= mark:
            to_gap[mark] = seconds["solve"] or 0.0
    seconds["gap_1pct"] = to_gap.get(RELATIVE_GAP_MARK)
    build_transfer = (seconds["build"] or 0) + (seconds["transfer"] or 0)
    index = seconds["index_sets"] or 0
    # from a validated case to the first plan: index sets, build, greedy start, transfer,
    # then HiGHS's clock (which includes completing the start)
    seconds["first_plan_end_to_end"] = None if seconds["first_feasible"] is None else \
        index + build_transfer + (seconds["start"] or 0) + seconds["first_feasible"]
    if plan.gap is not None:
        gaps.append((seconds["solve"] or 0.0, plan.gap))
    t = tiers_of(family)[tier]
    gap_musd = None if plan.objective is None or plan.bound is None else \
        abs(plan.objective - plan.bound)
    return {
        "tier": tier, "family": family, "seed": seed,
        "solve_path": "engine" if mip_start else "HiGHS defaults",
        "gap_musd": gap_musd,
        "primal_integral": primal_integral(incumbents, plan.objective, seconds["solve"] or 0.0),
        "sites": t.sites, "programs": t.programs,
        "periods": t.periods, "status": plan.status, "objective": plan.objective,
        "bound": plan.bound, "gap": plan.gap, "seconds": seconds,
        "build_transfer_over_mps_read": build_transfer / seconds["mps_read"]
        if seconds["mps_read"] else None,
        "index_build_transfer_over_mps_read": (index + build_transfer) / seconds["mps_read"]
        if seconds["mps_read"] else None,
        "peak_memory_mib": usage.ru_maxrss / 1024,
        # CPU seconds of this process (HiGHS runs in it): on a shared, loaded machine the
        # wall-clock times above stretch, the CPU time much less
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "size": plan.size, "counters": plan.counters, "time_limit": time_limit,
        "seconds_to_gap": {f"{mark:g}": to_gap.get(mark) for mark in GAP_MARKS},
        "gap_trajectory": gaps,
        "root_lp_seconds": lp,
        "root_lp_objective": lp_objective,
        "gap_at_10x_root_lp": None if lp is None else gap_at(gaps, 10 * lp),
    }


def relaxation(highs: Any, time_limit: float) -> tuple[float | None, float | None]:
    """Seconds HiGHS (one thread, its default LP solver) takes to solve the LP relaxation
    of the model it holds, and the LP's optimum; (None, None) where it did not finish
    within ``time_limit``."""
    for name, value in (("solve_relaxation", True), ("threads", 1),
                        ("time_limit", time_limit), ("output_flag", False)):
        highs.setOptionValue(name, value)
    t0 = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - t0
    if highs.modelStatusToString(highs.getModelStatus()) != "Optimal":
        return None, None
    return seconds, float(highs.getInfo().objective_function_value)


def gap_at(gaps: list[tuple[float, float]], seconds: float) -> float | None:
    """The smallest proven gap reached by ``seconds`` of (seconds, gap) pairs."""
    reached = [g for at, g in gaps if at <= seconds]
    return min(reached) if reached else None


def primal_integral(incumbents: list[tuple[float, float]], best: float | None,
                    until: float) -> float | None:
    """The primal integral (Berthold 2013) over [0, ``until``] seconds: ∫ p(t) dt with
    p(t) = 1 before the first plan, then |z(t) − best| / max(|z(t)|, |best|) for the
    incumbent z(t) (0 where both are 0); ``best`` is the best plan's objective at the
    end. Seconds: the lower, the sooner good plans came. None without a plan."""
    if best is None or not incumbents:
        return None
    total, at, gap = 0.0, 0.0, 1.0
    for when, z in sorted(incumbents):
        when = min(max(when, 0.0), until)
        total += gap * (when - at)
        at = when
        scale = max(abs(z), abs(best))
        gap = 0.0 if scale == 0 else min(1.0, abs(z - best) / scale)
    return total + gap * max(until - at, 0.0)


def in_fresh_process(tier: str, seed: int, time_limit: float, gap: float,
                     mip_start: bool, family: str = "uniform",
                     root_lp: bool = False) -> dict[str, Any]:
    """`run_tier` in a fresh (spawned) process, so that its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_tier, tier, seed, time_limit, gap, mip_start,
                           family, root_lp).result()


def bench(tiers: list[str], seed: int = 1, repeat: int = 1, time_limit: float = 600.0,
          gap: float = 1e-4, side_by_side: bool = False,
          family: str = "uniform", root_lp: bool = False) -> list[dict[str, Any]]:
    """Run each tier of ``family`` ``repeat`` times, each in a fresh process;
    ``side_by_side`` also runs HiGHS's defaults (no constructive start) on the same model
    right after each run; ``root_lp``: `run_tier`'s."""
    results = []
    for tier in tiers:
        for k in range(repeat):
            for mip_start in (True, False) if side_by_side else (True,):
                row = in_fresh_process(tier, seed, time_limit, gap, mip_start, family,
                                       root_lp)
                row["repeat"] = k + 1
                results.append(row)
    return results


def render(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of bench results."""
    def f(x: float | None, d: int = 2) -> str:
        return "—" if x is None else f"{x:,.{d}f}"

    lines = ["| tier | solve path | sites | programs | periods | status | objective | gap | "
             "variables | nonzeros | generate s | validate s | index s | build s | start s | "
             "transfer s | MPS read s | (build+transfer)/MPS | (index+build+transfer)/MPS | "
             "first plan s | first plan end-to-end s | 1% gap s | solve s | extract s | "
             "peak MiB | nodes | LP iterations |",
             "|---|---|" + "---:|" * 25]
    for r in rows:
        s = r["seconds"]
        gap = "—" if r["gap"] is None else f"{r['gap']:.2%}"
        lines.append(
            f"| {r['tier']} | {r.get('solve_path', 'engine')} | {r['sites']} | "
            f"{r['programs']} | {r['periods']} | {r['status']} | {f(r['objective'], 1)} | "
            f"{gap} | {r['size']['variables']:,} | {r['size']['nonzeros']:,} | "
            f"{f(s['generate'])} | {f(s['validate'])} | {f(s['index_sets'])} | "
            f"{f(s['build'])} | {f(s.get('start'))} | {f(s['transfer'])} | "
            f"{f(s['mps_read'])} | {f(r['build_transfer_over_mps_read'], 1)}× | "
            f"{f(r.get('index_build_transfer_over_mps_read'), 1)}× | "
            f"{f(s['first_feasible'])} | {f(s.get('first_plan_end_to_end'))} | "
            f"{f(s['gap_1pct'])} | {f(s['solve'])} | "
            f"{f(s['extract'])} | {r['peak_memory_mib']:,.0f} | "
            f"{r['counters'].get('mip_nodes', '—')} "
            f"| {r['counters'].get('simplex_iterations', '—')} |")
    return "\n".join(lines)


def gap_ratios(engine: dict[str, Any], defaults: dict[str, Any]) -> list[dict[str, Any]]:
    """For each of `GAP_MARKS`: the seconds each path took to reach it on HiGHS's clock
    (None: not within its time limit) and HiGHS's defaults' time over the engine's. Where
    only the engine reached a gap, the ratio is a lower bound: the defaults' time limit
    over the engine's time (``at_least``)."""
    rows = []
    for mark in GAP_MARKS:
        key = f"{mark:g}"
        ours, theirs = engine["seconds_to_gap"][key], defaults["seconds_to_gap"][key]
        ratio = at_least = None
        if ours is not None and theirs is not None:
            ratio = theirs / max(ours, 1e-9)
        elif ours is not None:
            at_least = defaults["time_limit"] / max(ours, 1e-9)
        rows.append({"gap": mark, "engine_s": ours, "defaults_s": theirs, "ratio": ratio,
                     "ratio_at_least": at_least})
    return rows


def render_gap_ratios(tier: str, engine: dict[str, Any], defaults: dict[str, Any]) -> str:
    """A Markdown table of `gap_ratios`."""
    def cell(x: float | None) -> str:
        return "not reached" if x is None else f"{x:,.1f}"

    lines = [f"| tier | gap | engine s (limit {engine['time_limit']:g}) | HiGHS defaults s "
             f"(limit {defaults['time_limit']:g}) | defaults / engine |",
             "|---|---:|---:|---:|---:|"]
    for r in gap_ratios(engine, defaults):
        ratio = (f"{r['ratio']:.1f}×" if r["ratio"] is not None else
                 f"> {r['ratio_at_least']:.1f}× (defaults: not reached)"
                 if r["ratio_at_least"] is not None else "—")
        lines.append(f"| {tier} | {r['gap']:.1%} | {cell(r['engine_s'])} | "
                     f"{cell(r['defaults_s'])} | {ratio} |")
    return "\n".join(lines)


def render_measurement(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of what a planner feels at a tier: the first plan, the gap at the
    time limit (in % and MUSD) and the primal integral, beside the model's size."""
    def f(x: float | None, d: int = 1) -> str:
        return "—" if x is None else f"{x:,.{d}f}"

    lines = ["| family | tier | sites | programs | periods | time limit s | status | "
             "objective | bound | gap | gap MUSD | first plan s (HiGHS) | first plan s "
             "(end to end) | primal integral s | binaries | columns | rows | nonzeros | "
             "index + build s | peak MiB | CPU s | s to 2 % | s to 1 % | root LP s | "
             "gap at 10× root LP |",
             "|---|---|" + "---:|" * 23]
    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.2%}"

    def ten_root_lps(r: dict[str, Any]) -> str:
        root = r.get("root_lp_seconds")
        if root is None or 10 * root <= r["time_limit"]:
            return pct(r.get("gap_at_10x_root_lp"))
        # the run ended before ten root LPs' time: its gap at the limit, so marked
        return f"{pct(r.get('gap_at_10x_root_lp'))} at the limit ({10 * root:,.0f} s not run)"

    for r in rows:
        s, size = r["seconds"], r["size"]
        gap = pct(r["gap"])
        lines.append(
            f"| {r.get('family', 'uniform')} | {r['tier']} | {r['sites']} | {r['programs']} | "
            f"{r['periods']} | {r['time_limit']:g} | {r['status']} | {f(r['objective'])} | "
            f"{f(r['bound'])} | {gap} | {f(r.get('gap_musd'))} | "
            f"{f(s['first_feasible'], 2)} | {f(s.get('first_plan_end_to_end'), 2)} | "
            f"{f(r.get('primal_integral'), 2)} | {size['binary']:,} | "
            f"{size['variables']:,} | {size['constraints']:,} | {size['nonzeros']:,} | "
            f"{f((s['index_sets'] or 0) + (s['build'] or 0), 2)} | "
            f"{r['peak_memory_mib']:,.0f} | {f(r.get('cpu_seconds'))} | "
            f"{f(r['seconds_to_gap'].get('0.02'))} | {f(r['seconds_to_gap'].get('0.01'))} | "
            f"{f(r.get('root_lp_seconds'))} | {ten_root_lps(r)} |")
    return "\n".join(lines)


def case_statistics(case: Any, plan: Any = None) -> dict[str, Any]:
    """The structure of a case that decides how hard it is to plan, to set a generated
    family beside the default case (docs/benchmarks.md):

    - ``sites_per_program``: the sites a program can be made at (distinct sites of its
      SHIP tuples: suites of its modality and scale, qualified, reachable), mean and range;
    - ``committed_share``: committed batches / (committed + potential) batches;
    - ``variable_cost_spread``: the coefficient of variation of the suites' variable cost
      per batch within each modality and scale, averaged (near 0: near-equal sites);
    - ``binaries``, ``columns``, ``rows``: the built model's size;
    - with a solved ``plan``: ``capex_over_served_value`` (capex / served value, both
      discounted, as in the plan's costs) and ``fixed_cost_share`` (fixed costs of
      existing and opened sites / the sum of the cost components > 0).
    """
    from capacity.model import build_model

    built = build_model(case)
    sites_of: dict[str, set[str]] = {}
    for p, s, _m, _t in built.index_sets.ship:
        sites_of.setdefault(p, set()).add(s)
    counts = [len(v) for v in sites_of.values()]
    committed = float(case.offtakes["committed_batches"].sum())
    potential = float(case.demand["potential_batches"].sum())
    suites = case.suites
    by = suites.groupby(["modality", "scale"])["variable_cost_musd_per_batch"]
    spread = (by.std(ddof=0) / by.mean()).dropna()
    size = built.linear.size()
    out: dict[str, Any] = {
        "regions": len(case.regions), "sites": len(case.sites),
        "candidate_sites": int((case.sites["status"] == "candidate").sum()),
        "programs": len(case.programs), "periods": len(case.periods),
        "sites_per_program_mean": sum(counts) / max(len(counts), 1),
        "sites_per_program_min": min(counts, default=0),
        "sites_per_program_max": max(counts, default=0),
        "committed_share": committed / max(committed + potential, 1e-9),
        "variable_cost_spread": float(spread.mean()) if len(spread) else 0.0,
        "binaries": int(size["binary"]), "columns": int(size["variables"]),
        "rows": int(size["constraints"]),
        "capex_over_served_value": None, "fixed_cost_share": None, "plan_status": None,
    }
    if plan is not None and plan.costs is not None and not plan.costs.empty:
        cost = plan.costs.set_index("component")["pv_musd"]
        served = -float(cost.get("served_value", 0.0))
        positive = float(cost[cost > 0].sum())
        fixed = float(cost.get("fixed_existing", 0.0) + cost.get("fixed_opened", 0.0))
        out["capex_over_served_value"] = float(cost.get("capex", 0.0)) / served \
            if served > 0 else None
        out["fixed_cost_share"] = fixed / positive if positive > 0 else None
        out["plan_status"] = plan.status
    return out


STATISTICS_ROWS = (
    ("regions", "regions", "{:,}"), ("sites (candidates)", "sites", "{:,}"),
    ("programs", "programs", "{:,}"), ("periods", "periods", "{:,}"),
    ("sites a program can be made at, mean", "sites_per_program_mean", "{:.1f}"),
    ("… range", "sites_per_program_min", "{}"),
    ("committed share of demand (batches)", "committed_share", "{:.1%}"),
    ("variable-cost spread within modality × scale (CV)", "variable_cost_spread", "{:.2f}"),
    ("capex / served value (plan)", "capex_over_served_value", "{:.1%}"),
    ("fixed-cost share of costs (plan)", "fixed_cost_share", "{:.1%}"),
    ("plan the two rows above read", "plan_status", "{}"),
    ("binaries", "binaries", "{:,}"), ("columns", "columns", "{:,}"), ("rows", "rows", "{:,}"),
)


def render_statistics(columns: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one row per statistic of `case_statistics`, one column per case."""
    names = list(columns)
    lines = ["| statistic | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for label, key, fmt in STATISTICS_ROWS:
        cells = []
        for name in names:
            st = columns[name]
            if key == "sites":
                cells.append(f"{st['sites']:,} ({st['candidate_sites']:,})")
            elif key == "sites_per_program_min":
                cells.append(f"{st['sites_per_program_min']}–{st['sites_per_program_max']}")
            else:
                value = st.get(key)
                cells.append("—" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
