"""The Plan: a solve's outcome as tidy tables, with status, bound, gap and timings."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from capacity import __version__
from capacity.errors import CaseError, Problem

Status = Literal["optimal", "time_limit_feasible", "infeasible", "unbounded", "no_solution",
                 "error"]

TABLE_NAMES = ("builds", "openings", "financing", "assignments", "shipments", "production",
               "unmet_demand", "costs", "utilisation", "market_kpis", "reservations",
               "reservation_use", "operating_margin", "fund_use")


@dataclass(frozen=True)
class Plan:
    """The result of `capacity.solve`.

    Attributes:
        case_name: the case solved.
        status: ``optimal``, ``time_limit_feasible`` (a feasible plan, limit reached),
            ``infeasible``, ``unbounded``, ``no_solution`` (limit reached, no plan) or
            ``error``.
        objective: the optimum as the case reports it (its ``objective`` table): by
            default the net discounted cost, MUSD (all costs minus the value of potential
            demand served). None without a plan.
        bound: best proven bound on ``objective`` (None if unknown).
        gap: (objective − bound) / max(|objective|, 1), None without both.
        seconds: wall time by phase: ``index_sets``, ``build``, ``transfer``, ``solve``,
            ``extract``.
        size: ``variables``, ``binary``, ``integer``, ``continuous``, ``constraints``,
            ``nonzeros``.
        counters: HiGHS work counters (``mip_nodes``, ``simplex_iterations``); empty
            where HiGHS's branch and bound was not run.
        options: the solve options used.
        messages: what the user should know (why infeasible, limit reached, ...).
        tables: the plan tables by name (empty when there is no plan); also available as
            attributes: ``builds``, ``openings``, ``financing``, ``assignments``,
            ``shipments``, ``production``, ``unmet_demand``, ``costs``, ``utilisation``,
            ``market_kpis``, ``reservations`` (held, reserved and used slots, fee),
            ``reservation_use`` (which program used which reservation), ``operating_margin``
            (revenue, operating cost and margin by period, undiscounted) and ``fund_use``
            (each fund's budget, reinvested money and financing by period).
        sense, unit: how ``objective`` is reported (``minimise``/``maximise``, its unit).
        case_source: the folder or workbook the case was loaded from ("" when built in
            memory), so a saved plan can find its case (`capacity report`).
        net_cost: the net discounted cost the engine minimised; the ``costs`` table sums
            to it (equal to ``objective`` unless the case asks otherwise).
        numerics: [min, max] absolute coefficients of the model HiGHS solved (``matrix``,
            ``objective``, ``bounds``, ``rhs``); a message warns when they leave the range
            HiGHS handles well.
    """

    case_name: str
    status: Status
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: dict[str, float]
    size: dict[str, int]
    counters: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sense: str = "minimise"
    unit: str = "MUSD"
    net_cost: float | None = None
    numerics: dict[str, list[float]] = field(default_factory=dict)
    case_source: str = ""

    @classmethod
    def without_solution(cls, case_name: str, status: Status, options: dict[str, Any],
                         seconds: dict[str, float], messages: list[str],
                         size: dict[str, int] | None = None,
                         counters: dict[str, int] | None = None,
                         bound: float | None = None,
                         numerics: dict[str, list[float]] | None = None) -> Plan:
        """A plan-less outcome (infeasible, no solution in time, error)."""
        return cls(case_name, status, None, bound, None, seconds, size or {}, counters or {},
                   options, messages, {}, numerics=numerics or {})

    @property
    def has_solution(self) -> bool:
        """True when the plan holds a feasible solution."""
        return self.status in ("optimal", "time_limit_feasible")

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLE_NAMES:
            tables = self.__dict__["tables"]
            if name not in tables:
                raise AttributeError(f"the plan has no {name} table: status is "
                                     f"{self.__dict__['status']}")
            return tables[name]
        raise AttributeError(name)

    def summary(self) -> dict[str, Any]:
        """Status, objective, bound, gap, timings and size as one JSON-ready dict."""
        return {
            "case": self.case_name, "status": self.status, "objective": self.objective,
            "bound": self.bound, "gap": self.gap, "sense": self.sense, "unit": self.unit,
            "net_cost": self.net_cost, "numerics": self.numerics,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            **self.size, "counters": self.counters, "options": self.options,
            "messages": self.messages, "capacity_version": __version__,
            "case_source": self.case_source,
        }

    def save(self, folder: str | Path, fmt: Literal["csv", "parquet"] = "csv") -> Path:
        """Write ``summary.json`` and one file per table into ``folder``.

        Everything is written to a temporary folder beside ``folder`` and renamed into
        place, so an interrupted save never leaves a partial plan behind.

        Returns:
            The folder written.
        """
        def write(tmp: Path) -> None:
            for name, frame in self.tables.items():
                if fmt == "csv":
                    frame.to_csv(tmp / f"{name}.csv", index=False)
                else:
                    frame.to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "summary.json").write_text(json.dumps(self.summary(), indent=2) + "\n")

        return write_folder(Path(folder), write)


def read_saved_plan(folder: str | Path, required: tuple[str, ...] = ()
                    ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read back a folder written by `Plan.save`: ``summary.json`` and every plan table
    present (CSV or Parquet).

    Args:
        required: tables that must be there (a plan-less save has none).

    Raises:
        CaseError: the summary or a required table is missing or unreadable.
    """
    folder = Path(folder)
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise CaseError([Problem(str(folder / "summary.json"), None, None,
                                 f"cannot be read ({err}): is {folder} a plan saved by "
                                 "`capacity solve --out`?")]) from None
    tables = {}
    for name in TABLE_NAMES:
        for path, read in ((folder / f"{name}.csv", pd.read_csv),
                           (folder / f"{name}.parquet", pd.read_parquet)):
            if path.exists():
                try:
                    tables[name] = read(path)
                except (OSError, ValueError) as err:
                    raise CaseError([Problem(str(path), None, None,
                                             f"cannot be read: {err}")]) from None
                break
    missing = [n for n in required if n not in tables]
    if missing:
        raise CaseError([Problem(str(folder / f"{n}.csv"), None, None,
                                 "plan table is missing (status "
                                 f"{summary.get('status', 'unknown')})") for n in missing])
    return tables, summary


def write_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Fill ``target`` by ``write``-ing into a temporary folder beside it and renaming
    that into place: an interrupted write never leaves a partial folder behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _file_mode() -> int:
    """0666 less the process umask (which can only be read by setting it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()  # read once, at import: umask is process-wide, not thread-safe


def write_file(target: Path, write: Callable[[Path], object]) -> None:
    """Write ``target`` through a temporary file beside it, renamed into place: a reader
    never sees a partial file. The file gets the usual permissions (0666 less the umask),
    not the temporary file's 0600."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
