"""Property-based tests: on generated cases, every plan keeps the promises of the model.

Invariants: committed offtakes met in full; capacity never exceeded; no barred flow;
minimum domestic shares and maximum operator shares held; programs only at compatible,
assigned suites from their earliest start; costs sum to the objective. A generated case
may be infeasible: then there must be no plan tables at all.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capacity
from capacity import Case

from conftest import TEST_OPTIONS, assert_checked

pytestmark = pytest.mark.solver

EXAMPLES = int(os.environ.get("CAPACITY_HYPOTHESIS_EXAMPLES", "30"))
MODALITIES = ["antibody", "cell"]
REGIONS = ["A", "B", "C"]
PERIODS = [2030, 2031, 2032]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_sites = draw(st.integers(2, 4))
    sites, suites = [], []
    for i in range(n_sites):
        status = draw(st.sampled_from(["existing", "existing", "candidate"]))
        sites.append({"site": f"S{i}", "operator": f"O{i % 3}",
                      "region": draw(st.sampled_from(REGIONS)), "status": status,
                      "opening_cost_musd": draw(st.integers(0, 20)),
                      "fixed_cost_musd_per_year": draw(st.integers(0, 3)),
                      "lead_time_periods": draw(st.integers(0, 1))})
        for q in MODALITIES:
            for c in ("clinical", "commercial"):
                if draw(st.booleans()):
                    suites.append({
                        "site": f"S{i}", "modality": q, "scale": c,
                        "existing_batches_per_period": 0 if status == "candidate"
                        else draw(st.integers(0, 12)),
                        "module_batches_per_period": draw(st.integers(0, 8)),
                        "module_capex_musd": draw(st.integers(1, 30)),
                        "max_modules": draw(st.integers(0, 2)),
                        "lead_time_periods": draw(st.integers(0, 1)),
                        "variable_cost_musd_per_batch": draw(st.floats(0.5, 4.0))})
    n_programs = draw(st.integers(1, 4))
    programs, offtakes, demand = [], [], []
    for j in range(n_programs):
        start = draw(st.sampled_from(PERIODS[:2]))
        programs.append({"program": f"P{j}", "startup": f"St{j}",
                         "modality": draw(st.sampled_from(MODALITIES)),
                         "earliest_start": start,
                         "commercial_from": draw(st.sampled_from([None, 2031, 2032])),
                         "max_sites": draw(st.integers(1, 2)),
                         "tech_transfer_musd": draw(st.integers(0, 5))})
        for t in PERIODS:
            if t < start:
                continue
            market = draw(st.sampled_from(REGIONS))
            if draw(st.booleans()):
                offtakes.append({"anchor": "AN", "program": f"P{j}", "market": market,
                                 "period": t, "committed_batches": draw(st.integers(1, 6))})
            demand.append({"program": f"P{j}", "market": market, "period": t,
                           "potential_batches": draw(st.integers(0, 6)),
                           "value_musd_per_batch": draw(st.floats(0, 8))})
    for p in programs:
        if p["commercial_from"] is not None and p["commercial_from"] < p["earliest_start"]:
            p["commercial_from"] = None
    rules = [{"rule": "BAR", "kind": "barred", "market": "A", "subject": "flag:of_concern",
              "active": draw(st.booleans())},
             {"rule": "DOM", "kind": "min_domestic_share", "market": "B",
              "share": draw(st.sampled_from([0.0, 0.2, 0.5])), "active": draw(st.booleans())},
             {"rule": "OPS", "kind": "max_operator_share", "market": "C", "subject": "*",
              "share": draw(st.sampled_from([0.6, 0.8])), "active": draw(st.booleans())}]
    frames = {
        "periods": pd.DataFrame({"period": PERIODS, "discount_factor": [1.0, 0.9, 0.8]}),
        "regions": pd.DataFrame({"region": REGIONS}),
        "operators": pd.DataFrame({"operator": ["O0", "O1", "O2"],
                                   "of_concern": [False, True, False]}),
        "sites": pd.DataFrame(sites),
        "suites": pd.DataFrame(suites or [{"site": "S0", "modality": "antibody",
                                           "scale": "commercial", "max_modules": 1,
                                           "module_batches_per_period": 5}]),
        "programs": pd.DataFrame(programs),
        "anchors": pd.DataFrame({"anchor": ["AN"]}),
        "offtakes": pd.DataFrame(offtakes, columns=["anchor", "program", "market", "period",
                                                    "committed_batches"]),
        "demand": pd.DataFrame(demand),
        "lanes": pd.DataFrame([{"origin": o, "market": m, "transport_musd_per_batch": 0.3,
                                "tariff_rate": 0.1} for o in REGIONS for m in REGIONS if o != m]),
        "funds": pd.DataFrame([{"fund": "F", "funder": "G", "max_capex_share": 0.5}]),
        "fund_budgets": pd.DataFrame([{"fund": "F", "period": 2030, "budget_musd": 10}]),
        "rules": pd.DataFrame(rules),
    }
    return Case.from_frames(frames, name="generated")


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_plans_keep_their_promises(case: Case) -> None:
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status in ("optimal", "infeasible"), plan.messages
    if plan.status == "infeasible":
        assert plan.tables == {} and plan.objective is None
        return
    ships = plan.shipments.merge(case.sites[["site", "operator", "region"]], on="site")
    # committed offtakes met in full
    need = case.offtakes.groupby(["program", "market", "period"])["committed_batches"].sum()
    got = ships.groupby(["program", "market", "period"])["batches"].sum()
    assert (got.reindex(need.index, fill_value=0) >= need - 1e-6).all()
    # capacity never exceeded
    assert (plan.utilisation["used_batches"] <= plan.utilisation["capacity_batches"] + 1e-6).all()
    rules = case.rules.set_index("rule")
    if rules.at["BAR", "active"]:
        assert ships[(ships["market"] == "A") & (ships["operator"] == "O1")].empty
    if rules.at["DOM", "active"]:
        kpi = plan.market_kpis.query("market == 'B'")
        assert (kpi["domestic_share"] >= rules.at["DOM", "share"] - 1e-6).all()
    if rules.at["OPS", "active"]:
        into_c = ships[ships["market"] == "C"]
        for _, g in into_c.groupby("period"):
            shares = g.groupby("operator")["batches"].sum() / g["batches"].sum()
            assert (shares <= rules.at["OPS", "share"] + 1e-6).all()
    # produced only at assigned sites, from the earliest start, in the right modality
    assigned = set(zip(plan.assignments["program"], plan.assignments["site"], strict=True))
    assert set(zip(ships["program"], ships["site"], strict=True)) <= assigned
    programs = case.programs.set_index("program")
    assert (ships["period"] >= ships["program"].map(programs["earliest_start"])).all()
    # no financing beyond the budget
    assert plan.financing["amount_musd"].sum() <= 10 + 1e-6
    assert plan.costs["pv_musd"].sum() == pytest.approx(plan.objective, abs=1e-6)
    assert_checked(case, plan)
