"""Validation at the boundary: raw tables in, typed tables out, or every problem at once.

Checks, in order: tables present and non-empty; columns known and present; every cell
parses to its type, lies in its range and choices; keys are unique; references resolve;
cross-table rules hold (periods ascending, candidate sites start empty, rule subjects
exist). Past this module the code trusts the case.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from capacity.case.io import RawTable
from capacity.case.schema import (
    DEFAULT_MODALITIES,
    MEASURED_RULE_KINDS,
    TABLES,
    TABLES_BY_NAME,
    UNSTORABLE_MODALITIES,
    Column,
    Table,
)
from capacity.errors import CaseError, Problem

_TRUE = {"true", "yes", "1", "1.0", "y", "t"}
_FALSE = {"false", "no", "0", "0.0", "n", "f"}


def validate_tables(raw: dict[str, RawTable]) -> dict[str, pd.DataFrame]:
    """Parse and check raw tables.

    Args:
        raw: tables as read by `capacity.case.io.read_tables`.

    Returns:
        One typed DataFrame per schema table (optional tables absent from the case are
        empty), with defaults filled and columns in documented order.

    Raises:
        CaseError: listing every problem found, each with file, row and column.
    """
    problems: list[Problem] = []
    # cells that cannot be read as the user sees them: found while reading, or here
    unreadable = [p for rt in raw.values() for p in rt.problems]
    parsed: dict[str, pd.DataFrame] = {}
    sources: dict[str, RawTable] = {}
    checkable: dict[str, RawTable] = {}  # tables with every required column present
    for table in TABLES:
        if table.name not in raw:
            if table.required:
                problems.append(Problem(f"{table.name}.csv", None, None,
                                        "required table is missing"))
            parsed[table.name] = (_default_modalities(table) if table.name == "modalities"
                                  else _empty(table))
            continue
        rt = raw[table.name]
        sources[table.name] = rt
        frame, table_problems = _parse_table(table, rt, unreadable)
        problems += table_problems
        parsed[table.name] = frame
        if all(c.name in frame.columns for c in table.columns):
            checkable[table.name] = rt
    # A table missing a required column (already reported) cannot have its keys or
    # references checked; every other table still is.
    problems += _check_keys(parsed, checkable)
    problems += _check_references(parsed, checkable)
    # cross-table checks assume unique keys, resolved references and every cell read
    if not problems and not unreadable:
        problems += _check_cross_table(parsed, sources)
    if problems or unreadable:
        raise CaseError(_with_unreadable(problems, unreadable))
    return parsed


def _with_unreadable(problems: list[Problem], read: list[Problem]) -> list[Problem]:
    """``problems`` and the cells that could not be read (``read``).

    Such a cell reads as blank, so validation may also find it empty or unknown: that
    says nothing more, and is dropped. A read problem with no column (a CSV row with too
    many fields) covers its whole row; one with no row (a Parquet column of records) its
    whole column.
    """
    cells = {(p.source, p.row, p.column) for p in read}
    rows = {(p.source, p.row) for p in read if p.column is None and p.row is not None}
    columns = {(p.source, p.column) for p in read if p.row is None and p.column is not None}
    return read + [p for p in problems
                   if (p.source, p.row, p.column) not in cells
                   and (p.source, p.row) not in rows
                   and (p.source, p.column) not in columns]


def _empty(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=_dtype(c)) for c in table.columns})


def _default_modalities(table: Table) -> pd.DataFrame:
    """The built-in `modalities` table, for a case that gives none: `DEFAULT_MODALITIES`
    with every other column at its default."""
    rows = [{"modality": q, "name": name, "batch": batch}
            for q, name, batch in DEFAULT_MODALITIES]
    return pd.DataFrame({col.name: pd.Series([r.get(col.name, col.default) for r in rows],
                                             dtype=_dtype(col))
                         for col in table.columns})


def _dtype(col: Column) -> str:
    if col.kind == "int" and col.default is None and not col.required:
        return "Int64"  # as parsed: "not given" stays a missing value (`_parse_column`)
    return {"str": "object", "int": "int64", "float": "float64", "bool": "bool",
            "list": "object"}[col.kind]


def _parse_table(table: Table, rt: RawTable,
                 unreadable: list[Problem]) -> tuple[pd.DataFrame, list[Problem]]:
    """Parse ``rt`` against ``table``; cells that cannot be read go to ``unreadable``."""
    problems: list[Problem] = []
    frame = rt.frame
    frame.columns = [str(c).strip() for c in frame.columns]
    known = set(table.column_names)
    for name in frame.columns:
        if name not in known:
            problems.append(Problem(rt.source, rt.header_row, name,
                                    f"unknown column; {table.name} has "
                                    f"{', '.join(table.column_names)}"))
    dup_cols = frame.columns[frame.columns.duplicated()].unique()
    for name in dup_cols:
        problems.append(Problem(rt.source, rt.header_row, name, "column appears twice"))
    if table.required and len(frame) == 0:
        problems.append(Problem(rt.source, None, None, "has no rows"))
    rows = rt.rows()
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        if col.name not in frame.columns or col.name in dup_cols:
            if col.required and col.name not in dup_cols:
                problems.append(Problem(rt.source, rt.header_row, col.name,
                                        "required column is missing"))
                continue
            cells = pd.Series([""] * len(frame), dtype="object")  # absent: every cell blank
        else:
            cells = frame[col.name].reset_index(drop=True)
        series, col_problems = _parse_column(col, cells, rt.source, rows, unreadable,
                                             _reaches_plans(table, col))
        problems += col_problems
        out[col.name] = series
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame))), problems


# A cell starting with one of these is run as a formula by a spreadsheet that opens a CSV
# (OWASP's "CSV injection"); tab and carriage return hide such a start.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _reaches_plans(table: Table, col: Column) -> bool:
    """Whether a text column's values are copied into plan tables (identifiers: keys,
    references, and required names such as ``startup`` and ``funder``)."""
    return col.kind == "str" and not col.choices and (
        col.name in table.key or col.ref is not None or col.required)


def _parse_column(col: Column, raw: pd.Series, source: str, rows: np.ndarray,
                  unreadable: list[Problem], identifier: bool = False,
                  ) -> tuple[pd.Series, list[Problem]]:
    problems: list[Problem] = []
    texts = []
    for j, value in enumerate(raw):
        try:
            texts.append(_cell_text(value, col.kind == "list"))
        except _Unreadable as err:
            # reported as a cell that cannot be read: blank here, and not reported again
            unreadable.append(Problem(source, int(rows[j]), col.name, str(err)))
            texts.append("")
    text = pd.Series(texts, dtype="object")
    empty = (text == "").to_numpy()
    if col.required:
        for i in np.flatnonzero(empty):
            problems.append(Problem(source, int(rows[i]), col.name, "is empty"))

    def bad(mask: np.ndarray, message: str) -> None:
        for i in np.flatnonzero(mask):
            problems.append(Problem(source, int(rows[i]), col.name,
                                    message.format(value=text.iloc[i])))

    values: pd.Series
    if col.kind in ("float", "int"):
        numbers = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
        arr = numbers.to_numpy()
        not_number = ~empty & ~np.isfinite(arr)
        bad(not_number, "{value!r} is not a finite number")
        ok = ~empty & ~not_number
        if col.kind == "int":
            fraction = ok & (arr != np.round(arr))
            bad(fraction, "{value!r} is not a whole number")
            ok &= ~fraction
        if col.lower is not None:
            low = ok & (arr <= col.lower if col.lower_open else arr < col.lower)
            sign = ">" if col.lower_open else "≥"
            bad(low, f"{{value}} is out of range: must be {sign} {col.lower:g}")
            ok &= ~low
        if col.upper is not None:
            high = ok & (arr > col.upper)
            bad(high, f"{{value}} is out of range: must be ≤ {col.upper:g}")
            ok &= ~high  # reported; never cast (1e30 would overflow an integer)
        default = np.nan if col.default is None else float(col.default)  # type: ignore[arg-type]
        filled = np.where(ok, arr, default)
        if col.kind == "int":
            values = pd.Series(np.nan_to_num(filled, nan=0).round().astype("int64"))
            if col.default is None and not col.required:
                # optional integers without a default (period references, per-site
                # overrides) keep "not given" as a missing value
                values = pd.Series(pd.array(np.where(ok, arr, np.nan)).astype("Int64"))
        else:
            values = pd.Series(filled, dtype="float64")
    elif col.kind == "bool":
        low = text.str.lower()
        is_true = low.isin(_TRUE).to_numpy()
        is_false = low.isin(_FALSE).to_numpy()
        bad(~empty & ~is_true & ~is_false, "{value!r} is not true/false")
        values = pd.Series(np.where(empty, bool(col.default), is_true), dtype="bool")
    elif col.kind == "list":
        items = text.map(lambda s: tuple(x.strip() for x in s.split(";") if x.strip()))
        if col.default:  # an empty cell takes the column's default list
            items = items.map(lambda tup: tup or col.default)
        if col.choices:
            for j, tup in enumerate(items):
                for x in tup:
                    if x not in col.choices:
                        problems.append(Problem(source, int(rows[j]), col.name,
                                                f"{x!r} is not one of "
                                                f"{', '.join(col.choices)}"))
        values = items.astype("object")
    else:
        if col.choices:
            bad(~empty & ~text.isin(col.choices).to_numpy(),
                f"{{value!r}} is not one of {', '.join(col.choices)}")
        if identifier:
            bad(text.str.startswith(FORMULA_START).to_numpy(),
                "{value!r} starts with =, +, -, @, a tab or a carriage return: a "
                "spreadsheet opening the plan's CSV files would run it as a formula; "
                "rename it")
        fill = "" if col.default is None else str(col.default)
        values = text.where(~empty, fill).astype("object")
    return values, problems


class _Unreadable(ValueError):
    """A cell whose value is not a table value (bytes that are not text, a record)."""


def _cell_text(value: object, is_list: bool = False) -> str:
    """A cell as text: blank for missing values; for a list column, a list's items joined
    with ``;``; bytes (Parquet binary columns) decoded as UTF-8.

    Raises:
        _Unreadable: the value is no text, number or true/false (or list of text for a
            list column), or bytes that are not UTF-8.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise _Unreadable(f"holds bytes that are not UTF-8 text ({value[:16]!r}): "
                              "store the column as text") from None
    if isinstance(value, tuple | list | np.ndarray):
        if not is_list:
            shown = [str(v) for v in list(value)[:4]]
            raise _Unreadable(f"holds a list ({'; '.join(shown)}): this column takes one "
                              "value per cell")
        items = [_cell_text(v) for v in value]
        if any(";" in item for item in items):
            raise _Unreadable(f"holds a list item with ';' in it ({'; '.join(items)}); the "
                              "items of a list are names without ';'")
        return ";".join(item for item in items if item)
    if isinstance(value, dict):
        raise _Unreadable(f"holds a record ({', '.join(map(str, value))}); a table holds "
                          "plain values: text, numbers, true/false")
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def _row(rt: RawTable, i: int) -> int:
    return rt.row(i)


