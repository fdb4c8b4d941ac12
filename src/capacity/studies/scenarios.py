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

A scenario file reaches nothing outside its own folder: its base case lies in or below
it, and every table file of that case does too, symlinks resolved (a file linking out is
refused before it is read); it names no file to write (``model_file`` is refused: write
a scenario's case with ``capacity scenario`` and solve that with ``--model-file``). Its
size is bounded before anything is built: the file's bytes, its nesting, its nodes with
YAML aliases expanded, and the scenarios its sweeps make. A key given twice in a mapping
is an error, not a silent overwrite.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from capacity.case import Case, load_case
from capacity.case.io import RawTable
from capacity.case.schema import TABLES, TABLES_BY_NAME
from capacity.case.validate import validate_tables
from capacity.engine.options import SolveOptions
from capacity.errors import CaseError, Problem

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+\-\[\],#]*$")
PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MAX_SCENARIOS = 100_000
# Bounds on what a scenario file may make the reader build. 100,000 written-out scenarios
# of one override each are 9.4 MiB and 1.7 million nodes (read in about a minute); a sweep
# says as much in a few lines.
MAX_FILE_BYTES = 16 * 1024**2
MAX_NODES = 2_000_000  # YAML nodes, each alias counted as the nodes it stands for
MAX_DEPTH = 64  # nesting; a scenario file needs about 8 (file, scenarios, overrides, where)
# SolveOptions fields that name files: a scenario file may not say where to write.
FILE_OPTIONS = ("model_file",)


def _no_file_options(options: dict[str, Any]) -> dict[str, Any]:
    named = [k for k in FILE_OPTIONS if options.get(k) is not None]
    if named:
        raise ValueError(f"{named[0]}: a scenario file names no file to write (a batch would "
                         "write wherever it says); write the scenario's case with `capacity "
                         "scenario FILE NAME --out DIR` and solve that with --model-file")
    return options


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

    _options = field_validator("options")(_no_file_options)

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

    _options = field_validator("options")(_no_file_options)

    @model_validator(mode="after")
    def _grid_or_samples(self) -> Sweep:
        if (self.grid is None) == (self.samples is None):
            raise ValueError("give exactly one of grid or samples")
        if self.grid is not None and not all(self.grid.values()):
            raise ValueError("every grid parameter needs at least one value")
        return self

    @property
    def size(self) -> int:
        """The number of scenarios it makes, from the grid's shape (nothing expanded)."""
        if self.grid is not None:
            return math.prod(len(values) for values in self.grid.values())
        assert self.samples is not None
        return self.samples.n

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

    _options = field_validator("options")(_no_file_options)


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
        self._base_digest: str | None = None
        total = len(spec.scenarios) + sum(sweep.size for sweep in spec.sweeps)
        if total > MAX_SCENARIOS:  # counted from the grids' shapes, before expanding any
            sizes = ", ".join(f"{sw.name}: {sw.size:,}" for sw in spec.sweeps)
            raise CaseError([Problem(str(path), None, "sweeps",
                                     f"makes {total:,} scenarios ({sizes}); at most "
                                     f"{MAX_SCENARIOS:,}")])
        # Each point copies its sweep's overrides: a long where-list times a large grid.
        values = sum(sw.size * _count_values(sw.model_dump(include={"overrides", "options"}))
                     for sw in spec.sweeps)
        if values > MAX_NODES:
            raise CaseError([Problem(str(path), None, "sweeps",
                                     f"expanded, the sweeps hold {values:,} values (each "
                                     "scenario a copy of its sweep's overrides); at most "
                                     f"{MAX_NODES:,}")])
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

    def fingerprint(self, name: str) -> str:
        """What scenario ``name``'s case depends on: its definition (sweep values filled
        in) and the base case's contents. A batch stores it with each result and solves a
        finished scenario again on resume when it changed (`capacity.studies.batch`)."""
        if self._base_digest is None:
            self._base_digest = case_digest(self.base)
        definition = json.dumps(self.scenarios[name].model_dump(), sort_keys=True,
                                default=repr)
        return hashlib.sha256(f"{self._base_digest}\n{definition}".encode()).hexdigest()


def case_digest(case: Case) -> str:
    """A hash of a case's tables: their names, columns and cells."""
    digest = hashlib.sha256()
    for name, frame in sorted(case.tables().items()):
        digest.update(f"{name}\n{list(frame.columns)}\n".encode())
        digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).values)
    return digest.hexdigest()


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
    text = _read_text(path)
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # a SafeLoader: no tags
    except _Refused as err:
        raise CaseError([Problem(source, None, None, str(err))]) from None
    except yaml.YAMLError as err:
        raise CaseError([Problem(source, None, None, f"is not valid YAML: {err}")]) from err
    except RecursionError:  # the bounds above should stop it first
        raise CaseError([Problem(source, None, None, "is nested too deeply")]) from None
    if not isinstance(data, dict):
        raise CaseError([Problem(source, None, None,
                                 "must be a mapping with base, options, scenarios, sweeps")])
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as err:
        raise CaseError([Problem(source, None, _location(e["loc"], data), e["msg"])
                         for e in err.errors()]) from err
    except RecursionError:
        raise CaseError([Problem(source, None, None, "is nested too deeply")]) from None
    return ScenarioSet(path, _base_case(path, spec.base), spec)


