"""Program phases assigned apart, and commercial transfers started just in time
(models/formulation.md, "Program phases").

A program is made at clinical scale before its `commercial_from` and at commercial scale
from it. With `programs.phases_at_one_site` (the default, the rule before phases) the
program moves as one: each site it is assigned to takes one technology transfer, at the
program's start, and makes whichever phases it has suites for. Without it, each phase is
assigned on its own: ``Assign[p,s,c]`` over ASSIGN (p,s,c) says that phase c of p is
transferred to s, each phase goes to at most `max_sites` sites, and the commercial phase
at a site that does not run the clinical phase is a second transfer, started just in
time for `commercial_from`. Made at the site that runs the clinical phase it is a
scale-up in place and costs no second transfer: ``ScaleUp[p,s]`` earns that transfer's
cost back where both phases of p are at s (`add_scale_up_requires_assignment`).

The label c of an assignment is the phase its shipments are made in (``clinical`` or
``commercial``), or ``both`` for a program whose two phases move as one (one transfer to
s covers every phase s makes). `build_index_sets` labels each shipment with `Phases.label`
and keeps this module's data in `IndexSets.phases`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Protocol

import numpy as np
import pandas as pd

from capacity.case import Case
from capacity.model.linear import LinearModel

CLINICAL, COMMERCIAL, BOTH = "clinical", "commercial", "both"
AssignKey = tuple[str, str, str]  # (program, site, phase label)


@dataclass
class Phases:
    """The programs' phases and what their assignments cost (see the module).

    Attributes:
        commercial_from: each program's first commercial period, where it has one.
        one_site: programs with two phases in the horizon whose phases move as one
            (`phases_at_one_site`): their assignments are labelled ``both``.
        transfer_start: the period each transfer starts, for every (p,s,c) that some
            shipment needs (ASSIGN and the keys of programs without Assign columns):
            start(p), except a commercial transfer of a program whose phases are
            assigned apart, which starts just in time (`commercial_start`).
        scale_up: SCALE_UP_PS, the (p,s) where both phases of p may be assigned to s and
            the commercial one would cost a transfer.
        scale_up_saving: what making the commercial phase at its clinical site saves:
            assign_cost[p,s,commercial], discounted MUSD.
    """

    commercial_from: dict[str, int] = field(default_factory=dict)
    one_site: frozenset[str] = frozenset()
    transfer_start: dict[AssignKey, int] = field(default_factory=dict)
    scale_up: list[tuple[str, str]] = field(default_factory=list)
    scale_up_saving: dict[tuple[str, str], float] = field(default_factory=dict)

    def phase(self, p: str, t: int) -> str:
        """The phase of p in period t: commercial from its `commercial_from` on."""
        cf = self.commercial_from.get(p)
        return COMMERCIAL if cf is not None and t >= cf else CLINICAL

    def label(self, p: str, t: int) -> str:
        """The ASSIGN label of p's shipments in t: ``both`` for a program whose phases
        move as one, else their phase."""
        return BOTH if p in self.one_site else self.phase(p, t)


class WithPhases(Protocol):
    """What the builder here reads of `capacity.model.index_sets.IndexSets`, which holds
    `Phases` (so this module does not import it: no import cycle)."""

    phases: Phases


def program_phases(case: Case, periods: list[int], start: dict[str, int]) -> Phases:
    """Each program's phases: its `commercial_from`, and whether its two phases move as
    one (`phases_at_one_site`, for programs with both phases in the horizon: start(p) <
    commercial_from ≤ the last period)."""
    programs = case.programs
    commercial_from = {p: int(cf) for p, cf in zip(programs["program"],
                                                    programs["commercial_from"], strict=True)
                       if pd.notna(cf)}
    one_site = frozenset(
        p for p, together in zip(programs["program"], programs["phases_at_one_site"],
                                 strict=True)
        if together and p in commercial_from and start[p] < commercial_from[p] <= periods[-1])
    return Phases(commercial_from, one_site)


def commercial_start(start: int, commercial_from: int, lead: int,
                     position: dict[int, int], periods: list[int]) -> int:
    """When a commercial transfer to a site not running the clinical phase starts: the
    latest period that completes it (``lead`` periods) by `commercial_from`, not before
    the program's start. Later would delay the phase's first batches; earlier is
    discounted less (models/formulation.md, "Program phases")."""
    return periods[max(position[start], position[commercial_from] - lead)]


def with_transfer_starts(phases: Phases, keys: Iterable[AssignKey], start: dict[str, int],
                         transfer_periods: dict[tuple[str, str], int],
                         position: dict[int, int], periods: list[int]) -> Phases:
    """``phases`` with the start of each transfer in ``keys``: start(p), or just in time
    for a commercial phase assigned on its own (`commercial_start`)."""
    starts = {(p, s, c): start[p] if c != COMMERCIAL else commercial_start(
        start[p], phases.commercial_from.get(p, start[p]), transfer_periods.get((p, s), 0),
        position, periods) for (p, s, c) in keys}
    return replace(phases, transfer_start=starts)


def with_scale_ups(phases: Phases, assign: list[AssignKey],
                   cost: dict[tuple[str, str], float], discount: dict[int, float]) -> Phases:
    """``phases`` with SCALE_UP_PS, the (p,s) with both phases of p in ``assign`` and a
    transfer ``cost`` (undiscounted MUSD) above 0, and what each saves: the commercial
    transfer's cost discounted at its start."""
    assigned = set(assign)
    scale_up = sorted((p, s) for (p, s, c) in assign if c == CLINICAL
                      and (p, s, COMMERCIAL) in assigned and cost[(p, s)] > 0)
    saving = {(p, s): float(discount[phases.transfer_start[(p, s, COMMERCIAL)]]) * cost[(p, s)]
              for (p, s) in scale_up}
    return replace(phases, scale_up=scale_up, scale_up_saving=saving)


