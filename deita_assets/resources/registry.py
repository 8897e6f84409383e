"""The resources every asset can ask for, by key; configured from the environment."""

import os
from typing import Any

from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import llm_from_env
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.resources.trainer import TrainerResource


def build_resources() -> dict[str, Any]:
    return {
        "store": DuckDBStore(),
        "embedder": EmbedderResource(),
        "llm": llm_from_env(os.environ),
        "trainer": TrainerResource(),
        "reward": RewardResource(),
        "scorers": ScorersResource(pool_kind=os.environ.get("DEITA_POOL_SCORER", "lm")),
    }
