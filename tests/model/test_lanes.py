"""Lanes by modality and lane defaults by bloc (models/formulation.md, "Lanes"), on the
hand-worked case data/tiny/lanes_modality (its README works out every number here).

In short: JP and KR in bloc Asia, the US in NA; SJP and SUS make antibodies at 1 and
autologous cell lots at 2; defaults Asia → Asia 0.2, NA → Asia 0.5 + 10 % tariff and, for
cell lots, NA → Asia 0.3 + 10 %; one lane JP → KR for cell lots at 1.0 (cryo). MAB: 4 to
KR, 3 to the US; CART: 10 to KR, 5 to JP. Optimum 42.8 (production 37, transport 3.8,
tariffs 2.0), CART's Korean lots from the US.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.model.lanes import lane_costs
from capacity.results.check import check_plan

from conftest import TEST_OPTIONS, edited, solved, tiny

CELL = "cell_autologous"


def cost(plan: capacity.Plan, component: str) -> float:
    return float(plan.costs.set_index("component").at[component, "pv_musd"])


@pytest.mark.unit
def test_lanes_resolve_as_the_readme_tables_them() -> None:
    lanes = lane_costs(tiny("lanes_modality")).set_index(["origin", "market", "modality"])
    got = {k: (r.transport_musd_per_batch, r.tariff_rate, r.source)
           for k, r in lanes.iterrows()}
    assert got[("JP", "KR", "antibody")] == (0.2, 0.0, "default (every modality)")
    assert got[("JP", "KR", CELL)] == (1.0, 0.0, "lane")
    assert got[("US", "KR", "antibody")] == (0.5, 0.1, "default (every modality)")
    assert got[("US", "KR", CELL)] == (0.3, 0.1, "default")
    assert got[("US", "JP", CELL)] == (0.3, 0.1, "default")
    # the domestic lane stays free though Asia → Asia has a default
    assert got[("JP", "JP", "antibody")] == (0.0, 0.0, "domestic")
    # no default Asia → NA: nothing ships from JP to the US
    assert not any(o == "JP" and m == "US" for o, m, _q in got)


@pytest.mark.solver
def test_plan_pays_the_hand_worked_lanes() -> None:
    plan = solved(tiny("lanes_modality"))  # the checker re-derives the lanes too
    assert plan.objective == pytest.approx(42.8)
    assert [cost(plan, c) for c in ("production", "transport", "tariffs")] == \
        pytest.approx([37.0, 3.8, 2.0])
    ships = plan.shipments.groupby(["program", "site", "market"])["batches"].sum()
    assert ships.to_dict() == {("CART", "SJP", "JP"): 5.0, ("CART", "SUS", "KR"): 10.0,
                               ("MAB", "SJP", "KR"): 4.0, ("MAB", "SUS", "US"): 3.0}


@pytest.mark.solver
def test_without_the_cell_rows_cell_lots_ship_as_antibodies_do() -> None:
    case = tiny("lanes_modality")
    plain = edited(case, lanes=case.lanes.iloc[:0],
                   lane_defaults=case.lane_defaults[case.lane_defaults["modality"] == ""])
    plan = solved(plain)
    assert plan.objective == pytest.approx(39.8)  # CART → KR from SJP at 2.2
    assert [cost(plan, c) for c in ("transport", "tariffs")] == pytest.approx([2.8, 0.0])
    kr = plan.shipments[(plan.shipments["program"] == "CART")
                        & (plan.shipments["market"] == "KR")]
    assert kr["site"].tolist() == ["SJP"]


@pytest.mark.solver
def test_without_defaults_a_missing_lane_still_means_no_shipments() -> None:
    case = tiny("lanes_modality")
    plan = capacity.solve(edited(case, lane_defaults=case.lane_defaults.iloc[:0]),
                          TEST_OPTIONS)
    assert plan.status == "infeasible"
    assert any("committed offtake of ANCH for MAB in KR" in m for m in plan.messages)


@pytest.mark.unit
def test_an_old_case_resolves_to_its_rows_and_the_free_domestic_lane() -> None:
    # two_sites: lane B → A 0.5, no modality column, no blocs, no lane_defaults
    lanes = lane_costs(tiny("two_sites"))
    assert lanes[["origin", "market", "transport_musd_per_batch", "source"]].values.tolist() == [
        ["A", "A", 0.0, "domestic"], ["A", "B", 0.5, "lane (every modality)"],
        ["B", "A", 0.5, "lane (every modality)"], ["B", "B", 0.0, "domestic"]]


def _matrices(case: capacity.Case) -> list[np.ndarray]:
    lm = capacity.build_model(case).linear
    return [*lm.matrix(), *lm.row_bounds(), *lm.bounds(), lm.objective.cost]


@pytest.mark.component
def test_defaults_never_override_a_listed_lane() -> None:
    # The default case lists a lane for every pair of its regions: defaults for every
    # pair of its blocs, however dear, and an explicit empty modality change nothing.
    case = capacity.load_case()
    blocs = sorted(set(case.regions["bloc"]))
    dear = pd.DataFrame([{"origin_bloc": o, "market_bloc": m, "modality": q,
                          "transport_musd_per_batch": 99.0, "tariff_rate": 5.0}
                         for o in blocs for m in blocs for q in ("", "antibody")])
    same = edited(case, lane_defaults=dear, lanes=case.lanes.assign(modality=""))
    for a, b in zip(_matrices(case), _matrices(same), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.solver
def test_checker_rederives_the_modality_default_and_flags_a_missing_lane(tmp_path) -> None:
    case = tiny("lanes_modality")
    plan_dir = solved(case).save(tmp_path / "plan")
    # the plan priced with the NA → Asia cell default at 0.4: 10 lots cost 1 more
    dearer = edited(case, lane_defaults=case.lane_defaults.assign(
        transport_musd_per_batch=[0.2, 0.5, 0.4]))
    result = check_plan(dearer, plan_dir)
    assert result.objective_recomputed == pytest.approx(43.8)
    # MAB's US batches moved to SJP: JP → US has no lane
    ships = pd.read_csv(plan_dir / "shipments.csv")
    us = (ships["program"] == "MAB") & (ships["market"] == "US")
    ships.loc[us, ["site", "origin"]] = ["SJP", "JP"]
    ships.to_csv(plan_dir / "shipments.csv", index=False)
    lanes = [v for v in check_plan(case, plan_dir).violations if v.family == "lane"]
    assert [(v.entity, v.amount) for v in lanes] == [("MAB@SJP→US 2030", 3.0)]
    assert "no antibody lane" in lanes[0].message


@pytest.mark.component
def test_stock_targets_count_the_sites_with_a_lane_for_the_programs_modality() -> None:
    # launch_stock: P1 (antibody, storable), SA in A, SB in B with the lane B → A. A
    # stock target for A at the end of 2031 counts SB's stock while that lane serves
    # antibodies; once the row is for cell lots only, SB has no antibody lane to A.
    target = pd.DataFrame([{"program": "P1", "market": "A", "period": 2031,
                            "min_batches": 5.0}])
    case = edited(tiny("launch_stock"), stock_targets=target)
    cell_only = edited(case, lanes=case.lanes.assign(modality="cell"),
                       modalities=pd.concat([case.modalities, pd.DataFrame(
                           [{"modality": "cell"}])], ignore_index=True))

    def sites(c: capacity.Case) -> list[str]:
        stock = capacity.build_model(c).index_sets.inventory.target_stock
        return [s for (_p, s, _c, _t) in stock[("P1", "A", 2031)]]

    assert sites(case) == ["SA", "SB"]
    assert sites(cell_only) == ["SA"]
