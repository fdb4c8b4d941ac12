"""Beasley's OR-Library capacitated facility location (cap*) and generalised assignment
(gap*) instances, written as ordinary cases that the ordinary engine solves.

Mappings (one period, discount 1, one modality; costs in the instance's own units):

CFLP — warehouse i → candidate site ``W<i>`` in its own region, one suite with one module
of capacity s_i (capex 0) and opening cost f_i; customer j → program ``C<j>`` with a
committed offtake of d_j batches in its own market region; the file's c_ij is the cost of
serving *all* of j's demand, so the lane W<i> → C<j> costs c_ij / d_j per batch.
Multi-source: max_sites = m (demand may be split); ``single_source``: max_sites = 1.

GAP — agent i → existing site ``A<i>`` with b_i batch slots; job j → program ``J<j>`` with
a committed offtake of 1 batch, max_sites 1, slots_per_batch a_ij at site i (``yields``)
and transfer cost c_ij at site i (``tech_transfers``). A maximisation is stated with
transfer costs C_j − c_ij (C_j = max_i c_ij, so all are ≥ 0) and an ``objective`` table
``maximise`` with offset Σ_j C_j, so the engine reports Σ c_ij x_ij itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from capacity.errors import CaseError, Problem

MODALITY = "antibody"
SCALE = "commercial"


def _tokens(path: Path) -> list[str]:
    try:
        return Path(path).read_text().split()
    except (OSError, UnicodeDecodeError) as err:
        raise CaseError([Problem(str(path), None, None, f"cannot be read: {err}")]) from None


def _fail(path: Path, message: str) -> CaseError:
    return CaseError([Problem(Path(path).name, None, None, message)])


def _numbers(path: Path, tokens: list[str], start: int, count: int) -> np.ndarray:
    chunk = tokens[start:start + count]
    if len(chunk) < count:
        raise _fail(path, f"ends early: expected {count} numbers from token {start + 1}")
    try:
        return np.array([float(x) for x in chunk])
    except ValueError as err:
        raise _fail(path, f"holds a token that is not a number ({err})") from None


def _counts(path: Path, tokens: list[str], kind: str) -> tuple[int, int]:
    """The file's leading counts (m, n): whole numbers, at least one each."""
    try:
        m, n = (float(t) for t in tokens)
    except ValueError:
        raise _fail(path, f"is not a {kind} file: it must start with two counts, 'm n', "
                          f"not {' '.join(tokens)!r}") from None
    if not (m.is_integer() and n.is_integer() and m >= 1 and n >= 1):
        raise _fail(path, f"is not a {kind} file: its counts 'm n' must be whole numbers "
                          f"of at least 1, not {' '.join(tokens)!r}")
    return int(m), int(n)


def _one_period_frames(regions: list[str], objective: dict[str, object]) -> dict[str, pd.DataFrame]:
    return {
        "periods": pd.DataFrame({"period": [1], "discount_factor": [1.0]}),
        "regions": pd.DataFrame({"region": regions}),
        "operators": pd.DataFrame({"operator": ["ORLIB"], "name": ["OR-Library instance"]}),
        "anchors": pd.DataFrame({"anchor": ["DEMAND"]}),
        "objective": pd.DataFrame([objective]),
    }


