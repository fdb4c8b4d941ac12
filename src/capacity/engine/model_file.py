"""``--write-model``: the model HiGHS solves, written with names any common reader takes.

Names: every column and row is named after its component and key, as in
models/formulation.md, in a form MPS readers accept: ``Ship(P1,SA,A,2030)``,
``suite_capacity(SA,antibody,commercial,2030)`` (brackets become parentheses; characters
other than letters, digits and ``_ . , ( ) -`` become ``_``; a name made equal to an
earlier one by that gets ``_2``, ``_3``, ...). A model compiled from the caller's Pyomo
model takes Pyomo's own names (the caller's constraints included), made safe the same way.

MPS (`write_mps`): free MPS with only the parts every reader knows (HiGHS, CBC, SCIP,
Gurobi, CPLEX, PuLP's ``LpProblem.fromMPS``, which rejects some of what HiGHS writes):
integer columns between ``MARKER`` lines with their bounds as ``LO``/``UP`` (never
``UI``/``BV``); no right-hand side on the objective row: the objective's constant is the
cost of a column ``objective_constant`` fixed at 1 (``FX``), so every reader's
objective is the engine's; a row bounded on both sides is written as two rows,
``NAME.lo`` (≥) and ``NAME.up`` (≤), instead of ``RANGES``. A solution maps back by
name: each column's name is its variable and key.

LP: HiGHS's own writer (the CPLEX LP format), given the same names. A series of solves
through Pyomo's persistent interface (`capacity.engine.persistent`) writes with HiGHS's
writer in both formats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import highspy
import numpy as np

from capacity.engine.highs import CompiledModel
from capacity.output_folder import write_file

OBJECTIVE_CONSTANT = "objective_constant"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.,()\-]")


def safe_names(raw: Iterable[str]) -> list[str]:
    """``raw`` made safe for MPS readers and unique (module docstring)."""
    seen: set[str] = {OBJECTIVE_CONSTANT}
    out = []
    for name in raw:
        base = _UNSAFE.sub("_", name.replace("[", "(").replace("]", ")")) or "_"
        safe, n = base, 1
        while safe in seen:
            n += 1
            safe = f"{base}_{n}"
        seen.add(safe)
        out.append(safe)
    return out


def write_model(compiled: CompiledModel, path: str) -> None:
    """Write the model ``compiled`` holds to ``path`` (``.mps``: `write_mps`; ``.lp``:
    HiGHS's writer, given the names), through a temporary file, so that a reader never
    sees half a model.

    Raises:
        OSError: the model could not be written (a missing folder, no permission).
    """
    target = Path(path)
    cols, rows = compiled.names() if compiled.names is not None else ([], [])
    cols, rows = safe_names(cols), safe_names(rows)
    if target.suffix.lower() == ".mps":
        write_file(target, lambda tmp: _write_mps_file(tmp, compiled, cols, rows),
                   suffix=target.suffix)
        return
    highs = compiled.highs
    for j, name in enumerate(cols):
        highs.passColName(j, name)
    for i, name in enumerate(rows):
        highs.passRowName(i, name)
    write_highs_model(highs, path)


def write_highs_model(highs: highspy.Highs, path: str) -> None:
    """Write the model in ``highs`` with HiGHS's own writer (format by suffix), through a
    temporary file: for models `write_model` has no arrays of (Pyomo's persistent
    interface, `capacity.engine.persistent`).

    Raises:
        OSError: HiGHS could not write it.
    """
    target = Path(path)

    def write(tmp: Path) -> None:
        if highs.writeModel(str(tmp)) == highspy.HighsStatus.kError:
            raise OSError(f"HiGHS could not write the model to {target}")

    write_file(target, write, suffix=target.suffix)


def _write_mps_file(path: Path, model: CompiledModel, cols: list[str], rows: list[str]) -> None:
    with open(path, "w", encoding="ascii", errors="replace") as out:
        write_mps(out, model, cols, rows)


def write_mps(out: TextIO, model: CompiledModel, cols: list[str], rows: list[str],
              name: str = "capacity") -> None:
    """Write ``model`` as portable free MPS (module docstring) with the given names."""
    n_cols, n_rows = len(model.col_cost), len(model.row_lower)
    cols = cols if len(cols) == n_cols else [f"x{j}" for j in range(n_cols)]
    rows = rows if len(rows) == n_rows else [f"r{i}" for i in range(n_rows)]
    lo, up = model.row_lower, model.row_upper
    # each model row as one or two MPS rows: (name, type, rhs)
    mps_rows: list[list[tuple[str, str, float]]] = []
    for i in range(n_rows):
        if lo[i] == up[i]:
            mps_rows.append([(rows[i], "E", lo[i])])
        elif np.isfinite(lo[i]) and np.isfinite(up[i]):
            mps_rows.append([(f"{rows[i]}.lo", "G", lo[i]), (f"{rows[i]}.up", "L", up[i])])
        elif np.isfinite(lo[i]):
            mps_rows.append([(rows[i], "G", lo[i])])
        elif np.isfinite(up[i]):
            mps_rows.append([(rows[i], "L", up[i])])
        else:
            mps_rows.append([(rows[i], "N", 0.0)])  # free: written, bounds nothing
    out.write(f"NAME {name}\nROWS\n N total_cost\n")
    for parts in mps_rows:
        for row, kind, _rhs in parts:
            out.write(f" {kind} {row}\n")
    # columns: the entries by column (the CSR transposed)
    indptr, indices, values = (np.asarray(a) for a in model.matrix)
    entry_row = np.repeat(np.arange(n_rows), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    col_start = np.searchsorted(indices[order], np.arange(n_cols + 1))
    out.write("COLUMNS\n")
    integer_open = False
    for j in range(n_cols):
        if bool(model.integer[j]) != integer_open:
            integer_open = not integer_open
            out.write(f" MARKER 'MARKER' '{'INTORG' if integer_open else 'INTEND'}'\n")
        cost = float(model.col_cost[j])
        if cost != 0 or col_start[j] == col_start[j + 1]:  # a column in no row still exists
            out.write(f" {cols[j]} total_cost {cost!r}\n")
        for k in order[col_start[j]:col_start[j + 1]]:
            for row, _kind, _rhs in mps_rows[entry_row[k]]:
                out.write(f" {cols[j]} {row} {float(values[k])!r}\n")
    if integer_open:
        out.write(" MARKER 'MARKER' 'INTEND'\n")
    out.write(f" {OBJECTIVE_CONSTANT} total_cost {float(model.offset)!r}\n")
    out.write("RHS\n")
    for parts in mps_rows:
        for row, kind, rhs in parts:
            if kind != "N" and rhs != 0:
                out.write(f" RHS {row} {float(rhs)!r}\n")
    out.write("BOUNDS\n")
    for j in range(n_cols):
        low, high = float(model.col_lower[j]), float(model.col_upper[j])
        if low == high:
            out.write(f" FX BND {cols[j]} {low!r}\n")
            continue
        if low == -np.inf and high == np.inf:
            out.write(f" FR BND {cols[j]}\n")
            continue
        if high == np.inf and model.integer[j]:
            # an integer column without bounds is binary to some readers; PL first, as
            # some readers' PL also resets the lower bound to 0
            out.write(f" PL BND {cols[j]}\n")
        if low == -np.inf:
            out.write(f" MI BND {cols[j]}\n")  # some readers then set the upper to 0,
        elif low != 0:
            out.write(f" LO BND {cols[j]} {low!r}\n")
        if high != np.inf:  # ... which this overrides
            out.write(f" UP BND {cols[j]} {high!r}\n")
    out.write(f" FX BND {OBJECTIVE_CONSTANT} 1\nENDATA\n")