# Most site combinations `one_site_conflicts` tries for one program (beyond, it says
# nothing: the solve finds out).
MOST_COMBINATIONS = 10_000


def one_site_conflicts(phases: Phases, ship: list[tuple[str, str, str, int]],
                       committed: dict[tuple[str, str, int], float],
                       max_sites: dict[str, int],
                       ) -> tuple[list[str], dict[tuple[str, str, int], str]]:
    """Programs whose phases move as one that no plan can place: each phase's committed
    batches can be made on max_sites sites, but not both phases' on the same ones (no
    site has both suites, within reach). Such a case is infeasible before any solve, and
    the planner's choice, `phases_at_one_site`, is the reason (assigned apart, each phase
    would have its own sites). Returns one message per program, and the reason for each
    of its commitments (`IndexSets.why_unservable`, for `capacity explain`)."""
    committed_in = {(d[0], phases.phase(d[0], d[2])) for d in committed
                    if d[0] in phases.one_site}
    wanted = {p for (p, c) in committed_in if c == CLINICAL and (p, COMMERCIAL) in committed_in}
    if not wanted:  # no such program has commitments in both phases
        return [], {}
    covers: dict[tuple[str, str, int], set[str]] = {}
    for (p, s, m, t) in ship:
        if p in wanted and (p, m, t) in committed:
            covers.setdefault((p, m, t), set()).add(s)
    by_program: dict[str, dict[tuple[str, str, int], set[str]]] = {}
    for d in sorted(committed):
        if d[0] in wanted:
            by_program.setdefault(d[0], {})[d] = covers.get(d, set())
    messages, why = [], {}
    for p, rows in by_program.items():
        k = max_sites[p]
        by_phase = {c: [sites for d, sites in rows.items() if phases.phase(p, d[2]) == c]
                    for c in (CLINICAL, COMMERCIAL)}
        if not all(by_phase.values()) or not all(rows.values()):
            continue  # one phase only, or a commitment no site serves (said elsewhere)
        together = _fewest_sites(list(rows.values()), k)
        apart = [_fewest_sites(sites, k) for sites in by_phase.values()]
        if together is not False or any(fits is not True for fits in apart):
            continue
        where = {c: ", ".join(sorted(set().union(*sites))) for c, sites in by_phase.items()}
        reason = (f"{p}'s phases move as one (programs.phases_at_one_site, max_sites {k}) "
                  f"and no {'site makes' if k == 1 else f'{k} sites make'} both its "
                  f"committed clinical batches ({where[CLINICAL]} can) and its committed "
                  f"commercial batches ({where[COMMERCIAL]} can)")
        messages.append(f"{reason}: with phases_at_one_site false each phase goes to "
                        "sites of its own")
        why.update(dict.fromkeys(rows, reason))
    return messages, why


