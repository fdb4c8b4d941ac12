"""The Plan: a solve's outcome as tidy tables, with status, bound, gap and timings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from capacity._version import __version__
from capacity.case.schema import MAX_PERIOD
from capacity.errors import CaseError, Problem
from capacity.output_folder import PLAN_TABLES, write_folder
from capacity.results.workbook import PLAN_WORKBOOK, read_plan_workbook

if TYPE_CHECKING:
    from capacity.results.figures import PlanFigures

Status = Literal["optimal", "time_limit_feasible", "infeasible", "unbounded", "no_solution",
                 "interrupted", "error"]

TABLE_NAMES = PLAN_TABLES  # one list, also what a plan folder may hold


@dataclass(frozen=True)
class Plan:
    """The result of `capacity.solve`.

    Attributes:
        case_name: the case solved.
        status: ``optimal``, ``time_limit_feasible`` (a feasible plan, limit reached),
            ``infeasible``, ``unbounded``, ``no_solution`` (limit reached, no plan),
            ``interrupted`` (Ctrl-C, or `capacity.engine.interrupt.request`: the tables hold the
            best plan found so far, if any, but ``has_solution`` is False, so that nothing
            takes it for a finished solve) or ``error``.
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
            attributes: ``builds``, ``openings``, ``financing`` (what each fund paid for:
            ``cost_type`` ``capex``, a suite's modules, or ``opening``, a site's opening
            with modality and scale blank), ``assignments`` (each program's sites, a row per
            phase: whether the phase came by technology transfer or scaled up at the site of
            its clinical phase, the transfer's start and completion periods, the phase's
            first batch there, the transfer's cost discounted at its start), ``shipments``,
            ``production``, ``campaigns`` (each program made in each suite and period: its
            batches, the slots it uses and of them its changeover), ``unmet_demand``,
            ``costs``, ``utilisation`` (batch slots used, failed batches and changeovers
            included; the changeover slots and the programs made), ``market_kpis``
            (supply, domestic share and concentration by market, in batches),
            ``rule_kpis`` (each active share rule's and service level's achieved share by
            period, counted in the rule's measure, `rules.measure`: ``amount`` of
            ``total`` in ``unit``, ``share``, the rule's ``limit``),
            ``reservations`` (held, reserved and used slots, fee), ``reservation_use``
            (which program used which reservation),
            ``operating_margin`` (revenue, operating cost and margin by period,
            undiscounted), ``fund_use`` (each fund's budget, reinvested money and
            financing by period, in all and by cost type), ``approvals`` (where a
            market requires approval: each site approval the case gives, status
            ``approved``, and each the plan decides, ``new``, with its decision period,
            the period it holds from and its cost discounted at the decision),
            ``inventory`` (programs that can be stored: batches made, shipped, written
            off and in stock by site, scale and period, with the stock's holding cost;
            ``production`` counts their batches where they are made) and ``launches``
            (each product launched in a market: from its launch period on, its demand,
            the batches served and their share, and its continuity share).
        sense, unit: how ``objective`` is reported (``minimise``/``maximise``, its unit).
        case_source: the folder or workbook the case was loaded from ("" when built in
            memory), so a saved plan can find its case (`capacity report`).
        model_changes: what the caller changed in the Pyomo model before solving
            (constraints added or deactivated, variables fixed); re-solves from the case
            (rule prices, scenarios) do not have these changes.
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
    model_changes: list[str] = field(default_factory=list)

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
            "case_source": self.case_source, "model_changes": self.model_changes,
        }

    @property
    def plot(self) -> PlanFigures:
        """The plan's charts one by one, as plotly figures, for a notebook:
        ``plan.plot.costs()``, ``.capacity()``, ``.utilisation()``, ``.assignments()``,
        ``.flows()``, ``.map()`` (`capacity.results.figures.PlanFigures`; the charts of
        `capacity report`). Those that need the case load it from ``case_source``, or
        take it as an argument."""
        from capacity.results.figures import PlanFigures

        return PlanFigures(self.tables, self.case_source, self.status)

    def _repr_html_(self) -> str:
        """A notebook's view of the plan: status, objective, bound, gap, messages and the
        first rows of costs, builds and assignments (`capacity.results.notebook`)."""
        from capacity.results.notebook import plan_html

        return plan_html(self.summary(), self.tables)

    def save(self, folder: str | Path, fmt: Literal["csv", "parquet", "xlsx"] = "csv", *,
             force: bool = False, protect: tuple[str | Path, ...] = ()) -> Path:
        """Write ``summary.json`` and one file per table into ``folder``; with ``xlsx``,
        one workbook, ``plan.xlsx``, instead: a sheet per table and a ``summary`` sheet
        (`capacity.results.workbook`).

        Everything is written to a new folder beside ``folder`` and swapped into place
        (`capacity.output_folder`): an interrupted save leaves the previous plan or the
        new one, never a partial one. An existing ``folder`` is replaced only if it is
        empty or a plan capacity saved.

        Args:
            force: write the plan's files into an existing folder capacity did not
                write, leaving its other files alone.
            protect: paths the save must not replace (the case's folder).

        Returns:
            The folder written.

        Raises:
            OutputError: ``folder`` may not or cannot be written
                (`capacity.output_folder.check_target`), or (``xlsx``) a table is longer
                than an Excel sheet; nothing was changed.
        """
        if fmt not in ("csv", "parquet", "xlsx"):
            raise ValueError(f"unknown plan format {fmt!r}; use csv, parquet or xlsx")
        if fmt == "xlsx":
            from capacity.results.workbook import check_fits

            check_fits(self.tables)

        def write(tmp: Path) -> None:
            if fmt == "xlsx":
                from capacity.results.workbook import PLAN_WORKBOOK, write_plan_workbook

                write_plan_workbook(tmp / PLAN_WORKBOOK, self.tables, self.summary())
            for name, frame in self.tables.items():
                if fmt == "csv":
                    frame.to_csv(tmp / f"{name}.csv", index=False)
                elif fmt == "parquet":
                    frame.to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "summary.json").write_text(json.dumps(self.summary(), indent=2) + "\n")

        return write_folder(Path(folder), write, "plan", force=force, protect=protect)


