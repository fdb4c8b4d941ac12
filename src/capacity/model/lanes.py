"""Lanes resolved per modality: the transport cost and tariff rate a batch of modality q
pays from origin region o to market m (models/formulation.md, "Lanes").

The lane of (o, m, q) is the first of

1. the `lanes` row (o, m, q): a lane for that modality;
2. the `lanes` row (o, m, ""): the lane for every modality without a row of its own;
3. the domestic lane, free, where o = m (as it always was);
4. the `lane_defaults` row (bloc(o), bloc(m), q), o ≠ m and both blocs given;
5. the `lane_defaults` row (bloc(o), bloc(m), "");

and none where none applies: nothing of q ships from o to m. A case without modality
columns and without `lane_defaults` resolves to what it always did: its own rows, the
free domestic lane, nothing else.

`lane_costs` is the one resolution the model uses (`capacity.model.index_sets` for SHIP
and its transport and tariff coefficients, `capacity.model.inventory` for the sites a
stock target may count); `capacity.results.check` re-derives it on its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from capacity.case import Case

LANE_COLUMNS = ["origin", "market", "modality", "transport_musd_per_batch", "tariff_rate",
                "source"]

# Where a resolved lane comes from, in the order of precedence (`source` column).
SOURCES = ("lane", "lane (every modality)", "domestic", "default", "default (every modality)")


def lane_costs(case: Case) -> pd.DataFrame:
    """Every lane of ``case`` resolved per modality (see the module for the order).

    Returns:
        One row per (origin, market, modality) that has a lane, for each modality the
        case's suites or programs use, sorted: ``origin``, ``market``, ``modality``,
        ``transport_musd_per_batch`` (MUSD per batch), ``tariff_rate`` (ad valorem on the
        batch's production cost) and ``source`` (one of `SOURCES`: which rule gave it).

    Example:
        >>> import capacity
        >>> from capacity.model.lanes import lane_costs
        >>> lanes = lane_costs(capacity.load_case())
        >>> lanes.query("origin == 'JP' and market == 'JP'")["source"].unique().tolist()
        ['domestic']
    """
    regions = case.regions[["region", "bloc"]]
    used = sorted(set(case.suites["modality"]) | set(case.programs["modality"]))
    grid = (regions.rename(columns={"region": "origin", "bloc": "origin_bloc"})
            .merge(regions.rename(columns={"region": "market", "bloc": "market_bloc"}),
                   how="cross")
            .merge(pd.DataFrame({"modality": used}), how="cross"))
    lanes, defaults = case.lanes, case.lane_defaults
    cost = ["transport_musd_per_batch", "tariff_rate"]
    own = lanes[lanes["modality"] != ""]
    every = lanes.loc[lanes["modality"] == "", ["origin", "market", *cost]]
    domestic = regions[["region"]].assign(origin=regions["region"], transport_musd_per_batch=0.0,
                                          tariff_rate=0.0).rename(columns={"region": "market"})
    bloc_own = defaults[defaults["modality"] != ""]
    bloc_every = defaults.loc[defaults["modality"] == "",
                              ["origin_bloc", "market_bloc", *cost]]
    between = (grid["origin"] != grid["market"]).to_numpy()  # defaults never the domestic lane
    levels = [(own, ["origin", "market", "modality"], None),
              (every, ["origin", "market"], None),
              (domestic, ["origin", "market"], None),
              (bloc_own, ["origin_bloc", "market_bloc", "modality"], between),
              (bloc_every, ["origin_bloc", "market_bloc"], between)]
    transport = np.full(len(grid), np.nan)
    tariff = np.full(len(grid), np.nan)
    source = np.full(len(grid), "", dtype=object)
    for name, (rows, on, where) in zip(SOURCES, levels, strict=True):
        found = grid[on].merge(rows[[*on, *cost]], on=on, how="left")  # keeps grid's order
        hit = found["transport_musd_per_batch"].notna().to_numpy() & (source == "")
        if where is not None:
            hit &= where
        transport[hit] = found["transport_musd_per_batch"].to_numpy(dtype=float)[hit]
        tariff[hit] = found["tariff_rate"].to_numpy(dtype=float)[hit]
        source[hit] = name
    out = grid[["origin", "market", "modality"]].assign(
        transport_musd_per_batch=transport, tariff_rate=tariff, source=source)
    out = out[source != ""]
    return out.sort_values(["origin", "market", "modality"]).reset_index(drop=True)[LANE_COLUMNS]
