"""Batch solves of a scenario file, on a Dask cluster, into one results store.

    capacity batch SCEN.yaml --out DIR [--workers N] [--scheduler ADDRESS] [--resume]

Data flow: the driver reads the scenario file and materialises each scenario's case
(validation errors are recorded as that scenario's result); workers receive the case
tables, build and solve the model themselves (one HiGHS thread each) and return the plan
tables; the driver writes each scenario's results atomically as it arrives.

The store in DIR:
- ``<table>/<scenario>.parquet`` for each plan table (``builds``, ``shipments``, ...),
  each with a ``scenario`` column: ``pd.read_parquet(DIR / "shipments")`` reads all.
- ``done/<scenario>.json``: the scenario's summary (status, objective, gap, timings,
  error, ``fingerprint``), written last: a scenario is finished when its summary exists,
  so ``--resume`` skips it and a killed batch loses at most the scenarios in flight.
  The fingerprint hashes what the result depends on (the scenario's definition, the base
  case's contents, the solve options): ``--resume`` solves a finished scenario again when
  it no longer matches (`plan_resume`).
- ``summary.parquet``: one row per finished scenario (written when the run ends, also
  after an error; a killed run's is rebuilt by ``--resume``).

Scenarios whose cases differ only in costs or values (same constraints), or that are
solved on one case's index sets (a source's ``sets_from``: demand removed or scaled), are
chained on one worker, which re-uses its model (`capacity.engine.resolver.Resolver`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from capacity.case import Case
from capacity.engine.options import SolveOptions
from capacity.engine.resolver import Resolver
from capacity.errors import CaseError
from capacity.output_folder import MARKER, mark, write_file, written_by
from capacity.results.plan import TABLE_NAMES, read_plan_table
from capacity.studies.scenarios import case_digest, read_scenarios

# Case columns that only feed the objective (costs and values): scenarios that differ
# only in these are chained for persistent re-solve. A grouping hint only: the worker
# checks the built index sets before re-using a model (`same_constraints`).
COST_COLUMNS = {
    "suites": ("variable_cost_musd_per_batch",),
    "lanes": ("transport_musd_per_batch", "tariff_rate"),
    "lane_defaults": ("transport_musd_per_batch", "tariff_rate"),
    "demand": ("value_musd_per_batch",),
    "sites": ("fixed_cost_musd_per_year", "opening_cost_musd"),
    "periods": ("discount_factor",),
    "funds": ("repayment_share",),
    "approvals": ("cost_musd",),
}

Progress = Callable[[str, dict[str, Any]], None]


class ScenarioSource(Protocol):
    """What a batch solves: named scenarios, each with its case and solve options
    (`capacity.studies.scenarios.ScenarioSet`, or the coalitions of `capacity.allocate`).

    A source may also have ``fingerprint(name) -> str``: a hash of what the scenario's case
    depends on, cheaper than building the case (`fingerprint` hashes the case otherwise);
    and ``sets_from(name) -> Case | None``: a case whose index sets the scenario is
    solved on, with its own demand (its case is that case with demand removed or
    scaled: the coalitions of `capacity.allocate`), so that such scenarios keep one
    structure and are chained on one worker (`plan_jobs`)."""

    @property
    def scenarios(self) -> Mapping[str, Any]: ...

    def case(self, name: str) -> Case: ...

    def solve_options(self, name: str, **changes: Any) -> SolveOptions: ...


@dataclass(frozen=True)
class Job:
    """One scenario to solve: its validated case (or the error that stopped it)."""

    name: str
    case: Case | None
    options: SolveOptions
    error: str | None = None
    # the case whose index sets the solve uses, with ``case``'s demand (the source's
    # ``sets_from``; `capacity.engine.resolver.Resolver.index_sets`)
    sets_from: Case | None = None


def solve_jobs(jobs: list[Job], persistent: bool = True,
               warm_start: bool = False) -> list[dict[str, Any]]:
    """Solve scenarios in order in this process (a worker's task), re-using the model
    between scenarios with the same constraints or structure when ``persistent`` (with
    ``warm_start``, each also starting from the previous plan: `Resolver`). Never
    raises: a failure becomes that scenario's ``error`` result."""
    resolver = Resolver(warm_start)
    return [_solve_one(job, resolver if persistent else Resolver()) for job in jobs]


def _solve_one(job: Job, resolver: Resolver) -> dict[str, Any]:
    started = time.time()
    if job.case is None:
        return {"summary": _error_summary(job.name, job.error or "no case"), "tables": {}}
    try:
        reused_before = resolver.reused + resolver.updated
        plan = resolver.solve(job.case, job.options, sets_from=job.sets_from)
    except Exception as err:  # a failed scenario records its error; the batch goes on
        return {"summary": _error_summary(job.name, f"{type(err).__name__}: {err}"),
                "tables": {}}
    summary = {"scenario": job.name, **plan.summary(), "error": None,
               "reused_model": resolver.reused + resolver.updated > reused_before,
               "worker_pid": os.getpid(), "finished_at": time.time(),
               "wall_seconds": time.time() - started}
    return {"summary": summary, "tables": plan.tables}


def _error_summary(name: str, error: str) -> dict[str, Any]:
    return {"scenario": name, "status": "error", "objective": None, "error": error,
            "messages": [error], "worker_pid": os.getpid(), "finished_at": time.time()}


def structure_key(case: Case) -> str:
    """Cases with equal keys differ at most in `COST_COLUMNS`."""
    digest = hashlib.sha256()
    for name, frame in sorted(case.tables().items()):
        kept = frame.drop(columns=list(COST_COLUMNS.get(name, ())), errors="ignore")
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(kept.astype(str), index=False).values)
    return digest.hexdigest()


