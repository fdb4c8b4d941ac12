"""What a solve runs, decided before it runs: from the model's size, the memory free,
the threads and whether a start exists (`plan_strategy`, a `Strategy`), with the tuned
thresholds and time shares it uses. Decisions that depend on time spent (whether HiGHS's
branch and bound still has time to start) are the functions below, asked when the time
has been spent.

Each constant says in one line why it is what it is; the measurements behind it are in
``benchmarks/RESULTS.md``, "The engine's thresholds and shares".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # light at run time: the CLI prints these thresholds in its help
    from capacity.engine.highs import CompiledModel
    from capacity.engine.lp_bound import Relaxation

# From here on the LP relaxation (PDLP), a dive and a neighbourhood search come before
# branch and bound: HiGHS's own root LP is then the slowest step (RESULTS: tier M).
LARGE_MODEL_NONZEROS = 500_000
# A model of this many nonzeros with this many integer columns is large too: realistic
# tier N (481k, 13.7k integers) did not finish its root LP by dual simplex in 150 s;
# OR-Library capa-c (401k, 200 integers) keep branch and bound (RESULTS: the engine's
# thresholds).
MANY_INTEGERS_NONZEROS = 250_000
MANY_INTEGERS = 5_000
# From here up to the large models (`is_large`), with two threads, the LP and a dive run
# beside branch and bound (`capacity.engine.companion`); below it HiGHS's own root LP is quick
# (OR-Library cap41–cap134, 10k–40k nonzeros, optimal in under 1.5 s).
COMPANION_MIN_NONZEROS = 100_000

# Shares of the time left: PDLP's, the dive's after it, the search's after both; branch
# and bound gets the rest (`_ALONE`: where it will not run). RESULTS: tier M in 60 s.
RELAXATION_SHARE = 0.4
DIVE_SHARE = 0.25
IMPROVE_SHARE = 0.5
RELAXATION_SHARE_ALONE = 0.5
IMPROVE_SHARE_ALONE = 0.95
# Share of the time the Lagrangian bound gets before the search where neither PDLP nor
# branch and bound runs; both gain fast first, slowly after (RESULTS: tier XL).
LAGRANGIAN_SHARE = 0.5
# Memory on top of the solve's, per matrix nonzero: the Lagrangian bound's copy (RESULTS:
# tier XL, 11.5 GB peak), PDLP's run (tier XL, 21 GB peak), HiGHS's branch and bound
# (tier L, 3,558 MiB).
LAGRANGIAN_BYTES_PER_NONZERO = 45
RELAXATION_BYTES_PER_NONZERO = 150
MIP_BYTES_PER_NONZERO = 700
# Beyond these the dive's first LP (RESULTS: tier L, not done in 300 s) and PDLP's bound
# (RESULTS: tier XL, 967% after 21 min) are not worth their time.
DIVE_MAX_NONZEROS = 2_000_000
RELAXATION_MAX_NONZEROS = 20_000_000
# Seconds HiGHS's branch and bound runs per nonzero before it heeds a time limit
# (RESULTS: tier L 28 s, tier M 2.8 s); it starts only with twice that left.
MIP_STARTUP_SECONDS_PER_NONZERO = 5e-6
# HiGHS's root LP by dual simplex takes this many times PDLP's time, or more (RESULTS:
# tier M, over 280 s against 20-35 s); branch and bound starts only with that left.
ROOT_LP_PER_PDLP_SECOND = 10.0


@dataclass(frozen=True)
class Strategy:
    """The steps a solve will run, decided before any runs (`plan_strategy`).

    Attributes:
        relax_dive_search: the LP relaxation, a dive and the neighbourhood search come
            before HiGHS's branch and bound (a large model with a start in hand).
        relaxation_skipped: why PDLP's relaxation is not solved on that path (too many
            nonzeros, too little memory); None: it is solved.
        side_by_side: PDLP and the dive run in a second thread beside the search.
        companion: the LP and a dive run beside HiGHS's branch and bound.
        branch_fits: HiGHS's branch and bound fits in the memory free.
        free_bytes: memory free for new work (None: unknown).
    """

    relax_dive_search: bool
    relaxation_skipped: str | None
    side_by_side: bool
    companion: bool
    branch_fits: bool
    free_bytes: int | None


def plan_strategy(compiled: CompiledModel, threads: int, mip_start: bool,
                  has_start: bool, has_aids: bool) -> Strategy:
    """Decide what a solve of ``compiled`` runs, before anything runs."""
    nonzeros = compiled.nonzeros
    free = available_memory()
    need = RELAXATION_BYTES_PER_NONZERO * nonzeros
    skipped: str | None = None
    if nonzeros > RELAXATION_MAX_NONZEROS:
        skipped = (f"the LP relaxation was not solved: {nonzeros:,} nonzeros are more than "
                   f"the {RELAXATION_MAX_NONZEROS:,} up to which PDLP's bound is worth its "
                   "time")
    elif free is not None and need > free:
        skipped = (f"the LP relaxation was skipped: PDLP would need about "
                   f"{need / 2**30:.0f} GiB ({RELAXATION_BYTES_PER_NONZERO} bytes a "
                   f"nonzero), {free / 2**30:.0f} GiB are free")
    large = is_large(nonzeros, int(compiled.integer.sum()))
    return Strategy(
        relax_dive_search=has_start and large,
        relaxation_skipped=skipped,
        side_by_side=has_aids and threads >= 2,
        companion=(mip_start and threads >= 2 and bool(compiled.integer.any())
                   and nonzeros >= COMPANION_MIN_NONZEROS and not large),
        branch_fits=free is None or mip_memory_estimate(compiled) <= free,
        free_bytes=free)


def is_large(nonzeros: int, integers: int) -> bool:
    """Whether a model of ``nonzeros`` with ``integers`` integer columns takes the
    large-model path (PDLP's relaxation, a dive and the search before branch and bound)."""
    return nonzeros >= LARGE_MODEL_NONZEROS or (
        nonzeros >= MANY_INTEGERS_NONZEROS and integers >= MANY_INTEGERS)


LARGE_MODEL_TEXT = (f"{LARGE_MODEL_NONZEROS:,} nonzeros or more, or "
                    f"{MANY_INTEGERS_NONZEROS:,} with {MANY_INTEGERS:,} integer columns")


def mip_startup_seconds(compiled: CompiledModel) -> float:
    """Seconds HiGHS's branch and bound is expected to run on ``compiled``'s model before
    it can stop at a time limit."""
    return MIP_STARTUP_SECONDS_PER_NONZERO * compiled.nonzeros


def mip_has_time(compiled: CompiledModel, seconds_left: float) -> bool:
    """Whether ``seconds_left`` is worth starting HiGHS's branch and bound for: twice
    what it takes before it heeds a time limit."""
    return seconds_left >= 2 * mip_startup_seconds(compiled)


def root_has_time(relaxed: Relaxation, seconds_left: float) -> bool:
    """Whether ``seconds_left`` lets HiGHS's branch and bound finish its root LP, judged
    by the time PDLP took on the same LP (``relaxed``)."""
    return seconds_left >= ROOT_LP_PER_PDLP_SECOND * relaxed.seconds


def mip_memory_estimate(compiled: CompiledModel) -> int:
    """Bytes HiGHS's branch and bound is expected to take on ``compiled``'s model."""
    return MIP_BYTES_PER_NONZERO * compiled.nonzeros


def available_memory() -> int | None:
    """Bytes of memory free for new work (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