def cfl_frames(path: Path, capacity: float | None = None,
               single_source: bool = False) -> dict[str, pd.DataFrame]:
    """Read a cap* file into case tables.

    Args:
        path: ``cap41.txt`` ... ``capc.txt``.
        capacity: replaces the literal word ``capacity`` (capa/capb/capc); required there.
        single_source: every customer served by exactly one warehouse.

    Raises:
        CaseError: the file is malformed, or ``capacity`` is missing or not needed.
    """
    tokens = _tokens(path)
    if len(tokens) < 2:
        raise _fail(path, "is not a cap file: it needs 'm n' first")
    m, n = _counts(path, tokens[:2], "cap")
    pairs = tokens[2:2 + 2 * m]
    if "capacity" in (t.lower() for t in pairs[0::2]):
        if capacity is None:
            raise _fail(path, "gives capacity as the word 'capacity': pass --capacity N "
                              "(see capopt.txt for the published values)")
        pairs = [str(capacity) if t.lower() == "capacity" else t for t in pairs]
    elif capacity is not None:
        raise _fail(path, "states its capacities; --capacity applies only to capa/capb/capc")
    head = _numbers(path, pairs, 0, 2 * m)
    cap, fixed = head[0::2], head[1::2]
    body = _numbers(path, tokens, 2 + 2 * m, n * (m + 1)).reshape(n, m + 1)
    if len(tokens) != 2 + 2 * m + n * (m + 1):
        raise _fail(path, f"has {len(tokens)} tokens; a {m}×{n} cap file has "
                          f"{2 + 2 * m + n * (m + 1)}")
    demand, cost = body[:, 0], body[:, 1:]  # cost[j, i]: serve all of j from i
    warehouses = [f"W{i + 1:03d}" for i in range(m)]
    customers = [f"C{j + 1:04d}" for j in range(n)]
    served = [j for j in range(n) if demand[j] > 0]
    frames = _one_period_frames(warehouses + customers,
                                {"sense": "minimise", "offset": 0.0, "unit": "cost units"})
    frames["sites"] = pd.DataFrame({"site": warehouses, "operator": "ORLIB",
                                    "region": warehouses, "status": "candidate",
                                    "opening_cost_musd": fixed, "lead_time_periods": 0})
    frames["suites"] = pd.DataFrame({"site": warehouses, "modality": MODALITY, "scale": SCALE,
                                     "module_batches_per_period": cap, "module_capex_musd": 0.0,
                                     "max_modules": 1, "lead_time_periods": 0})
    frames["programs"] = pd.DataFrame({"program": [customers[j] for j in served],
                                       "startup": "customer", "modality": MODALITY,
                                       "commercial_from": 1,
                                       "max_sites": 1 if single_source else m})
    frames["offtakes"] = pd.DataFrame({"anchor": "DEMAND",
                                       "program": [customers[j] for j in served],
                                       "market": [customers[j] for j in served], "period": 1,
                                       "committed_batches": demand[served]})
    i_idx, j_idx = np.meshgrid(np.arange(m), np.array(served, dtype=int), indexing="ij")
    frames["lanes"] = pd.DataFrame({
        "origin": np.array(warehouses)[i_idx.ravel()],
        "market": np.array(customers)[j_idx.ravel()],
        "transport_musd_per_batch": (cost[j_idx, i_idx] / demand[j_idx]).ravel()})
    return frames


def gap_frames(path: Path, instance: int, maximise: bool = False) -> dict[str, pd.DataFrame]:
    """Read the ``instance``-th (1-based) problem of a gap* file into case tables.

    Raises:
        CaseError: the file is malformed or has no such instance.
    """
    tokens = _tokens(path)
    try:
        count = int(tokens[0])
    except (IndexError, ValueError):
        raise _fail(path, "is not a gap file: it starts with the number of instances") from None
    if not 1 <= instance <= count:
        raise _fail(path, f"has {count} instances; --instance must be 1..{count}")
    pos = 1
    for k in range(1, instance + 1):
        m, n = _counts(path, tokens[pos:pos + 2], "gap")
        size = 2 + 2 * m * n + m
        if k == instance:
            data = _numbers(path, tokens, pos + 2, size - 2)
            cost = data[:m * n].reshape(m, n)
            use = data[m * n:2 * m * n].reshape(m, n)
            capacity = data[2 * m * n:]
        pos += size
    if (use <= 0).any():
        raise _fail(path, f"instance {instance} has a job using no resource; slots must be > 0")
    agents = [f"A{i + 1:02d}" for i in range(m)]
    jobs = [f"J{j + 1:03d}" for j in range(n)]
    if maximise:
        best = cost.max(axis=0)  # C_j
        transfer, offset = best[None, :] - cost, float(best.sum())
    else:
        transfer, offset = cost, 0.0
    sense = "maximise" if maximise else "minimise"
    frames = _one_period_frames(["R"], {"sense": sense, "offset": offset, "unit": "units"})
    frames["sites"] = pd.DataFrame({"site": agents, "operator": "ORLIB", "region": "R",
                                    "status": "existing"})
    frames["suites"] = pd.DataFrame({"site": agents, "modality": MODALITY, "scale": SCALE,
                                     "existing_batches_per_period": capacity})
    frames["programs"] = pd.DataFrame({"program": jobs, "startup": "job", "modality": MODALITY,
                                       "commercial_from": 1, "max_sites": 1})
    frames["offtakes"] = pd.DataFrame({"anchor": "DEMAND", "program": jobs, "market": "R",
                                       "period": 1, "committed_batches": 1.0})
    i_idx, j_idx = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    pairs = {"program": np.array(jobs)[j_idx.ravel()], "site": np.array(agents)[i_idx.ravel()]}
    frames["tech_transfers"] = pd.DataFrame({**pairs, "tech_transfer_musd": transfer.ravel()})
    frames["yields"] = pd.DataFrame({**pairs, "slots_per_batch": use.ravel()})
    return frames


def gap_instance_count(path: Path) -> int:
    """How many instances a gap file holds."""
    return int(_tokens(path)[0])
