"""One hand-checked test per constraint family, on tiny cases where that family binds.

Base case `two_sites` (data/tiny/two_sites): two periods (2030, 2031, discount 1);
site SA in region A (variable cost 1/batch, 10 batches/period), SB in region B
(2/batch, 10/period), lane B→A costs 0.5/batch; program P1 (antibody, commercial,
max 1 site, tech transfer 1); anchor ANCH commits 5 batches/period in market A.
Optimum: everything from SA: 2 × 5 × 1 + 1 = 11.
"""

from __future__ import annotations

import pandas as pd
import pytest

import capacity

from conftest import TEST_OPTIONS, edited, expandable, offtakes, rows, solved, tiny, with_program

pytestmark = pytest.mark.solver




def cost(plan: capacity.Plan, component: str) -> float:
    return float(plan.costs.set_index("component").at[component, "pv_musd"])


def test_base_case_uses_cheapest_site() -> None:
    plan = solved(tiny("two_sites"))
    assert plan.objective == pytest.approx(11.0)
    assert set(plan.shipments["site"]) == {"SA"}
    assert plan.assignments[["program", "site", "start_period"]].values.tolist() == [
        ["P1", "SA", 2030]]
    assert plan.costs["pv_musd"].sum() == pytest.approx(plan.objective)


def test_suite_capacity_binds() -> None:
    # 15/period but SA holds 10: SA 10×1 + SB 5×(2+0.5) = 22.5 per period; ×2 + 2 transfers = 47.
    case = edited(tiny("two_sites"), offtakes=offtakes(15), programs=with_program(max_sites=2))
    plan = solved(case)
    assert plan.objective == pytest.approx(47.0)
    sa = plan.utilisation[plan.utilisation["site"] == "SA"]
    assert sa["utilisation"].tolist() == pytest.approx([1.0, 1.0])


def test_program_site_limit_binds() -> None:
    # One site only, SB enlarged to 20: SB carries all 15: 2 × 15 × 2.5 + 1 = 76.
    suites = rows({"site": "SA", "modality": "antibody", "scale": "commercial",
                   "existing_batches_per_period": 10, "variable_cost_musd_per_batch": 1.0},
                  {"site": "SB", "modality": "antibody", "scale": "commercial",
                   "existing_batches_per_period": 20, "variable_cost_musd_per_batch": 2.0})
    plan = solved(edited(tiny("two_sites"), offtakes=offtakes(15), suites=suites))
    assert plan.objective == pytest.approx(76.0)
    assert list(plan.assignments["site"]) == ["SB"]


def test_production_requires_assignment_charges_transfer() -> None:
    # As test_suite_capacity_binds, but transferring to SB costs 100: still needed, 45 + 1 + 100.
    case = edited(tiny("two_sites"), offtakes=offtakes(15), programs=with_program(max_sites=2),
                  tech_transfers=rows({"program": "P1", "site": "SB",
                                       "tech_transfer_musd": 100.0}))
    plan = solved(case)
    assert plan.objective == pytest.approx(146.0)
    assert cost(plan, "tech_transfer") == pytest.approx(101.0)



def test_build_expands_suite() -> None:
    # 15/period, one site: SA + one module (capex 3): 3 + 2 × 15 + 1 = 34.
    plan = solved(edited(tiny("two_sites"), offtakes=offtakes(15),
                         suites=expandable(max_modules=1, lead=0)))
    assert plan.objective == pytest.approx(34.0)
    assert plan.builds[["site", "period", "modules"]].values.tolist() == [["SA", 2030, 1]]


def _needs_modules() -> capacity.Case:
    return edited(tiny("two_sites"), offtakes=offtakes(25), programs=with_program(max_sites=2),
                  suites=expandable(max_modules=2, lead=0))


def test_committed_cover_by_hand() -> None:
    # SA takes modules of 5 (up to 2, no lead); 25/period on two sites. 25 committed
    # batches take at least 25 slots, the suites hold 10 + 10, so per period
    # 5·(modules online) ≥ 25 − 20 = 5: Build[2030] in 2030, Build[2030] + Build[2031]
    # in 2031. The row only restates capacity, so the optimum is the hand one: two
    # modules, SA 20 × 1 + SB 5 × 2.5 = 32.5 per period, × 2 + capex 6 + 2 transfers = 73.
    case = _needs_modules()
    lm = capacity.build_model(case).linear
    assert lm.sets["COVER_QCT"].keys == [("antibody", "commercial", 2030),
                                      ("antibody", "commercial", 2031)]
    rows_ = lm.constraints["committed_cover"]
    indptr, indices, values = lm.matrix()
    built = [{int(c): v for c, v in zip(indices[indptr[r]:indptr[r + 1]],
                                        values[indptr[r]:indptr[r + 1]], strict=True)}
             for r in range(rows_.start, rows_.stop)]
    module = {t: lm.column("Build", ("SA", "antibody", "commercial", t)) for t in (2030, 2031)}
    assert built == [{module[2030]: 5.0}, {module[2030]: 5.0, module[2031]: 5.0}]
    assert lm.row_bounds()[0][rows_.start:rows_.stop].tolist() == [5.0, 5.0]
    plan = solved(case)
    assert plan.objective == pytest.approx(73.0)
    assert plan.builds[["site", "period", "modules"]].values.tolist() == [["SA", 2030, 2]]
    # 2 slots a batch at both sites: the need is 50 slots, 30 beyond the suites.
    two_slots = edited(case, yields=rows({"program": "P1", "site": "SA", "slots_per_batch": 2.0},
                                         {"program": "P1", "site": "SB", "slots_per_batch": 2.0}))
    lm = capacity.build_model(two_slots).linear
    rows_ = lm.constraints["committed_cover"]
    assert lm.row_bounds()[0][rows_.start:rows_.stop].tolist() == [30.0, 30.0]
    # No rows where the suites already hold the commitments (5/period), none in elastic mode.
    assert capacity.build_model(tiny("two_sites")).linear.sets["COVER_QCT"].keys == []
    assert capacity.build_model(case, elastic=True).linear.sets["COVER_QCT"].keys == []


def test_fixing_builds_that_break_the_cover_is_infeasible_not_an_error() -> None:
    # The case above with every Build fixed at 0 in the Pyomo model: committed_cover's
    # row has no free variable left and asks 0 ≥ 5.
    built = capacity.build_model(_needs_modules())
    for v in built.pyomo.Build.values():
        v.fix(0)
    plan = capacity.solve(built, TEST_OPTIONS)
    assert plan.status == "infeasible"
    assert plan.messages == ["model contains a trivially infeasible constraint, "
                             "'committed_cover[antibody,commercial,2030]': with the variables "
                             "fixed as they are, no plan meets it"]


def test_module_cap_binds() -> None:
    # 20/period, two sites allowed, at most 1 module: SA 15 + SB 5: 3 + 2 × (15 + 12.5) + 2 = 60
    # (with 2 modules SA alone would cost 6 + 40 + 1 = 47).
    case = edited(tiny("two_sites"), offtakes=offtakes(20), programs=with_program(max_sites=2),
                  suites=expandable(max_modules=1, lead=0))
    assert solved(case).objective == pytest.approx(60.0)
    case2 = edited(case, suites=expandable(max_modules=2, lead=0))
    assert solved(case2).objective == pytest.approx(47.0)


def test_build_lead_time_delays_capacity() -> None:
    # Lead 1: a module ordered in 2030 produces from 2031. 2030: SA 10 + SB 5 = 22.5;
    # 2031: SA 15 = 15; capex 3; two transfers 2: 42.5 (versus 47 without building).
    case = edited(tiny("two_sites"), offtakes=offtakes(15), programs=with_program(max_sites=2),
                  suites=expandable(max_modules=1, lead=1))
    plan = solved(case)
    assert plan.objective == pytest.approx(42.5)
    assert plan.builds[["period", "online_period"]].values.tolist() == [[2030, 2031]]


def test_candidate_site_opens_when_cheaper() -> None:
    # candidate_site: 10/period in A. SA alone: 2 × 10 × 1 + 1 = 21. Opening SC (4) with one
    # module (capex 2) at 0.5/batch: 4 + 2 + 2 × 10 × 0.5 + 1 = 17.
    plan = solved(tiny("candidate_site"))
    assert plan.objective == pytest.approx(17.0)
    assert plan.openings["site"].tolist() == ["SC"]


def test_module_requires_open_site() -> None:
    # Opening SC costs 100: no opening, and no module may be built at the closed site: 21.
    case = edited(tiny("candidate_site"),
                  sites=lambda df: df.assign(opening_cost_musd=[0.0, 100.0]))
    plan = solved(case)
    assert plan.objective == pytest.approx(21.0)
    assert plan.builds.empty and plan.openings.empty


def test_site_opens_once_and_lead_time() -> None:
    # SC takes a period to open: only 2031 can use it, but P1 is limited to one site, so SA
    # serves both periods: 21. Allowing two sites: 10 + (4 + 2 + 5) + 2 = 23 > 21, still SA.
    case = edited(tiny("candidate_site"),
                  sites=lambda df: df.assign(lead_time_periods=[0, 1]))
    assert solved(case).objective == pytest.approx(21.0)
    assert len(solved(tiny("candidate_site")).openings) == 1


def test_min_domestic_share_binds() -> None:
    # domestic_share: 10/period in A; SA (domestic) costs 3, SB 1 + 0.5 lane. Rule: 60% from A.
    # 6 × 3 + 4 × 1.5 = 24 per period; ×2 + 2 transfers = 50. Without the rule: 2 × 15 + 1 = 31.
    plan = solved(tiny("domestic_share"))
    assert plan.objective == pytest.approx(50.0)
    kpi = plan.market_kpis
    assert (kpi.loc[kpi["market"] == "A", "domestic_share"] >= 0.6 - 1e-9).all()
    off = edited(tiny("domestic_share"), rules=lambda df: df.assign(active=False))
    assert solved(off).objective == pytest.approx(31.0)


def _share_rule(kind: str, subject: str) -> pd.DataFrame:
    return rows({"rule": "CAP", "kind": kind, "market": "A", "subject": subject, "share": 0.7})


def test_max_operator_share_binds() -> None:
    # No operator above 70% of A: SB (OB) 7 × 1.5 + SA 3 × 3 = 19.5 per period; ×2 + 2 = 41.
    case = edited(tiny("domestic_share"), rules=_share_rule("max_operator_share", "*"))
    plan = solved(case)
    assert plan.objective == pytest.approx(41.0)
    assert plan.market_kpis["hhi_operator"].iloc[0] == pytest.approx(10_000 * (0.7**2 + 0.3**2))


def test_max_country_share_binds() -> None:
    # Region B at most 70% of A: the same split as above, 41.
    case = edited(tiny("domestic_share"), rules=_share_rule("max_country_share", "B"))
    assert solved(case).objective == pytest.approx(41.0)


def test_barred_operator_never_ships() -> None:
    # OB is of concern and barred from A: SA makes all 10/period at 3: 60 + 1 = 61.
    case = edited(tiny("domestic_share"),
                  operators=lambda df: df.assign(of_concern=[False, True]),
                  rules=rows({"rule": "SECURE_A", "kind": "barred", "market": "A",
                              "subject": "flag:of_concern"}))
    plan = solved(case)
    assert plan.objective == pytest.approx(61.0)
    assert set(plan.shipments["site"]) == {"SA"}


def _fund(share: float, budget: float, repayment: float = 0.0, regions: str = "",
          pays: str = "") -> dict:  # type: ignore[type-arg]
    return {"funds": rows({"fund": "F", "funder": "Gov", "max_capex_share": share,
                           "repayment_share": repayment, "eligible_regions": regions,
                           "pays": pays}),
            "fund_budgets": rows({"fund": "F", "period": 2030, "budget_musd": budget})}


def test_fund_share_cap_binds() -> None:
    # candidate_site (17) with a grant covering at most 40% of SC's module capex 2: 17 − 0.8.
    plan = solved(edited(tiny("candidate_site"), **_fund(share=0.4, budget=100)))
    assert plan.objective == pytest.approx(16.2)
    assert plan.financing["amount_musd"].sum() == pytest.approx(0.8)


