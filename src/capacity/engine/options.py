"""How to solve: `SolveOptions`, typed and frozen, importable without the solver (the CLI
reads its defaults to draw ``--help``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SolveOptions(BaseModel):
    """How to solve. Defaults suit a 2-core machine and give the same plan every run.

    Attributes:
        time_limit_s: wall-clock limit for HiGHS; the best plan found is returned with its gap.
        mip_rel_gap: stop when (objective − bound)/|objective| is at most this.
        mip_abs_gap: stop when objective − bound is at most this, in the objective's unit
            (MUSD); the default proves (nearly) to optimality. `capacity.allocate`'s
            ``gap_musd``: each cost is then within this of its optimum.
        threads: HiGHS threads. One by default: HiGHS's branch-and-bound is serial, and one
            thread keeps runs reproducible. With two or more, on large models
            (`capacity.engine.strategy.is_large`), PDLP's relaxation
            and the dive run in a second thread beside the neighbourhood search
            (`capacity.engine.large.relax_dive_search`); on smaller models of
            `capacity.engine.strategy.COMPANION_MIN_NONZEROS` or more, the LP
            relaxation and a dive from it run beside HiGHS's branch and bound and hand
            it their plan (`capacity.engine.companion`). Either way a run is then not
            reproducible step for step.
        seed: HiGHS ``random_seed``; fixed so runs repeat.
        log: print HiGHS's log while solving.
        explain: when HiGHS proves the case infeasible, find out why (`capacity.engine.explain`,
            within the same time limit) and put the reasons in the plan's messages.
        model_file: also write the model HiGHS solves to this file (``.mps`` or ``.lp``),
            e.g. to try another solver or to report a solver issue.
        mip_start: start HiGHS from a constructive plan (`capacity.engine.start`: greedy integer
            decisions, completed by HiGHS with the integers fixed); on large models
            (`strategy.is_large`) up to `strategy.RELAXATION_MAX_NONZEROS`, also solve the LP
            relaxation by PDLP for a proven bound (`capacity.engine.lp_bound`), dive from its
            solution to a plan (`capacity.engine.dive`) and improve the better plan a
            neighbourhood at a time (`capacity.engine.search`). Off: HiGHS's defaults, e.g. to
            compare. With another ``solver``: the completed constructive start, given to it
            as a MIP start.
        solver: the MIP solver: ``highs`` (the default, and every step above), ``scip``
            (PySCIPOpt) or ``gurobi`` (gurobipy), which take the same compiled matrices
            and the engine's start (`capacity.engine.external`; docs/solving.md says what
            each supports). The other two are the ``solvers`` extra: asking for one that is
            not installed is an error naming the package to install.
        cuts: before HiGHS's branch and bound, add cut-set MIR inequalities on suite
            groups as rows (`capacity.engine.cuts`: valid inequalities, so the same
            optimum; rounds of the LP relaxation and separation at the root, within
            `capacity.engine.cuts.CUT_TIME_SHARE` of the time limit) and fix integer
            columns by their reduced costs against the start; on large models
            (`strategy.is_large`) one round from PDLP's solution,
            no fixing. Off by default: on tier S and the default case they cost
            more time than their bound gains (models/formulation.md, "Cuts"). HiGHS only: with
            another ``solver`` they are not added.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_limit_s: float = Field(default=300.0, gt=0, le=7 * 24 * 3600)
    mip_rel_gap: float = Field(default=1e-6, ge=0, le=1)
    mip_abs_gap: float = Field(default=1e-9, ge=0, le=1e9)
    threads: int = Field(default=1, ge=1, le=256)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    log: bool = False
    explain: bool = True
    model_file: str | None = None
    mip_start: bool = True
    solver: Literal["highs", "scip", "gurobi"] = "highs"
    cuts: bool = False

    @field_validator("model_file")
    @classmethod
    def _model_format(cls, value: str | None) -> str | None:
        """HiGHS chooses the format by the suffix and writes nothing for another one."""
        if value is not None and Path(value).suffix.lower() not in (".mps", ".lp"):
            raise ValueError(f"{value!r} must end in .mps or .lp (the suffix chooses the "
                             "format)")
        return value

    @field_validator("solver")
    @classmethod
    def _installed(cls, value: str) -> str:
        """An optional solver is imported now, so that a missing package is an option
        error (the CLI's exit 2) before any case is read, not a failed solve."""
        package = SOLVER_PACKAGES.get(value)
        if package is not None:
            try:
                importlib.import_module(package)
            except ImportError as err:  # a broken install says why
                why = "is not installed" if isinstance(err, ModuleNotFoundError) \
                    else f"could not be imported ({err})"
                raise ValueError(
                    f"the {value} solver needs the {package} package, which {why}: "
                    "pip install 'biomanufacturing-capacity[solvers]'") from None
        return value


# The package each optional solver is imported from (HiGHS, highspy, is a dependency).
SOLVER_PACKAGES = {"scip": "pyscipopt", "gurobi": "gurobipy"}