def _check_keys(parsed: dict[str, pd.DataFrame],
                sources: dict[str, RawTable]) -> list[Problem]:
    problems = []
    for name, rt in sources.items():
        table = TABLES_BY_NAME[name]
        frame = parsed[name]
        if not table.key:  # a one-row table (settings)
            if len(frame) > 1:
                problems.append(Problem(rt.source, _row(rt, 1), None,
                                        f"{table.name} holds one row; this is a second"))
            continue
        dup = frame.duplicated(list(table.key), keep="first").to_numpy()
        if not dup.any():
            continue
        first_of: dict[tuple[object, ...], int] = {}
        for i, key in enumerate(frame[list(table.key)].itertuples(index=False, name=None)):
            if dup[i]:
                shown = key[0] if len(key) == 1 else key
                problems.append(Problem(rt.source, _row(rt, i), ", ".join(table.key),
                                        f"duplicate key {shown!r}; first given in row "
                                        f"{_row(rt, first_of[key])}"))
            else:
                first_of.setdefault(key, i)
    return problems


def _check_references(parsed: dict[str, pd.DataFrame],
                      sources: dict[str, RawTable]) -> list[Problem]:
    problems = []
    for name, rt in sources.items():
        frame = parsed[name]
        for col in TABLES_BY_NAME[name].columns:
            if col.ref is None:
                continue
            ref_table, ref_col = col.ref.split(".")
            if ref_col not in parsed[ref_table].columns:
                continue  # the referenced key column is missing, and reported as such
            known = set(parsed[ref_table][ref_col])
            shown = (ref_table if ref_table in sources
                     else f"the built-in {ref_table} ({', '.join(sorted(known))}); a case "
                     f"may list its own in a {ref_table} table" if ref_table == "modalities"
                     else f"{ref_table} (no such table)")
            for i, value in enumerate(frame[col.name]):
                for item in _items(col, value):
                    if item not in known:
                        problems.append(Problem(rt.source, _row(rt, i), col.name,
                                                f"unknown {ref_col} {item!r}: not in {shown}"))
    return problems