def test_fund_budget_binds() -> None:
    # Budget 0.5 below the 0.8 the share allows: 17 − 0.5.
    assert solved(edited(tiny("candidate_site"), **_fund(0.4, 0.5))).objective == \
        pytest.approx(16.5)


def test_financing_within_capex_and_repayment() -> None:
    # Share 1, budget 100: the fund pays all 2 of capex, but half is repaid: 17 − 2 × 0.5 = 16.
    assert solved(edited(tiny("candidate_site"), **_fund(1.0, 100, repayment=0.5))).objective \
        == pytest.approx(16.0)


def test_fund_eligibility() -> None:
    # A fund for region B cannot finance SC in region A: 17.
    plan = solved(edited(tiny("candidate_site"), **_fund(1.0, 100, regions="B")))
    assert plan.objective == pytest.approx(17.0) and plan.financing.empty


def test_fund_pays_an_opening_within_its_share() -> None:
    # candidate_site (17: opening SC 4, capex 2, production 10, transfer 1) with a grant
    # that pays openings, at most half of one: 2 of the 4: 15. The plan says what for.
    plan = solved(edited(tiny("candidate_site"), **_fund(0.5, 100, pays="opening")))
    assert plan.objective == pytest.approx(15.0)
    assert plan.financing[["fund", "cost_type", "site", "modality", "period",
                           "amount_musd"]].values.tolist() == [
        ["F", "opening", "SC", "", 2030, pytest.approx(2.0)]]
    use = plan.fund_use.set_index("period")
    assert use.at[2030, "financed_opening_musd"] == pytest.approx(2.0)
    assert use.at[2030, "financed_capex_musd"] == pytest.approx(0.0)
    assert cost(plan, "co_investment") == pytest.approx(-2.0)
    assert cost(plan, "opening") == pytest.approx(4.0)


def test_fund_budget_shared_by_capex_and_opening() -> None:
    # Paying both, share 1: up to 4 + 2 = 6 could be financed, but the budget is 5: 17 − 5.
    plan = solved(edited(tiny("candidate_site"), **_fund(1.0, 5, pays="capex;opening")))
    assert plan.objective == pytest.approx(12.0)
    assert plan.financing["amount_musd"].sum() == pytest.approx(5.0)
    use = plan.fund_use.set_index("period")
    assert use.at[2030, "financed_musd"] == pytest.approx(5.0)
    assert use.at[2030, "financed_capex_musd"] + use.at[2030, "financed_opening_musd"] == \
        pytest.approx(5.0)


def test_opening_finance_changes_what_opens() -> None:
    # SC's opening at 9: 9 + 2 + 10 + 1 = 22 > SA alone 21, so SC stays closed. A grant
    # of half an opening makes SC 22 − 4.5 = 17.5; one that pays capex only (the default)
    # saves at most 40% of 2 there, 21.2 > 21: SA. A grant half repaid saves half as
    # much: 22 − 2.25 = 19.75. A fund for region B cannot pay SC's opening: 21.
    dear = edited(tiny("candidate_site"),
                  sites=lambda df: df.assign(opening_cost_musd=[0.0, 9.0]))
    assert solved(dear).objective == pytest.approx(21.0)
    plan = solved(edited(dear, **_fund(0.5, 100, pays="opening")))
    assert plan.objective == pytest.approx(17.5)
    assert plan.openings["site"].tolist() == ["SC"]
    capex_only = solved(edited(dear, **_fund(0.4, 100)))
    assert capex_only.objective == pytest.approx(21.0) and capex_only.openings.empty
    repaid = solved(edited(dear, **_fund(0.5, 100, repayment=0.5, pays="opening")))
    assert repaid.objective == pytest.approx(19.75)
    elsewhere = solved(edited(dear, **_fund(0.5, 100, regions="B", pays="opening")))
    assert elsewhere.objective == pytest.approx(21.0) and elsewhere.financing.empty


def test_a_financed_opening_cost_is_a_constraint_for_the_resolver() -> None:
    # Opening costs are objective-only unless a fund may pay them: then they bound
    # FinanceOpening, so a case differing in one is built afresh, not re-costed: SC's
    # opening 4 → 6 with a grant of half of it: 15 → 16.
    from capacity.engine.resolver import Resolver

    grant = edited(tiny("candidate_site"), **_fund(0.5, 100, pays="opening"))
    dearer = edited(grant, sites=lambda df: df.assign(opening_cost_musd=[0.0, 6.0]))
    resolver = Resolver()
    assert [resolver.solve(c, TEST_OPTIONS).objective for c in (grant, dearer)] == \
        pytest.approx([15.0, 16.0])
    assert resolver.reused == 0
    plain = edited(tiny("candidate_site"), sites=lambda df: df.assign(opening_cost_musd=[0.0, 6.0]))
    assert resolver.solve(tiny("candidate_site"), TEST_OPTIONS).objective == pytest.approx(17.0)
    assert resolver.solve(plain, TEST_OPTIONS).objective == pytest.approx(19.0)
    assert resolver.reused == 1  # without such a fund, only the costs changed


def test_potential_demand_served_when_worth_it() -> None:
    # 3 more batches in A in 2030 worth 2.5 each, made at SA for 1: 11 − 3 × 1.5 = 6.5.
    demand = rows({"program": "P1", "market": "A", "period": 2030, "potential_batches": 3,
                   "value_musd_per_batch": 2.5})
    plan = solved(edited(tiny("two_sites"), demand=demand))
    assert plan.objective == pytest.approx(6.5)
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(0.0)
    # Worth 0.5 only: not served, reported as unmet.
    low = solved(edited(tiny("two_sites"), demand=demand.assign(value_musd_per_batch=0.5)))
    assert low.objective == pytest.approx(11.0)
    assert low.unmet_demand["unmet_batches"].sum() == pytest.approx(3.0)


def _transfers(plan: capacity.Plan) -> list[list[object]]:
    return plan.assignments[["program", "site", "transfer_start_period",
                             "transfer_complete_period", "start_period",
                             "tech_transfer_pv_musd"]].values.tolist()


def test_tech_transfer_time_delays_production() -> None:
    # P1's transfers take 1 period from its start, 2030: nothing is made before 2031. ANCH
    # commits 5 in 2031 only; 3 potential batches in 2030 worth 2.5 each (made at SA for 1)
    # cannot be served: 5 × 1 + transfer 1 = 6. Without the transfer time they would be:
    # 6 − 3 × 1.5 = 1.5.
    demand = rows({"program": "P1", "market": "A", "period": 2030, "potential_batches": 3,
                   "value_musd_per_batch": 2.5})
    instant = edited(tiny("two_sites"), offtakes=offtakes(5).iloc[1:], demand=demand)
    assert solved(instant).objective == pytest.approx(1.5)
    plan = solved(edited(instant, programs=with_program(tech_transfer_periods=1)))
    assert plan.objective == pytest.approx(6.0)
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(3.0)
    assert _transfers(plan) == [["P1", "SA", 2030, 2031, 2031, 1.0]]


def test_transfer_time_is_enforced_by_sparsity() -> None:
    # No variable or row of its own (models/formulation.md): SHIP loses the shipments made
    # before the transfers are complete, here 2030's; every other set and variable stays.
    case = edited(tiny("two_sites"), offtakes=offtakes(5).iloc[1:])
    base = capacity.build_model(case).linear
    timed = capacity.build_model(edited(case, programs=with_program(tech_transfer_periods=1)))
    assert timed.linear.sets["SHIP"].keys == [k for k in base.sets["SHIP"].keys
                                              if k[3] == 2031]
    assert list(timed.linear.variables) == list(base.variables)
    assert list(timed.linear.constraints) == list(base.constraints)


def test_site_slower_to_transfer_serves_later() -> None:
    # Transfer to SA takes 1 period (tech_transfers; its cost stays the program's 1), to SB
    # none. On two sites: 2030 from SB, 5 × (2 + 0.5) = 12.5; 2031 from SA, 5 × 1 = 5; two
    # transfers, 2: 19.5 (SB alone: 2 × 12.5 + 1 = 26; SA cannot serve 2030).
    slow_sa = rows({"program": "P1", "site": "SA", "tech_transfer_periods": 1})
    plan = solved(edited(tiny("two_sites"), tech_transfers=slow_sa,
                         programs=with_program(max_sites=2)))
    assert plan.objective == pytest.approx(19.5)
    assert _transfers(plan) == [["P1", "SA", 2030, 2031, 2031, 1.0],
                                ["P1", "SB", 2030, 2030, 2030, 1.0]]
    # One site only: SB for both periods, 26.
    one = solved(edited(tiny("two_sites"), tech_transfers=slow_sa))
    assert one.objective == pytest.approx(26.0)
    assert list(one.assignments["site"]) == ["SB"]


def test_transfer_cost_discounted_at_its_start() -> None:
    # 2031's discount factor is 0.79; ANCH commits 5 in 2031 only.
    periods = rows({"period": 2030, "discount_factor": 1.0},
                   {"period": 2031, "discount_factor": 0.79})
    case = edited(tiny("two_sites"), periods=periods, offtakes=offtakes(5).iloc[1:])
    # P1 starts in 2031: its transfer starts there and costs 1 × 0.79, printed beside
    # 2031; 0.79 × (5 × 1 + 1) = 4.74.
    late = solved(edited(case, programs=with_program(earliest_start=2031,
                                                     commercial_from=2031)))
    assert late.objective == pytest.approx(4.74)
    assert _transfers(late) == [["P1", "SA", 2031, 2031, 2031, pytest.approx(0.79)]]
    # P1 may start in 2030 and its transfer takes a period: it starts in 2030 at full
    # cost (the PV printed beside 2030, not beside the first batch in 2031):
    # 0.79 × 5 + 1 = 4.95.
    early = solved(edited(case, programs=with_program(tech_transfer_periods=1)))
    assert early.objective == pytest.approx(4.95)
    assert _transfers(early) == [["P1", "SA", 2030, 2031, 2031, pytest.approx(1.0)]]


def test_transfer_time_that_misses_a_commitment_is_explained() -> None:
    # ANCH commits in 2030, P1 starts in 2030 and its transfer takes a period.
    case = edited(tiny("two_sites"), programs=with_program(tech_transfer_periods=1))
    plan = capacity.solve(case)
    assert plan.status == "infeasible"
    assert plan.messages == ["committed offtake of ANCH for P1 in A, period 2030: P1's "
                             "technology transfer (1 period, from its earliest start 2030) "
                             "cannot be complete before 2031"]
    # a site that transfers faster is enough: SB (0 periods) serves 2030
    fast_sb = rows({"program": "P1", "site": "SB", "tech_transfer_periods": 0})
    assert capacity.solve(edited(case, tech_transfers=fast_sb)).status == "optimal"


# clinical_phase (data/tiny/README.md, worked by hand there): BISPEC_1 (antibody, start
# 2027, commercial from 2029, max_sites 1, transfer 4) has 5 potential clinical batches
# in 2027 and in 2028 worth 3 each and 10 committed commercial batches in 2029 and 2030;
# CLIN has only a clinical suite, COMM only a commercial one, both at 1 a batch;
# discount 1 in 2027-28, 0.5 in 2029-30. The case assigns its phases apart.
def _phase_rows(plan: capacity.Plan) -> list[list[object]]:
    return plan.assignments[["program", "site", "phase", "transfer", "transfer_start_period",
                             "transfer_complete_period", "start_period",
                             "tech_transfer_pv_musd"]].values.tolist()


def _one_site(case: capacity.Case) -> capacity.Case:
    return edited(case, programs=with_program(phases_at_one_site=True))


