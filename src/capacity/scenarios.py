"""Scenario files: a base case and named variants of it, as overrides and sweeps.

A scenario file is YAML (read with the safe loader: no tags, no code)::

    base: .                      # the base case, relative to this file ("default": embedded)
    options: {time_limit_s: 120} # solve options for every scenario (`SolveOptions` fields)
    scenarios:
      - name: base               # no overrides: the base case itself
      - name: no_biosecure
        overrides:
          - {table: rules, where: {rule: BIOSECURE_US}, set: {active: false}}
      - name: aav_demand_up
        overrides:
          - {table: demand, where: {program.modality: aav}, scale: {potential_batches: 1.2}}
    sweeps:
      - name: jp_share           # one scenario per grid point: jp_share[share=0.3], ...
        grid: {share: [0.3, 0.4, 0.5]}
        overrides:
          - {table: rules, where: {rule: JP_DOMESTIC_30}, set: {share: "{share}"}}
      - name: demand_draw        # N seeded samples: demand_draw#1, ...
        samples: {n: 10, seed: 1, parameters: {f: {uniform: [0.8, 1.2]}}}
        overrides:
          - {table: demand, scale: {potential_batches: "{f}"}}

An override edits one table: ``where`` selects rows (a column, or ``key.column`` to select
through a referenced table: ``program.modality`` is the program's modality; a list means
any of), then exactly one of ``set`` (column values), ``scale`` (multiply numeric
columns), ``drop`` (remove the rows) or ``add`` (append rows; no ``where``). A value
``"{name}"`` takes the sweep parameter's value. Every resulting case is validated like a
case file; errors name the scenario file, the scenario and the override.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from capacity.case import Case, load_case
from capacity.errors import CaseError, Problem
from capacity.io import RawTable
from capacity.schema import TABLES, TABLES_BY_NAME
from capacity.solve import SolveOptions
from capacity.validate import validate_tables

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+\-\[\],#]*$")
PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MAX_SCENARIOS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Override(_Strict):
    """One edit of one table (see the module docstring)."""

    table: str
    where: dict[str, Any] = Field(default_factory=dict)
    set: dict[str, Any] | None = None
    scale: dict[str, Any] | None = None
    drop: bool = False
    add: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Override:
        actions = [a for a in ("set", "scale", "add") if getattr(self, a) is not None]
        actions += ["drop"] if self.drop else []
        if len(actions) != 1:
            raise ValueError("give exactly one of set, scale, drop, add "
                             f"(got {', '.join(actions) or 'none'})")
        if self.add is not None and self.where:
            raise ValueError("add appends rows: it takes no where")
        if self.table not in TABLES_BY_NAME:
            raise ValueError(f"unknown table {self.table!r}; tables: "
                             + ", ".join(sorted(TABLES_BY_NAME)))
        return self


class Scenario(_Strict):
    """A named variant: overrides of the base case and solve options."""

    name: str
    overrides: list[Override] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _safe_name(self) -> Scenario:
        if not NAME.match(self.name) or len(self.name) > 120:
            raise ValueError(f"scenario name {self.name!r}: use letters, digits and _ . = + - "
                             "(it names folders), at most 120 characters")
        return self


class Samples(_Strict):
    """N seeded random draws of named parameters (``uniform: [lo, hi]`` or ``choice``)."""

    n: int = Field(gt=0, le=MAX_SCENARIOS)
    seed: int = Field(default=0, ge=0)
    parameters: dict[str, dict[str, list[Any]]]

    @model_validator(mode="after")
    def _known_distributions(self) -> Samples:
        for name, dist in self.parameters.items():
            if len(dist) != 1 or next(iter(dist)) not in ("uniform", "choice"):
                raise ValueError(f"parameter {name!r}: give one of uniform: [lo, hi] or "
                                 "choice: [values]")
            if "uniform" in dist and len(dist["uniform"]) != 2:
                raise ValueError(f"parameter {name!r}: uniform takes [lo, hi]")
        return self


class Sweep(_Strict):
    """Scenarios over a grid of parameter values, or over seeded samples."""

    name: str
    grid: dict[str, list[Any]] | None = None
    samples: Samples | None = None
    overrides: list[Override]
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _grid_or_samples(self) -> Sweep:
        if (self.grid is None) == (self.samples is None):
            raise ValueError("give exactly one of grid or samples")
        if self.grid is not None and not all(self.grid.values()):
            raise ValueError("every grid parameter needs at least one value")
        return self

    def expand(self) -> list[Scenario]:
        """The sweep's scenarios, named after it and their parameter values."""
        points: list[tuple[str, dict[str, Any]]] = []
        if self.grid is not None:
            names = list(self.grid)
            for values in itertools.product(*(self.grid[n] for n in names)):
                label = ",".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
                points.append((f"{self.name}[{label}]", dict(zip(names, values, strict=True))))
        else:
            assert self.samples is not None
            rng = np.random.default_rng(self.samples.seed)
            for i in range(1, self.samples.n + 1):
                point = {}
                for n, dist in self.samples.parameters.items():
                    if "uniform" in dist:
                        lo, hi = (float(x) for x in dist["uniform"])
                        point[n] = round(float(rng.uniform(lo, hi)), 6)
                    else:
                        point[n] = dist["choice"][int(rng.integers(len(dist["choice"])))]
                points.append((f"{self.name}#{i}", point))
        return [Scenario(name=name, options=self.options,
                         overrides=[_substitute(o, point) for o in self.overrides])
                for name, point in points]