def read_saved_plan(folder: str | Path, required: tuple[str, ...] = ()
                    ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read back a folder written by `Plan.save`: ``summary.json`` and every plan table
    present (CSV or Parquet files, or the sheets of ``plan.xlsx``).

    Every table is typed by its schema (`PLAN_SCHEMA`, `parse_plan_table`): identifiers
    stay the text the case spells (``NA``, ``001``, ``True``), numbers must be finite and
    periods whole; the summary's objective, bound, gap and net cost must be finite numbers
    or null. Checker, report and comparison all read plans through here.

    Args:
        required: tables that must be there (a plan-less save has none).

    Raises:
        CaseError: the summary or a required table is missing or unreadable, or a table
            or the summary is malformed: every problem, with file, row and column.
    """
    folder = Path(folder)
    summary = _read_summary(folder / "summary.json")
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    present = set()
    for name in TABLE_NAMES:
        for path in (folder / f"{name}.csv", folder / f"{name}.parquet"):
            if path.exists():
                present.add(name)
                try:
                    tables[name] = read_plan_table(path, name)
                except CaseError as err:
                    problems += err.problems
                break
    if (folder / PLAN_WORKBOOK).exists():  # saved as xlsx
        found, sheets, trouble = _read_workbook_tables(folder / PLAN_WORKBOOK, present)
        present |= sheets
        tables = {n: tables[n] if n in tables else found[n] for n in TABLE_NAMES
                  if n in tables or n in found}
        problems += trouble
    problems += [Problem(str(folder / f"{n}.csv"), None, None, "plan table is missing "
                         f"(status {summary.get('status', 'unknown')})")
                 for n in required if n not in present]
    if problems:
        raise CaseError(problems)
    return tables, summary


def _read_workbook_tables(book: Path, present: set[str]
                          ) -> tuple[dict[str, pd.DataFrame], set[str], list[Problem]]:
    """The plan tables of a saved ``plan.xlsx`` not already in ``present``, each typed and
    checked as a CSV table is (`parse_plan_table`); the names of the sheets found; the
    problems found."""
    tables: dict[str, pd.DataFrame] = {}
    try:
        sheets = read_plan_workbook(book, [n for n in TABLE_NAMES if n not in present])
    except CaseError as err:
        return tables, set(), list(err.problems)
    problems: list[Problem] = []
    for name, frame in sheets.items():
        try:
            tables[name] = parse_plan_table(frame, name, f"{book}[{name}]")
        except CaseError as err:
            problems += err.problems
    return tables, set(sheets), problems


# Beyond any plan of a valid case (money ≤ 1e9 MUSD and batches ≤ 1e6 per cell, see
# `capacity.case.schema`): a unit slip or a pasted 1e300, which would overflow the sums that
# check and report a plan.
MAX_PLAN_NUMBER = 1e15

PlanColumnKind = Literal["id", "optional_id", "period", "optional_period", "number"]


@dataclass(frozen=True)
class PlanTable:
    """The columns of one plan table as `capacity.results.extract` writes them.

    Attributes:
        ids: identifier columns, text exactly as the case spells them (``NA``, ``001``
            and ``True`` are names, not a missing value, a number or a flag).
        periods: whole period labels.
        numbers: finite numbers, |x| ≤ `MAX_PLAN_NUMBER`.
        key: the columns that identify a row (unique).
        optional_periods: period labels that may be blank (none known).
        optional_ids: identifier columns that may be blank (written after ``ids``: an
            opening's modality and scale in ``financing``).
    """

    ids: tuple[str, ...]
    periods: tuple[str, ...]
    numbers: tuple[str, ...]
    key: tuple[str, ...]
    optional_periods: tuple[str, ...] = ()
    optional_ids: tuple[str, ...] = ()

    @property
    def kinds(self) -> dict[str, PlanColumnKind]:
        """Every column and its kind, in the order `capacity.results.extract` writes them."""
        kinds: dict[str, PlanColumnKind] = dict.fromkeys(self.ids, "id")
        kinds |= dict.fromkeys(self.optional_ids, "optional_id")
        kinds |= dict.fromkeys(self.periods, "period")
        kinds |= dict.fromkeys(self.optional_periods, "optional_period")
        return kinds | dict.fromkeys(self.numbers, "number")


_SUITE = ("site", "modality", "scale")

PLAN_SCHEMA: dict[str, PlanTable] = {
    "builds": PlanTable(_SUITE, ("period", "online_period"),
                        ("modules", "batches_added", "capex_musd"), (*_SUITE, "period")),
    "openings": PlanTable(("site",), ("period", "online_period"), ("opening_cost_musd",),
                          ("site", "period")),
    "financing": PlanTable(("fund", "cost_type", "site"), ("period",), ("amount_musd",),
                           ("fund", "cost_type", *_SUITE, "period"),
                           optional_ids=("modality", "scale")),
    "assignments": PlanTable(("program", "site", "phase", "transfer"),
                             ("transfer_start_period", "transfer_complete_period"),
                             ("tech_transfer_pv_musd",), ("program", "site", "phase"),
                             optional_periods=("start_period",)),
    "shipments": PlanTable(("program", "site", "origin", "market"), ("period",), ("batches",),
                           ("program", "site", "market", "period")),
    "production": PlanTable(("program", "site"), ("period",), ("batches",),
                            ("program", "site", "period")),
    "campaigns": PlanTable(("program", *_SUITE), ("period",),
                           ("batches", "used_batches", "changeover_batches"),
                           # a storable program may make both scales in a period
                           ("program", "site", "scale", "period")),
    "unmet_demand": PlanTable(("program", "market"), ("period",),
                              ("potential_batches", "served_batches", "unmet_batches"),
                              ("program", "market", "period")),
    "costs": PlanTable(("component",), (), ("pv_musd",), ("component",)),
    "utilisation": PlanTable(_SUITE, ("period",),
                             ("capacity_batches", "used_batches", "utilisation",
                              "changeover_batches", "campaigns"), (*_SUITE, "period")),
    "market_kpis": PlanTable(("market",), ("period",),
                             ("supply_batches", "domestic_share", "hhi_operator",
                              "hhi_country"), ("market", "period")),
    "rule_kpis": PlanTable(("rule", "kind", "market", "measure", "basis", "unit"), ("period",),
                           ("amount", "total", "share", "limit"), ("rule", "subject", "period"),
                           optional_ids=("subject",)),
    "reservations": PlanTable(("reservation", *_SUITE), ("period",),
                              ("blocks", "reserved_batches", "used_batches", "fee_pv_musd"),
                              ("reservation", "period")),
    "reservation_use": PlanTable(("reservation", "program", "startup"), ("period",),
                                 ("batches",), ("reservation", "program", "period")),
    "operating_margin": PlanTable((), ("period",),
                                  ("revenue_musd", "operating_cost_musd", "margin_musd"),
                                  ("period",)),
    "fund_use": PlanTable(("fund", "funder", "kind"), ("period",),
                          ("budget_musd", "reinvested_musd", "financed_musd",
                           "financed_capex_musd", "financed_opening_musd"),
                          ("fund", "period")),
    "approvals": PlanTable(("site", "market", "status"), ("approved_from_period",),
                           ("cost_pv_musd",), ("site", "market", "modality"),
                           optional_periods=("decided_period",),
                           optional_ids=("modality",)),
    "inventory": PlanTable(("program", "site", "scale"), ("period",),
                           ("made_batches", "shipped_batches", "written_off_batches",
                            "stock_batches", "holding_cost_pv_musd"),
                           ("program", "site", "scale", "period")),
    "launches": PlanTable(("program", "market"), ("period", "launch_period"),
                          ("demand_batches", "served_batches", "served_share",
                           "continuity_share"), ("program", "market", "period")),
}


def read_plan_table(path: Path, name: str, ids: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read one plan table (CSV or Parquet) against its schema (`parse_plan_table`).

    Args:
        path: the file; CSV cells are read as text, never guessed (``NA`` stays ``NA``).
        name: the table (a key of `PLAN_SCHEMA`).
        ids: identifier columns the file holds besides the table's (a batch store's
            ``scenario``).

    Raises:
        CaseError: the file cannot be read, or is malformed (every problem, located).
    """
    source = str(path)
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                                encoding="utf-8")
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as err:
        raise CaseError([Problem(source, None, None, f"is not UTF-8 text (byte {err.start})")]
                        ) from None
    except pd.errors.EmptyDataError:
        raise CaseError([Problem(source, None, None, "is empty: it needs a header row")]
                        ) from None
    except (OSError, ValueError) as err:  # pandas' ParserError and pyarrow's are ValueErrors
        raise CaseError([Problem(source, None, None, f"cannot be read: {err}")]) from None
    return parse_plan_table(frame, name, source, ids)


def parse_plan_table(frame: pd.DataFrame, name: str, source: str,
                     ids: tuple[str, ...] = ()) -> pd.DataFrame:
    """Type one plan table as read (text cells from CSV, typed ones from Parquet).

    Identifiers become stripped text, periods ``int64`` (optional ones ``Int64``), numbers
    ``float64``; columns come in the schema's order.

    Raises:
        CaseError: an unknown, missing or repeated column, an empty identifier, a cell
            that is not a finite number (or whole period) in range, or a repeated key;
            each problem with ``source``, row (header = 1) and column.
    """
    schema = PLAN_SCHEMA[name]
    kinds: dict[str, PlanColumnKind] = dict.fromkeys(ids, "id")
    kinds |= schema.kinds
    header = [str(c).strip() for c in frame.columns]
    problems = [Problem(source, 1, c, f"unknown column; {name} has {', '.join(kinds)}")
                for c in header if c not in kinds]
    repeated = {c for c in header if header.count(c) > 1}
    problems += [Problem(source, 1, c, "column appears twice") for c in sorted(repeated)]
    problems += [Problem(source, 1, c, "required column is missing")
                 for c in kinds if c not in header]
    rows = np.arange(len(frame)) + 2
    columns: dict[str, pd.Series] = {}
    for col, kind in kinds.items():
        if col in header and col not in repeated:
            cells = frame.iloc[:, header.index(col)]
            columns[col], found = _parse_plan_column(cells, kind, source, col, rows)
            problems += found
    if problems:
        raise CaseError(problems)
    parsed = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    key = [*ids, *schema.key]
    repeats = parsed.duplicated(key, keep=False).to_numpy()
    if repeats.any():
        first: dict[tuple[object, ...], int] = {}
        for i, k in zip(np.flatnonzero(repeats),
                        parsed.loc[repeats, key].itertuples(index=False, name=None),
                        strict=True):
            if k in first:
                problems.append(Problem(source, int(rows[i]), ", ".join(key),
                                        f"repeats row {first[k]}'s key {k}"))
            else:
                first[k] = int(rows[i])
        raise CaseError(problems)
    return parsed


def _parse_plan_column(cells: pd.Series, kind: PlanColumnKind, source: str, column: str,
                       rows: np.ndarray) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    cells = cells.reset_index(drop=True)
    typed = pd.api.types.is_numeric_dtype(cells.dtype) \
        and not pd.api.types.is_bool_dtype(cells.dtype)  # Parquet numbers: no text trip
    text = None if typed and kind not in ("id", "optional_id") else _cell_text(cells)

    def bad(mask: np.ndarray, message: str) -> None:
        for i in np.flatnonzero(mask):
            value = text.iat[i] if text is not None else str(float(cells.iat[i]))
            problems.append(Problem(source, int(rows[i]), column, message.format(value=value)))

    empty = (text == "").to_numpy() if text is not None else cells.isna().to_numpy()
    if kind not in ("optional_period", "optional_id"):
        bad(empty, "is empty")
    if kind in ("id", "optional_id"):
        assert text is not None
        return text, problems
    if text is None:
        arr = cells.to_numpy(dtype="float64", na_value=np.nan)
    else:
        arr = pd.to_numeric(text.where(~empty), errors="coerce") \
            .to_numpy(dtype="float64", na_value=np.nan)
    ok = ~empty & np.isfinite(arr)
    bad(~empty & ~ok, "{value!r} is not a finite number")
    if kind == "number":
        high = ok & (np.abs(np.where(ok, arr, 0.0)) > MAX_PLAN_NUMBER)
        bad(high, f"{{value}} is out of range: |x| must be ≤ {MAX_PLAN_NUMBER:g}")
        return pd.Series(arr, dtype="float64"), problems
    whole = np.where(ok, arr, 0.0)
    fraction = ok & (whole != np.round(whole))
    bad(fraction, "{value!r} is not a whole number")
    outside = ok & ~fraction & ((whole < 0) | (whole > MAX_PERIOD))
    bad(outside, f"{{value}} is out of range: must be 0 to {MAX_PERIOD}")
    whole = np.where(ok & ~fraction & ~outside, whole, 0.0).round()
    if kind == "optional_period":
        return pd.Series(pd.array(np.where(empty, np.nan, whole)).astype("Int64")), problems
    return pd.Series(whole.astype("int64")), problems


def _cell_text(cells: pd.Series) -> pd.Series:
    """Cells as stripped text (object dtype), blank for a missing value (Parquet's None
    or NaN; CSV cells are read as text, so ``NA`` there is a name)."""
    missing = cells.isna().to_numpy()
    return cells.astype(str).str.strip().where(~missing, "").astype("object")


_SUMMARY_NUMBERS = ("objective", "bound", "gap", "net_cost")
_SUMMARY_TEXTS = ("case", "status", "sense", "unit", "case_source")


def _read_summary(path: Path) -> dict[str, Any]:
    """``summary.json``, with the numbers readers compute with checked finite (JSON's
    ``NaN`` and ``1e999`` are not numbers a plan can report)."""
    source = str(path)
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise CaseError([Problem(source, None, None,
                                 f"cannot be read ({err}): is {path.parent} a plan saved by "
                                 "`capacity solve --out`?")]) from None
    if not isinstance(summary, dict):
        raise CaseError([Problem(source, None, None, "is not a JSON object: is "
                                 f"{path.parent} a plan saved by `capacity solve --out`?")])
    problems = []
    for key in _SUMMARY_NUMBERS:
        value = summary.get(key)
        if value is None:
            continue
        number = _finite(value)
        if number is None:
            problems.append(Problem(source, None, key, f"{value!r} is not a finite number"))
        else:
            summary[key] = number
    problems += [Problem(source, None, key, f"{summary[key]!r} is not text")
                 for key in _SUMMARY_TEXTS
                 if summary.get(key) is not None and not isinstance(summary[key], str)]
    if not isinstance(summary.get("options", {}), dict):
        problems.append(Problem(source, None, "options", "is not a JSON object"))
    for key in ("messages", "model_changes"):
        texts = summary.get(key, [])
        if not isinstance(texts, list) or not all(isinstance(m, str) for m in texts):
            problems.append(Problem(source, None, key, "is not a list of text"))
    if problems:
        raise CaseError(problems)
    return summary


def _finite(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not one (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None