def test_clinical_phase_silently_skipped_before_and_served_with_phases_apart() -> None:
    # Before (phases_at_one_site, the rule before phases): one site for the whole program;
    # the commitments need COMM, which has no clinical suite, so the clinical phase goes
    # unserved: transfer 4 at 2027 + 20 batches × 1 × 0.5 = 14, the 10 clinical batches
    # unmet, and the plan says why.
    before = solved(_one_site(tiny("clinical_phase")))
    assert before.objective == pytest.approx(14.0)
    assert _phase_rows(before) == [
        ["BISPEC_1", "COMM", "commercial", "technology transfer", 2027, 2027, 2029, 4.0]]
    assert before.unmet_demand["unmet_batches"].sum() == pytest.approx(10.0)
    assert before.messages == ["BISPEC_1's clinical phase: 0 of 10 potential batches "
                               "served in 2027–2028: its site COMM has no antibody clinical "
                               "suite"]
    # Phases apart (the case as shipped): the clinical phase goes to CLIN, transfer 4 in
    # 2027, 10 batches × 1 − 10 × 3 = −16 net; the commercial phase to COMM, a second
    # transfer started just in time for 2029 at 4 × 0.5 = 2, + 10 = 12: −4, one site per
    # phase (max_sites 1 each), nothing unserved and nothing to say.
    after = solved(tiny("clinical_phase"))
    assert after.objective == pytest.approx(-4.0)
    assert _phase_rows(after) == [
        ["BISPEC_1", "CLIN", "clinical", "technology transfer", 2027, 2027, 2027, 4.0],
        ["BISPEC_1", "COMM", "commercial", "technology transfer", 2029, 2029, 2029, 2.0]]
    assert after.unmet_demand["unmet_batches"].sum() == pytest.approx(0.0)
    assert cost(after, "tech_transfer") == pytest.approx(6.0)
    assert after.messages == []


def test_phases_assigned_apart_are_limited_phase_by_phase() -> None:
    # Each phase's Assign is limited to max_sites on its own (SITE_LIMIT_PC); with the
    # phases together the program is, as before: one row over its two sites.
    apart = capacity.build_model(tiny("clinical_phase")).linear
    assert apart.sets["ASSIGN"].keys == [("BISPEC_1", "CLIN", "clinical"),
                                         ("BISPEC_1", "COMM", "commercial")]
    assert apart.sets["SITE_LIMIT_PC"].keys == []  # one site per phase: nothing to limit
    together = capacity.build_model(_one_site(tiny("clinical_phase"))).linear
    assert together.sets["ASSIGN"].keys == [("BISPEC_1", "CLIN", "both"),
                                            ("BISPEC_1", "COMM", "both")]
    assert together.sets["SITE_LIMIT_PC"].keys == [("BISPEC_1", "both")]


def test_commercial_phase_scales_up_at_its_clinical_site() -> None:
    # CLIN also gets a commercial suite at 1.1 a batch. Both phases at CLIN: one transfer
    # (4, 2027), the commercial phase scales up in place (ScaleUp earns the second
    # transfer's 2 back): 4 + 10 − 30 + 20 × 1.1 × 0.5 = −5, below COMM's −4. The program
    # moving as one does the same.
    case = edited(tiny("clinical_phase"), suites=lambda df: pd.concat([df, rows(
        {"site": "CLIN", "modality": "antibody", "scale": "commercial",
         "existing_batches_per_period": 20, "variable_cost_musd_per_batch": 1.1})]))
    lm = capacity.build_model(case).linear
    assert lm.sets["SCALE_UP_PS"].keys == [("BISPEC_1", "CLIN")]
    plan = solved(case)
    assert plan.objective == pytest.approx(-5.0)
    assert _phase_rows(plan) == [
        ["BISPEC_1", "CLIN", "clinical", "technology transfer", 2027, 2027, 2027, 4.0],
        ["BISPEC_1", "CLIN", "commercial", "scale-up at site", 2027, 2027, 2029, 0.0]]
    assert cost(plan, "tech_transfer") == pytest.approx(4.0)
    together = solved(_one_site(case))
    assert together.objective == pytest.approx(-5.0)
    assert _phase_rows(together) == _phase_rows(plan)


def test_commercial_transfer_starts_just_in_time() -> None:
    # Transfers take a period. The clinical one starts at 2027 and is complete in 2028:
    # only 2028's 5 clinical batches: 4 + 5 − 15 = −6. The commercial one to COMM starts
    # in 2028, the latest that completes it by 2029 (discount 1 there): 4 + 10 = 14.
    # 8 in all. With the phases together COMM's one transfer starts in 2027: 14.
    case = edited(tiny("clinical_phase"), programs=with_program(tech_transfer_periods=1))
    plan = solved(case)
    assert plan.objective == pytest.approx(8.0)
    assert _phase_rows(plan) == [
        ["BISPEC_1", "CLIN", "clinical", "technology transfer", 2027, 2028, 2028, 4.0],
        ["BISPEC_1", "COMM", "commercial", "technology transfer", 2028, 2029, 2029, 4.0]]
    together = solved(_one_site(case))
    assert together.objective == pytest.approx(14.0)
    assert _phase_rows(together) == [
        ["BISPEC_1", "COMM", "commercial", "technology transfer", 2027, 2028, 2029, 4.0]]


def _committed_clinical(case: capacity.Case) -> capacity.Case:
    """``case`` with ANCH also committing 5 clinical batches in 2027 and 2028."""
    return edited(case, offtakes=lambda df: pd.concat([df, rows(
        *({"anchor": "ANCH", "program": "BISPEC_1", "market": "A", "period": t,
           "committed_batches": 5} for t in (2027, 2028)))]))


def test_phases_kept_at_one_site_with_commitments_in_both_is_unservable() -> None:
    # Committed clinical batches too: no one site makes both phases, so with the phases
    # together the case is infeasible before any solve, and the reason is the planner's
    # choice; apart it is served: clinical 20 batches at CLIN (10 committed, 10 potential)
    # 4 + 20 − 30 = −6, commercial 2 + 10 = 12: 6.
    case = _committed_clinical(tiny("clinical_phase"))
    assert solved(case).objective == pytest.approx(6.0)
    plan = capacity.solve(_one_site(case))
    assert plan.status == "infeasible"
    assert plan.messages == [
        "BISPEC_1's phases move as one (programs.phases_at_one_site, max_sites 1) and no "
        "site makes both its committed clinical batches (CLIN can) and its committed "
        "commercial batches (COMM can): with phases_at_one_site false each phase goes to "
        "sites of its own"]


def test_committed_phase_with_no_suite_anywhere_is_named() -> None:
    # A committed phase goes only to sites with suites for that phase: without CLIN no
    # site has an antibody clinical suite, so a clinical commitment in 2027 can never be
    # served, whatever the rule; the reason names the phase and the period it covers.
    case = edited(tiny("clinical_phase"), suites=lambda df: df[df["site"] != "CLIN"],
                  offtakes=lambda df: pd.concat([df, rows(
                      {"anchor": "ANCH", "program": "BISPEC_1", "market": "A",
                       "period": 2027, "committed_batches": 5})]))
    plan = capacity.solve(case)
    assert plan.status == "infeasible"
    assert plan.messages == ["committed offtake of ANCH for BISPEC_1 in A, period 2027: no "
                             "site has an antibody clinical-scale suite for BISPEC_1's "
                             "clinical phase (before its commercial_from 2029)"]


def test_discounting() -> None:
    # 2031 costs count half: 5 + 5 × 0.5 + 1 = 8.5.
    periods = rows({"period": 2030, "discount_factor": 1.0},
                   {"period": 2031, "discount_factor": 0.5})
    assert solved(edited(tiny("two_sites"), periods=periods)).objective == pytest.approx(8.5)


def test_yields_change_capacity_use_and_cost() -> None:
    # At SA a batch takes 2 slots (and costs 2): 10 slots make 5 batches: 2 × 5 × 2 + 1 = 21.
    yields = rows({"program": "P1", "site": "SA", "slots_per_batch": 2.0})
    assert solved(edited(tiny("two_sites"), yields=yields)).objective == pytest.approx(21.0)
    # 3 slots: SA can make only 3.3 batches, one site allowed: SB, 2 × 5 × 2.5 + 1 = 26.
    plan = solved(edited(tiny("two_sites"), yields=yields.assign(slots_per_batch=3.0)))
    assert plan.objective == pytest.approx(26.0)


def test_batch_success_rate_counts_failed_batches_in_capacity_and_cost() -> None:
    # At SA 80% of batches succeed: each delivered batch takes 1 ÷ 0.8 = 1.25 slots of SA's
    # 10 and costs 1.25 of production. 5 delivered a period: 6.25 slots, 2 × 5 × 1.25 + 1 =
    # 13.5 (SB would cost 2.5 a batch).
    at_sa = rows({"program": "P1", "site": "SA", "success_rate": 0.8})
    plan = solved(edited(tiny("two_sites"), yields=at_sa))
    assert plan.objective == pytest.approx(13.5)
    sa = plan.utilisation[plan.utilisation["site"] == "SA"]
    assert sa["used_batches"].tolist() == pytest.approx([6.25, 6.25])  # failed ones included
    # 10 committed a period: 10 delivered would need 12.5 slots > 10. On two sites SA
    # delivers 8 (10 slots) and SB the other 2: 8 × 1.25 + 2 × 2.5 = 15 a period, × 2 + 2
    # transfers = 32; on one site only SB can: 2 × 10 × 2.5 + 1 = 51.
    two = solved(edited(tiny("two_sites"), yields=at_sa, offtakes=offtakes(10),
                        programs=with_program(max_sites=2)))
    assert two.objective == pytest.approx(32.0)
    made = two.shipments.groupby("site")["batches"].sum()
    assert made.to_dict() == pytest.approx({"SA": 16.0, "SB": 4.0})
    assert two.utilisation.set_index(["site", "period"]).at[("SA", 2031), "utilisation"] == \
        pytest.approx(1.0)
    one = solved(edited(tiny("two_sites"), yields=at_sa, offtakes=offtakes(10)))
    assert one.objective == pytest.approx(51.0)
    assert set(one.shipments["site"]) == {"SB"}


def test_batch_success_by_modality_and_its_override() -> None:
    # Antibody batches succeed half the time (modalities.success_rate): 2 slots and 2 of production
    # a delivered batch at SA: 5 a period fill SA's 10 slots: 2 × 5 × 2 + 1 = 21. A yields
    # row's own rate (1 at SA) wins over the modality's: 11, the base case; a rate the
    # suites cannot live with (0.4: 12.5 slots at SA and at SB) leaves no plan.
    half = rows({"modality": "antibody", "success_rate": 0.5})
    plan = solved(edited(tiny("two_sites"), modalities=half))
    assert plan.objective == pytest.approx(21.0)
    assert cost(plan, "production") == pytest.approx(20.0)
    sure = rows({"program": "P1", "site": "SA", "success_rate": 1.0})
    assert solved(edited(tiny("two_sites"), modalities=half, yields=sure)).objective == \
        pytest.approx(11.0)
    worse = edited(tiny("two_sites"), modalities=half.assign(success_rate=0.4))
    assert capacity.solve(worse, TEST_OPTIONS).status == "infeasible"


def test_tariffs_on_production_cost() -> None:
    # Without the rule SB supplies A at 1 + 0.5; a 100% tariff on SB's production cost (1)
    # makes it 2.5 < 3 still: 2 × 10 × 2.5 + 1 = 51, of which tariffs 20.
    case = edited(tiny("domestic_share"), rules=lambda df: df.assign(active=False),
                  lanes=lambda df: df.assign(tariff_rate=1.0))
    plan = solved(case)
    assert plan.objective == pytest.approx(51.0)
    assert cost(plan, "tariffs") == pytest.approx(20.0)


def test_clinical_then_commercial_scale() -> None:
    # P1 is clinical in 2030 (only SA has a clinical suite, at 4/batch), commercial from 2031:
    # 5 × 4 + 5 × 1 + 1 = 26.
    case = edited(tiny("two_sites"), programs=with_program(commercial_from=2031),
                  suites=lambda df: pd.concat([df, rows(
                      {"site": "SA", "modality": "antibody", "scale": "clinical",
                       "existing_batches_per_period": 10, "variable_cost_musd_per_batch": 4.0})]))
    plan = solved(case)
    assert plan.objective == pytest.approx(26.0)
    assert plan.utilisation.query("scale == 'clinical'")["used_batches"].sum() == 5


