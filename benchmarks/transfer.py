"""Where build + transfer time goes at one tier, by each way a model reaches HiGHS.

    python -m benchmarks.transfer [--tier M] [--seed 1] [--engine-only]

Times, on one generated tier: the index sets; the engine's build (the constraint
builders writing sparse matrices, `capacity.model.linear`) and its transfer
(`capacity.engine.highs.pass_linear`: one ``highspy.passModel``) — the path of every solve
whose Pyomo model nobody asked for; the Pyomo model made from those matrices (on first
use of ``BuiltModel.pyomo``) and its compile + passModel (`compile_to_highs`, the path
once a caller changed the Pyomo model); Pyomo's persistent interface (``set_instance``,
used only by `capacity explain`); and HiGHS reading the same model from MPS (the
reference of issue 4's 2× target). Prints one Markdown table row per phase, and the
resident memory after each of the engine's phases. ``--engine-only`` stops after
passModel (tier XL, where the Pyomo model and the MPS reference do not fit in memory).
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from pathlib import Path

import highspy
from pyomo.common.tee import capture_output
from pyomo.contrib.solver.solvers.highs import Highs

from capacity.case import load_case
from capacity.case.generate import generate_case
from capacity.engine.highs import compile_to_highs, pass_linear
from capacity.model import assemble_model
from capacity.model.index_sets import build_index_sets


def rss_mib() -> float:
    """This process's resident memory now, MiB (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine-only", action="store_true",
                        help="time only the engine's path (index sets, build, passModel) and "
                        "skip Pyomo and the MPS reference (tier XL: they do not fit in memory)")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    memory: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        generate_case(args.tier, args.seed).save(folder)
        case = load_case(folder)
        memory["case loaded"] = rss_mib()
        ix_start = time.perf_counter()
        ix = build_index_sets(case)
        seconds["index sets"] = time.perf_counter() - ix_start
        memory["index sets"] = rss_mib()
        t0 = time.perf_counter()
        built = assemble_model(case, ix)
        built.linear.matrix()  # the families' blocks stacked into one CSR matrix
        seconds["engine: build (sparse matrices)"] = time.perf_counter() - t0
        memory["engine: build (sparse matrices)"] = rss_mib()

        t0 = time.perf_counter()
        passed = pass_linear(built.linear)
        seconds["engine: passModel"] = time.perf_counter() - t0
        memory["engine: passModel"] = rss_mib()
        highs = passed.highs
        print(f"tier {args.tier} seed {args.seed}: {highs.getNumRow():,} rows, "
              f"{highs.getNumCol():,} columns, {highs.getNumNz():,} nonzeros")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("resident memory (MiB): " + ", ".join(
            f"{phase} {mib:,.0f}" for phase, mib in memory.items())
            + f"; peak so far {peak:,.0f}")
        if args.engine_only:
            print("| phase | seconds |\n|---|---:|")
            for phase, s in seconds.items():
                print(f"| {phase} | {s:.2f} |")
            return

        t0 = time.perf_counter()
        built.pyomo  # noqa: B018 - made on first use
        seconds["Pyomo model from the matrices (first use of .pyomo)"] = \
            time.perf_counter() - t0

        t0 = time.perf_counter()
        compile_to_highs(built.pyomo)
        seconds["changed Pyomo model: compile + passModel"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            solver = Highs()
            solver.set_instance(built.pyomo)
        seconds["persistent interface: set_instance (explain)"] = time.perf_counter() - t0
        mps = Path(tmp) / "model.mps"
        passed.highs.writeModel(str(mps))

        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            reader = highspy.Highs()  # type: ignore[no-untyped-call]
            reader.readModel(str(mps))
        seconds["HiGHS reads the MPS file"] = time.perf_counter() - t0
    mps_read = seconds["HiGHS reads the MPS file"]
    print("| phase | seconds | × MPS read |\n|---|---:|---:|")
    for phase, s in seconds.items():
        print(f"| {phase} | {s:.2f} | {s / mps_read:.1f} |")


if __name__ == "__main__":
    main()
