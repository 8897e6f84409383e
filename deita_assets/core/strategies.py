"""The one registry of selection strategies: partitions, dispatch, labels and defaults derive from it.

Adding a strategy is one `Strategy` entry here (plus, for a new kind of walk, its walk function in
assets/selection_walks.py `WALKS`). Walk kinds:
- `top`: the m rows with the highest `order` value (ties by row id), or a seeded random m when `order`
  is None; only rows whose `eligible` column is true compete.
- `repr_filter`: the Repr Filter (keep a row only if cosine ≤ τ to every kept row) walking `order`
  descending, or a seeded random order when `order` is None, until m rows are kept.
- `alpagasus` / `mods`: their own walks (an LLM rating; MoDS's k-center result cut at m).
Rows a strategy excludes before walking (e.g. IFD ≥ 1) are still written with the reason found in
the pool column `excluded_reason`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

WalkKind = Literal["top", "repr_filter", "alpagasus", "mods"]
EVOL_LABEL = "evol score"


@dataclass(frozen=True)
class Strategy:
    """What a selection strategy is, once: its partition key, walk, ordering and how it is shown."""

    name: str
    summary: str
    walk: WalkKind
    label: str = EVOL_LABEL  # what the `score` column means (histograms); evol score = no own score
    order: str | None = None  # pool column walked descending; None = seeded random order
    eligible: str | None = None  # boolean pool column a row needs to compete (None: every row)
    excluded_reason: str | None = None  # pool column saying why a non-eligible row was excluded
    in_default_comparison: bool = False  # materialized by quickstart and kept fresh by the schedule

    @property
    def uses_repr_filter(self) -> bool:
        return self.walk == "repr_filter"


REGISTRY: tuple[Strategy, ...] = (
    Strategy(
        "deita",
        "evol score descending through the Repr Filter, stop at m (DEITA)",
        "repr_filter",
        order="evol_score",
        in_default_comparison=True,
    ),
    Strategy("random", "seeded random m rows", "top", in_default_comparison=True),
    Strategy(
        "longest_response",
        "m rows with the most assistant characters",
        "top",
        label="response characters",
        order="response_chars",
        in_default_comparison=True,
    ),
    Strategy(
        "complexity_only",
        "top m by Σ-over-turns complexity, no filter (the paper's single-dimension ablation)",
        "top",
        label="complexity (Σ turns)",
        order="complexity",
        eligible="scored",
    ),
    Strategy(
        "quality_only",
        "top m by Σ-over-turns quality, no filter (the paper's single-dimension ablation)",
        "top",
        label="quality (Σ turns)",
        order="quality",
        eligible="scored",
    ),
    Strategy("diversity_only", "seeded random order through the Repr Filter", "repr_filter"),
    Strategy(
        "alpagasus",
        "the LLM rates each pair 0-5; keep rows rated ≥ 4.5, top m by rating",
        "alpagasus",
        label="LLM rating",
    ),
    Strategy("mods", "MoDS's seed + augmented k-center set, cut at m", "mods", label="reward"),
    Strategy(
        "superfilter",
        "top m by IFD among rows with IFD < 1, highest first (Superfiltering)",
        "top",
        label="IFD",
        order="ifd",
        eligible="ifd_eligible",
        excluded_reason="ifd_excluded",
    ),
    Strategy(
        "superfilter_diverse",
        "IFD descending (IFD < 1 only) through the Repr Filter, stop at m",
        "repr_filter",
        label="IFD",
        order="ifd",
        eligible="ifd_eligible",
        excluded_reason="ifd_excluded",
    ),
)

BY_NAME: dict[str, Strategy] = {s.name: s for s in REGISTRY}
NAMES: list[str] = [s.name for s in REGISTRY]
DEFAULT_COMPARISON = ",".join(s.name for s in REGISTRY if s.in_default_comparison)


def strategy_of(name: str) -> Strategy:
    """The registry entry for a partition key, or an error naming the known ones."""
    if name not in BY_NAME:
        raise KeyError(f"unknown strategy {name!r}; known: {NAMES}")
    return BY_NAME[name]


def reads_ifd(names: Iterable[str]) -> bool:
    """Whether any of these strategies orders by IFD (two forward passes per pair: skip it otherwise)."""
    return any(strategy_of(name).order == "ifd" for name in names)


def describe() -> str:
    """One line per strategy (module docstrings and the README table are built from this)."""
    return "\n".join(f"- {s.name}: {s.summary}." for s in REGISTRY)


@dataclass(frozen=True)
class WalkParams:
    """Everything a walk depends on, fixed once at the asset boundary (same names as SelectionConfig)."""

    strategy: Strategy
    budget: int
    tau: float
    seed: int
    embedding_spec: str
    window_rows: int = 65_536
    precision: Literal["bf16", "fp32"] = "bf16"
    alpagasus_max_rows: int = 128

    def with_tau(self, tau: float) -> WalkParams:
        return replace(self, tau=tau)