def test_unservable_commitment_is_explained() -> None:
    # P1 cannot start before 2031 but ANCH committed to 2030.
    case = edited(tiny("two_sites"),
                  programs=with_program(earliest_start=2031, commercial_from=2031))
    plan = capacity.solve(case)
    assert plan.status == "infeasible" and not plan.has_solution
    assert "ANCH" in plan.messages[0] and "earliest start 2031" in plan.messages[0]
    with pytest.raises(capacity.CaseInfeasibleError):
        capacity.build_model(case)


def test_capacity_shortfall_is_infeasible() -> None:
    # 25/period committed, 20 in the whole network: HiGHS proves infeasibility; no tables.
    case = edited(tiny("two_sites"), offtakes=offtakes(25), programs=with_program(max_sites=2))
    plan = capacity.solve(case)
    assert plan.status == "infeasible"
    assert plan.objective is None and plan.tables == {}


def test_nothing_to_decide_is_optimal_at_fixed_cost() -> None:
    # No offtakes and no demand: do nothing; cost = fixed cost of existing sites (2 × 2 × 1.5).
    case = edited(tiny("two_sites"), offtakes=offtakes(0).iloc[:0],
                  sites=lambda df: df.assign(fixed_cost_musd_per_year=1.5))
    plan = solved(case)
    assert plan.objective == pytest.approx(6.0)
    assert plan.shipments.empty and "nothing to decide" in plan.messages[0]


def test_objective_reported_as_maximisation() -> None:
    # The engine minimises 11; asked to report "100 − cost" as a maximum it reports 89,
    # with the bound transformed the same way; the costs table still sums to the net cost.
    case = edited(tiny("two_sites"),
                  objective=rows({"sense": "maximise", "offset": 100.0, "unit": "points"}))
    plan = solved(case)
    assert (plan.objective, plan.bound, plan.net_cost) == pytest.approx((89.0, 89.0, 11.0))
    assert plan.sense == "maximise" and plan.unit == "points"
    assert plan.costs["pv_musd"].sum() == pytest.approx(plan.net_cost)


def test_free_assignment_is_not_modelled() -> None:
    # No transfer cost and no binding site limit: no Assign variables, and the plan still
    # lists where P1 is produced. 15/period over two sites as in test_suite_capacity_binds,
    # without the two transfer costs: 45.
    case = edited(tiny("two_sites"), offtakes=offtakes(15),
                  programs=with_program(max_sites=2, tech_transfer_musd=0.0))
    built = capacity.build_model(case)
    assert len(built.pyomo.Assign) == 0 and len(built.pyomo.production_requires_assignment) == 0
    plan = solved(case)
    assert plan.objective == pytest.approx(45.0)
    assert plan.assignments["site"].tolist() == ["SA", "SB"]


# -- pooled reservations (data/tiny/pooled_reservation) ---------------------------------
# One period. CDMO site CD has no open capacity, only reservations (variable cost 1/batch);
# site OT has 100 batches at 5/batch. P1 (startup S1) and P2 (S2) need 3 batches each.
# R_S1, R_S2: 4 slots for one startup at fee 1/slot, minimum take 75 % (3 slots);
# R_POOL: 8 slots for both at fee 0.8/slot, minimum take 75 % (6 slots).


def _reservation_offtakes(p1: float, p2: float) -> pd.DataFrame:
    return rows({"anchor": "ANCH", "program": "P1", "market": "A", "period": 2030,
                 "committed_batches": p1},
                {"anchor": "ANCH", "program": "P2", "market": "A", "period": 2030,
                 "committed_batches": p2})


def test_pooled_reservation_beats_individual_ones() -> None:
    # Pooled: fee 8 × 0.8 = 6.4 + 6 batches × 1 = 12.4; individually 2 × (4 + 3) = 14;
    # at OT 6 × 5 = 30.
    plan = solved(tiny("pooled_reservation"))
    assert plan.objective == pytest.approx(12.4)
    held = plan.reservations
    assert held[["reservation", "blocks", "reserved_batches", "used_batches"]].values.tolist() \
        == [["R_POOL", 1, 8.0, 6.0]]
    assert cost(plan, "reservations") == pytest.approx(6.4)
    use = plan.reservation_use.sort_values("program")
    assert use[["program", "startup", "batches"]].values.tolist() == [["P1", "S1", 3.0],
                                                                        ["P2", "S2", 3.0]]
    assert plan.utilisation[["site", "capacity_batches", "used_batches"]].values.tolist()[0] \
        == ["CD", 6.0, 6.0]


def test_reservation_min_take_binds() -> None:
    # P2 needs 2: together 5 < the pooled minimum take 6, and P2 alone is below R_S2's 3.
    # So P1 takes R_S1 (4 + 3 = 7) and P2 goes to OT (2 × 5 = 10): 17 (without a minimum
    # take the pooled block would cost 6.4 + 5 = 11.4).
    case = edited(tiny("pooled_reservation"), offtakes=_reservation_offtakes(3, 2))
    plan = solved(case)
    assert plan.objective == pytest.approx(17.0)
    assert plan.reservations["reservation"].tolist() == ["R_S1"]
    no_minimum = edited(case, reservations=lambda df: df.assign(min_take_share=0.0))
    assert solved(no_minimum).objective == pytest.approx(11.4)


def test_reservation_capacity_binds() -> None:
    # Only R_S1 offered, without a minimum take; P1 needs 5 on up to two sites: 4 reserved
    # at CD (fee 4 + 4) and 1 at OT (5): 13 (9 if the block held all 5).
    case = edited(tiny("pooled_reservation"), offtakes=_reservation_offtakes(5, 0),
                  reservations=lambda df: df[df["reservation"] == "R_S1"].assign(
                      min_take_share=0.0),
                  programs=with_program(max_sites=2))
    plan = solved(case)
    assert plan.objective == pytest.approx(13.0)
    assert plan.reservations["used_batches"].tolist() == [4.0]


def test_reserved_slots_are_for_members_only() -> None:
    # R_POOL for S1 alone: P2 cannot use it, so P2 goes to OT (15) and P1 takes the cheaper
    # block that fits: R_S1 (4 + 3 = 7); the pool's minimum take of 6 cannot be met by P1.
    case = edited(tiny("pooled_reservation"),
                  reservations=lambda df: df[df["reservation"] != "R_S2"].assign(
                      members=lambda d: d["members"].where(d["reservation"] != "R_POOL",
                                                           "S1")))
    plan = solved(case)
    assert plan.objective == pytest.approx(22.0)
    assert set(plan.reservation_use["program"]) == {"P1"}


# -- the bank's reinvestment loop (data/tiny/bank_loop) ---------------------------------
# Two periods. SA makes 10 batches at 1/batch and may add one module of 10 for capex 10.
# The anchor buys 10 batches in 2030 and 20 in 2031 at 3/batch, so the module is needed in
# 2031. BANK (a grant: repayment 0) has no budget of its own; it reinvests a share of the
# margin of 2030: 10 × 3 − 10 × 1 = 20.


def _bank(share: float, price: float = 3.0) -> dict:  # type: ignore[type-arg]
    return {"funds": lambda df: df.assign(reinvest_share=share),
            "offtakes": lambda df: df.assign(price_musd_per_batch=price)}


def test_bank_reinvests_a_share_of_last_periods_margin() -> None:
    # Half of 20 = 10 pays the whole module: 10 + 20 (production) + 10 − 10 = 30.
    plan = solved(tiny("bank_loop"))
    assert plan.objective == pytest.approx(30.0)
    use = plan.fund_use.set_index("period")
    assert use.at[2031, "reinvested_musd"] == pytest.approx(10.0)
    assert use.at[2031, "financed_musd"] == pytest.approx(10.0)
    assert plan.operating_margin.set_index("period").at[2030, "margin_musd"] == \
        pytest.approx(20.0)
    assert plan.financing[["fund", "period", "amount_musd"]].values.tolist() == [
        ["BANK", 2031, 10.0]]


def test_reinvestment_binds_below_the_capex() -> None:
    # A quarter of 20 = 5: 40 − 5 = 35. Without the loop: 40.
    assert solved(edited(tiny("bank_loop"), **_bank(0.25))).objective == pytest.approx(35.0)
    assert solved(edited(tiny("bank_loop"), **_bank(0.0))).objective == pytest.approx(40.0)


def test_a_loss_reinvests_nothing_and_stays_feasible() -> None:
    # Price 0.5: margin 5 − 10 = −5 < 0, so nothing is reinvested (not a negative budget):
    # 40. Price 1.5: margin 5, half of it 2.5: 37.5.
    loss = solved(edited(tiny("bank_loop"), **_bank(0.5, price=0.5)))
    assert loss.objective == pytest.approx(40.0)
    assert loss.fund_use["reinvested_musd"].sum() == pytest.approx(0.0)
    assert solved(edited(tiny("bank_loop"), **_bank(0.5, price=1.5))).objective == \
        pytest.approx(37.5)


def test_reserved_use_is_production_binds() -> None:
    # CD gets 3 slots of its own; only R_S1 (S1, 4 slots, minimum take 3) is offered.
    # P1 (S1) needs 1, P2 (S2) 5. P1 cannot count P2's batches against its reservation, so
    # the minimum take cannot be met and nothing is reserved: P1 at CD (1), P2 at OT
    # (5 × 5 = 25): 26. Were reserved use not tied to P1's own production, P1 would
    # "take" 3 slots while P2 filled CD: fee 4 + 6 × 1 = 10.
    case = edited(tiny("pooled_reservation"), offtakes=_reservation_offtakes(1, 5),
                  reservations=lambda df: df[df["reservation"] == "R_S1"],
                  suites=lambda df: df.assign(existing_batches_per_period=[3, 100]))
    plan = solved(case)
    assert plan.objective == pytest.approx(26.0)
    assert plan.reservations.empty


# --- max_time_to_market --------------------------------------------------------------
# clinical_bet, certain (success 1), potential worth 5 a batch: a module (12) serves 2
# batches earning 2·(5 − 1) = 8, so the cheapest plan serves nothing (cost 0) and P1's
# time to market in A is 1 year (its one year of demand, 4 batches, all unserved).


def _late_bet(limit: float | None, max_modules: int = 2) -> capacity.Case:
    rules = {} if limit is None else {"rules": rows(
        {"rule": "TTM_A", "kind": "max_time_to_market", "market": "A", "limit_years": limit})}
    return edited(tiny("clinical_bet"),
                  programs=lambda t: t.assign(success_probability=1.0),
                  demand=lambda t: t.assign(value_musd_per_batch=5.0),
                  suites=lambda t: t.assign(max_modules=max_modules), **rules)


@pytest.mark.solver
@pytest.mark.parametrize(("limit", "cost", "served"), [(None, 0, 0), (1.0, 0, 0),
                                                       (0.5, 4, 2), (0.0, 8, 4)])
def test_time_to_market_limit_buys_earlier_supply(limit: float | None, cost: float,
                                                  served: float) -> None:
    """At most 0.5 years late: 2 of 4 batches served, 1 module: 12 + 2 − 10 = 4.
    At 0: all 4, 2 modules: 24 + 4 − 20 = 8 (checked by `capacity.results.check` too)."""
    plan = solved(_late_bet(limit))
    assert plan.objective == pytest.approx(cost)
    assert plan.unmet_demand["served_batches"].sum() == pytest.approx(served)


@pytest.mark.solver
def test_unreachable_time_to_market_is_explained() -> None:
    """One module serves 2 of 4 batches: 0.5 years late at best, the limit says 0."""
    why = capacity.explain(_late_bet(0.0, max_modules=1))
    assert not why.feasible
    assert [(c.family, round(c.amount, 9)) for c in why.conflicts] == \
        [("max_time_to_market", 0.5)]
    assert "TTM_A" in why.short()[0] and "0.5 years over" in why.short()[0]