def fingerprint(scenarios: ScenarioSource, name: str, changes: dict[str, Any]) -> str:
    """What scenario ``name``'s result depends on, hashed: its case (the source's own
    ``fingerprint`` where it has one, else the case's tables, or its error) and its solve
    options with ``changes``."""
    own = getattr(scenarios, "fingerprint", None)
    if callable(own):
        what = str(own(name))
    else:
        try:
            what = case_digest(scenarios.case(name))
        except CaseError as err:
            what = "error: " + err.describe()
    options = scenarios.solve_options(name, **changes).model_dump_json()
    return hashlib.sha256(f"{what}\n{options}".encode()).hexdigest()


@dataclass(frozen=True)
class Resume:
    """What a (resumed) batch does with the scenarios already in its results folder.

    Attributes:
        skipped: finished, and their fingerprint matches: kept as they are.
        changed: finished, but the definition, the base case or the options changed since
            (or the result has no fingerprint): solved again.
        fingerprints: every scenario's fingerprint, by name.
    """

    skipped: list[str]
    changed: list[str]
    fingerprints: dict[str, str]


def plan_resume(scenarios: ScenarioSource, store: ResultStore, resume: bool,
                changes: dict[str, Any] | None = None) -> Resume:
    """Which scenarios of ``store`` are finished and still current.

    Raises:
        FileExistsError: ``store`` holds results and ``resume`` is not set.
    """
    finished = store.check_resumable(resume)
    prints = {n: fingerprint(scenarios, n, changes or {}) for n in scenarios.scenarios}
    stored = store.fingerprints(finished & prints.keys())
    skipped = [n for n in prints if n in finished and stored.get(n) == prints[n]]
    changed = [n for n in prints if n in finished and stored.get(n) != prints[n]]
    return Resume(skipped, changed, prints)


def plan_jobs(scenarios: ScenarioSource, names: list[str],
              changes: dict[str, Any]) -> list[list[Job]]:
    """Materialise the named scenarios and group them into chains of jobs, in order: one
    chain per set of cases with the same constraints, or solved on the same index sets
    (the source's ``sets_from``); one per scenario when the cases differ."""
    chains: dict[str, list[Job]] = {}
    sets_of = getattr(scenarios, "sets_from", None)
    keys: dict[int, str] = {}  # structure key of each sets_from case, by id
    for name in names:
        options = scenarios.solve_options(name, **changes)
        try:
            case = scenarios.case(name)
        except CaseError as err:
            chains[f"error:{name}"] = [Job(name, None, options, error=err.describe())]
            continue
        sets = sets_of(name) if callable(sets_of) else None
        if sets is None:
            key = structure_key(case)
        else:
            key = keys.setdefault(id(sets), "sets:" + structure_key(sets))
        chains.setdefault(key, []).append(Job(name, case, options, sets_from=sets))
    return list(chains.values())