def _read_text(path: Path) -> str:
    """The file's text, if it is a regular file of at most `MAX_FILE_BYTES` (opened
    without blocking, so a FIFO is refused rather than waited on)."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise CaseError([Problem(source, None, None,
                                 f"cannot be read: {err.strerror}")]) from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CaseError([Problem(source, None, None, "is not a regular file")])
        if info.st_size > MAX_FILE_BYTES:
            raise CaseError([Problem(source, None, None, _too_big(info.st_size))])
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:  # it grew since
        raise CaseError([Problem(source, None, None, _too_big(len(raw)))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CaseError([Problem(source, None, None, f"is not UTF-8 text (byte {err.start}); "
                                 "save it as UTF-8")]) from None


def _too_big(size: int) -> str:
    return (f"is {size / 1024**2:.1f} MiB; a scenario file may be at most "
            f"{MAX_FILE_BYTES / 1024**2:.0f} MiB (a sweep says many scenarios in a few lines)")


class _Refused(Exception):
    """A scenario file over a bound of `_BoundedLoader` (the message says which)."""


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, bounded: nesting at most `MAX_DEPTH`, at most `MAX_NODES` nodes
    with every alias counted as what it stands for (checked on the composed nodes, before
    anything is built: an alias bomb is a few lines), no recursive alias, and no mapping
    key given twice (YAML would keep the later value silently)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
                raise _Refused(f"line {line}: nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _check_expanded(node)
        return node

    def construct_mapping(self, node: yaml.MappingNode,
                          deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = self.construct_object(key_node)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable: the safe loader says so
                continue
            if first is not key_node:
                raise _Refused(f"line {key_node.start_mark.line + 1}: key {_short(key)} is "
                               f"given twice (first at line {first.start_mark.line + 1}); "
                               "the earlier value would be lost")
        return super().construct_mapping(node, deep)


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a document that, aliases expanded, is over `MAX_NODES` nodes or
    `MAX_DEPTH` deep, or that refers to itself. Each node is measured once (iteratively:
    aliases can chain deeper than the stack allows)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # the nodes on the path being walked
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        kids = _children(node)
        if finished:
            open_.discard(id(node))
            size[id(node)] = min(1 + sum(size[id(k)] for k in kids), MAX_NODES + 1)
            depth[id(node)] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[id(node)] > MAX_NODES:
                raise _Refused(f"line {node.start_mark.line + 1}: with its aliases expanded "
                               f"the file holds more than {MAX_NODES:,} values")
            if depth[id(node)] > MAX_DEPTH:
                raise _Refused(f"line {node.start_mark.line + 1}: with its aliases expanded "
                               f"the file nests more than {MAX_DEPTH} levels deep")
            continue
        if id(node) in size:
            continue
        open_.add(id(node))
        stack.append((node, True))
        for kid in kids:
            if id(kid) in open_:
                raise _Refused(f"line {kid.start_mark.line + 1}: an alias refers to the "
                               "value it is part of")
            if id(kid) not in size:
                stack.append((kid, False))


def _count_values(data: Any) -> int:
    """The values in nested lists and mappings (keys and containers counted too)."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return count


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _short(value: Any, width: int = 60) -> str:
    """``repr(value)``, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _base_case(path: Path, base: str) -> Case:
    if base == "default":
        return load_case()
    folder = path.resolve().parent
    target = (folder / base).resolve()
    if not target.is_relative_to(folder):
        raise CaseError([Problem(str(path), None, "base",
                                 f"{base!r} lies outside the scenario file's folder {folder}; "
                                 "put the scenario file in or above the case")])
    problems = _confinement_problems(path, folder, base, target)
    if problems:
        raise CaseError(problems)
    return load_case(target)


CASE_SUFFIXES = (".csv", ".parquet", ".xlsx", ".xlsm")  # the files `read_tables` reads


def _confinement_problems(path: Path, folder: Path, base: str, target: Path) -> list[Problem]:
    """Every file of the base case that the case reader would open and that is not a
    regular file inside ``folder``, symlinks resolved: refused before anything is read, so
    no error can show another file's content (or wait on a FIFO)."""
    try:
        files = ([p for p in sorted(target.iterdir()) if p.suffix.lower() in CASE_SUFFIXES]
                 if target.is_dir() else [target])
    except OSError:
        return []  # unreadable: the case reader says so, having read nothing
    problems = []
    for file in files:
        where = f"base ({base}/{file.name})" if file != target else f"base ({base})"
        real = file.resolve()
        if not real.is_relative_to(folder):
            problems.append(Problem(str(path), None, where,
                                    f"{file.name} links outside the scenario file's folder "
                                    f"{folder}: refused, not read; copy the table in instead"))
            continue
        try:
            regular = stat.S_ISREG(real.stat().st_mode) or real.is_dir()
        except OSError:
            continue  # missing: the case reader says so
        if not regular:
            problems.append(Problem(str(path), None, where,
                                    f"{file.name} is not a regular file"))
    return problems


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
            for col, v in row.items():
                _one_value("add", col, v)
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
            _one_value("set", col, v)
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
            raise _OverrideError(f"scale: {col} factor {_short(factor)} is not a number")
        _one_value("scale", col, factor)
        out[col] = out[col].astype("float64")
        out.loc[mask, col] = out.loc[mask, col] * float(factor)
    return out


def _one_value(action: str, col: str, v: Any) -> None:
    """Refuse a value that is not one cell: a list or mapping (pandas would spread a list
    over the rows, or fail), a date, or a number that is not finite (NaN would read as a
    blank cell, so as the column's default). ``null`` and ``""`` are a blank cell."""
    if v is None or isinstance(v, str | bool):
        return
    if isinstance(v, int | float):
        try:
            finite = math.isfinite(float(v))
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise _OverrideError(f"{action}: column {col!r}: {_short(v)} is not a finite "
                                 "number")
        return
    raise _OverrideError(f"{action}: column {col!r} takes one number or text, not a "
                         f"{type(v).__name__} ({_short(v)}); quote text that YAML would "
                         "read otherwise")


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
        for a in allowed:
            if isinstance(a, list | dict):
                raise _OverrideError(f"where: {key} takes a value or a list of values, not "
                                     f"{_short(wanted)}")
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
    from capacity.case.default import default_case_path

    return default_case_path() / "scenarios.yaml"