# --- min_service_level, and a share rule met by rationing ------------------------------
# rationing (data/tiny/rationing): domestic_share with 10 more batches of potential demand
# per period in A worth 2 each, SA (A, 3/batch, 10/period) expandable by one module of 5
# for capex 4 (lead 0), SB (B, 1/batch + 0.5 lane) holding 20. Per period, serving x
# potential batches, supply S = 10 + x, of which d made in A (d ≤ 10, 15 with the module):
#   cost = 3d + 1.5(S − d) − 2x = 1.5S + 1.5d − 2x.
# No rule: d = 0, x = 10 (2 > 1.5): 2 × (30 − 20) + one transfer = 21, nothing unserved.
# Supply basis, d ≥ 0.6S: cost = 2.4S − 2x = 24 + 0.4x, rising in x: serve nothing,
#   2 × 24 + 2 transfers = 50; 20 batches unserved, the share exactly 0.6 (rationing).
# With a service level L (x ≥ 20L − 10): x = 20L − 10, d = 0.6(10 + x) = 12L:
#   L = 1:   x = 10, d = 12 > 10, the module: 2 × (48 − 20) + 4 + 2 = 62, none unserved;
#   L = 0.9: x = 8, d = 10.8, the module: 2 × (43.2 − 16) + 4 + 2 = 60.4, 4 unserved;
#   L = 0.8: x = 6, d = 9.6, no module: 2 × (38.4 − 12) + 2 = 54.8, 8 unserved.
# Demand basis, d ≥ 0.6·(committed + potential) = 12 whatever is served: the module,
#   and x only lowers the cost (1.5S − 2x): x = 10, 62 as at L = 1, none unserved.


def _rationing(domestic: bool = True, level: float | None = None, basis: str = "supply",
               **tables: object) -> capacity.Case:
    rules = [{"rule": "A_DOMESTIC_60", "kind": "min_domestic_share", "market": "A",
              "share": 0.6, "basis": basis, "active": domestic}]
    if level is not None:
        rules.append({"rule": "A_SERVICE", "kind": "min_service_level", "market": "A",
                      "share": level})
    return edited(tiny("rationing"), rules=rows(*rules), **tables)  # type: ignore[arg-type]


@pytest.mark.parametrize(("domestic", "level", "cost", "unserved", "modules"), [
    (False, None, 21.0, 0.0, 0), (True, None, 50.0, 20.0, 0), (False, 1.0, 21.0, 0.0, 0),
    (True, 1.0, 62.0, 0.0, 1), (True, 0.9, 60.4, 4.0, 1), (True, 0.8, 54.8, 8.0, 0)])
def test_share_rule_rations_and_service_level_cures(
        domestic: bool, level: float | None, cost: float, unserved: float,
        modules: int) -> None:
    plan = solved(_rationing(domestic, level))
    assert plan.objective == pytest.approx(cost)
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(unserved)
    assert plan.builds["modules"].sum() == modules
    share = plan.market_kpis["domestic_share"]
    assert share.tolist() == pytest.approx([0.6, 0.6] if domestic else [0.0, 0.0])


def test_shipped_rationing_case_rations() -> None:
    """The case as shipped: the domestic rule on, the service level off (switch it on to
    cure the rationing)."""
    plan = solved(tiny("rationing"))
    assert plan.objective == pytest.approx(50.0)
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(20.0)
    assert plan.market_kpis["domestic_share"].tolist() == pytest.approx([0.6, 0.6])
    cured = solved(edited(tiny("rationing"), rules=lambda df: df.assign(active=True)))
    assert cured.objective == pytest.approx(62.0)
    assert cured.unmet_demand["unmet_batches"].sum() == pytest.approx(0.0)


@pytest.mark.parametrize(("value", "basis", "cost", "unserved", "share"), [
    (2.0, "supply", 50.0, 20.0, 0.6), (2.0, "demand", 62.0, 0.0, 0.6),
    (0.5, "supply", 50.0, 20.0, 0.6), (0.5, "demand", 75.0, 16.0, 1.0)])
def test_domestic_share_of_supply_or_of_demand(value: float, basis: str, cost: float,
                                               unserved: float, share: float) -> None:
    """Value 2 is the rationing case above. Value 0.5 is below every cost: no plan
    serves the potential demand for its own sake (no rule: 2 × 15 + 1 = 31, all 20
    unserved). The supply basis then costs what it does without potential demand, 50;
    the demand basis still asks d ≥ 12 of A, so A must make 12 a period, 2 of them
    potential batches served at a loss: 2 × (36 − 1) + module 4 + one transfer = 75."""
    case = _rationing(basis=basis, demand=lambda df: df.assign(value_musd_per_batch=value))
    plan = solved(case)
    assert plan.objective == pytest.approx(cost)
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(unserved)
    assert plan.market_kpis["domestic_share"].tolist() == pytest.approx([share, share])


def _with_cell_program(**rule: object) -> capacity.Case:
    """rationing plus P2 (cell: no site can make it) with 4 potential batches in A in 2030,
    and a service level on A."""
    return edited(
        tiny("rationing"),
        programs=lambda df: pd.concat([df, rows({"program": "P2", "startup": "Two",
                                                  "modality": "cell"})]),
        demand=lambda df: pd.concat([df, rows({"program": "P2", "market": "A",
                                               "period": 2030, "potential_batches": 4,
                                               "value_musd_per_batch": 9.0})]),
        rules=rows({"rule": "A_SERVICE", "kind": "min_service_level", "market": "A",
                    **rule}))


def test_service_level_counts_its_modality_and_is_unreachable_before_solving() -> None:
    # 2030: demand 10 + 10 + 4 = 24, at most 20 can ever be served (P2 nowhere): 1.0 is
    # out of reach before any solve; 0.8 asks 19.2 ≤ 20 (P1 all served anyway: 21); an
    # antibody-only level of 1.0 counts 20 of 20.
    plan = capacity.solve(_with_cell_program(share=1.0), TEST_OPTIONS)
    assert plan.status == "infeasible"
    assert plan.messages == ["service-level rule A_SERVICE: at most 20 of A's 24 batches "
                             "of demand in 2030 can ever be served, below its level of 100%"]
    assert solved(_with_cell_program(share=0.8)).objective == pytest.approx(21.0)
    assert solved(_with_cell_program(share=1.0, subject="antibody")).objective == \
        pytest.approx(21.0)


def test_modalities_are_data_and_lentiviral_needs_lentiviral_suites() -> None:
    # Lentiviral is a modality of its own (the built-in list), so a lentiviral program
    # cannot be made in an AAV suite: two_sites' P1 as lentiviral, with SA's suite made
    # AAV, can only be made at SB (2 a batch, 0.5 to ship to A): 2 × 5 × 2.5 + 1 = 26.
    lenti = edited(tiny("two_sites"), programs=with_program(modality="lentiviral"),
                   suites=lambda df: df.assign(modality=["aav", "lentiviral"]))
    plan = solved(lenti)
    assert plan.objective == pytest.approx(26.0)
    assert set(plan.shipments["site"]) == {"SB"}
    # A case may name its own modalities; then only those exist.
    own = rows({"modality": "exosome", "batch": "one 50 L harvest", "success_rate": 0.8})
    exo = edited(tiny("two_sites"), modalities=own, programs=with_program(modality="exosome"),
                 suites=lambda df: df.assign(modality="exosome"))
    assert solved(exo).objective == pytest.approx(2 * 5 * 1.0 / 0.8 + 1)  # 0.8 succeed at SA
    with pytest.raises(capacity.CaseError, match="unknown modality 'antibody': not in "
                                                 "modalities"):
        edited(tiny("two_sites"), modalities=own)
# --- site approvals per market (data/tiny/approvals, worked out in its README) ---------
# US requires approval; SU (US, 3 a batch) approved from 2030; SB (B, 1 + 0.5 lane)
# approvable for the US in 1 period for 4; 10 committed in the US in 2030, 2031, 2032 at
# discount 1, 0.9, 0.8.


def _approvals(**changes: object) -> capacity.Case:
    """data/tiny/approvals with columns of its approvals table set (one value per row:
    SU's, then SB's)."""
    case = tiny("approvals")
    return edited(case, approvals=lambda df: df.assign(**changes)) if changes else case


def _approval_rows(plan: capacity.Plan) -> list[list[object]]:
    return plan.approvals[["site", "market", "status", "modality", "approved_from_period",
                           "decided_period", "cost_pv_musd"]].astype(object).where(
        plan.approvals.notna(), None).values.tolist()


def _shipped(plan: capacity.Plan) -> list[list[object]]:
    return plan.shipments[["site", "period", "batches"]].values.tolist()


def test_approving_a_cheaper_foreign_site_pays_off() -> None:
    # Approve SB in 2030 (4 × 1), holding from 2031: SU 2030, 30; SB 2031–2032,
    # 15 × 0.9 + 15 × 0.8 = 25.5: 59.5 (never approve: 81; approve in 2031: 72.6).
    plan = solved(_approvals())
    assert plan.objective == pytest.approx(59.5)
    assert _approval_rows(plan) == [["SB", "US", "new", "", 2031, 2030, 4.0],
                                    ["SU", "US", "approved", "antibody", 2030, None, 0.0]]
    assert _shipped(plan) == [["SB", 2031, 10.0], ["SB", 2032, 10.0], ["SU", 2030, 10.0]]
    assert cost(plan, "approvals") == pytest.approx(4.0)
    assert cost(plan, "production") == pytest.approx(47.0)
    assert cost(plan, "transport") == pytest.approx(8.5)


@pytest.mark.parametrize(("label", "case", "objective", "shipped"), [
    # no approval needed: SB throughout, 1.5 × 10 × 2.7 = 40.5
    ("no requirement", lambda: edited(tiny("approvals"), regions=lambda df: df.assign(
        approval_required=False)), 40.5, [["SB", 2030, 10.0], ["SB", 2031, 10.0],
                                          ["SB", 2032, 10.0]]),
    # a 2-period review: decided 2030, SB from 2032: 30 + 27 + 12 + 4 = 73
    ("lead 2", lambda: _approvals(lead_time_periods=[0, 2]), 73.0,
     [["SB", 2032, 10.0], ["SU", 2030, 10.0], ["SU", 2031, 10.0]]),
    # an inspection of 30: never (85.5 in 2030, 96 in 2031): SU throughout, 81
    ("cost 30", lambda: _approvals(cost_musd=[0.0, 30.0]), 81.0,
     [["SU", 2030, 10.0], ["SU", 2031, 10.0], ["SU", 2032, 10.0]]),
])
def test_approval_lead_cost_and_requirement(label: str, case, objective: float,  # type: ignore[no-untyped-def]
                                            shipped: list[list[object]]) -> None:
    plan = solved(case())
    assert plan.objective == pytest.approx(objective), label
    assert _shipped(plan) == shipped


def test_a_candidate_site_is_inspected_once_it_can_produce() -> None:
    # SB a candidate (opening lead 1, free; one module of 10 at no capex, lead 0): opened
    # in 2030 it produces from 2031, when its inspection may start: approved in 2031
    # (4 × 0.9 = 3.6), holding from 2032: 30 + 27 + 12 + 3.6 = 72.6 (59.5 if the opening
    # and the inspection could overlap).
    sites = rows({"site": "SU", "operator": "OU", "region": "US", "status": "existing"},
                 {"site": "SB", "operator": "OB", "region": "B", "status": "candidate",
                  "lead_time_periods": 1})
    suites = rows({"site": "SU", "modality": "antibody", "scale": "commercial",
                   "existing_batches_per_period": 10, "variable_cost_musd_per_batch": 3.0},
                  {"site": "SB", "modality": "antibody", "scale": "commercial",
                   "module_batches_per_period": 10, "max_modules": 1, "lead_time_periods": 0,
                   "variable_cost_musd_per_batch": 1.0})
    plan = solved(edited(tiny("approvals"), sites=sites, suites=suites))
    assert plan.objective == pytest.approx(72.6)
    assert plan.openings[["site", "period", "online_period"]].values.tolist() == [
        ["SB", 2030, 2031]]
    assert _approval_rows(plan)[0] == ["SB", "US", "new", "", 2032, 2031, pytest.approx(3.6)]
    assert _shipped(plan) == [["SB", 2032, 10.0], ["SU", 2030, 10.0], ["SU", 2031, 10.0]]


