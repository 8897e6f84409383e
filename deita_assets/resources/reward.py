"""The `reward` resource: which reward model MoDS scores (instruction, response) pairs with.

`model` is either a hub id / local path of an HF sequence-classification reward model (MoDS used
OpenAssistant/reward-model-deberta-v3-large-v2), or `deita:quality_scorer` — the offline default —
meaning the newest trained quality scorer recorded in `scorer_eval` (scorer_model[quality]). The
two have different scales (unbounded logit vs. [1, 6]); MoDS's α and β are set per scale. The
quality scorer is loaded through the `scorers` resource (same template, dtype and cache as
pool_scores), so reward_scores and pool_scores' quality read the same model the same way.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from deita_assets.core.models import loaded_once, offline_by_default
from deita_assets.core.reward import (
    ORIGINAL_REWARD_MODEL,
    QualityScorerReward,
    RewardSource,
    load_sequence_classification_reward,
)
from deita_assets.core.score_templates import template_fingerprint
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore

QUALITY_SCORER = "deita:quality_scorer"
LM_SCORER_KINDS = ("lm", "pretrained")  # scorer_eval kinds that are causal-LM scorers (scorer_model)


class RewardResource(dg.ConfigurableResource):
    """Reward model for MoDS; loaded once per process and configuration."""

    store: DuckDBStore = Field(description="Where `scorer_eval` names the trained quality scorer.")
    scorers: ScorersResource = Field(description="Loads the quality scorer (template, dtype, cache).")
    model: str = Field(
        default=QUALITY_SCORER,
        description=(
            f"'{QUALITY_SCORER}' (offline: the trained DEITA quality scorer, scale [1, 6]) or an HF "
            f"sequence-classification reward model id/path, e.g. {ORIGINAL_REWARD_MODEL} (unbounded)."
        ),
    )
    max_length: int = Field(
        default=512, ge=16, description="HF models: tokens read per pair (the quality scorer: `scorers`)."
    )
    batch_size: int = Field(default=8, ge=1, description="HF models: pairs per forward pass.")
    label_index: int = Field(default=0, ge=0, description="Which output logit is the reward (HF models).")

    def load(self) -> RewardSource:
        """The reward source. The quality scorer is the newest LM scorer in `scorer_eval`, loaded by
        the `scorers` resource with the template it was trained on (refused if the template changed)."""
        offline_by_default()
        if self.model == QUALITY_SCORER:
            return self._quality_scorer()
        key = ("reward", self.model, self.label_index, self.max_length, self.batch_size)
        return loaded_once(
            key,
            lambda: load_sequence_classification_reward(
                self.model, self.max_length, self.batch_size, self.label_index
            ),
        )

    def _quality_scorer(self) -> QualityScorerReward:
        found = self.store.fetch_arrow(
            "select_mods_quality_scorer", ["quality", list(LM_SCORER_KINDS)]
        ).to_pylist()
        if not found:
            raise RuntimeError(
                "no trained quality scorer in scorer_eval: materialize scorer_model[quality] first, "
                "or set the reward resource's `model` to an HF reward model"
            )
        row = found[0]
        if row["template_fingerprint"] != template_fingerprint(self.scorers.template("quality")):
            raise RuntimeError("the quality template changed since scorer_model ran: re-materialize it")
        scorer = self.scorers.lm_scorer(row["model_path"], row["model_hash"], "quality")
        return QualityScorerReward(scorer, row["model_path"], row["model_hash"])
