"""How the Pyomo model could reach HiGHS faster: the phases of build + transfer side by side.

    python -m benchmarks.transfer [--tier M] [--seed 1]

Times, on one generated tier: index sets + Pyomo build; the current transfer (the
`contrib.solver` HiGHS interface's ``set_instance``, which walks each constraint); Pyomo's
``LinearStandardFormCompiler`` (the whole model to sparse matrices in one pass; needs
scipy, installed with the ``mpi`` extra) plus ``highspy.passModel`` of those matrices; and
HiGHS reading the same model from MPS (the reference of issue 4's 2× target). Prints one
Markdown table row per phase. A measurement for the next step of issue 4, not a code path
of the engine yet.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import highspy
import numpy as np
from pyomo.common.tee import capture_output
from pyomo.contrib.solver.solvers.highs import Highs

from capacity.case import load_case
from capacity.generate import generate_case
from capacity.model import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tier", default="M")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "case"
        generate_case(args.tier, args.seed).save(folder)
        case = load_case(folder)
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        built = build_model(case)
        seconds["index sets + Pyomo build"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            solver = Highs()
            solver.set_instance(built.pyomo)
        seconds["transfer now: set_instance"] = time.perf_counter() - t0
        mps = Path(tmp) / "model.mps"
        with capture_output(io.StringIO(), capture_fd=True):
            solver._solver_model.writeModel(str(mps))

        t0 = time.perf_counter()
        form = LinearStandardFormCompiler().write(built.pyomo, mixed_form=True)
        seconds["standard-form compile"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _pass(form)
        seconds["passModel of the matrices"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with capture_output(io.StringIO(), capture_fd=True):
            reader = highspy.Highs()  # type: ignore[no-untyped-call]
            reader.readModel(str(mps))
        seconds["HiGHS reads the MPS file"] = time.perf_counter() - t0
    mps_read = seconds["HiGHS reads the MPS file"]
    print(f"tier {args.tier} seed {args.seed}: {form.A.shape[0]:,} rows, "
          f"{form.A.shape[1]:,} columns, {form.A.nnz:,} nonzeros")
    print("| phase | seconds | × MPS read |\n|---|---:|---:|")
    for phase, s in seconds.items():
        print(f"| {phase} | {s:.2f} | {s / mps_read:.1f} |")


def _pass(form: object) -> highspy.Highs:
    """The compiled rows (mixed form: ``rhs`` with row senses 1 ≤, 0 =, −1 ≥) and
    columns to HiGHS."""
    a = form.A.tocsr()  # type: ignore[attr-defined]
    sense = np.array([multiplier for _con, multiplier in form.rows])  # type: ignore[attr-defined]
    rhs = np.asarray(form.rhs, dtype=float)  # type: ignore[attr-defined]
    inf = highspy.kHighsInf
    lower = np.where(sense >= 0, -inf, rhs)
    lower = np.where(sense == 0, rhs, lower)
    upper = np.where(sense <= 0, inf, rhs)
    upper = np.where(sense == 0, rhs, upper)
    cols = form.columns  # type: ignore[attr-defined]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = np.asarray(form.c.toarray()[0] if hasattr(form.c, "toarray")  # type: ignore[attr-defined]
                              else form.c, dtype=float)  # type: ignore[attr-defined]
    lp.col_lower_ = np.array([-inf if v.lb is None else v.lb for v in cols], dtype=float)
    lp.col_upper_ = np.array([inf if v.ub is None else v.ub for v in cols], dtype=float)
    lp.row_lower_, lp.row_upper_ = lower, upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = a.indptr, a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [highspy.HighsVarType.kInteger if v.is_integer()
                       else highspy.HighsVarType.kContinuous for v in cols]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    return h


if __name__ == "__main__":
    main()