def _items(col: Column, value: object) -> Iterable[object]:
    if col.kind == "list":
        return value  # type: ignore[return-value]
    if value is None or value is pd.NA or (value == "" and not col.required):
        return ()
    return (value,)


def _check_cross_table(parsed: dict[str, pd.DataFrame],
                       sources: dict[str, RawTable]) -> list[Problem]:
    problems: list[Problem] = []
    periods = parsed["periods"]["period"].to_list()
    if periods != sorted(periods):
        rt = sources["periods"]
        problems.append(Problem(rt.source, None, "period", "periods must be in ascending order"))

    sites = parsed["sites"].set_index("site")
    if "suites" in sources:
        rt = sources["suites"]
        suites = parsed["suites"]
        for i, (site, existing) in enumerate(zip(suites["site"],
                                                 suites["existing_batches_per_period"],
                                                 strict=True)):
            if sites.at[site, "status"] == "candidate" and existing > 0:
                problems.append(Problem(rt.source, _row(rt, i), "existing_batches_per_period",
                                        f"site {site!r} is a candidate: it has no existing "
                                        "capacity (use module_batches_per_period)"))

    if "programs" in sources:
        rt = sources["programs"]
        programs = parsed["programs"]
        for i, (start, commercial) in enumerate(zip(programs["earliest_start"],
                                                    programs["commercial_from"], strict=True)):
            if pd.notna(start) and pd.notna(commercial) and commercial < start:
                problems.append(Problem(rt.source, _row(rt, i), "commercial_from",
                                        f"{commercial} is before earliest_start {start}"))

    problems += _check_units(parsed, sources)
    if "rules" in sources:
        problems += _check_rule_subjects(parsed, sources["rules"])
        problems += _check_measured_values(parsed, sources)
    if "members" in sources:
        problems += _check_members(parsed, sources["members"])
    if "reservations" in sources:
        problems += _check_reservation_suites(parsed, sources["reservations"])
    if "suites" in sources:
        problems += _check_changeover_slots(parsed, sources["suites"])
    if "readouts" in sources:
        problems += _check_readouts(parsed, sources["readouts"])
    if "disruptions" in sources:
        problems += _check_disruptions(parsed, sources["disruptions"])
    if "approvals" in sources:
        problems += _check_approvals(parsed, sources["approvals"])
    if "outages" in sources:
        problems += _check_outages(parsed, sources["outages"])
    problems += _check_shelf_lives(parsed, sources)
    problems += _check_stored_in_changeover_suites(parsed, sources)
    if "objective" in sources and len(parsed["objective"]) > 1:
        problems.append(Problem(sources["objective"].source, None, None,
                                "has more than one row: give one sense and offset"))
    return problems