def split_chains(chains: list[list[Job]], workers: int) -> list[list[Job]]:
    """Cut chains so that no chain holds more than a share of the work: re-using a model
    saves its build and transfer, but one long chain on one worker would leave the others
    idle. At most ⌈jobs / (2·workers)⌉ jobs a chain (measured in benchmarks/batch.py:
    uncut, 2 workers with persistence ran 13 scenarios slower than without)."""
    total = sum(len(c) for c in chains)
    longest = max(1, -(-total // (2 * workers)))
    return [chain[i:i + longest] for chain in chains for i in range(0, len(chain), longest)]


def run_batch(scenarios: str | Path | ScenarioSource, out: str | Path,
              workers: int | None = None,
              scheduler: str | None = None, time_limit_s: float | None = None,
              resume: bool = False, persistent: bool = True,
              progress: Progress | None = None, warm_start: bool = False) -> pd.DataFrame:
    """Solve every scenario of a scenario file and store the results in ``out``.

    Args:
        scenarios: the scenario file, one already read (`read_scenarios`), or any
            `ScenarioSource`.
        out: results folder (created; see the module docstring for its layout).
        workers: processes of the local Dask cluster (default: one per core, at most the
            number of scenarios); ignored with ``scheduler``.
        scheduler: address of a running Dask scheduler (``tcp://host:8786``) to use
            instead of a local cluster.
        time_limit_s: overrides every scenario's time limit.
        resume: skip scenarios already finished in ``out`` whose fingerprint still
            matches (the others are solved again); without it, a folder holding results
            is refused rather than mixed.
        persistent: chain scenarios with the same constraints (or index sets) and re-use
            the model.
        warm_start: with ``persistent``, start each scenario of a chain also from the
            previous one's plan (`capacity.engine.resolver.Resolver`).
        progress: called with (scenario, summary) as each scenario finishes.

    Returns:
        The summary table: one row per scenario (``scenario``, ``status``, ``objective``,
        ``gap``, ``error``, timings, ...).

    Raises:
        CaseError: the scenario file or its base case is invalid.
        FileExistsError: ``out`` holds results and ``resume`` is not set.
    """
    from distributed import Client, LocalCluster, as_completed

    if isinstance(scenarios, str | Path):
        scenarios = read_scenarios(scenarios)
    store = ResultStore(Path(out))
    changes = {} if time_limit_s is None else {"time_limit_s": time_limit_s}
    resumed = plan_resume(scenarios, store, resume, changes)
    store.forget(resumed.changed)  # unfinished until solved again: never a stale result
    kept = set(resumed.skipped)
    todo = [n for n in scenarios.scenarios if n not in kept]
    chains = plan_jobs(scenarios, todo, changes)
    if chains:
        if scheduler is not None:
            client = Client(scheduler)
            cluster = None
        else:
            n = workers or os.cpu_count() or 1
            cluster = LocalCluster(n_workers=max(1, min(n, len(todo))), threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
        slots = max(1, len(client.scheduler_info()["workers"]))
        chains = split_chains(chains, slots if persistent else len(todo))
        try:
            futures = [client.submit(solve_jobs, chain, persistent, warm_start, pure=False)
                       for chain in chains]
            for future in as_completed(futures):
                for result in future.result():
                    name = result["summary"]["scenario"]
                    store.write({**result["summary"],
                                 "fingerprint": resumed.fingerprints[name]},
                                result["tables"])
                    if progress is not None:
                        progress(result["summary"]["scenario"], result["summary"])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
            store.write_summary()
    return store.summary()


class ResultStore:
    """The results folder of a batch (layout in the module docstring); ``tables``: the
    tables stored per scenario (a study's store adds its own)."""

    tables: tuple[str, ...] = TABLE_NAMES

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def finished(self) -> set[str]:
        """Scenarios with a stored summary."""
        done = self.folder / "done"
        return {p.stem for p in done.glob("*.json")} if done.is_dir() else set()

    def check_resumable(self, resume: bool) -> set[str]:
        """The finished scenarios; without ``resume`` there must be none (a new batch is
        not mixed into an old one's results).

        Raises:
            FileExistsError: results exist and ``resume`` is not set, or the folder
                holds files capacity did not write (a user's folder, a case).
        """
        if self.folder.is_dir() and any(self.folder.iterdir()) \
                and written_by(self.folder) != "batch results":
            raise FileExistsError(
                f"{self.folder} exists and holds files capacity did not write (not the "
                "results of a batch); give a new folder for --out")
        finished = self.finished()
        if finished and not resume:
            raise FileExistsError(f"{self.folder} already holds {len(finished)} finished "
                                  "scenarios; use --resume to continue that batch, or "
                                  "another --out")
        return finished

    def fingerprints(self, names: set[str]) -> dict[str, str | None]:
        """The stored fingerprint of each finished scenario of ``names`` (None: stored
        without one, or its summary cannot be read)."""
        found: dict[str, str | None] = {}
        for name in names:
            try:
                stored = json.loads((self.folder / "done" / f"{name}.json").read_text())
            except (OSError, ValueError):
                stored = {}
            value = stored.get("fingerprint") if isinstance(stored, dict) else None
            found[name] = value if isinstance(value, str) else None
        return found

    def forget(self, names: list[str]) -> None:
        """Mark scenarios unfinished (their summaries removed; their tables are replaced
        when they are solved again)."""
        for name in names:
            (self.folder / "done" / f"{name}.json").unlink(missing_ok=True)

    def write(self, summary: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
        """Store one scenario: tables first, each atomically, then its summary."""
        if not (self.folder / MARKER).exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            mark(self.folder, "batch results", store=True)
        name = summary["scenario"]
        for table in self.tables:
            frame = tables.get(table)
            target = self.folder / table / f"{name}.parquet"
            if frame is None:
                target.unlink(missing_ok=True)  # a re-run without this table
                continue
            out = frame.copy()
            out.insert(0, "scenario", name)
            write_file(target, partial(_to_parquet, out))
        text = json.dumps(summary, default=str)
        write_file(self.folder / "done" / f"{name}.json", lambda p: p.write_text(text))

    def write_summary(self) -> None:
        """Write ``summary.parquet`` from the per-scenario summaries (once per run: the
        ``done/`` files are the record, so rewriting it after each scenario is not needed)."""
        write_file(self.folder / "summary.parquet", partial(_to_parquet, self.summary()))

    def summary(self) -> pd.DataFrame:
        """One row per finished scenario."""
        done = self.folder / "done"
        rows = [json.loads(p.read_text()) for p in sorted(done.glob("*.json"))] \
            if done.is_dir() else []
        frame = pd.DataFrame(rows)
        for col in ("messages", "options", "seconds", "size", "counters", "numerics"):
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v: json.dumps(v, default=str))
        return frame


def read_results(folder: str | Path, table: str) -> pd.DataFrame:
    """One plan table over every finished scenario of a batch (``scenario`` column),
    typed as a saved plan's (`capacity.results.plan.read_plan_table`: identifiers stay text).

    Raises:
        CaseError: a stored table is unreadable or malformed (every problem, located).
    """
    path = Path(folder) / table
    files = sorted(path.glob("*.parquet")) if path.is_dir() else []
    if not files:
        return pd.DataFrame()
    frames, problems = [], []
    for file in files:
        try:
            frames.append(read_plan_table(file, table, ids=("scenario",)))
        except CaseError as err:
            problems += err.problems
    if problems:
        raise CaseError(problems)
    return pd.concat(frames, ignore_index=True)


def _to_parquet(frame: pd.DataFrame, path: Path) -> None:
    frame.to_parquet(path, index=False)
