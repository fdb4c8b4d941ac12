"""Where build + transfer time goes at one tier, by each way a model reaches HiGHS.

    python -m benchmarks.transfer [--tier M] [--seed 1]

Times, on one generated tier: the index sets; the engine's build (the constraint
builders writing sparse matrices, `capacity.model.linear`) and its transfer
(`capacity.compiled.pass_linear`: one ``highspy.passModel``) — the path of every solve
whose Pyomo model nobody asked for; the Pyomo model made from those matrices (on first
use of ``BuiltModel.pyomo``) and its compile + passModel (`compile_to_highs`, the path
once a caller changed the Pyomo model); Pyomo's persistent interface (``set_instance``,
used only by `capacity explain`); and HiGHS reading the same model from MPS (the
reference of issue 4's 2× target). Prints one Markdown table row per phase.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import highspy
from pyomo.common.tee import capture_output
from pyomo.contrib.solver.solvers.highs import Highs

from capacity.case import load_case
from capacity.compiled import compile_to_highs, pass_linear
from capacity.generate import generate_case
from capacity.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        generate_case(args.tier, args.seed).save(folder)
        case = load_case(folder)
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        built = build_model(case)
        seconds["index sets"] = built.seconds["index_sets"]
        seconds["engine: build (sparse matrices)"] = built.seconds["build"]

        t0 = time.perf_counter()
        passed = pass_linear(built.linear)
        seconds["engine: passModel"] = time.perf_counter() - t0

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
    highs = passed.highs
    print(f"tier {args.tier} seed {args.seed}: {highs.getNumRow():,} rows, "
          f"{highs.getNumCol():,} columns, {highs.getNumNz():,} nonzeros")
    print("| phase | seconds | × MPS read |\n|---|---:|---:|")
    for phase, s in seconds.items():
        print(f"| {phase} | {s:.2f} | {s / mps_read:.1f} |")


if __name__ == "__main__":
    main()
