"""Importers: external problem formats written as ordinary case folders."""

from __future__ import annotations

from pathlib import Path

from capacity.case import Case
from capacity.case.importers.orlib import cfl_frames, gap_frames


def import_orlib_cfl(path: str | Path, out: str | Path | None = None,
                     capacity: float | None = None, single_source: bool = False) -> Case:
    """An OR-Library cap* instance as a validated case, written to ``out`` if given."""
    case = Case.from_frames(cfl_frames(Path(path), capacity, single_source),
                            name=Path(path).stem)
    if out is not None:
        case.save(Path(out))
    return case


def import_orlib_gap(path: str | Path, instance: int, out: str | Path | None = None,
                     maximise: bool = False) -> Case:
    """The ``instance``-th problem of an OR-Library gap* file as a validated case."""
    case = Case.from_frames(gap_frames(Path(path), instance, maximise),
                            name=f"{Path(path).stem}-{instance}")
    if out is not None:
        case.save(Path(out))
    return case


__all__ = ["import_orlib_cfl", "import_orlib_gap"]