# A value this many times its column's median (non-zero) is a unit slip, typically USD
# typed among MUSD (a factor 1e6), not a spread real data have.
UNIT_SLIP_RATIO = 1e5
# Values at or below this (1 USD in MUSD, a millionth of a batch) do not set the scale: a
# median of 1e-120 would make every ordinary value look like a slip.
UNIT_SLIP_FLOOR = 1e-6


def _check_units(parsed: dict[str, pd.DataFrame],
                 sources: dict[str, RawTable]) -> list[Problem]:
    problems = []
    for name, rt in sources.items():
        for col in TABLES_BY_NAME[name].columns:
            if col.kind != "float" or not (col.name.endswith("_musd") or "batches" in col.name
                                           or col.name.endswith("_per_batch")):
                continue
            values = parsed[name][col.name].to_numpy(dtype=float)
            nonzero = values[values > UNIT_SLIP_FLOOR]
            if len(nonzero) < 3:
                continue
            median = float(np.median(nonzero))
            for i in np.flatnonzero(values > UNIT_SLIP_RATIO * median):
                problems.append(Problem(rt.source, _row(rt, int(i)), col.name,
                                        f"{values[i]:g} is {values[i] / median:.0e} times the "
                                        f"column's median {median:g}: inconsistent units? "
                                        "(money is in millions, capacity in batches per period)"))
    return problems


