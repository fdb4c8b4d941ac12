"""The ``capacity`` command line: solve, validate, explain and compare cases.

Exit codes: 0 a plan was found (optimal, or feasible at the time limit); 1 the solver
failed; 2 invalid input (bad case, option or output path); 3 the case is infeasible; 4 no
feasible plan was found within the time limit; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Only what every command needs is imported here: the case reader, the solver, Dask and
# the studies are imported by the commands that use them, so that `--help` and `validate`
# start at once.
from capacity.engine import strategy
from capacity.engine.options import SolveOptions
from capacity.errors import CaseError, OutputError
from capacity.output_folder import Kind, check_target

if TYPE_CHECKING:
    import pandas as pd

    from capacity.case import Case
    from capacity.results.plan import Plan
    from capacity.studies.allocate import Allocation
    from capacity.studies.scenarios import ScenarioSet
    from capacity.studies.stochastic import StochasticResult

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimisation engine for shared biomanufacturing capacity.")
# Markup off: user text (ids, sheet names, messages) is printed as it is, brackets and all;
# styles are given as `Text` parts, never parsed out of strings.
out = Console(width=None if sys.stdout.isatty() else 160,  # piped: not cut to 80 columns
              markup=False, highlight=False)
err = Console(stderr=True, markup=False, highlight=False,
              soft_wrap=not sys.stderr.isatty())  # piped: one message, one line

T = TypeVar("T")

EXIT_OK, EXIT_SOLVER_ERROR, EXIT_INVALID, EXIT_INFEASIBLE, EXIT_NO_SOLUTION = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # as a shell reports a command ended by SIGINT
_EXIT_BY_STATUS = {"optimal": EXIT_OK, "time_limit_feasible": EXIT_OK,
                   "infeasible": EXIT_INFEASIBLE, "unbounded": EXIT_SOLVER_ERROR,
                   "no_solution": EXIT_NO_SOLUTION, "interrupted": EXIT_INTERRUPTED,
                   "error": EXIT_SOLVER_ERROR}

# The CLI's defaults are SolveOptions' own: one place says what a default solve is.
DEFAULTS = SolveOptions().model_dump()

CaseArg = Annotated[Path | None, typer.Argument(
    help="Case folder (CSV/Parquet tables) or .xlsx workbook; the embedded default case "
         "if omitted.", show_default=False)]
# Options several commands share, declared once.
WorkersOpt = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Local Dask worker processes (default: one per core).")]
SchedulerOpt = Annotated[str | None, typer.Option(
    "--scheduler", help="Address of a running Dask scheduler, e.g. tcp://host:8786.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ForceFlag = Annotated[bool, typer.Option(
    "--force", help="Write into an existing --out folder that capacity did not write (its "
    "other files are left alone; never the case's own folder).")]
DebugFlag = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]


@app.command("solve")
def solve_command(
    case: CaseArg = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds for HiGHS.")]
    = DEFAULTS["time_limit_s"],
    gap: Annotated[float, typer.Option("--gap", help="Relative MIP gap to stop at.")]
    = DEFAULTS["mip_rel_gap"],
    threads: Annotated[int, typer.Option(
        "--threads", help=f"HiGHS threads; with 2 or more, on large models "
        f"({strategy.LARGE_MODEL_TEXT}) the LP relaxation runs beside the neighbourhood "
        f"search, and on smaller ones of {strategy.COMPANION_MIN_NONZEROS:,} nonzeros or more "
        "beside HiGHS's branch and bound, handing it a plan (runs are then not reproducible "
        "step for step).")]
    = DEFAULTS["threads"],
    seed: Annotated[int, typer.Option("--seed", help="HiGHS random seed.")] = DEFAULTS["seed"],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Write the plan here: a new folder, or one holding a plan capacity "
        "saved (replaced whole, atomically).")] = None,
    force: ForceFlag = False,
    save_interrupted: Annotated[bool, typer.Option(
        "--save-interrupted", help="On Ctrl-C, still save the best plan found so far "
        "(status interrupted) to --out.")] = False,
    fmt: Annotated[str, typer.Option(
        "--format", help="Plan files: csv or parquet, one file per table; xlsx: one "
        "workbook, plan.xlsx, a sheet per table and a summary sheet.")] = "csv",
    as_json: JsonFlag = False,
    log: Annotated[bool, typer.Option("--log", help="Show HiGHS's log.")] = False,
    model_file: Annotated[Path | None, typer.Option(
        "--write-model", help="Also write the model to this .mps or .lp file.")] = None,
    mip_start: Annotated[bool, typer.Option(
        "--start/--no-start", help="Start HiGHS from the engine's own plan (greedy, "
        f"completed by HiGHS; on large models ({strategy.LARGE_MODEL_TEXT}) up to "
        f"{strategy.RELAXATION_MAX_NONZEROS:,} nonzeros also a dive from the LP relaxation, "
        "solved by PDLP for a proven bound, and a neighbourhood search from the better "
        "plan); --no-start: HiGHS's defaults.")] = DEFAULTS["mip_start"],
    solver: Annotated[str, typer.Option(
        "--solver", help="highs (every step above), scip or gurobi: the same model and "
        "start, solved by SCIP or Gurobi instead (pip install "
        "'biomanufacturing-capacity[solvers]'; pip's Gurobi licence solves up to 2,000 "
        "variables and constraints).")] = DEFAULTS["solver"],
    cuts: Annotated[bool, typer.Option(
        "--cuts/--no-cuts", help="Add cut-set MIR cuts on suite groups at the root and fix "
        "integers by reduced cost (valid inequalities: the same optimum, a tighter "
        "bound).")] = DEFAULTS["cuts"],
    n_minus_1: Annotated[str | None, typer.Option(
        "--n-minus-1", help="site, operator or country: the cheapest plan that still meets "
        "every committed offtake if any one of them is lost (from --from on), with its "
        "recovery per loss; also solves the case alone for the price of N−1.")] = None,
    loss_from: Annotated[int | None, typer.Option(
        "--from", help="With --n-minus-1: the period the loss starts (default: the "
        "first).")] = None,
    recourse_weight: Annotated[float, typer.Option(
        "--recourse-weight", help="With --n-minus-1: weight of each recovery's cost in "
        "the objective (0: the no-loss plan's cost alone).")] = 0.0,
    debug: DebugFlag = False,
) -> None:
    """Solve a case and print the plan's summary (or JSON); optionally save the plan."""
    if fmt not in ("csv", "parquet", "xlsx"):
        _fail(f"--format must be csv, parquet or xlsx, not {fmt!r}")
    if n_minus_1 is None and (loss_from is not None or recourse_weight != 0.0):
        _fail("--from and --recourse-weight go with --n-minus-1")
    if n_minus_1 is not None:
        if fmt != "csv" or model_file is not None or save_interrupted:
            _fail("--n-minus-1 writes CSV tables to --out; drop --format, --write-model "
                  "and --save-interrupted")
        _solve_n_minus_one(case, n_minus_1, loss_from, recourse_weight,
                           _options(time_limit_s=time_limit, mip_rel_gap=gap,
                                    threads=threads, seed=seed, mip_start=mip_start),
                           out_dir, force, as_json, debug)
    options = _options(time_limit_s=time_limit, mip_rel_gap=gap, threads=threads, seed=seed,
                       log=log and not as_json,
                       model_file=None if model_file is None else str(model_file),
                       mip_start=mip_start, solver=solver, cuts=cuts)
    from capacity.engine.solve import solve

    protected = _inputs(case)
    if out_dir is not None:
        _checked_out(out_dir, "plan", force, protected)
    if model_file is not None:
        _checked_model_file(model_file, protected, force)
    loaded = _load(case, debug)
    if as_json or log:
        plan = solve(loaded, options)
    else:
        label = f"solving {loaded.name} (limit {time_limit:g} s)"
        with err.status(label + " ...") as status:
            def show(seconds: float, incumbent: float | None, bound: float | None) -> None:
                if incumbent is not None and bound is not None:
                    gap = abs(incumbent - bound) / max(abs(incumbent), 1.0)
                    status.update(f"{label}: {seconds:.0f} s, best plan {incumbent:,.1f}, "
                                  f"gap {gap:.2%}")
                elif incumbent is not None:  # no bound yet: the start, or the search's plans
                    status.update(f"{label}: {seconds:.0f} s, best plan {incumbent:,.1f}")

            plan = solve(loaded, options, progress=show)
    saving = plan.has_solution or (save_interrupted and plan.status == "interrupted"
                                   and bool(plan.tables))
    if out_dir is not None and saving:
        _saved(lambda: plan.save(out_dir, fmt="parquet" if fmt == "parquet" else
                                 "xlsx" if fmt == "xlsx" else "csv",
                                 force=force, protect=protected))
    if as_json:
        _print_json(plan.summary())
    else:
        _print_plan(plan, out_dir if saving else None)
        if out_dir is not None and not saving and plan.status == "interrupted":
            err.print(f"nothing saved to {out_dir}"
                      + (" (--save-interrupted saves the plan found so far)"
                         if plan.tables else ""))
    raise typer.Exit(_EXIT_BY_STATUS[plan.status])


