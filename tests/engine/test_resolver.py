"""The `Resolver` re-uses one HiGHS model where only bounds, right-hand sides, costs and
coefficients change: coalitions of a consortium solved on the grand coalition's index
sets (`capacity.allocate`), each checked against a fresh solve of its own case.

`pooling` (data/tiny/pooling, worked out in tests/studies/test_allocate.py): startups A,
B, C need 1, 2, 3 batches; c(S) = min(6 + n_S, 4·n_S) above what the empty coalition
pays: A 4, B 8, C 9, AB 9, AC 10, BC 11, ABC 12.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

import capacity
from capacity.engine.highs import pass_linear
from capacity.engine.resolver import Resolver, same_structure, send_changes
from capacity.model import assemble_model
from capacity.model.index_sets import build_index_sets, with_demand
from capacity.studies.allocate import coalition_case, consortium, gray_order

from conftest import TEST_OPTIONS, edited, rows, tiny

pytestmark = pytest.mark.solver

POOLING = {"": 0, "A": 4, "B": 8, "C": 9, "AB": 9, "AC": 10, "BC": 11, "ABC": 12}


def _pooled_reservation() -> capacity.Case:
    return edited(tiny("pooled_reservation"),
                  members=rows({"member": "S1", "kind": "startup"},
                               {"member": "S2", "kind": "startup"}))


@pytest.mark.parametrize("warm_start", [False, True])
def test_coalitions_on_the_grand_sets_reuse_one_model(warm_start: bool) -> None:
    case = tiny("pooling")
    con = consortium(case)
    grand = coalition_case(case, con, frozenset(con.members))
    resolver = Resolver(warm_start)
    coalitions = gray_order(con, [frozenset(s) for s in POOLING])
    costs = {}
    for c in coalitions:
        plan = resolver.solve(coalition_case(case, con, c), TEST_OPTIONS, sets_from=grand)
        assert plan.status == "optimal"
        costs["".join(sorted(c))] = plan.net_cost
    empty = costs[""]
    assert {k: v - empty for k, v in costs.items()} == pytest.approx(POOLING)
    # every solve after the first sends its changes (the constraints differ: not re-costed)
    assert (resolver.reused, resolver.updated) == (0, len(POOLING) - 1)


@pytest.mark.parametrize("name", ["pooling", "empty_core", "pooled_reservation"])
def test_grand_sets_give_each_coalitions_own_optimum(name: str) -> None:
    # a coalition's variables without demand are free to be 0: the same optimum as the
    # coalition's own case, whose sets leave them out (a reservation left with no member
    # of the coalition is dropped there, kept and unused here)
    case = _pooled_reservation() if name == "pooled_reservation" else tiny(name)
    con = consortium(case)
    grand = coalition_case(case, con, frozenset(con.members))
    resolver = Resolver()
    for bits in range(2 ** len(con.members)):
        c = frozenset(m for i, m in enumerate(con.members) if bits >> i & 1)
        own = coalition_case(case, con, c)
        fresh = capacity.solve(own, TEST_OPTIONS)
        reused = resolver.solve(own, TEST_OPTIONS, sets_from=grand)
        assert reused.status == fresh.status == "optimal"
        assert reused.net_cost == pytest.approx(fresh.net_cost, abs=1e-7), c


def test_only_changes_are_sent_and_the_work_is_the_same() -> None:
    # coalition {A} on the grand sets: B's and C's demand gone (Serve bounds or
    # demand_balance right-hand sides at 0), the rest as in the grand model
    case = tiny("pooling")
    con = consortium(case)
    grand = coalition_case(case, con, frozenset(con.members))
    ix = build_index_sets(grand)
    held = pass_linear(assemble_model(grand, ix).linear)
    alone = coalition_case(case, con, frozenset({"A"}))
    lm = assemble_model(alone, with_demand(ix, alone)).linear
    assert same_structure(held, lm)
    sent = send_changes(held, lm)
    assert 0 < sent["column_bounds"] + sent["row_bounds"] + sent["coefficients"] \
        < lm.n_cols + len(held.row_lower)
    # HiGHS's own copy now matches a fresh transfer of the same model, entry by entry
    fresh = pass_linear(lm)
    mine, theirs = held.highs.getLp(), fresh.highs.getLp()
    for attr in ("col_cost_", "col_lower_", "col_upper_", "row_lower_", "row_upper_"):
        assert np.array_equal(getattr(mine, attr), getattr(theirs, attr)), attr
    # and a solve of the re-used model does what a fresh one does: HiGHS keeps no state
    resolver, fresh_resolver = Resolver(), Resolver()
    resolver.solve(grand, TEST_OPTIONS, sets_from=grand)
    again = resolver.solve(alone, TEST_OPTIONS, sets_from=grand)
    first = fresh_resolver.solve(alone, TEST_OPTIONS, sets_from=grand)
    assert resolver.updated == 1 and fresh_resolver.updated == 0
    assert again.net_cost == pytest.approx(first.net_cost)
    assert again.counters == first.counters


def test_a_case_of_another_structure_is_compiled_afresh() -> None:
    resolver = Resolver()
    resolver.solve(tiny("pooling"), TEST_OPTIONS)
    plan = resolver.solve(tiny("two_sites"), TEST_OPTIONS)
    assert plan.status == "optimal" and (resolver.reused, resolver.updated) == (0, 0)


def test_gray_order_steps_one_member_at_a_time() -> None:
    con = consortium(tiny("pooling"))
    every = [frozenset(m for i, m in enumerate(con.members) if b >> i & 1) for b in range(8)]
    order = gray_order(con, every)
    assert order[0] == frozenset() and sorted(map(sorted, order)) == sorted(map(sorted, every))
    assert all(len(a ^ b) == 1 for a, b in pairwise(order))