def _check_members(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    known = {"startup": (set(parsed["programs"]["startup"]), "programs.startup"),
             "anchor": (set(parsed["anchors"]["anchor"]), "anchors.anchor")}
    problems = []
    for i, (member, kind) in enumerate(zip(parsed["members"]["member"],
                                           parsed["members"]["kind"], strict=True)):
        names, where = known[kind]
        if member not in names:
            problems.append(Problem(rt.source, _row(rt, i), "member",
                                    f"unknown {kind} {member!r}: not in {where}"))
    return problems


def _check_readouts(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    """A program with phase readouts gives its overall probability there: programs'
    success_probability must be left at 1 or equal the readouts' product."""
    overall = parsed["programs"].set_index("program")["success_probability"]
    product = parsed["readouts"].groupby("program")["success_probability"].prod()
    problems = []
    first_row = {p: i for i, p in reversed(list(enumerate(parsed["readouts"]["program"])))}
    for program, phases in product.items():
        given = float(overall[program])
        if given != 1.0 and abs(given - float(phases)) > 1e-6:
            problems.append(Problem(rt.source, _row(rt, first_row[program]),
                                    "success_probability",
                                    f"{program}'s readouts multiply to {phases:g} but "
                                    f"programs.success_probability says {given:g}: leave it "
                                    "at 1 or make them agree"))
    return problems


def _check_disruptions(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    """A disruption names a subject its kind knows (a site, an operator, a region)."""
    known = {"site": (set(parsed["sites"]["site"]), "sites"),
             "operator": (set(parsed["operators"]["operator"]), "operators"),
             "country": (set(parsed["regions"]["region"]), "regions")}
    problems = []
    for i, (kind, subject) in enumerate(zip(parsed["disruptions"]["kind"],
                                            parsed["disruptions"]["subject"], strict=True)):
        if kind in known and subject not in known[kind][0]:
            what = "region" if kind == "country" else kind
            problems.append(Problem(rt.source, _row(rt, i), "subject",
                                    f"unknown {what} {subject!r} for a {kind} disruption: "
                                    f"not in {known[kind][1]}"))
    return problems


def _check_shelf_lives(parsed: dict[str, pd.DataFrame],
                       sources: dict[str, RawTable]) -> list[Problem]:
    """Batches of an unstorable modality (autologous cell therapy: one patient's lot) are
    never held in stock; a stock target names a program that can be stored (a shelf
    life of 1 period or more, its own or its modality's)."""
    problems = []
    modalities = parsed["modalities"]
    life = dict(zip(modalities["modality"], modalities["shelf_life_periods"], strict=True))
    if "modalities" in sources:
        rt = sources["modalities"]
        for i, (q, n) in enumerate(zip(modalities["modality"],
                                       modalities["shelf_life_periods"], strict=True)):
            if q in UNSTORABLE_MODALITIES and n > 0:
                problems.append(Problem(rt.source, _row(rt, i), "shelf_life_periods",
                                        f"{q} batches are made for one patient and cannot "
                                        "be stored: the shelf life must be 0"))
    programs = parsed["programs"]
    own = {}
    for i, (p, q, n) in enumerate(zip(programs["program"], programs["modality"],
                                      programs["shelf_life_periods"], strict=True)):
        own[p] = int(n) if pd.notna(n) else int(life.get(q, 0))
        if pd.notna(n) and n > 0 and q in UNSTORABLE_MODALITIES and "programs" in sources:
            rt = sources["programs"]
            problems.append(Problem(rt.source, _row(rt, i), "shelf_life_periods",
                                    f"{p} is {q}: made for one patient, it cannot be "
                                    "stored (the shelf life must be 0)"))
    if "stock_targets" in sources:
        rt = sources["stock_targets"]
        for i, p in enumerate(parsed["stock_targets"]["program"]):
            if own.get(p, 0) < 1:
                problems.append(Problem(rt.source, _row(rt, i), "program",
                                        f"{p} cannot be stored (its shelf life is 0 "
                                        "periods): give programs.shelf_life_periods or its "
                                        "modality's shelf_life_periods of 1 or more"))
    return problems


def _check_reservation_suites(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    suites = set(zip(parsed["suites"]["site"], parsed["suites"]["modality"],
                     parsed["suites"]["scale"], strict=True))
    status = parsed["sites"].set_index("site")["status"].to_dict()
    problems = []
    for i, row in enumerate(parsed["reservations"].itertuples(index=False)):
        if (row.site, row.modality, row.scale) not in suites:
            problems.append(Problem(rt.source, _row(rt, i), "site",
                                    f"{row.site} has no {row.modality} {row.scale}-scale suite "
                                    "in suites"))
        elif status.get(row.site) != "existing":
            problems.append(Problem(rt.source, _row(rt, i), "site",
                                    f"{row.site} is a candidate site: only an existing "
                                    "site's operator can offer a reservation"))
    return problems


def _check_approvals(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    """An approval is of a site's suites: the site has a suite (of the row's modality,
    where it names one). A row is approved (``approved_from``) or approvable (a lead
    time and a cost), not both."""
    modalities: dict[str, set[str]] = {}
    for site, q in zip(parsed["suites"]["site"], parsed["suites"]["modality"], strict=True):
        modalities.setdefault(site, set()).add(q)
    problems = []
    for i, row in enumerate(parsed["approvals"].itertuples(index=False)):
        mine = modalities.get(row.site, set())
        if not mine or (row.modality and row.modality not in mine):
            what = f"{row.modality} suite" if row.modality else "suite"
            problems.append(Problem(rt.source, _row(rt, i), "modality" if row.modality
                                    else "site", f"{row.site} has no {what} in suites: "
                                    "there is nothing to approve"))
        if pd.notna(row.approved_from):
            for column in ("lead_time_periods", "cost_musd"):
                if getattr(row, column) > 0:
                    problems.append(Problem(rt.source, _row(rt, i), column,
                                            f"{row.site} is approved for {row.market} from "
                                            f"{row.approved_from}: an approved row has no "
                                            f"{column} (leave approved_from empty for an "
                                            "approvable one)"))
    return problems


def _check_outages(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    """An outage names a subject its kind knows (a site, an operator, a region) and
    ends no earlier than it starts."""
    known = {"site": set(parsed["sites"]["site"]),
             "operator": set(parsed["operators"]["operator"]),
             "country": set(parsed["regions"]["region"])}
    table = {"site": "sites", "operator": "operators", "country": "regions"}
    problems = []
    for i, row in enumerate(parsed["outages"].itertuples(index=False)):
        if row.kind in known and row.subject not in known[row.kind]:
            what = "region" if row.kind == "country" else row.kind
            problems.append(Problem(rt.source, _row(rt, i), "subject",
                                    f"unknown {what} {row.subject!r} for a {row.kind} "
                                    f"outage: not in {table[row.kind]}"))
        if pd.notna(row.until_period) and row.until_period < row.from_period:
            problems.append(Problem(rt.source, _row(rt, i), "until_period",
                                    f"{row.until_period} is before from_period "
                                    f"{row.from_period}"))
    return problems


def _check_changeover_slots(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    """A suite whose changeover (its own `changeover_slots`, else its modality's) takes
    every batch slot it can ever have in a period (existing, every module, every
    reservation) could never make a batch: a unit slip (hours or days typed as slots)."""
    by_modality = parsed["modalities"].set_index("modality")["changeover_slots"].to_dict()
    reservable: dict[tuple[str, str, str], float] = {}
    for r in parsed["reservations"].itertuples(index=False):
        k = (r.site, r.modality, r.scale)
        reservable[k] = reservable.get(k, 0.0) + float(r.block_batches * r.max_blocks)
    problems = []
    for i, row in enumerate(parsed["suites"].itertuples(index=False)):
        own = pd.notna(row.changeover_slots)
        changeover = float(row.changeover_slots) if own else float(
            by_modality.get(row.modality, 0.0))
        most = (float(row.existing_batches_per_period)
                + float(row.module_batches_per_period) * int(row.max_modules)
                + reservable.get((row.site, row.modality, row.scale), 0.0))
        if changeover > 0 and most > 0 and changeover >= most:
            whose = "" if own else f" (the {row.modality} modality's, modalities.changeover_slots)"
            problems.append(Problem(rt.source, _row(rt, i), "changeover_slots",
                                    f"a changeover of {changeover:g} slots{whose} takes all "
                                    f"{most:g} batch slots a period the suite can ever have "
                                    "(existing, every module, reservations): no program "
                                    "could be made there"))
    return problems


def _check_rule_subjects(parsed: dict[str, pd.DataFrame], rt: RawTable) -> list[Problem]:
    problems = []
    operators = set(parsed["operators"]["operator"])
    regions = set(parsed["regions"]["region"])
    flags = {"of_concern"} | {f for fl in parsed["operators"]["flags"] for f in fl}
    modalities = list(parsed["modalities"]["modality"])
    for i, rule in enumerate(parsed["rules"].itertuples(index=False)):
        subject = rule.subject
        if rule.kind == "barred":
            ok = subject in operators or (subject.startswith("flag:")
                                          and subject[5:] in flags)
            expect = "an operator or flag:NAME of a known flag"
        elif rule.kind == "max_operator_share":
            ok = subject in operators or subject == "*"
            expect = "an operator or *"
        elif rule.kind == "max_country_share":
            ok = subject in regions or subject == "*"
            expect = "a region or *"
        elif rule.kind == "min_service_level":
            ok = subject in modalities or subject == ""
            expect = f"a modality ({', '.join(modalities)}) or empty"
        else:
            ok = subject == ""
            expect = "empty"
        if not ok:
            problems.append(Problem(rt.source, _row(rt, i), "subject",
                                    f"{subject!r} is not valid for a {rule.kind} rule: "
                                    f"expected {expect}"))
        if rule.kind in ("max_operator_share", "max_country_share") and rule.share <= 0:
            problems.append(Problem(rt.source, _row(rt, i), "share",
                                    f"a {rule.kind} rule needs a share above 0"))
        if rule.basis != "supply" and rule.kind != "min_domestic_share":
            problems.append(Problem(rt.source, _row(rt, i), "basis",
                                    f"basis {rule.basis!r} is for min_domestic_share rules "
                                    f"only, not {rule.kind}"))
        if rule.measure != "batches" and rule.kind not in MEASURED_RULE_KINDS:
            problems.append(Problem(rt.source, _row(rt, i), "measure",
                                    f"measure {rule.measure!r} has no meaning for a "
                                    f"{rule.kind} rule, which counts no shares: leave it "
                                    f"empty or `batches` (measures apply to "
                                    f"{', '.join(MEASURED_RULE_KINDS)})"))
    return problems


def _check_measured_values(parsed: dict[str, pd.DataFrame],
                           sources: dict[str, RawTable]) -> list[Problem]:
    """A rule measured in value needs a value above 0 for every batch it counts: each
    (program, market, period) of its market with demand (committed or potential) takes
    `demand.value_musd_per_batch`, else the offtakes' `price_musd_per_batch` (models/
    formulation.md, "Rule measures"); a batch worth 0 would silently not count."""
    rules = parsed["rules"]
    markets = {str(m): str(u) for u, m, q in zip(rules["rule"], rules["market"],
                                                 rules["measure"], strict=True)
               if q == "value"}
    if not markets:
        return []
    priced = {(str(p), str(m), int(t))
              for p, m, t, b, x in parsed["offtakes"][["program", "market", "period",
                                                       "committed_batches",
                                                       "price_musd_per_batch"]].itertuples(
                  index=False) if x > 0}
    valued = {(str(p), str(m), int(t))
              for p, m, t, x in parsed["demand"][["program", "market", "period",
                                                  "value_musd_per_batch"]].itertuples(
                  index=False) if x > 0}
    problems = []
    seen: set[tuple[str, str, int]] = set()
    for table, amount, column in (("demand", "potential_batches", "value_musd_per_batch"),
                                  ("offtakes", "committed_batches", "price_musd_per_batch")):
        if table not in sources:
            continue
        frame = parsed[table]
        for i, (p, m, t, b) in enumerate(frame[["program", "market", "period",
                                                amount]].itertuples(index=False)):
            key = (str(p), str(m), int(t))
            if m not in markets or b <= 0 or key in valued or key in priced or key in seen:
                continue
            seen.add(key)
            problems.append(Problem(
                sources[table].source, _row(sources[table], i), column,
                f"rule {markets[m]} counts value in {m}, but a batch of {p} in {m} in {t} "
                "has none: give it demand.value_musd_per_batch (or the offtake's "
                "price_musd_per_batch) above 0, or measure the rule in batches or weight"))
    return problems


def _check_stored_in_changeover_suites(parsed: dict[str, pd.DataFrame],
                                       sources: dict[str, RawTable]) -> list[Problem]:
    """A program that can be stored (shelf life ≥ 1) may not be made in a suite that
    charges changeovers: campaigns are counted where batches ship, and a storable
    program's batches are made apart from their shipment (`capacity.model.inventory`), so
    its changeovers would go uncounted. Not supported yet: refused, not planned wrong."""
    if "programs" not in sources:
        return []
    modalities = parsed["modalities"].set_index("modality")
    suites = parsed["suites"]
    problems = []
    for i, row in enumerate(parsed["programs"].itertuples(index=False)):
        own = row.shelf_life_periods
        life = int(own) if pd.notna(own) else int(
            modalities["shelf_life_periods"].get(row.modality, 0))
        if life < 1:
            continue
        default = float(modalities["changeover_slots"].get(row.modality, 0.0))
        charged = sorted(
            str(s) for s, q, c in zip(suites["site"], suites["modality"],
                                      suites["changeover_slots"], strict=True)
            if q == row.modality and (float(c) if pd.notna(c) else default) > 0)
        if charged:
            problems.append(Problem(
                sources["programs"].source, _row(sources["programs"], i),
                "shelf_life_periods",
                f"{row.program} can be stored ({life} period{'s' * (life != 1)}) but its "
                f"{row.modality} suites at {', '.join(charged)} charge changeovers: the two "
                "together are not supported yet; set the shelf life to 0 or the changeover "
                "slots of those suites to 0"))
    return problems
