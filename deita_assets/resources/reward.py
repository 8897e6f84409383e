"""The `reward` resource: which reward model MoDS scores (instruction, response) pairs with.

`model` is either a hub id / local path of an HF sequence-classification reward model (MoDS used
OpenAssistant/reward-model-deberta-v3-large-v2), or `deita:quality_scorer` — the offline default —
meaning the newest trained quality scorer recorded in `scorer_eval` (scorer_model[quality]). The
two have different scales (unbounded logit vs. [1, 6]); MoDS's α and β are set per scale.
"""

from __future__ import annotations

import threading
from typing import Any

import dagster as dg
from pydantic import Field

from deita_assets.core.models import offline_by_default
from deita_assets.core.reward import (
    ORIGINAL_REWARD_MODEL,
    RewardSource,
    load_quality_scorer_reward,
    load_sequence_classification_reward,
)
from deita_assets.resources.store import DuckDBStore

QUALITY_SCORER = "deita:quality_scorer"
_loaded: dict[tuple[Any, ...], RewardSource] = {}
_lock = threading.Lock()


class RewardResource(dg.ConfigurableResource):
    """Reward model for MoDS; loaded once per process and configuration."""

    model: str = Field(
        default=QUALITY_SCORER,
        description=(
            f"'{QUALITY_SCORER}' (offline: the trained DEITA quality scorer, scale [1, 6]) or an HF "
            f"sequence-classification reward model id/path, e.g. {ORIGINAL_REWARD_MODEL} (unbounded)."
        ),
    )
    max_length: int = Field(
        default=512, ge=16, description="Tokens read per pair; longer pairs are truncated."
    )
    batch_size: int = Field(default=8, ge=1, description="Pairs per forward pass.")
    label_index: int = Field(default=0, ge=0, description="Which output logit is the reward (HF models).")

    def load(self, store: DuckDBStore) -> RewardSource:
        """The reward source; the quality scorer is looked up in `scorer_eval` (newest first)."""
        offline_by_default()
        if self.model == QUALITY_SCORER:
            found = store.fetch_arrow("select_mods_quality_scorer", ["quality"]).to_pylist()
            if not found:
                raise RuntimeError(
                    "no trained quality scorer in scorer_eval: materialize scorer_model[quality] first, "
                    "or set the reward resource's `model` to an HF reward model"
                )
            key: tuple[Any, ...] = (QUALITY_SCORER, found[0]["model_path"], found[0]["model_hash"])
        else:
            key = (self.model, self.label_index)
        key += (self.max_length, self.batch_size)
        with _lock:
            if key not in _loaded:
                if self.model == QUALITY_SCORER:
                    _loaded[key] = load_quality_scorer_reward(
                        key[1], key[2], max_length=self.max_length, batch_size=self.batch_size
                    )
                else:
                    _loaded[key] = load_sequence_classification_reward(
                        self.model, self.max_length, self.batch_size, self.label_index
                    )
            return _loaded[key]