def _solve_n_minus_one(case: Path | None, by: str, first: int | None, weight: float,
                       options: SolveOptions, out_dir: Path | None, force: bool,
                       as_json: bool, debug: bool) -> NoReturn:
    """`capacity solve --n-minus-1`: the N−1 plan, its contingencies and its price."""
    import pandas as pd

    from capacity.errors import CaseInfeasibleError
    from capacity.studies.resilience import n_minus_one

    protected = _inputs(case)
    if out_dir is not None:
        _checked_out(out_dir, "N-1 plan", force, protected)
    loaded = _load(case, debug)
    try:
        result = _or_exit(lambda: n_minus_one(
            loaded, by, first, weight, options,  # type: ignore[arg-type]
            progress=None if as_json else _step), "bad option", debug)
    except CaseInfeasibleError as e:
        err.print(Text.assemble(("infeasible under N−1", "red"), ": " + "; ".join(e.reasons)))
        raise typer.Exit(EXIT_INFEASIBLE) from None
    if out_dir is not None and result.has_solution:
        _saved(lambda: result.save(out_dir, force=force, protect=protected))
    code = _EXIT_BY_STATUS.get(result.status, EXIT_OK)
    if as_json:
        _print_json(result.summary())
        raise typer.Exit(code)
    if result.has_solution:
        table = Table(title=f"{result.case_name}: N−1 by {result.by} from {result.first}")
        for col in ("contingency", "lost", "cost MUSD", "extra MUSD", "recovery"):
            table.add_column(col, justify="right" if "MUSD" in col else "left")
        for r in result.contingencies.itertuples(index=False):
            table.add_row(r.contingency, r.lost, f"{r.cost:,.1f}", f"{r.extra_cost:,.1f}",
                          r.recovery)
        out.print(table)
    status = result.status + ("" if result.gap is None else f", gap {result.gap:.2%}")
    out.print(f"status: {status}")
    size = result.size
    if size:
        out.print(f"extensive form: {size['columns']:,} columns, {size['rows']:,} rows, "
                  f"{size['nonzeros']:,} nonzeros; built in "
                  f"{result.seconds.get('build', 0):.1f} s, solved in "
                  f"{result.seconds.get('solve', 0):.1f} s")
    if result.has_solution:
        out.print(f"N−1 plan, nothing lost: {_money(result.no_loss_cost)}; today's plan: "
                  f"{_money(result.plain_cost)}; price of N−1: {_money(result.price)}")
    elif result.plain_cost is not None:
        out.print(f"today's plan: {_money(result.plain_cost)}")
        builds = result.first_stage.get("builds", pd.DataFrame())
        if not builds.empty:
            out.print("first stage: " + "; ".join(
                f"{r.modules} × {r.site} {r.modality} {r.scale} in {r.period}"
                for r in builds.itertuples(index=False)))
    for message in result.messages:
        out.print(f"note: {message}")
    if out_dir is not None and result.has_solution:
        out.print(f"saved to {out_dir}")
    raise typer.Exit(code)


@app.command("template")
def template_command(
    out_file: Annotated[Path, typer.Option("--out", help="The .xlsx workbook to write.")]
    = Path("case.xlsx"),
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an --out file that capacity did not write, or a template "
        "already filled in.")] = False,
) -> None:
    """A blank case workbook to fill in Excel: a sheet per table, each header's comment
    its meaning and unit, drop-downs for choices and references, a _README sheet."""
    from capacity.case.template import write_template

    try:
        written = write_template(out_file, force=force)
    except OutputError as e:
        _fail(str(e))
    out.print(f"template: {written}: fill it in, then capacity validate {written}")


@app.command("validate")
def validate_command(
    case: Annotated[Path, typer.Argument(help="Case folder or .xlsx workbook.")],
    debug: DebugFlag = False,
) -> None:
    """Check a case and print every problem found, or "ok"."""
    loaded = _load(case, debug)
    out.print(f"ok: {loaded.name}: {len(loaded.sites)} sites, {len(loaded.suites)} suites, "
              f"{len(loaded.programs)} programs, {len(loaded.periods)} periods")