def _fewest_sites(rows: list[set[str]], k: int) -> bool | None:
    """Whether at most k sites cover every row (each row: the sites that can make it);
    None where that takes more than `MOST_COMBINATIONS` tries to tell."""
    sites = sorted(set().union(*rows))
    if len(sites) <= k:
        return True
    tries = 0
    for n in range(1, k + 1):
        for chosen in combinations(sites, n):
            tries += 1
            if tries > MOST_COMBINATIONS:
                return None
            if all(row & set(chosen) for row in rows):
                return True
    return False


def add_scale_up_requires_assignment(lm: LinearModel, ix: WithPhases) -> None:
    """A program's commercial phase made at the site that runs its clinical phase scales
    up in place: no second technology transfer.

    ∀(p,s) ∈ SCALE_UP_PS, c ∈ {clinical, commercial}:  ScaleUp[p,s] ≤ Assign[p,s,c]
    and − scale_up_saving[p,s]·ScaleUp[p,s] in `total_cost`, scale_up_saving =
    assign_cost[p,s,commercial]. ScaleUp ∈ [0, 1] earns the commercial transfer back
    where both phases are at s: at the optimum ScaleUp = min(Assign[p,s,clinical],
    Assign[p,s,commercial]), since its cost is negative, so the transfer cost
    T·(df_cl·A_cl + df_co·(A_co − min(A_cl, A_co))) is exact for binary A, and, being
    the convex envelope of its four binary points, the tightest the LP relaxation can
    have. SCALE_UP_PS holds the pairs of programs whose phases are assigned apart with
    both phases' Assign at s and a transfer cost > 0 (elsewhere ScaleUp would save
    nothing). ScaleUp is continuous: the engine's starts, dives and searches fix only
    the integers.
    """
    phases = ix.phases
    lm.add_set("SCALE_UP_PS", phases.scale_up, 2)
    lm.add_var("ScaleUp", "SCALE_UP_PS", "continuous", upper=1.0)
    rows = sorted((p, s, c) for (p, s) in phases.scale_up for c in (CLINICAL, COMMERCIAL))
    lm.add_set("SCALE_UP_PSC", rows, 3)
    lm.add_rows("scale_up_requires_assignment", "SCALE_UP_PSC", "<=", lambda psc: (
        [("ScaleUp", [psc[:2]], 1.0), ("Assign", [psc], -1.0)], 0.0))


def settle_scale_ups(lm: LinearModel, x: np.ndarray) -> np.ndarray:
    """``x`` with each ScaleUp at its best, min(Assign[p,s,clinical],
    Assign[p,s,commercial]): a plan whose integers are right but whose continuous part is
    not re-optimised (a heuristic's) may leave one lower, paying a transfer the plan does
    not make. Only lowers the objective; every row still holds."""
    scale_up = lm.variables.get("ScaleUp")
    if scale_up is None or not scale_up.keys:
        return x
    x = x.copy()
    assign = lm.variables["Assign"]
    for i, (p, s) in enumerate(scale_up.keys):
        both = min(x[assign.index[(p, s, CLINICAL)]], x[assign.index[(p, s, COMMERCIAL)]])
        j = scale_up.start + i
        x[j] = min(1.0, max(x[j], both))
    return x