def test_approvals_by_sparsity_and_rows() -> None:
    # SB has no shipment to the US in 2030 (it cannot be approved by then): no column; SU's
    # shipments (approved) have no row; SB's two have ship_requires_approval rows, linked
    # to ApprovedBy in 2031 and 2032, bounded by Approve of 2030 (and 2031: by 2032).
    built = capacity.build_model(_approvals())
    lm = built.linear
    assert lm.sets["SHIP"].keys == [("P1", "SB", "US", 2031), ("P1", "SB", "US", 2032),
                                    ("P1", "SU", "US", 2030), ("P1", "SU", "US", 2031),
                                    ("P1", "SU", "US", 2032)]
    assert lm.sets["APPROVE"].keys == [("SB", "US", "", 2030), ("SB", "US", "", 2031)]
    assert lm.sets["SHIP_APPROVAL_PSMT"].keys == lm.sets["SHIP"].keys[:2]
    assert lm.sets["APPROVED_BY_AT"].keys == [("SB", "US", "", 2031), ("SB", "US", "", 2032)]
    assert lm.sets["APPROVAL_ONCE_A"].keys == [("SB", "US", "")]
    assert lm.sets["APPROVAL_OPEN_AT"].keys == []
    # Ship 5, Approve 2, ApprovedBy 2; rows: suite_capacity 5, demand_balance 3,
    # approval_once 1, approved_by 2, ship_requires_approval 2
    size = lm.size()
    assert (size["variables"], size["binary"], size["constraints"]) == (9, 2, 13)
    # With no market requiring approval the approval sets are empty: the model of old cases
    free = capacity.build_model(edited(tiny("approvals"), regions=lambda df: df.assign(
        approval_required=False))).linear
    assert all(not free.sets[name].keys for name in (
        "APPROVE", "APPROVAL_ONCE_A", "APPROVAL_OPEN_AT", "APPROVED_BY_AT",
        "SHIP_APPROVAL_PSMT"))
    assert len(free.sets["SHIP"].keys) == 6


def test_a_commitment_no_site_can_be_approved_for_in_time_is_unservable() -> None:
    # SU approvable too (1 period): nothing holds a US approval in 2030.
    case = _approvals(approved_from=[None, None], lead_time_periods=[1, 1],
                      cost_musd=[1.0, 4.0])
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "infeasible"
    assert plan.messages == [
        "committed offtake of ANCH for P1 in US, period 2030: US requires approval "
        "(regions.approval_required), and no site is approved for US antibody commercial "
        "supply by 2030: SB can be approved from 2031 at the earliest (a 1-period "
        "inspection and review from 2030); SU can be approved from 2031 at the earliest "
        "(a 1-period inspection and review from 2030)"]
    # a site without an approvals row for the US never supplies it
    alone = _approvals().tables()
    alone["approvals"] = alone["approvals"].iloc[1:]  # SB's row only
    with pytest.raises(capacity.CaseInfeasibleError, match="SU has no approvals row for US"):
        capacity.build_model(capacity.Case.from_frames(alone))


def test_clinical_supply_needs_approval_only_where_the_market_says() -> None:
    # P1 clinical throughout (no commercial_from), the suites clinical: any GMP site may
    # supply clinical batches (SB throughout, 40.5) unless the US asks for approval of
    # clinical supply too (59.5, as the commercial case).
    clinical = edited(tiny("approvals"), programs=with_program(commercial_from=None),
                      suites=lambda df: df.assign(scale="clinical"))
    assert solved(clinical).objective == pytest.approx(40.5)
    gated = edited(clinical, regions=lambda df: df.assign(clinical_approval_required=True))
    plan = solved(gated)
    assert plan.objective == pytest.approx(59.5)
    assert _approval_rows(plan)[0][:3] == ["SB", "US", "new"]


def test_a_modality_row_wins_over_the_site_row_for_every_modality() -> None:
    # SB also approved for antibodies from 2030: its row for every modality (approvable)
    # no longer applies to P1, which SB supplies throughout: 40.5, nothing decided.
    case = edited(tiny("approvals"), approvals=lambda df: pd.concat([df, rows(
        {"site": "SB", "market": "US", "modality": "antibody", "approved_from": 2030})]))
    plan = solved(case)
    assert plan.objective == pytest.approx(40.5)
    assert (plan.approvals["status"] == "approved").all()


def test_potential_demand_no_site_can_be_approved_for_is_told() -> None:
    # SU approved only from 2031, SB from 2031 at the earliest; ANCH commits in 2031–2032
    # only; 5 potential batches in 2030 worth 10 can be served by no approved site.
    case = _approvals(approved_from=[2031, None])
    case = edited(case, offtakes=lambda df: df[df["period"] > 2030], demand=rows(
        {"program": "P1", "market": "US", "period": 2030, "potential_batches": 5,
         "value_musd_per_batch": 10.0}))
    plan = solved(case)
    assert plan.messages == [
        "approvals: 5 batches of US's potential antibody demand in 2030 can be served by no "
        "site approved for US in time (US requires approval; see the case's approvals)"]
    assert plan.unmet_demand["unmet_batches"].sum() == pytest.approx(5.0)


def test_approval_costs_only_reprice_the_model() -> None:
    # An inspection's cost only feeds the objective: the resolver re-costs the model it
    # has (59.5, then 81 with SB's inspection at 30); a lead time changes the sets (73).
    from capacity.engine.resolver import Resolver

    resolver = Resolver()
    assert resolver.solve(_approvals(), TEST_OPTIONS).objective == pytest.approx(59.5)
    assert resolver.solve(_approvals(cost_musd=[0.0, 30.0]), TEST_OPTIONS).objective == \
        pytest.approx(81.0)
    assert resolver.reused == 1
    assert resolver.solve(_approvals(lead_time_periods=[0, 2]), TEST_OPTIONS).objective == \
        pytest.approx(73.0)
    assert resolver.reused == 1


# --- inventory and shelf life (data/tiny/launch_stock) --------------------------------
# Periods 2030, 2031, 2032 (discount 1, 0.9, 0.8). SA in A makes 10 antibody batches a
# period at 1; SB in B 20 at 3, plus 0.5 a batch to ship to A. P1 is commercial from 2032,
# may use both sites (transfer 1 each, discounted at 2030: 1); ANCH commits 20 batches in
# A in 2032 only: a launch spike. The case's own modalities table gives antibody a shelf
# life of 1 period and a holding cost of 0.2 a batch and period.
# Shelf life 1: SA makes 10 commercial batches in 2031, before commercial_from (launch
#   stock): 0.9 × 10 = 9, holds them over 2031's end: 0.9 × 0.2 × 10 = 1.8, makes 10 more
#   in 2032: 0.8 × 10 = 8, ships 20; one transfer: 19.8 (SB would cost 0.8 × 3.5 = 2.8 a
#   batch against SA's 0.9 + 0.18 = 1.08 made ahead).
# Shelf life 0: SA makes 10 in 2032 (8), SB 10 (0.8 × 10 × 3.5 = 28), two transfers: 38.


def _launch(**tables: object) -> capacity.Case:
    return edited(tiny("launch_stock"), **tables)  # type: ignore[arg-type]


def _targets(*targets: tuple[str, int, float]) -> pd.DataFrame:
    return rows(*({"program": "P1", "market": m, "period": t, "min_batches": b}
                  for m, t, b in targets))


def _inventory(plan: capacity.Plan) -> list[list[object]]:
    """The inventory table's rows (site, scale, period, made, shipped, written off, in
    stock, holding cost), numbers rounded to 9 decimals."""
    return [[round(v, 9) if isinstance(v, float) else v for v in row]
            for row in plan.inventory[["site", "scale", "period", "made_batches",
                                       "shipped_batches", "written_off_batches",
                                       "stock_batches", "holding_cost_pv_musd"]
                                      ].values.tolist()]


def test_launch_stock_is_made_ahead_and_held() -> None:
    plan = solved(tiny("launch_stock"))
    assert plan.objective == pytest.approx(19.8)
    assert _inventory(plan) == ([
        ["SA", "commercial", 2031, 10.0, 0.0, 0.0, 10.0, 1.8],
        ["SA", "commercial", 2032, 10.0, 20.0, 0.0, 0.0, 0.0]])
    assert plan.production[["site", "period", "batches"]].values.tolist() == [
        ["SA", 2031, 10.0], ["SA", 2032, 10.0]]  # made, not shipped
    assert plan.shipments[["site", "market", "period", "batches"]].values.tolist() == [
        ["SA", "A", 2032, 20.0]]
    assert (cost(plan, "production"), cost(plan, "holding"), cost(plan, "tech_transfer")) \
        == pytest.approx((17.0, 1.8, 1.0))
    sa = plan.utilisation[plan.utilisation["site"] == "SA"]
    assert sa[["period", "used_batches"]].values.tolist() == [[2030, 0.0], [2031, 10.0],
                                                             [2032, 10.0]]
    assert plan.assignments[["site", "start_period"]].values.tolist() == [["SA", 2031]]


def test_without_shelf_life_the_second_site_is_paid() -> None:
    # The program's own shelf life overrides its modality's; so does a modalities table
    # that gives none (every program ships when it is made, as before: no inventory).
    for case in (_launch(programs=with_program(shelf_life_periods=0)),
                 _launch(modalities=lambda df: df.assign(shelf_life_periods=0))):
        plan = solved(case)
        assert plan.objective == pytest.approx(38.0)
        assert plan.shipments[["site", "batches"]].values.tolist() == [["SA", 10.0],
                                                                        ["SB", 10.0]]
        assert plan.inventory.empty and "holding" not in set(plan.costs["component"])
        assert len(capacity.build_model(case).pyomo.Make) == 0


def test_holding_cost_and_a_longer_shelf_life() -> None:
    # Shelf life 2: making in 2030 would cost 1 + 0.2 + 0.18 a batch, in 2031 0.9 + 0.18:
    # still 2031, 19.8. The program's own holding cost of 2.5 makes SA's stock dearer
    # (0.9 + 2.25) than SB in 2032 (2.8): 38 as without stock.
    assert solved(_launch(programs=with_program(shelf_life_periods=2))).objective == \
        pytest.approx(19.8)
    dear = solved(_launch(programs=with_program(holding_cost_musd_per_batch_period=2.5)))
    assert dear.objective == pytest.approx(38.0)
    assert dear.inventory["stock_batches"].sum() == 0.0


def _spike(shelf_life: int) -> capacity.Case:
    """launch_stock commercial from 2030, committing 1 batch in 2031 and 25 in 2032."""
    return _launch(programs=with_program(commercial_from=2030, shelf_life_periods=shelf_life),
                   offtakes=rows({"anchor": "ANCH", "program": "P1", "market": "A",
                                  "period": 2031, "committed_batches": 1},
                                 {"anchor": "ANCH", "program": "P1", "market": "A",
                                  "period": 2032, "committed_batches": 25}))


def test_shelf_life_binds_first_in_first_out() -> None:
    # 25 in 2032 and SA makes 10 a period. Shelf life 1: SA's stock at the end of 2031 is
    # at most its 2031 batches (10), so 2031's batch comes from 2030 (1 + 0.2) and SB
    # makes 5 in 2032 (5 × 2.8 = 14): 1.2 + 9 + 1.8 + 8 + 14 + 2 = 36. Were a 2030 batch
    # allowed to wait for 2032 (1 + 0.2 + 0.18 < 2.8), SB would not be needed: with shelf
    # life 2, SA makes 6 in 2030 (6 + 1.2), 10 in 2031 (9; 15 held: 2.7), 10 in 2032 (8):
    # 27.9, one transfer.
    case = _spike(1)
    built = capacity.build_model(case)
    assert built.linear.sets["SHELF_LIFE_PSCT"].keys == [("P1", "SA", "commercial", 2031),
                                                        ("P1", "SB", "commercial", 2031)]
    plan = solved(case)
    assert plan.objective == pytest.approx(36.0)
    assert _inventory(plan) == ([
        ["SA", "commercial", 2030, 1.0, 0.0, 0.0, 1.0, 0.2],
        ["SA", "commercial", 2031, 10.0, 1.0, 0.0, 10.0, 1.8],
        ["SA", "commercial", 2032, 10.0, 20.0, 0.0, 0.0, 0.0],
        ["SB", "commercial", 2032, 5.0, 5.0, 0.0, 0.0, 0.0]])
    longer = solved(_spike(2))
    assert longer.objective == pytest.approx(27.9)
    assert longer.inventory["stock_batches"].tolist() == [6.0, 15.0, 0.0]


