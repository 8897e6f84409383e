"""The selection budget m: one setting that every entry point reads the same way.

Launchpad config, the schedule's run config, `quickstart --budget` and the environment variable
all end in one number, so every strategy of one run keeps the same m by construction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BUDGET_ENV = "DEITA_SELECTION_BUDGET"


def budget_from_env(environ: Mapping[str, str]) -> int | None:
    """m from DEITA_SELECTION_BUDGET, or None when unset; anything but a positive integer is an error."""
    raw = environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{BUDGET_ENV} must be a positive integer, got {raw!r}")
    return int(raw)


def resolve_budget(configured: int, fraction: float, eligible_rows: int, environ: Mapping[str, str]) -> int:
    """configured m if > 0, else DEITA_SELECTION_BUDGET, else `fraction` of the pool (at least 1)."""
    if configured > 0:
        return configured
    return budget_from_env(environ) or max(1, math.ceil(fraction * eligible_rows))
