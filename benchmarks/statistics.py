"""The realistic family's statistics beside the default case's (and the uniform family's
tier S, the family it replaces in the CI guard), into docs/benchmarks.md:

    python -m benchmarks --family realistic --statistics --tiers S,N,G --time-limit 120

The default case, the uniform family's tier S and the realistic tiers up to N are solved
(one thread, ``--time-limit``) so that capex and fixed costs are read from their plans
(a time-limited plan says so in the table); tier G gives the case's statistics only (its
plan takes 30 minutes: benchmarks/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from capacity.studies.bench import case_statistics, render_statistics

from benchmarks.machine import replace_section

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def family_statistics(tiers: list[str], seed: int = 1, time_limit: float = 120.0
                      ) -> dict[str, dict[str, Any]]:
    """`case_statistics` of the default case, each realistic tier and uniform tier S."""
    import capacity
    from capacity.case.generate import generate_case

    options = capacity.SolveOptions(time_limit_s=time_limit, threads=1, seed=0,
                                    mip_rel_gap=1e-4, explain=False)
    default = capacity.load_case()
    columns = {"default case": case_statistics(default, capacity.solve(default, options))}
    for tier in tiers:
        case = generate_case(tier, seed, "realistic")
        plan = capacity.solve(case, options) if tier != "G" else None
        columns[f"realistic {tier}"] = case_statistics(case, plan)
    uniform = generate_case("S", seed)
    columns["uniform S (before)"] = case_statistics(uniform, capacity.solve(uniform, options))
    return columns


def write_statistics(tiers: list[str], seed: int = 1, time_limit: float = 120.0) -> None:
    """Write `family_statistics` as the `family-statistics` section of docs/benchmarks.md."""
    table = render_statistics(family_statistics(tiers, seed, time_limit))
    body = (f"`python -m benchmarks --family realistic --statistics --tiers {','.join(tiers)} "
            f"--time-limit {time_limit:g}` (seed {seed}; plans: one thread, "
            f"{time_limit:g} s).\n\n" + table)
    replace_section(DOCS, "family-statistics", body)
    print(table)