def test_stock_target_is_held_at_sites_that_can_supply_the_market() -> None:
    # 15 commercial batches in stock at the end of 2031 for A: SA holds at most its 10
    # batches of 2031 (shelf life 1), SB (lane B→A) makes and holds 5 (13.5 + 0.9) and
    # ships them in 2032 (0.4 × 5 = 2), so SA makes only 5 in 2032 (4):
    # 9 + 1.8 + 4 + 13.5 + 0.9 + 2 + 2 transfers = 33.2.
    plan = solved(_launch(stock_targets=_targets(("A", 2031, 15))))
    assert plan.objective == pytest.approx(33.2)
    assert _inventory(plan) == ([
        ["SA", "commercial", 2031, 10.0, 0.0, 0.0, 10.0, 1.8],
        ["SA", "commercial", 2032, 5.0, 15.0, 0.0, 0.0, 0.0],
        ["SB", "commercial", 2031, 5.0, 0.0, 0.0, 5.0, 0.9],
        ["SB", "commercial", 2032, 0.0, 5.0, 0.0, 0.0, 0.0]])


def test_stock_beyond_what_ships_is_written_off() -> None:
    # 25 in stock at the end of 2031 but 20 wanted in 2032: SA 10, SB 15 (40.5 + 2.7);
    # SB ships 10 (4) and writes 5 off, SA makes nothing in 2032:
    # 9 + 1.8 + 40.5 + 2.7 + 4 + 2 = 60.
    plan = solved(_launch(stock_targets=_targets(("A", 2031, 25))))
    assert plan.objective == pytest.approx(60.0)
    off = plan.inventory[plan.inventory["written_off_batches"] > 0]
    assert off[["site", "period", "written_off_batches"]].values.tolist() == [
        ["SB", 2032, 5.0]]
    assert plan.messages == ["P1: 5 commercial batches written off at SB in 2032: held for a "
                             "stock target, they could not ship within their shelf life of "
                             "1 period"]


def test_stock_target_no_site_can_hold_is_infeasible_before_solving() -> None:
    # At the end of 2030 the target counts the batches of 2031's scale, clinical (P1 is
    # commercial from 2032), and no site has a clinical antibody suite.
    case = _launch(stock_targets=_targets(("A", 2030, 5)))
    plan = capacity.solve(case, TEST_OPTIONS)
    assert plan.status == "infeasible"
    assert plan.messages == [
        "stock target of P1 in A at the end of 2030: 5 clinical batches (P1's scale in "
        "2031), but no site that can supply A (lanes, exclusion rules) has a "
        "clinical-scale antibody suite"]
    why = capacity.explain(case)
    assert [(c.family, c.amount) for c in why.conflicts] == [("stock_target", 5.0)]


def test_stock_target_beyond_capacity_is_explained() -> None:
    # SA holds at most 10 and SB 20 at the end of 2031 (shelf life 1: made in 2031).
    why = capacity.explain(_launch(stock_targets=_targets(("A", 2031, 40))))
    assert [(c.family, c.entities, c.amount) for c in why.conflicts] == [
        ("stock_target", {"program": "P1", "market": "A", "period": 2031}, 10.0)]
    assert why.short() == [
        "stock target for P1 in A at the end of 2031: 40 commercial batches; at most 30 can "
        "be held at the sites that can supply A within P1's shelf life of 1 period"]


def test_autologous_cells_cannot_be_stored() -> None:
    with pytest.raises(capacity.CaseError, match="made for one patient, it cannot be stored"):
        _launch(programs=with_program(modality="cell_autologous", shelf_life_periods=1),
                modalities=lambda df: pd.concat([df, rows({"modality": "cell_autologous"})]),
                suites=lambda df: df.assign(modality="cell_autologous"))
    with pytest.raises(capacity.CaseError, match="P1 cannot be stored"):
        _launch(programs=with_program(shelf_life_periods=0),
                stock_targets=_targets(("A", 2031, 1)))


def test_operating_margin_counts_production_where_made() -> None:
    # bank_loop with P1 storable: SA is full in 2030, so nothing is made ahead, and 2030's
    # margin is still 30 − 10 made = 20 (its production is on Make, not Ship): a quarter
    # of it, 5, is reinvested in the module, 40 − 5 = 35 as in
    # test_reinvestment_binds_below_the_capex (a margin without it, 30, would give 32.5).
    plan = solved(edited(tiny("bank_loop"), programs=with_program(shelf_life_periods=1),
                         **_bank(0.25)))
    assert plan.objective == pytest.approx(35.0)
    assert plan.operating_margin["margin_musd"].tolist() == pytest.approx([20.0, 40.0])
    assert plan.inventory["made_batches"].tolist() == [10.0, 20.0]


def test_reserved_use_is_making_binds() -> None:
    # test_reserved_use_is_production_binds with P1 storable (shelf life 1): its reserved
    # slots are bounded by what it makes at CD (Make), the same 1 batch, so the minimum
    # take still cannot be met: 26 (without the row: 10, as there).
    case = edited(tiny("pooled_reservation"), offtakes=_reservation_offtakes(1, 5),
                  reservations=lambda df: df[df["reservation"] == "R_S1"],
                  suites=lambda df: df.assign(existing_batches_per_period=[3, 100]),
                  programs=lambda df: df.assign(shelf_life_periods=[1, 0]))
    lm = capacity.build_model(case).linear
    assert lm.sets["RESERVED_MAKE_PSCT"].keys == [("P1", "CD", "commercial", 2030)]
    assert lm.sets["RESERVED_PST"].keys == []
    plan = solved(case)
    assert plan.objective == pytest.approx(26.0)
    assert plan.reservations.empty


def test_making_at_a_candidate_site_needs_it_open() -> None:
    # candidate_site with P1 storable: making at SC is linked to its opening period by
    # period (make_requires_open_site, the x ≤ y rows of the period of making) and to the
    # assignment; nothing is gained by stock (SC is the cheapest in both periods): 17.
    case = edited(tiny("candidate_site"), programs=with_program(shelf_life_periods=1))
    lm = capacity.build_model(case).linear
    assert lm.sets["MAKE_OPEN_PSCT"].keys == [("P1", "SC", "commercial", 2030),
                                              ("P1", "SC", "commercial", 2031)]
    assert len(lm.sets["MAKE_ASSIGN_PSCT"].keys) == 4
    plan = solved(case)
    assert plan.objective == pytest.approx(17.0)
    assert plan.production[["site", "period", "batches"]].values.tolist() == [
        ["SC", 2030, 10.0], ["SC", 2031, 10.0]]


# --- continuity of supply: a launched product dropped ----------------------------------
# launch_dropped (data/tiny/launch_dropped): one site SA in A, 200 cell batches a period
# at 1 a batch; TIL (commercial from 2030) could sell 100 potential batches in 2030 and
# 170 in 2031, worth 3 each (2 net); CART (commercial from 2031) 200 in 2031 worth 4 (3 net).
# Off (as shipped): TIL 100 in 2030 (200), CART fills 2031 (600): −800, TIL dropped.
# Share s: launching TIL in 2030 keeps s·170 of it in 2031 at 2, CART the rest at 3:
#   s = 0.8: 200 + 136·2 + 64·3 = 664 > 600 (never launching TIL: CART alone): −664;
#   s = 1:   200 + 170·2 + 30·3 = 630: −630.
# With TIL's 2030 demand 20 and s = 0.8: 40 + 272 + 192 = 504 < 600: TIL is not launched.

def _continuity(share: float | None = None, program_share: float | None = None,
                **tables: object) -> capacity.Case:
    """launch_dropped with settings.continuity_share ``share`` and TIL's own
    ``program_share`` (None: as shipped)."""
    edits: dict[str, object] = dict(tables)
    if share is not None:
        edits["settings"] = rows({"continuity_share": share})
    if program_share is not None:
        edits["programs"] = lambda df: df.assign(continuity_share=[
            program_share if p == "TIL" else None for p in df["program"]])
    return edited(tiny("launch_dropped"), **edits)  # type: ignore[arg-type]


def _supplied(plan: capacity.Plan) -> dict[tuple[str, int], float]:
    return {(p, int(t)): b for p, t, b in
            plan.shipments[["program", "period", "batches"]].itertuples(index=False)}


def test_shipped_case_drops_the_launched_product_and_says_so() -> None:
    plan = solved(tiny("launch_dropped"))
    assert plan.objective == pytest.approx(-800.0)
    assert _supplied(plan) == pytest.approx({("TIL", 2030): 100.0, ("CART", 2031): 200.0})
    til = plan.launches[plan.launches["program"] == "TIL"]
    assert til[["period", "launch_period", "demand_batches", "served_batches",
                "served_share", "continuity_share"]].values.tolist() == [
        [2030, 2030, 100.0, 100.0, 1.0, 0.0], [2031, 2030, 170.0, 0.0, 0.0, 0.0]]
    assert plan.messages == [
        "TIL launched in A in 2030 gets 0 of its 170 batches of demand in 2031: set "
        "programs.continuity_share (or settings.continuity_share) to keep supplying a "
        "launched product"]


@pytest.mark.parametrize(("share", "program_share", "cost", "til_2031", "cart_2031"), [
    (0.8, None, -664.0, 136.0, 64.0), (None, 0.8, -664.0, 136.0, 64.0),
    (1.0, None, -630.0, 170.0, 30.0), (0.8, 0.0, -800.0, 0.0, 200.0)])
def test_continuity_keeps_the_launched_product_supplied(
        share: float | None, program_share: float | None, cost: float, til_2031: float,
        cart_2031: float) -> None:
    """The case-wide share, or TIL's own (which overrides it: 0 turns it off for TIL)."""
    plan = solved(_continuity(share, program_share))
    assert plan.objective == pytest.approx(cost)
    assert _supplied(plan).get(("TIL", 2031), 0.0) == pytest.approx(til_2031)
    assert _supplied(plan).get(("CART", 2031), 0.0) == pytest.approx(cart_2031)
    til = plan.launches[(plan.launches["program"] == "TIL") & (plan.launches["period"] == 2031)]
    assert til["launch_period"].tolist() == [2030]
    assert til["served_share"].tolist() == pytest.approx([til_2031 / 170])
    kept = til_2031 > 0
    assert (plan.messages == []) == kept


def test_a_product_that_cannot_be_kept_is_not_launched() -> None:
    plan = solved(_continuity(0.8, demand=lambda df: df.assign(
        potential_batches=[20 if (p, t) == ("TIL", 2030) else b for p, t, b in
                           df[["program", "period", "potential_batches"]].itertuples(
                               index=False)])))
    assert plan.objective == pytest.approx(-600.0)
    assert _supplied(plan) == pytest.approx({("CART", 2031): 200.0})
    assert set(plan.launches["program"]) == {"CART"}
    # no dropped launch to report; what is said is that TIL is made nowhere
    assert plan.messages == ["TIL's commercial phase: 0 of 190 potential batches served in "
                             "2030–2031: no site assigned to it"]


def test_continuity_is_sparse_and_off_by_default() -> None:
    """Off (share 0, every old case): no launch column and no row. On: one Launch, TIL in
    2030 (2031 is the last period: a launch there binds nothing; CART has demand in one
    period only), one link row and one continuity row (monotone: none, one Launch)."""
    from capacity.engine.solve import model_size

    off = capacity.build_model(tiny("launch_dropped"))
    assert off.linear.variables["Launch"].keys == []
    assert model_size(off.pyomo) == {"variables": 6, "binary": 0, "integer": 0,
                                     "continuous": 6, "constraints": 5, "nonzeros": 0}
    on = capacity.build_model(_continuity(0.8)).linear
    assert on.variables["Launch"].keys == [("TIL", "A", 2030)]
    assert on.sets["SUPPLY_LAUNCH_PMT"].keys == [("TIL", "A", 2030)]
    assert on.sets["LAUNCH_MONOTONE_PMT"].keys == []
    assert on.sets["CONTINUITY_PMT"].keys == [("TIL", "A", 2031)]
    assert on.size()["constraints"] == 7 and on.size()["binary"] == 1


