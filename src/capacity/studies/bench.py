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
             gap: float = 1e-4, mip_start: bool = True) -> dict[str, Any]:
    """Measure one tier in this process (see module docstring). ``mip_start=False``
    measures HiGHS's defaults on the same model (no constructive start)."""
    from capacity.case import Case
    from capacity.case.generate import TIERS, generate_frames
    from capacity.engine.highs import new_highs
    from capacity.engine.options import SolveOptions
    from capacity.engine.solve import solve
    from capacity.model import build_model

    seconds: dict[str, float | None] = {}
    t0 = time.perf_counter()
    frames = generate_frames(tier, seed)
    seconds["generate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    case = Case.from_frames(frames, name=f"tier-{tier}")
    seconds["validate"] = time.perf_counter() - t0
    built = build_model(case)
    seconds["index_sets"], seconds["build"] = built.seconds["index_sets"], built.seconds["build"]
    marks: dict[str, float] = {}
    to_gap: dict[float, float] = {}
    best: list[float] = [float("inf"), float("-inf")]  # incumbent, bound (minimised)

    def progress(at: float, incumbent: float | None, bound: float | None) -> None:
        # HiGHS reports the incumbent and the bound in separate callbacks: the gap is of
        # the best of each seen so far
        if incumbent is not None:
            best[0] = min(best[0], incumbent)
            marks.setdefault("first_feasible", at)
        if bound is not None:
            best[1] = max(best[1], bound)
        if best[0] == float("inf") or best[1] == float("-inf"):
            return
        gap_now = abs(best[0] - best[1]) / max(abs(best[0]), 1.0)
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
    t = TIERS[tier]
    return {
        "tier": tier, "seed": seed, "solve_path": "engine" if mip_start else "HiGHS defaults",
        "sites": t.sites, "programs": t.programs,
        "periods": t.periods, "status": plan.status, "objective": plan.objective,
        "bound": plan.bound, "gap": plan.gap, "seconds": seconds,
        "build_transfer_over_mps_read": build_transfer / seconds["mps_read"]
        if seconds["mps_read"] else None,
        "index_build_transfer_over_mps_read": (index + build_transfer) / seconds["mps_read"]
        if seconds["mps_read"] else None,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "size": plan.size, "counters": plan.counters, "time_limit": time_limit,
        "seconds_to_gap": {f"{mark:g}": to_gap.get(mark) for mark in GAP_MARKS},
    }


def in_fresh_process(tier: str, seed: int, time_limit: float, gap: float,
                     mip_start: bool) -> dict[str, Any]:
    """`run_tier` in a fresh (spawned) process, so that its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_tier, tier, seed, time_limit, gap, mip_start).result()


def bench(tiers: list[str], seed: int = 1, repeat: int = 1, time_limit: float = 600.0,
          gap: float = 1e-4, side_by_side: bool = False) -> list[dict[str, Any]]:
    """Run each tier ``repeat`` times, each in a fresh process; ``side_by_side`` also runs
    HiGHS's defaults (no constructive start) on the same model right after each run."""
    results = []
    for tier in tiers:
        for k in range(repeat):
            for mip_start in (True, False) if side_by_side else (True,):
                row = in_fresh_process(tier, seed, time_limit, gap, mip_start)
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