@app.command("explain")
def explain_command(
    case: CaseArg = None,
    time_limit: Annotated[float, typer.Option("--time-limit",
                                              help="Seconds for the whole explanation.")]
    = DEFAULTS["time_limit_s"],
    as_json: JsonFlag = False,
    debug: DebugFlag = False,
) -> None:
    """Explain why a case is infeasible: a minimal set of commitments and rules that
    cannot all hold, with entities and amounts. Exit 0 if feasible, 3 if not."""
    from capacity.engine.explain import explain

    options = _options(time_limit_s=time_limit)
    loaded = _load(case, debug)
    with err.status(f"explaining {loaded.name} ..."):
        why = explain(loaded, options)
    if as_json:
        _print_json(why.to_json())
    elif why.feasible:
        out.print(f"{loaded.name}: feasible: every commitment and rule can hold")
    else:
        n = len(why.conflicts)
        if n == 1:
            what = "this cannot hold, whatever else the plan does:"
        elif why.minimal:
            what = (f"these {n} cannot all hold together (a minimal set: any {n - 1} of "
                    "them can):")
        else:
            what = f"these {n} cannot all hold together (not proven minimal in time):"
        out.print(Text.assemble(f"{loaded.name}: ", ("infeasible", "red"), f"; {what}"))
        for c in why.conflicts:
            out.print(f"  - {c.message}")
    raise typer.Exit(EXIT_OK if why.feasible else EXIT_INFEASIBLE)


@app.command("check")
def check_command(
    case: Annotated[Path, typer.Argument(help="Case folder or .xlsx workbook.")],
    plan_dir: Annotated[Path, typer.Argument(help="Plan folder written by solve --out.")],
    as_json: JsonFlag = False,
    debug: DebugFlag = False,
) -> None:
    """Verify a saved plan against the raw case, independently of the model code.

    Exit 0 when every constraint family holds and the objective matches the data, 1 when
    not (each violation named with its entities and amount), 2 on unreadable input.
    """
    from capacity.results.check import check_plan

    loaded = _load(case, debug)
    result = _or_exit(lambda: check_plan(loaded, plan_dir), "cannot check", debug)
    if as_json:
        _print_json(result.to_json())
    elif result.ok:
        out.print(f"ok: the plan holds; objective {result.objective_recomputed:,.6f} "
                  "recomputed from the raw case matches")
    else:
        out.print(Text.assemble((f"{len(result.violations)} violation(s)", "red"), ":"))
        for v in result.violations:
            out.print(f"  - {v.family}: {v.entity}: {v.message} (by {v.amount:g})")
    raise typer.Exit(EXIT_OK if result.ok else 1)


@app.command("generate")
def generate_command(
    tier: Annotated[str, typer.Option("--tier", help="uniform: S, M, L or XL (BRIEF.md's "
                                      "scale); realistic: S, N (national) or G (global).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Case folder to write.")],
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1,
                                      help="Random seed.")] = 1,
    family: Annotated[str, typer.Option(
        "--family", help="uniform (the first generator) or realistic (the default case's "
        "structure: qualified short lists, regional costs, 7.9% committed, lifecycle "
        "features).")] = "uniform",
    force: ForceFlag = False,
) -> None:
    """Write a seeded benchmark case of the given tier as a case folder."""
    from capacity.case.generate import FAMILIES, generate_case, tiers_of

    if family not in FAMILIES:
        _fail(f"--family must be one of {', '.join(FAMILIES)}, not {family!r}")
    tiers = tiers_of(family)
    if tier not in tiers:
        _fail(f"--tier must be one of {', '.join(tiers)} for the {family} family, not "
              f"{tier!r}")
    _checked_out(out_dir, "case", force)
    case = generate_case(tier, seed, family)
    _saved(lambda: case.save(out_dir, force=force))
    out.print(f"wrote {out_dir}: {family} tier {tier}, {len(case.sites)} sites, "
              f"{len(case.programs)} programs, {len(case.periods)} periods")


@app.command("bench")
def bench_command(
    tiers: Annotated[str, typer.Option("--tiers", help="Comma-separated tiers.")] = "S",
    repeat: Annotated[int, typer.Option("--repeat", help="Runs per tier.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 1,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per solve.")] = 600,
    gap: Annotated[float, typer.Option("--gap", help="Relative gap to stop at.")] = 1e-4,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    side_by_side: Annotated[bool, typer.Option(
        "--side-by-side", help="Also solve each tier with HiGHS's defaults (no constructive "
        "start), one run after the other.")] = False,
) -> None:
    """Time generate, validate, build, transfer and solve per tier (each in a fresh
    process), against HiGHS reading the same model from MPS."""
    from capacity.case.generate import TIERS
    from capacity.studies.bench import bench, render

    names = [t.strip() for t in tiers.split(",") if t.strip()]
    unknown = [t for t in names if t not in TIERS]
    if unknown or repeat < 1:
        _fail(f"--tiers must name {', '.join(TIERS)} and --repeat be ≥ 1")
    with err.status(f"benchmarking tiers {', '.join(names)} ..."):
        rows = bench(names, seed, repeat, time_limit, gap, side_by_side)
    if json_file is not None:
        json_file.write_text(json.dumps(rows, indent=2) + "\n")
    print(render(rows))


import_app = typer.Typer(no_args_is_help=True,
                         help="Write external benchmark instances as ordinary case folders.")
app.add_typer(import_app, name="import")


@import_app.command("orlib-cfl")
def import_cfl_command(
    file: Annotated[Path, typer.Argument(help="OR-Library cap file (cap41.txt ... capc.txt).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Case folder to write.")],
    capacity: Annotated[float | None, typer.Option(
        "--capacity", help="Fills the word 'capacity' in capa/capb/capc.")] = None,
    single_source: Annotated[bool, typer.Option(
        "--single-source", help="Each customer served by exactly one warehouse.")] = False,
    force: ForceFlag = False,
) -> None:
    """Capacitated facility location: warehouses become candidate sites, customers programs."""
    from capacity.case.importers import import_orlib_cfl

    _checked_out(out_dir, "case", force, (file,))
    case = _guard(lambda: import_orlib_cfl(file, None, capacity, single_source))
    _saved(lambda: case.save(out_dir, force=force))
    out.print(f"wrote {out_dir}: {len(case.sites)} candidate sites, {len(case.programs)} "
              f"customers ({'single' if single_source else 'multi'}-source)")


@import_app.command("orlib-gap")
def import_gap_command(
    file: Annotated[Path, typer.Argument(help="OR-Library gap file (gap1.txt ... gapd.txt).")],
    instance: Annotated[int, typer.Option("--instance", help="Which instance, from 1.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Case folder to write.")],
    maximise: Annotated[bool, typer.Option(
        "--maximise", help="Maximise Σ c_ij x_ij (gap1-gap12 are published this way).")] = False,
    force: ForceFlag = False,
) -> None:
    """Generalised assignment: agents become sites, jobs become programs."""
    from capacity.case.importers import import_orlib_gap

    _checked_out(out_dir, "case", force, (file,))
    case = _guard(lambda: import_orlib_gap(file, instance, None, maximise))
    _saved(lambda: case.save(out_dir, force=force))
    out.print(f"wrote {out_dir}: {len(case.sites)} agents, {len(case.programs)} jobs "
              f"({'maximise' if maximise else 'minimise'})")