class ScenarioFile(_Strict):
    """A scenario file as read (see the module docstring)."""

    base: str = "default"
    options: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[Scenario] = Field(default_factory=list)
    sweeps: list[Sweep] = Field(default_factory=list)


class ScenarioSet:
    """A read scenario file: its base case and every scenario, sweeps expanded.

    Attributes:
        path: the scenario file.
        base: the validated base case.
        scenarios: every scenario by name, in file order (sweeps after scenarios).
        options: the file's solve options (each scenario may change them).
    """

    def __init__(self, path: Path, base: Case, spec: ScenarioFile) -> None:
        self.path = path
        self.base = base
        self.options = spec.options
        problems = []
        expanded = list(spec.scenarios)
        for sweep in spec.sweeps:
            try:
                expanded += sweep.expand()
            except ValueError as err:  # a placeholder naming no parameter
                problems.append(Problem(str(path), None, f"sweeps[{sweep.name}]", str(err)))
        self.scenarios: dict[str, Scenario] = {}
        for s in expanded:
            if s.name in self.scenarios:
                problems.append(Problem(str(path), None, None,
                                        f"scenario {s.name!r} is named twice"))
            self.scenarios[s.name] = s
        if len(self.scenarios) > MAX_SCENARIOS:
            problems.append(Problem(str(path), None, None,
                                    f"{len(self.scenarios)} scenarios; at most {MAX_SCENARIOS}"))
        for s in self.scenarios.values():
            problems += _option_problems(path, s.name, {**self.options, **s.options})
        if problems:
            raise CaseError(problems)

    def solve_options(self, name: str, **changes: Any) -> SolveOptions:
        """The solve options of scenario ``name`` (file, then scenario, then ``changes``)."""
        merged = {**self.options, **self.scenarios[name].options, **changes}
        return SolveOptions(**merged)

    def case(self, name: str) -> Case:
        """The validated case of scenario ``name``.

        Raises:
            KeyError: no such scenario.
            CaseError: an override does not apply, or the resulting case is invalid.
        """
        if name not in self.scenarios:
            raise KeyError(f"no scenario {name!r} in {self.path}; scenarios: "
                           + ", ".join(list(self.scenarios)[:20]))
        return apply_overrides(self.base, self.scenarios[name], source=str(self.path))