def test_a_commitment_launches_the_product() -> None:
    """A hospital commits 100 TIL batches in 2030: TIL is launched there in every plan, so
    Launch is no column and continuity holds from 2031 whatever it is worth: with TIL's
    2031 potential worth 0.5 (below its cost of 1), 136 of it is still served at a loss:
    100 (the committed batches, at 1) + 136·0.5 − 64·3 = −24 (without continuity CART
    fills 2031: 100 − 600 = −500)."""
    case = _continuity(
        0.8, anchors=rows({"anchor": "HOSP"}),
        offtakes=rows({"anchor": "HOSP", "program": "TIL", "market": "A", "period": 2030,
                       "committed_batches": 100}),
        demand=lambda df: df[~((df["program"] == "TIL") & (df["period"] == 2030))].assign(
            value_musd_per_batch=lambda d: [0.5 if p == "TIL" else v for p, v in
                                            zip(d["program"], d["value_musd_per_batch"],
                                                strict=True)]))
    built = capacity.build_model(case).linear
    assert built.variables["Launch"].keys == []
    assert built.sets["CONTINUITY_PMT"].keys == [("TIL", "A", 2031)]
    plan = solved(case)
    assert plan.objective == pytest.approx(-24.0)
    assert _supplied(plan) == pytest.approx({("TIL", 2030): 100.0, ("TIL", 2031): 136.0,
                                             ("CART", 2031): 64.0})




# --- changeovers (data/tiny/changeovers) -----------------------------------------------
# Two periods, discount 1. SA in A: 10 slots a period at 1 a batch, may add one module of
# 5 slots (capex 16, no lead time); SB in B: 10 slots at 2 a batch, lane B→A 0.5. P1 (6
# committed batches a period in A) and P2 (4), one site each, transfer 1 each. Antibody
# suites lose 1 slot to each program made in them in a period (modalities.changeover_slots).
#   Both at SA: 6 + 4 + 2 changeovers = 12 slots > 10. P1 at SA (7), P2 at SB (5):
#   2 × (6 × 1 + 4 × 2.5) + 2 = 34; P2 at SA, P1 at SB: 2 × (4 + 6 × 2.5) + 2 = 40; both
#   at SA with the module: 2 × 10 + 16 + 2 = 38. Optimum 34.
#   Without changeovers both fit SA: 2 × 10 + 2 = 22. With the module at capex 4:
#   2 × 10 + 4 + 2 = 26 < 34, so it is built.


def _campaign_rows(plan: capacity.Plan) -> list[list[object]]:
    return plan.campaigns[["program", "site", "period", "batches", "used_batches",
                           "changeover_batches"]].values.tolist()


def _utilisation_rows(plan: capacity.Plan) -> list[list[object]]:
    return plan.utilisation[["site", "period", "capacity_batches", "used_batches",
                             "changeover_batches", "campaigns", "utilisation"]].values.tolist()


def test_changeovers_send_a_program_to_a_dearer_site() -> None:
    plan = solved(tiny("changeovers"))
    assert plan.objective == pytest.approx(34.0)
    assert plan.assignments[["program", "site"]].values.tolist() == [["P1", "SA"],
                                                                     ["P2", "SB"]]
    assert plan.builds.empty
    assert _campaign_rows(plan) == [["P1", "SA", 2030, 6.0, 7.0, 1.0],
                                    ["P1", "SA", 2031, 6.0, 7.0, 1.0],
                                    ["P2", "SB", 2030, 4.0, 5.0, 1.0],
                                    ["P2", "SB", 2031, 4.0, 5.0, 1.0]]
    assert _utilisation_rows(plan) == [["SA", 2030, 10.0, 7.0, 1.0, 1, 0.7],
                                       ["SA", 2031, 10.0, 7.0, 1.0, 1, 0.7],
                                       ["SB", 2030, 10.0, 5.0, 1.0, 1, 0.5],
                                       ["SB", 2031, 10.0, 5.0, 1.0, 1, 0.5]]
    assert cost(plan, "production") + cost(plan, "transport") == pytest.approx(32.0)


def test_without_changeovers_both_programs_share_the_suite() -> None:
    # The modality's changeover at 0, or SA's own at 0 (suites.changeover_slots wins over
    # the modality's): 10 batches fill SA's 10 slots, 2 × 10 + 2 = 22.
    for case in (edited(tiny("changeovers"), modalities=lambda df: df.assign(
                     changeover_slots=0.0)),
                 edited(tiny("changeovers"), suites=lambda df: df.assign(
                     changeover_slots=[0.0, None]))):
        plan = solved(case)
        assert plan.objective == pytest.approx(22.0)
        assert set(plan.shipments["site"]) == {"SA"}
        sa = plan.utilisation[plan.utilisation["site"] == "SA"]
        assert sa[["used_batches", "changeover_batches", "campaigns"]].values.tolist() == \
            [[10.0, 0.0, 2], [10.0, 0.0, 2]]
    # No suite charges a changeover: no campaign binary, no row (the model of old cases).
    built = capacity.build_model(edited(tiny("changeovers"), modalities=lambda df: df.assign(
        changeover_slots=0.0)))
    assert len(built.pyomo.Produce) == 0 and len(built.pyomo.production_requires_campaign) == 0


def test_changeovers_buy_a_module_when_it_is_cheaper() -> None:
    # The module at capex 4: both programs at SA with 15 slots, 2 × 10 + 4 + 2 = 26.
    case = edited(tiny("changeovers"), suites=lambda df: df.assign(module_capex_musd=[4.0, 0]))
    plan = solved(case)
    assert plan.objective == pytest.approx(26.0)
    assert plan.builds[["site", "period", "modules"]].values.tolist() == [["SA", 2030, 1]]
    assert _utilisation_rows(plan)[:2] == [["SA", 2030, 15.0, 12.0, 2.0, 2, 0.8],
                                           ["SA", 2031, 15.0, 12.0, 2.0, 2, 0.8]]


def test_a_campaign_is_a_binary_per_program_suite_and_period() -> None:
    # CAMPAIGN_PST: P1 and P2 at SA and SB in 2030 and 2031; each row
    # Σ_m Ship ≤ U_c·Produce with U_c = min(demand, (most − changeover)/slots): P1 at SA
    # min(6, (10 + 5 − 1)/1) = 6, P2 4; at SB min(6, 9) = 6 and 4.
    lm = capacity.build_model(tiny("changeovers")).linear
    assert lm.sets["CAMPAIGN_PST"].keys == [(p, s, t) for p in ("P1", "P2") for s in ("SA", "SB")
                                           for t in (2030, 2031)]
    assert lm.variables["Produce"].kind == "binary"
    rows_ = lm.constraints["production_requires_campaign"]
    indptr, indices, values = lm.matrix()
    produce = lm.variables["Produce"].start
    bound = [-values[indptr[r]:indptr[r + 1]][indices[indptr[r]:indptr[r + 1]] >= produce][0]
             for r in range(rows_.start, rows_.stop)]
    assert bound == [6.0, 6.0, 6.0, 6.0, 4.0, 4.0, 4.0, 4.0]
    # each campaign puts its changeover (1 slot) on its suite's capacity row
    capacity_rows = lm.constraints["suite_capacity"]
    on_capacity = [{int(c): v for c, v in zip(indices[indptr[r]:indptr[r + 1]],
                                              values[indptr[r]:indptr[r + 1]], strict=True)
                    if c >= produce} for r in range(capacity_rows.start, capacity_rows.stop)]
    column = {k: lm.column("Produce", k) for k in lm.sets["CAMPAIGN_PST"].keys}
    assert on_capacity == [{column[(p, s, t)]: 1.0 for p in ("P1", "P2")}
                           for s in ("SA", "SB") for t in (2030, 2031)]


def test_reserved_slots_carry_a_members_changeover() -> None:
    # pooled_reservation with a changeover of 1 slot per program: CD has no capacity of
    # its own, so each program's campaign there (3 batches + 1 changeover = 4 slots) must
    # fit its reserved slots. R_POOL's 8 slots hold both: fee 6.4 + 6 batches × 1 = 12.4
    # as before, the pool now full; were reserved slots for batches only, neither program
    # could be made at CD (OT: 6 × 5 = 30).
    case = edited(tiny("pooled_reservation"), modalities=rows(
        {"modality": "antibody", "changeover_slots": 1.0}))
    plan = solved(case)
    assert plan.objective == pytest.approx(12.4)
    assert plan.reservations[["reservation", "reserved_batches", "used_batches"]].values \
        .tolist() == [["R_POOL", 8.0, 8.0]]
    use = plan.reservation_use.sort_values("program")
    assert use[["program", "batches"]].values.tolist() == [["P1", 4.0], ["P2", 4.0]]
    assert plan.utilisation[["site", "capacity_batches", "used_batches", "changeover_batches",
                             "campaigns"]].values.tolist()[0] == ["CD", 8.0, 8.0, 2.0, 2]


def test_changeovers_that_eat_a_suite_are_told() -> None:
    # A changeover of 2 slots: P1 at SA (6 + 2 = 8 of 10), P2 at SB (4 + 2 = 6): 34 still;
    # changeovers take 20% of SA's and SB's slots: the plan says so.
    plan = solved(edited(tiny("changeovers"), modalities=lambda df: df.assign(
        changeover_slots=2.0)))
    assert plan.objective == pytest.approx(34.0)
    assert any(m.startswith("changeovers take 20% or more of a suite's batch slots in 4 "
                            "suite-periods") for m in plan.messages), plan.messages


def test_a_changeover_is_a_constraint_for_the_resolver() -> None:
    # Changeovers change rows, not costs: a case differing only in them is built afresh
    # (34 with a changeover of 1, 22 without), one differing only in a cost is re-costed
    # (SB at 3 a batch: P2's 4 batches would cost 3.5 in A, 2 × (6 + 14) + 2 = 42, so SA's
    # module pays now: both at SA, 2 × 10 + 16 + 2 = 38).
    from capacity.engine.resolver import Resolver

    case = tiny("changeovers")
    free = edited(case, modalities=lambda df: df.assign(changeover_slots=0.0))
    dearer = edited(case, suites=lambda df: df.assign(variable_cost_musd_per_batch=[1.0, 3.0]))
    resolver = Resolver()
    assert [resolver.solve(c, TEST_OPTIONS).objective for c in (case, free)] == \
        pytest.approx([34.0, 22.0])
    assert resolver.reused == 0
    assert [resolver.solve(c, TEST_OPTIONS).objective for c in (case, dearer)] == \
        pytest.approx([34.0, 38.0])
    assert resolver.reused == 1


def test_qualified_sites_restrict_where_a_program_is_made() -> None:
    # data/tiny/qualified_sites (README): P1 only at SB, P2 at SA or SB, SC (the cheapest)
    # on neither list: 2 × 5 × 2.5 + 2 × 5 × 1 + 2 transfers = 37.
    case = tiny("qualified_sites")
    plan = solved(case)
    assert plan.objective == pytest.approx(37.0)
    made = plan.shipments.groupby(["program", "site"])["batches"].sum()
    assert made.to_dict() == {("P1", "SB"): 10.0, ("P2", "SA"): 10.0}


def test_empty_qualified_sites_is_the_old_rule() -> None:
    # without the lists both programs go to SC: 2 × 10 × 0.5 + 2 = 12, and the model is
    # the one built when the column is absent
    case = tiny("qualified_sites")
    frames = case.tables()
    no_column = frames["programs"].drop(columns="qualified_sites")
    plan = solved(edited(case, programs=no_column))
    assert plan.objective == pytest.approx(12.0)
    assert set(plan.shipments["site"]) == {"SC"}
    listed_everywhere = edited(case, programs=with_program(qualified_sites="SA;SB;SC"))
    assert capacity.solve(listed_everywhere, TEST_OPTIONS).size == plan.size
