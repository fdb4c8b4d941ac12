"""Seeded case generators, by family: `uniform` (the benchmark tiers S, M, L, XL of
BRIEF.md) and `realistic` (the default case's structure at sizes S, N and G; issue 33).

    capacity generate --tier M --seed 1 --out DIR
    capacity generate --family realistic --tier N --seed 1 --out DIR
"""

from __future__ import annotations

import pandas as pd

from capacity.case import Case
from capacity.case.generate.realistic import REALISTIC_TIERS, generate_realistic_frames
from capacity.case.generate.uniform import (
    MODALITIES,
    MODALITY_SHARE,
    REGIONS,
    TIERS,
    Tier,
    generate_frames,
    policy_frames,
)

__all__ = ["FAMILIES", "MODALITIES", "MODALITY_SHARE", "REALISTIC_TIERS", "REGIONS", "TIERS",
           "Tier", "frames_of", "generate_case", "generate_frames",
           "generate_realistic_frames", "policy_frames", "tiers_of"]

FAMILIES = ("uniform", "realistic")


def tiers_of(family: str = "uniform") -> dict[str, Tier]:
    """The tiers of a family: uniform S, M, L, XL; realistic S, N, G."""
    return REALISTIC_TIERS if family == "realistic" else TIERS


def frames_of(tier: str | Tier, seed: int = 1, family: str = "uniform"
              ) -> dict[str, pd.DataFrame]:
    """The tables of a generated case of either family."""
    if family == "realistic":
        return generate_realistic_frames(tier, seed)
    return generate_frames(tier, seed)


def generate_case(tier: str | Tier, seed: int = 1, family: str = "uniform") -> Case:
    """A validated generated case (``family``: `FAMILIES`)."""
    name = tier if isinstance(tier, str) else tier.name
    prefix = "realistic-" if family == "realistic" else ""
    return Case.from_frames(frames_of(tier, seed, family),
                            name=f"{prefix}tier-{name}-seed{seed}")