def read_scenarios(path: str | Path) -> ScenarioSet:
    """Read and check a scenario file, and load its base case.

    The base case path is taken relative to the scenario file and must lie inside the
    file's folder (a scenario file cannot reach elsewhere on disk); ``default`` is the
    embedded default case.

    Raises:
        CaseError: the file cannot be read, is not a valid scenario file, or its base case
            or any scenario's solve options are invalid.

    Example:
        >>> import capacity
        >>> s = capacity.read_scenarios(capacity.default_scenarios_path())
        >>> "no_biosecure" in s.scenarios
        True
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError([Problem(source, None, None, f"cannot be read: {err}")]) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CaseError([Problem(source, None, None, f"is not valid YAML: {err}")]) from err
    if not isinstance(data, dict):
        raise CaseError([Problem(source, None, None,
                                 "must be a mapping with base, options, scenarios, sweeps")])
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as err:
        raise CaseError([Problem(source, None, _location(e["loc"], data), e["msg"])
                         for e in err.errors()]) from err
    return ScenarioSet(path, _base_case(path, spec.base), spec)


def _base_case(path: Path, base: str) -> Case:
    if base == "default":
        return load_case()
    folder = path.resolve().parent
    target = (folder / base).resolve()
    if not target.is_relative_to(folder):
        raise CaseError([Problem(str(path), None, "base",
                                 f"{base!r} lies outside the scenario file's folder {folder}; "
                                 "put the scenario file in or above the case")])
    return load_case(target)


def _location(loc: tuple[Any, ...], data: Any) -> str:
    """A pydantic error location as the user wrote it: scenarios[no_biosecure].overrides[0]."""
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            name = node[key].get("name") if isinstance(node, list) and isinstance(
                node[key], dict) else None
            parts[-1] += f"[{name}]" if name else f"[{key}]"
        else:
            parts.append(str(key))
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            node = None
    return ".".join(parts)


def _option_problems(path: Path, name: str, options: dict[str, Any]) -> list[Problem]:
    try:
        SolveOptions(**options)
    except ValidationError as err:
        return [Problem(str(path), None, f"scenario {name}: options." + ".".join(
            map(str, e["loc"])), e["msg"]) for e in err.errors()]
    return []


def _substitute(override: Override, point: dict[str, Any]) -> Override:
    def value(v: Any) -> Any:
        m = PLACEHOLDER.match(v) if isinstance(v, str) else None
        if m is None:
            return v
        if m.group(1) not in point:
            raise ValueError(f"{v!r} names no sweep parameter (have: {', '.join(point)})")
        return point[m.group(1)]

    data = override.model_dump()
    for action in ("set", "scale"):
        if data[action] is not None:
            data[action] = {k: value(v) for k, v in data[action].items()}
    data["where"] = {k: value(v) for k, v in data["where"].items()}
    return Override.model_validate(data)


def apply_overrides(base: Case, scenario: Scenario, source: str = "scenario file") -> Case:
    """The case of ``scenario``: the base case's tables edited by each override, then
    validated like a case file.

    Raises:
        CaseError: an override names an unknown column or selects no rows, or the edited
            case is invalid; each problem names the scenario (and the override).
    """
    frames = {k: v.copy() for k, v in base.tables().items()}
    problems: list[Problem] = []
    for i, o in enumerate(scenario.overrides):
        where = f"scenario {scenario.name}, override {i + 1} ({o.table})"
        try:
            frames[o.table] = _apply(o, frames)
        except _OverrideError as err:
            problems.append(Problem(source, None, where, str(err)))
    if problems:
        raise CaseError(problems)
    raw = {k: RawTable(k, f"scenario {scenario.name}: {k}", v) for k, v in frames.items()}
    return Case(**validate_tables(raw), name=scenario.name)


class _OverrideError(ValueError):
    pass


def _apply(o: Override, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    table = TABLES_BY_NAME[o.table]
    frame = frames[o.table]
    if o.add is not None:
        for row in o.add:
            _known_columns(table.column_names, row, "add")
        return pd.concat([frame, pd.DataFrame(o.add)], ignore_index=True)
    mask = _select(o, frames)
    if not mask.any():
        raise _OverrideError(f"where {o.where} selects no rows of {o.table}")
    out = frame.copy()
    if o.drop:
        return out[~mask].reset_index(drop=True)
    if o.set is not None:
        _known_columns(table.column_names, o.set, "set")
        for col, v in o.set.items():
            out[col] = out[col].astype("object")
            out.loc[mask, col] = v
        return out
    assert o.scale is not None
    _known_columns(table.column_names, o.scale, "scale")
    for col, factor in o.scale.items():
        if table.column(col).kind not in ("int", "float"):
            raise _OverrideError(f"scale: column {col!r} is not numeric")
        if not isinstance(factor, int | float) or isinstance(factor, bool):
            raise _OverrideError(f"scale: {col} factor {factor!r} is not a number")
        out[col] = out[col].astype("float64")
        out.loc[mask, col] = out.loc[mask, col] * float(factor)
    return out


def _known_columns(columns: tuple[str, ...], given: dict[str, Any], action: str) -> None:
    unknown = [c for c in given if c not in columns]
    if unknown:
        raise _OverrideError(f"{action}: unknown column {', '.join(map(repr, unknown))}; "
                             f"columns: {', '.join(columns)}")


def _select(o: Override, frames: dict[str, pd.DataFrame]) -> pd.Series:
    frame = frames[o.table]
    mask = pd.Series(True, index=frame.index)
    for key, wanted in o.where.items():
        values = _column_values(o.table, key, frames)
        allowed = wanted if isinstance(wanted, list) else [wanted]
        mask &= values.isin(allowed) | values.astype(str).isin([str(a) for a in allowed])
    return mask


def _column_values(table: str, key: str, frames: dict[str, pd.DataFrame]) -> pd.Series:
    """Values of ``key`` for each row of ``table``; ``ref.column`` looks through the table
    keyed by ``ref`` (``program.modality`` → programs.modality of the row's program)."""
    frame = frames[table]
    if "." not in key:
        if key not in frame.columns:
            raise _OverrideError(f"where: unknown column {key!r} of {table}")
        return frame[key]
    ref, column = key.split(".", 1)
    target = next((t for t in TABLES if t.key == (ref,)), None)
    if ref not in frame.columns or target is None or column not in frames[target.name]:
        raise _OverrideError(f"where: {key!r} does not name a column of a table {table} "
                             "refers to (e.g. program.modality)")
    lookup = frames[target.name].set_index(ref)[column]
    return frame[ref].map(lookup)


def default_scenarios_path() -> Path:
    """The scenario file shipped with the default case."""
    from capacity.default import default_case_path

    return default_case_path() / "scenarios.yaml"
