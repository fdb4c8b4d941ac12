"""The validated case: one typed table per entity, checked once at load time."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd

from capacity.case.io import read_tables, write_tables
from capacity.case.schema import TABLES_BY_NAME
from capacity.case.validate import validate_tables
from capacity.output_folder import write_folder


@dataclass(frozen=True)
class Case:
    """A validated case. Build it with `load_case` (or `Case.from_frames`), never by hand.

    Every attribute is a DataFrame with the columns documented in ``docs/case-format.md``;
    optional tables that were not given are empty. Treat the tables as read-only: copy
    before changing, then re-validate with `Case.from_frames`.
    """

    periods: pd.DataFrame
    regions: pd.DataFrame
    operators: pd.DataFrame
    sites: pd.DataFrame
    modalities: pd.DataFrame
    suites: pd.DataFrame
    programs: pd.DataFrame
    tech_transfers: pd.DataFrame
    yields: pd.DataFrame
    demand: pd.DataFrame
    anchors: pd.DataFrame
    offtakes: pd.DataFrame
    lanes: pd.DataFrame
    lane_defaults: pd.DataFrame
    funds: pd.DataFrame
    fund_budgets: pd.DataFrame
    rules: pd.DataFrame
    reservations: pd.DataFrame
    members: pd.DataFrame
    readouts: pd.DataFrame
    disruptions: pd.DataFrame
    stock_targets: pd.DataFrame
    objective: pd.DataFrame
    approvals: pd.DataFrame
    settings: pd.DataFrame
    outages: pd.DataFrame
    name: str = field(default="case", compare=False)
    load_seconds: float = field(default=0.0, compare=False)
    source: str = field(default="", compare=False)  # the path it was loaded from, if any

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame], name: str = "case") -> Case:
        """Validate tables given as DataFrames (e.g. a case edited in a notebook).

        Raises:
            CaseError: with every problem found.
        """
        from capacity.case.io import RawTable

        raw = {k: RawTable(k, f"{k} (DataFrame)", v.copy()) for k, v in frames.items()}
        return cls(**validate_tables(raw), name=name)

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("name", "load_seconds", "source")}

    def per_program(self, column: str) -> dict[str, float]:
        """Each program's ``column``: its own (`programs`) where given, else its
        modality's (the `modalities` column of the same name), e.g.
        ``shelf_life_periods``."""
        by_modality = self.modalities.set_index("modality")[column]
        return {str(p): float(own) if pd.notna(own) else float(by_modality[q])
                for p, q, own in self.programs[["program", "modality", column]].itertuples(
                    index=False)}

    @property
    def qualified_sites(self) -> dict[str, frozenset[str]]:
        """The programs restricted to a short list of sites (`programs.qualified_sites`),
        each with its sites; a program not listed may go to any site with a suite."""
        return {str(p): frozenset(sites) for p, sites in zip(
            self.programs["program"], self.programs["qualified_sites"], strict=True) if sites}

    @property
    def objective_sense(self) -> tuple[str, float, str]:
        """(sense, offset, unit) the objective is reported in (``objective`` table)."""
        if self.objective.empty:
            return "minimise", 0.0, "MUSD"
        row = self.objective.iloc[0]
        return str(row["sense"]), float(row["offset"]), str(row["unit"])

    def setting(self, name: str) -> Any:
        """A case-wide setting: the ``settings`` table's value of column ``name``, else
        (no table, or an empty cell) the column's default (`capacity.case.schema`)."""
        default = TABLES_BY_NAME["settings"].column(name).default
        if self.settings.empty:
            return default
        value = self.settings.iloc[0][name]
        return default if pd.isna(value) else value

    def save(self, folder: str | Path, fmt: str = "csv", *, force: bool = False) -> Path:
        """Write the case as a folder of tables (``csv`` or ``parquet``), all or nothing,
        as `capacity.Plan.save` does: an existing folder is replaced only if it is empty
        or a case capacity wrote (``force``: the tables are written into it, its other
        files left alone).

        Raises:
            OutputError: ``folder`` may not or cannot be written; nothing was changed.
        """
        frames = {}
        for k, frame in self.tables().items():
            out = frame.copy()
            for col in out.columns:
                if out[col].map(lambda v: isinstance(v, tuple)).any():
                    out[col] = out[col].map(";".join)
            frames[k] = out
        return write_folder(Path(folder), lambda tmp: write_tables(frames, tmp, fmt), "case",
                            force=force)


def load_case(path: str | Path | None = None) -> Case:
    """Load and validate a case.

    Args:
        path: a folder of CSV or Parquet tables, or an ``.xlsx`` workbook. None loads the
            embedded default case.

    Returns:
        The validated `Case`.

    Raises:
        CaseError: listing every problem, each with file, row and column.

    Example:
        >>> import capacity
        >>> case = capacity.load_case()
        >>> len(case.programs) >= 30
        True
    """
    from capacity.case.default import default_case_path

    t0 = time.perf_counter()
    resolved = default_case_path() if path is None else Path(path)
    tables = validate_tables(read_tables(resolved))
    # named after the absolute path, made without following links: "." has no name itself
    named = Path(os.path.abspath(resolved))
    name = (named.stem if named.is_file() else named.name) or "case"
    return Case(**tables, name=name, load_seconds=time.perf_counter() - t0,
                source=str(resolved.resolve()))
