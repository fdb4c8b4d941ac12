"""The engine's named results: a plan in hand (`Incumbent`) and a proven bound (`Bound`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Incumbent(NamedTuple):
    """A complete plan as the engine holds it.

    Attributes:
        x: a value per column of the model HiGHS holds.
        objective: its objective, the minimised net cost (MUSD).
    """

    x: np.ndarray
    objective: float