ScenarioArg = Annotated[Path, typer.Argument(help="Scenario file (YAML).")]


@app.command("scenario")
def scenario_command(
    scenario_file: ScenarioArg,
    name: Annotated[str | None, typer.Argument(
        help="Scenario to write; lists the scenarios if omitted.", show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Write the case here.")] = None,
    force: ForceFlag = False,
    debug: DebugFlag = False,
) -> None:
    """List a scenario file's scenarios, or write one scenario's case to a folder."""
    if out_dir is not None:
        _checked_out(out_dir, "case", force, (scenario_file.parent,))
    scenarios = _scenarios(scenario_file, debug)
    if name is None:
        for n, sc in scenarios.scenarios.items():
            out.print(f"{n}: {len(sc.overrides)} override(s)")
        return
    if out_dir is None:
        _fail("--out DIR is needed to write a scenario's case")
    try:
        case = _or_exit(lambda: scenarios.case(name), f"invalid scenario {name}", debug)
    except KeyError as e:
        _fail(str(e.args[0]))
    _saved(lambda: case.save(out_dir, force=force))
    out.print(f"wrote {out_dir}: scenario {name} of {scenario_file}")


@app.command("batch")
def batch_command(
    scenario_file: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")],
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", help="Seconds per scenario (overrides the file).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip scenarios already finished in --out.")] = False,
    persistent: Annotated[bool, typer.Option(
        "--persistent/--no-persistent",
        help="Re-use the model across scenarios that differ only in costs.")] = True,
    debug: DebugFlag = False,
) -> None:
    """Solve every scenario of a scenario file (in parallel, on Dask) into one store.
    Exit 0 when every scenario has a plan, 1 when some failed or have none."""
    from capacity.studies.batch import ResultStore, plan_resume, run_batch

    if time_limit is not None:
        _options(time_limit_s=time_limit)
    _checked_out(out_dir, "batch results", False, (scenario_file.parent,))
    scenarios = _scenarios(scenario_file, debug)
    changes = {} if time_limit is None else {"time_limit_s": time_limit}
    try:
        resumed = plan_resume(scenarios, ResultStore(out_dir), resume, changes)
    except FileExistsError as e:
        _fail(str(e))
    done = resumed.skipped
    if done:
        err.print(f"resuming: {len(done)} of {len(scenarios.scenarios)} scenarios already "
                  "finished, skipped")
    if resumed.changed:
        names = ", ".join(resumed.changed[:10]) + (", ..." if len(resumed.changed) > 10 else "")
        err.print(f"re-solving {len(resumed.changed)} finished scenarios whose definition, "
                  f"base case or options changed: {names}")
    with _batch_progress(f"solving {scenario_file.name}", len(scenarios.scenarios),
                         len(done)) as show:
        summary = run_batch(scenarios, out_dir, workers=workers, scheduler=scheduler,
                            time_limit_s=time_limit, resume=True, persistent=persistent,
                            progress=show)
    ok = summary["status"].isin(["optimal", "time_limit_feasible"])
    out.print(f"{int(ok.sum())} of {len(summary)} scenarios have a plan; results in "
              f"{out_dir} (capacity compare {out_dir})")
    raise typer.Exit(EXIT_OK if ok.all() else EXIT_SOLVER_ERROR)


@app.command("stress")
def stress_command(
    plan_dir: Annotated[Path, typer.Argument(
        help="A plan folder (capacity solve --out).", show_default=False)],
    by: Annotated[str, typer.Option(
        "--by", help="Contingencies: each site, operator or country the plan uses lost, "
        "or each country's exports to a market the plan ships to banned (lane).")] = "site",
    first: Annotated[int | None, typer.Option(
        "--from", help="First period cut (default: the case's second period).")] = None,
    market: Annotated[str | None, typer.Option(
        "--market", help="Only export bans to this market (e.g. an operator barred "
        "from the US).")] = None,
    case: Annotated[Path | None, typer.Option(
        "--case", help="The plan's case (default: the one its summary.json names).")] = None,
    penalty: Annotated[float, typer.Option(
        "--penalty", help="MUSD per committed batch a recovery leaves unmet.")] = 1000.0,
    time_limit: Annotated[float, typer.Option(
        "--time-limit", help="Seconds per contingency.")] = 120.0,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Results folder (resumable with --resume).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip contingencies already finished in --out.")] = False,
    debug: DebugFlag = False,
) -> None:
    """Contingency analysis of a plan: each site, operator or country cut off (or a
    country's exports to a market banned) from a period on, the plan's past held, the
    rest re-optimised; batches lost, cost increase, broken commitments, what the
    recovery builds. Exit 0 when every contingency has a checked recovery, 1 otherwise."""
    from capacity.studies.stress import StressError, contingencies, read_stress_plan, stress

    options = _options(time_limit_s=time_limit, threads=1)
    if out_dir is not None:
        _checked_out(out_dir, "batch results", False, (plan_dir,))
    try:
        plan = _or_exit(lambda: read_stress_plan(plan_dir, case), "invalid case", debug)
        periods = plan.periods
        start = first if first is not None else (periods[1] if len(periods) > 1
                                                 else periods[0])
        todo = contingencies(plan, by, start, market)
        if penalty <= 0:
            raise StressError(f"--penalty must be above 0, not {penalty:g}")
    except StressError as e:
        _fail(str(e))
    err.print(f"{len(todo)} contingencies ({by}) from {start}, and the plan itself")
    try:
        with _batch_progress("stress", len(todo) + 1, 0) as show:
            result = stress(plan, by=by, first=start, market=market, out=out_dir,
                            workers=workers, scheduler=scheduler, resume=resume,
                            penalty=penalty, options=options, progress=show)
    except FileExistsError as e:
        _fail(str(e))
    summary = result.summary
    worst = result.worst(10)
    shown = Table(title=f"worst contingencies of {plan_dir} from {start} (batches, MUSD)")
    for col in ("contingency", "committed lost", "potential lost", "cost increase",
                "broken", "checked"):
        shown.add_column(col, justify="left" if col == "contingency" else "right")
    for r in worst.itertuples(index=False):
        solved = r.committed_lost_batches == r.committed_lost_batches  # not NaN
        shown.add_row(r.outage, *((f"{r.committed_lost_batches:,.1f}",
                                   f"{r.potential_lost_batches:,.1f}",
                                   f"{r.cost_increase_musd:+,.2f}",
                                   f"{int(r.broken_commitments)}",
                                   "yes" if r.checked in (True,) else "NO")
                                  if solved else ("—", "—", "—", "—", "no recovery")))
    out.print(shown)
    checked = summary["checked"].fillna(False).astype(bool) if "checked" in summary \
        else summary["status"] != summary["status"]
    ok = summary["status"].isin(["optimal", "time_limit_feasible"]) & checked
    where = f"; results in {out_dir}" if out_dir is not None else ""
    out.print(f"{int(ok.sum())} of {len(summary)} recoveries solved and checked{where}")
    raise typer.Exit(EXIT_OK if ok.all() else EXIT_SOLVER_ERROR)


@app.command("compare")
def compare_command(
    results: Annotated[Path, typer.Argument(help="Results folder of capacity batch.")],
    base: Annotated[str | None, typer.Option(
        "--base", help="Scenario to compare against (default: base).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full table as JSON.")]
    = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")]
    = False,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write the full table.")]
    = None,
) -> None:
    """Each scenario against the base: objective delta (the price of the change), cost
    components, capacity built, domestic share, concentration, unmet demand and its delta
    (the patients the change leaves unserved)."""
    from capacity.studies.compare import compare

    try:
        table = _or_exit(lambda: compare(results, base), "cannot compare")
    except (FileNotFoundError, KeyError) as e:
        _fail(str(e.args[0]))
    if csv_file is not None:
        table.to_csv(csv_file, index=False)
    if as_json:
        print(table.to_json(orient="records"))
    elif markdown:
        from capacity.studies.compare import to_markdown

        print(to_markdown(table))
    else:
        out.print(_compare_table(table))


def _compare_table(table: pd.DataFrame) -> Table:
    from capacity.studies.compare import format_cell, headline_columns

    columns = headline_columns(table)
    labels = {"objective": "objective", "delta_objective": "Δ base", "modules_built": "modules",
              "sites_opened": "opened", "unmet_potential_batches": "unmet",
              "delta_unmet_potential_batches": "Δ unmet"}
    shown = Table(title="scenarios against the base (MUSD, modules, sites, batches; "
                  "dom = domestic share of the batches supplied; rule = a rule's share "
                  "in its tightest period, in the rule's measure)")
    for col in columns:
        label = labels.get(col, col.replace("domestic_share_", "dom ")
                           .replace("rule_share_", "rule "))
        shown.add_column(label, justify="left" if col in columns[:2] else "right",
                         no_wrap=True)
    for _, row in table.iterrows():
        shown.add_row(*(format_cell(c, row[c]) for c in columns))
    return shown


@contextmanager
def _batch_progress(label: str, total: int | None, done: int) -> Iterator[
        Callable[[str, dict[str, object]], None]]:
    """A progress bar on stderr for batch solves; yields the per-result callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err) as bar:
        task = bar.add_task(label, total=total, completed=done)

        def show(name: str, summary: dict[str, object]) -> None:
            bar.advance(task)
            bar.console.print(f"{name}: {summary['status']}"
                              + (f" ({summary['error']})" if summary.get("error") else ""))

        yield show


@app.command("allocate")
def allocate_command(
    case: CaseArg = None,
    members: Annotated[str | None, typer.Option(
        "--members", help="Comma-separated startups and/or anchors (default: the case's "
        "members table, else its anchors).")] = None,
    method: Annotated[str, typer.Option(
        "--method", help="shapley or nucleolus.")] = "shapley",
    samples: Annotated[int | None, typer.Option(
        "--samples", help="Random orders for a sampled Shapley value (default: exact up "
        "to 12 members, 200 orders beyond).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random orders.")] = 0,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Keep the coalition solves here (resumable with --resume).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip coalitions already solved in --out.")] = False,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per coalition.")]
    = DEFAULTS["time_limit_s"],
    gap_musd: Annotated[float | None, typer.Option(
        "--gap-musd", min=0, help="Stop each coalition's solve once proven within this many "
        "MUSD of its optimum: every cost and Shapley value is then within it (default: "
        "proven optimal).")] = None,
    as_json: JsonFlag = False,
    debug: DebugFlag = False,
) -> None:
    """Value of pooling and a fair split of the consortium's cost: each member's
    standalone cost, allocated cost, saving and core check (every coalition solved)."""
    from capacity.studies.allocate import allocate, consortium

    if method not in ("shapley", "nucleolus"):
        _fail(f"--method must be shapley or nucleolus, not {method!r}")
    options = _options(time_limit_s=time_limit)
    if out_dir is not None:
        _checked_out(out_dir, "batch results", False, _inputs(case))
    loaded = _load(case, debug)
    names = None if members is None else [m.strip() for m in members.split(",") if m.strip()]
    _or_exit(lambda: consortium(loaded, names), "cannot allocate", debug)  # before any solve
    try:
        with _batch_progress("solving coalitions", None, 0) as show:
            result = _or_exit(lambda: allocate(
                loaded, names, method=method,  # type: ignore[arg-type]
                samples=samples, seed=seed, workers=workers, scheduler=scheduler,
                out=out_dir, resume=resume, options=options,
                progress=None if as_json else show, gap_musd=gap_musd),
                "cannot allocate", debug)
    except FileExistsError as e:
        _fail(str(e))
    if as_json:
        _print_json(result.to_json())
        return
    out.print(_allocation_table(result))
    out.print(f"grand coalition {result.grand_cost:,.2f} MUSD; standalone total "
              f"{result.standalone_total:,.2f}; value of pooling "
              f"{result.value_of_pooling:,.2f} MUSD")
    if result.in_core:
        out.print("in the core: no coalition pays more than its standalone cost "
                  f"(largest excess {result.largest_violation:,.3f} MUSD)")
    else:
        out.print(f"outside the core: coalition {{{result.violating_coalition}}} pays "
                  f"{result.largest_violation:,.3f} MUSD more than alone; core "
                  + ("empty" if result.core_empty else "not empty" if result.core_empty is
                     False else "not checked in full")
                  + f" (least-core ε = {result.least_core_epsilon:,.3f})")
    for note in result.notes:
        out.print(f"note: {note}")


@app.command("stochastic")
def stochastic_command(
    case: CaseArg = None,
    scenarios: Annotated[int, typer.Option(
        "--scenarios", help="At most this many scenarios: every combination of the "
        "programs' outcomes when there are no more, else this many seeded draws.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draws.")] = 0,
    cvar_weight: Annotated[float, typer.Option(
        "--cvar-weight", help="λ in (1−λ)·E[cost] + λ·CVaR (0: expected cost).")] = 0.0,
    cvar_alpha: Annotated[float, typer.Option(
        "--cvar-alpha", help="CVaR level α: the mean of the worst 1−α.")] = 0.9,
    unmet_penalty: Annotated[float | None, typer.Option(
        "--unmet-penalty", help="MUSD per committed batch left unmet in a scenario "
        "(default: commitments must be met in every scenario).")] = None,
    decompose: Annotated[str, typer.Option(
        "--decompose", help="ef (the extensive form, solved whole) or ph (progressive "
        "hedging with mpi-sppy; run under mpiexec to spread scenarios).")] = "ef",
    ph_iterations: Annotated[int, typer.Option(
        "--ph-iterations", help="Most progressive-hedging iterations.")] = 50,
    evaluate: Annotated[bool, typer.Option(
        "--evaluate/--no-evaluate", help="Also compute WS, EEV, EVPI and VSS.")] = True,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per solve.")]
    = DEFAULTS["time_limit_s"],
    gap: Annotated[float, typer.Option("--gap", help="Relative MIP gap.")]
    = DEFAULTS["mip_rel_gap"],
    save: Annotated[Path | None, typer.Option(
        "--out", help="Write the plan here: summary.json, scenarios.csv, first-stage "
        "tables, each scenario's tables.")] = None,
    force: ForceFlag = False,
    as_json: JsonFlag = False,
    debug: DebugFlag = False,
) -> None:
    """Two-stage stochastic plan over the programs' clinical success and the case's
    disruptions (its `disruptions` table, if any): capacity and sites chosen once,
    production per scenario; expected cost (or CVaR), with the value of the stochastic
    solution (VSS) and of perfect information (EVPI)."""
    from capacity.errors import CaseInfeasibleError
    from capacity.studies.stochastic import (
        PH_INSTALL,
        StochasticOptions,
        solve_progressive_hedging,
        solve_stochastic,
    )

    if decompose not in ("ef", "ph"):
        _fail(f"--decompose must be ef or ph, not {decompose!r}")
    try:
        stoch = StochasticOptions(scenarios=scenarios, seed=seed, cvar_weight=cvar_weight,
                                  cvar_alpha=cvar_alpha, unmet_penalty=unmet_penalty,
                                  evaluate=evaluate)
    except ValidationError as e:
        _fail("; ".join(f"--{str(x['loc'][0]).replace('_', '-')}: {x['msg']}"
                        for x in e.errors()))
    if decompose == "ph" and cvar_weight > 0:
        _fail("--decompose ph minimises the expected cost: drop --cvar-weight or use ef")
    options = _options(time_limit_s=time_limit, mip_rel_gap=gap)
    if save is not None:
        _checked_out(save, "stochastic plan", force, _inputs(case))
    loaded = _load(case, debug)
    say = None if as_json else _step
    try:
        if decompose == "ph":
            result = solve_progressive_hedging(loaded, stoch, options, ph_iterations,
                                               progress=say)
        else:
            result = solve_stochastic(loaded, stoch, options, progress=say)
    except CaseInfeasibleError as e:
        err.print(Text.assemble(("infeasible", "red"), ": " + "; ".join(e.reasons)))
        raise typer.Exit(EXIT_INFEASIBLE) from None
    except ImportError as e:
        if str(e) != PH_INSTALL:
            raise
        _fail(PH_INSTALL)
    if result is None:
        return  # an MPI rank other than 0: rank 0 reports
    if save is not None and result.has_solution:
        _saved(lambda: result.save(save, force=force, protect=_inputs(case)))
    code = _EXIT_BY_STATUS.get(result.status, EXIT_OK)
    if as_json:
        _print_json(result.summary())
        raise typer.Exit(code)
    _print_stochastic(result)
    if save is not None and result.has_solution:
        out.print(f"saved to {save}")
    raise typer.Exit(code)


def _print_stochastic(result: StochasticResult) -> None:
    kind = "all combinations" if result.exact else "seeded draws"
    table = Table(title=f"{result.case_name}: {len(result.scenarios)} scenarios ({kind})")
    shown = [c for c in ("scenario", "probability", "cost", "wait_and_see",
                         "expected_value_plan", "unmet_committed", "failed", "disrupted")
             if c in result.scenarios.columns]
    for col in shown:
        table.add_column(col.replace("_", " "),
                         justify="left" if col in ("failed", "disrupted") else "right")
    for row in result.scenarios[shown].itertuples(index=False):
        table.add_row(*(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row))
    if result.has_solution:
        out.print(table)
    status = result.status + ("" if result.gap is None else f", gap {result.gap:.2%}")
    out.print(f"status: {status}")
    measure = "expected cost" if result.options.cvar_weight == 0 else (
        f"(1−{result.options.cvar_weight:g})·E + {result.options.cvar_weight:g}·"
        f"CVaR{result.options.cvar_alpha:g}")
    if result.has_solution:
        out.print(f"stochastic plan (RP), {measure}: {_money(result.objective)}; expected "
                  f"cost {_money(result.expected_cost)}, CVaR{result.options.cvar_alpha:g} "
                  f"{_money(result.cvar)}")
    if result.wait_and_see is not None:
        out.print(f"wait-and-see (WS): {_money(result.wait_and_see)}; EVPI = RP − WS = "
                  f"{_money(result.evpi)}")
    if result.eev is not None:
        out.print(f"expected-value plan in the scenarios (EEV): {_money(result.eev)}; VSS = "
                  f"EEV − RP = {_money(result.vss)}")
    builds = result.first_stage.get("builds")
    if builds is not None and not builds.empty:
        out.print("first stage: " + "; ".join(
            f"{r.modules} × {r.site} {r.modality} {r.scale} in {r.period}"
            for r in builds.itertuples(index=False)))
    openings = result.first_stage.get("openings")
    if openings is not None and not openings.empty:
        out.print("opens: " + ", ".join(f"{r.site} ({r.period})"
                                        for r in openings.itertuples(index=False)))
    for message in result.messages:
        out.print(f"note: {message}")


@app.command("pareto")
def pareto_command(
    case: CaseArg = None,
    objective: Annotated[str, typer.Option(
        "--objective", help="KIND:MARKET[:MEASURE] with KIND domestic_share (maximise), "
        "operator_share, country_share or time_to_market (minimise), e.g. "
        "domestic_share:JP; a share counts MEASURE batches, value or weight "
        "(rules.measure; default: the measure of the case's own rule of that kind on the "
        "market, else batches); or resilience:expected / resilience:worst: committed "
        "batches lost under the case's disruptions table (minimise).")] = "",
    points: Annotated[int, typer.Option("--points", help="Points on the front, the "
                                        "cost-optimal plan first.")] = 5,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Keep the points' solves here (resumable with --resume).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip points already solved in --out.")] = False,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Write the front as a self-contained HTML chart here.")] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds per point.")]
    = DEFAULTS["time_limit_s"],
    as_json: JsonFlag = False,
    debug: DebugFlag = False,
) -> None:
    """Pareto front of cost against a policy objective (epsilon-constraint): the
    non-dominated plans and the decisions that change along the front."""
    import pandas as pd

    from capacity.studies.pareto import pareto, parse_objective

    if not objective:
        _fail("--objective is required, e.g. --objective domestic_share:JP")
    options = _options(time_limit_s=time_limit)
    if out_dir is not None:
        _checked_out(out_dir, "batch results", False, _inputs(case))
    loaded = _load(case, debug)
    goal = _or_exit(lambda: parse_objective(objective, loaded), "bad --objective", debug)
    try:
        with _batch_progress("solving points", points, 0) as show:
            front = _or_exit(lambda: pareto(
                loaded, goal, points=points, options=options, workers=workers,
                scheduler=scheduler, out=out_dir, resume=resume,
                progress=None if as_json else show), "cannot draw the front", debug)
    except FileExistsError as e:
        _fail(str(e))
    if plot is not None:
        front.write_plot(plot)
    if as_json:
        _print_json(front.to_json())
        return
    table = Table(title=f"Cost against {goal} ({goal.sense})")
    for col in ("point", "ε", "status", "cost MUSD", "value", "on front", "changes"):
        table.add_column(col, justify="left" if col in ("changes", "status") else "right")
    for r in front.points.itertuples(index=False):
        table.add_row(r.point, f"{r.epsilon:.3f}", r.status,
                      "—" if pd.isna(r.cost) else f"{r.cost:,.1f}",
                      "—" if pd.isna(r.value) else f"{r.value:.3f}",
                      "yes" if r.on_front else "", r.changes)
    out.print(table)
    for message in front.messages:
        out.print(f"note: {message}")
    if plot is not None:
        out.print(f"plot: {plot}")


@app.command("report")
def report_command(
    source: Annotated[Path, typer.Argument(
        help="A plan folder (capacity solve --out) or a batch results folder (capacity "
        "batch --out).", show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file to write.")]
    = Path("report.html"),
    case: Annotated[Path | None, typer.Option(
        "--case", help="The plan's case, where the plan's recorded source has moved.")]
    = None,
    base: Annotated[str | None, typer.Option(
        "--base", help="Batch report: the scenario to compare against.")] = None,
    price_rules: Annotated[bool, typer.Option(
        "--rule-prices/--no-rule-prices", help="Plan report: re-solve without each active "
        "rule to price it.")] = True,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace an --out file that capacity did not write.")] = False,
    debug: DebugFlag = False,
) -> None:
    """One self-contained HTML report (charts, map, works offline) of a plan, or of a
    batch's scenarios against a base."""
    from capacity.report import write_report

    loaded = None if case is None else _load(case, debug)
    try:
        written = _or_exit(lambda: write_report(source, out_file, loaded, base, price_rules,
                                                _step, force), "cannot report", debug)
    except (KeyError, FileNotFoundError) as e:
        _fail(str(e.args[0]))
    except OutputError as e:
        _fail(str(e))
    out.print(f"report: {written} ({written.stat().st_size / 1e6:.1f} MB, works offline)")


def _allocation_table(result: Allocation) -> Table:
    frame = result.members
    columns = ["member", "kind", "standalone_musd", "allocated_musd", "saving_musd",
               *(c for c in ("ci_low_musd", "ci_high_musd", "nucleolus_musd")
                 if c in frame.columns), "in_core"]
    shown = Table(title=f"cost allocation ({result.method.replace('_', ', ')}; MUSD)")
    for col in columns:
        shown.add_column(col.removesuffix("_musd").replace("_", " "),
                         justify="left" if col in ("member", "kind") else "right")
    for _, row in frame.iterrows():
        shown.add_row(*(f"{row[c]:,.3f}" if isinstance(row[c], float) else
                        "yes" if row[c] is True else "no" if row[c] is False else
                        str(row[c]) for c in columns))
    return shown


def _or_exit(action: Callable[[], T], what: str, debug: bool = False) -> T:
    """Run ``action``; bad input (a `CaseError`) exits 2 with every problem listed, after
    ``what`` (``--debug`` re-raises it instead, with its traceback)."""
    try:
        return action()
    except CaseError as e:
        if debug:
            raise
        err.print(Text.assemble((what, "red"), f": {e.describe()}"))
        raise typer.Exit(EXIT_INVALID) from None


def _scenarios(path: Path, debug: bool) -> ScenarioSet:
    from capacity.studies.scenarios import read_scenarios

    return _or_exit(lambda: read_scenarios(path), f"invalid scenario file {path}", debug)


def _guard(action: Callable[[], Case]) -> Case:
    """Run an import; bad input files exit 2 with every problem listed."""
    return _or_exit(action, "cannot import")


def _options(**values: object) -> SolveOptions:
    """Solve options from command-line values; a bad value exits 2 naming the option."""
    try:
        return SolveOptions(**values)  # type: ignore[arg-type]
    except ValidationError as e:
        names = {"time_limit_s": "time-limit", "mip_rel_gap": "gap"}
        _fail("; ".join(f"--{names.get(str(x['loc'][0]), x['loc'][0])}: {x['msg']}"
                        for x in e.errors()))


def _step(line: str) -> None:
    """Progress of a long command, on stderr (stdout stays the result)."""
    err.print(Text(line, style="dim"))


def _fail(message: str) -> NoReturn:
    err.print(Text.assemble(("error:", "red"), f" {message}"))
    raise typer.Exit(EXIT_INVALID)


def _load(path: Path | None, debug: bool) -> Case:
    from capacity.case import load_case

    return _or_exit(lambda: load_case(path), f"invalid case {path}", debug)


def _inputs(case: Path | None) -> tuple[Path, ...]:
    """What a command reads and must never overwrite: the case (folder or workbook)."""
    return () if case is None else (case,)


def _checked_out(target: Path, kind: Kind, force: bool, protect: tuple[Path, ...] = (),
                 option: str = "--out") -> None:
    """Refuse (exit 2) an output folder capacity must not write, before any work."""
    try:
        check_target(target, kind, force=force, protect=protect, option=option)
    except OutputError as e:
        _fail(str(e))


def _checked_model_file(target: Path, protect: tuple[Path, ...], force: bool) -> None:
    """``--write-model``: an .mps or .lp file in an existing, writable folder, not a
    folder or an input, and not an existing file unless ``--force`` (exit 2 otherwise,
    before any work)."""
    if target.suffix.lower() not in (".mps", ".lp"):
        _fail(f"--write-model {target}: the file must end in .mps or .lp (the format is "
              "chosen by it)")
    if target.is_dir() or target.is_symlink():
        _fail(f"--write-model {target} is a folder or a symbolic link; give a file")
    if any(target.resolve() == Path(p).resolve() for p in protect):
        _fail(f"--write-model {target} is the case being solved")
    if target.exists() and not force:
        _fail(f"--write-model {target} exists; add --force to replace it")
    parent = target.parent
    if not parent.is_dir():
        _fail(f"--write-model {target}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail(f"--write-model {target}: cannot write in {parent} (permission denied or a "
              "read-only file system)")


def _saved(save: Callable[[], object]) -> None:
    """Run a save; an output that cannot be written exits 2 (what was there is intact)."""
    try:
        save()
    except OutputError as e:
        _fail(str(e))


def _print_json(value: object) -> None:
    """Print ``value`` as one line of strict JSON: a non-finite number (NaN, ±inf, which
    JSON cannot hold) is printed as null, anything else JSON lacks as its text."""
    print(json.dumps(_finite(value), default=str, allow_nan=False))


def _finite(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return _finite(value.item())  # type: ignore[attr-defined]  # a numpy scalar
    return value


def _money(x: float | None) -> str:
    return "—" if x is None else f"{x:,.1f} MUSD"


def _print_plan(plan: Plan, saved: Path | None) -> None:
    status_style = "green" if plan.status == "optimal" else "yellow" if plan.has_solution \
        else "red"
    out.print(Text.assemble((plan.case_name, "bold"), ": ", (plan.status, status_style)))
    for message in plan.messages:
        out.print(f"  {message}")
    if not plan.has_solution:
        return
    secs = plan.seconds
    gap = "—" if plan.gap is None else f"{plan.gap:.2%}"
    if plan.objective == plan.net_cost:
        out.print(f"  net discounted cost {_money(plan.objective)} (costs minus value of "
                  f"potential demand served)   bound {_money(plan.bound)}   gap {gap}")
        from capacity.results.costs import decision_cost

        fixed = (plan.net_cost or 0.0) - decision_cost(plan.costs)
        if abs(fixed) > 1e-9:
            out.print(f"  of which {_money(fixed)} is the existing sites' fixed cost, a "
                      "constant no decision changes: the plan's decisions net "
                      f"{_money(decision_cost(plan.costs))}")
    else:
        out.print(f"  objective ({plan.sense}) {plan.objective:,.6f} {plan.unit}   bound "
                  f"{plan.bound if plan.bound is not None else '—'}   gap {gap}")
    out.print(f"  {plan.size['variables']:,} variables ({plan.size['binary']} binary, "
              f"{plan.size['integer']} integer), {plan.size['constraints']:,} constraints; "
              f"build {secs.get('index_sets', 0) + secs.get('build', 0):.2f} s, "
              f"solve {secs.get('transfer', 0) + secs.get('solve', 0):.2f} s")
    costs = Table("cost component", "PV MUSD", title="Cost breakdown", title_justify="left")
    for row in plan.costs.itertuples(index=False):
        costs.add_row(row.component, f"{row.pv_musd + 0.0:,.1f}")
    out.print(costs)
    kpis = plan.tables.get("rule_kpis")
    if kpis is not None and not kpis.empty:
        from capacity.results.rule_kpis import tightest

        rules = Table("rule", "achieved (tightest period)", "limit",
                      title="Policy rules, each in its measure", title_justify="left")
        for r in tightest(kpis).itertuples(index=False):
            rules.add_row(r.rule, f"{r.label}: {r.achieved:.1%} ({r.period})", r.limit_text)
        out.print(rules)
    if not plan.builds.empty:
        builds = Table("site", "modality", "scale", "ordered", "online", "modules", "capex MUSD",
                       title="Capacity built", title_justify="left")
        for b in plan.builds.itertuples(index=False):
            builds.add_row(b.site, b.modality, b.scale, str(b.period), str(b.online_period),
                           str(b.modules), f"{b.capex_musd:,.0f}")
        out.print(builds)
    for o in plan.openings.itertuples(index=False):
        out.print(f"  opens {o.site} (decided {o.period}, producing from {o.online_period})")
    approvals = plan.tables.get("approvals")
    for a in (() if approvals is None else approvals[approvals["status"] == "new"].itertuples(
            index=False)):
        out.print(f"  approves {a.site} for {a.market}{f' ({a.modality})' if a.modality else ''}"
                  f" (decided {a.decided_period}, approved from {a.approved_from_period}, "
                  f"{a.cost_pv_musd:,.1f} MUSD)")
    for f in plan.fund_use.groupby(["fund", "funder"], as_index=False)[
            ["financed_musd", "financed_capex_musd", "financed_opening_musd",
             "reinvested_musd"]].sum().itertuples(index=False):
        if f.financed_musd > 0:
            paid = [f"{v:,.1f} MUSD of {what}" for v, what in (
                (f.financed_capex_musd, "capex"), (f.financed_opening_musd, "opening costs"))
                if v > 0]
            out.print(f"  {f.funder} ({f.fund}) finances {' and '.join(paid)}"
                      + (f", {f.reinvested_musd:,.1f} of it reinvested margin"
                         if f.reinvested_musd > 0 else ""))
    for r in plan.reservations.groupby("reservation", as_index=False)[
            ["reserved_batches", "used_batches", "fee_pv_musd"]].sum().itertuples(index=False):
        out.print(f"  reserves {r.reservation}: {r.reserved_batches:,.0f} batch slots over the "
                  f"horizon, {r.used_batches:,.0f} used, fee {r.fee_pv_musd:,.1f} MUSD (PV)")
    stock = plan.tables.get("inventory")  # absent from plans saved before inventory
    if stock is not None and not stock.empty:
        for r in stock.groupby("program", as_index=False).agg(
                most=("stock_batches", "max"), held=("stock_batches", "sum"),
                holding=("holding_cost_pv_musd", "sum")).itertuples(index=False):
            if r.held > 0:
                out.print(f"  stores {r.program}: {r.held:,.0f} batch-periods in stock, at "
                          f"most {r.most:,.0f} at a site, holding {r.holding:,.1f} MUSD (PV)")
    used = plan.utilisation[["used_batches", "changeover_batches"]].sum()
    if used["changeover_batches"] > 0:
        charged = plan.campaigns[plan.campaigns["changeover_batches"] > 0]
        out.print(f"  changeovers take {used['changeover_batches']:,.1f} of the "
                  f"{used['used_batches']:,.1f} batch slots used over the horizon "
                  f"({len(charged):,} campaigns: a program in a suite in a period)")
    assigned = plan.assignments
    unmet = plan.unmet_demand
    out.print(f"  {assigned['program'].nunique()} programs assigned to "
              f"{assigned['site'].nunique()} sites; potential demand served "
              f"{unmet['served_batches'].sum():,.0f} of {unmet['potential_batches'].sum():,.0f}"
              f" batches")
    if saved is not None:
        out.print(f"  plan written to {saved}")


def main() -> None:
    """Entry point of the ``capacity`` command.

    Unexpected exceptions are bugs in capacity, not in the user's data: they are reported
    in one line with a request to re-run with ``--debug`` (which shows the traceback).
    """
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (e.g. `capacity solve | head`): stop quietly, as Python's
        # docs recommend, without a second error while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:
        if "--debug" in sys.argv:
            raise
        err.print(Text.assemble(("internal error", "red"), f" ({type(e).__name__}: {e}); this "
                                "is a bug in capacity: re-run with --debug and report the "
                                "traceback"))
        sys.exit(EXIT_SOLVER_ERROR)

