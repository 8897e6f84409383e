"""The resources every asset can ask for, by key; configured from the environment."""

import os
from typing import Any

from deita_assets.resources.embedder import embedder_from_env
from deita_assets.resources.llm import llm_from_env
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore
from deita_assets.resources.trainer import TrainerResource

SCORER_MAX_LENGTH_ENV = "DEITA_SCORER_MAX_LENGTH"  # the quick start sets it for the demo


def _from_env(**fields: str) -> dict[str, str]:
    """Resource fields whose env var is set; unset ones keep the resource's offline default."""
    return {field: os.environ[var] for field, var in fields.items() if os.environ.get(var)}


def _ifd_model() -> dict[str, str | None]:
    """DEITA_IFD_MODEL: a causal LM for IFD, or `none` to skip IFD; unset keeps the bundled model."""
    value = os.environ.get("DEITA_IFD_MODEL", "").strip()
    if not value:
        return {}
    return {"ifd_model": None if value.lower() == "none" else value}


def build_resources() -> dict[str, Any]:
    """Each resource built once; those that need another (the LLM cache's store, the reward's store
    and scorers) hold that same instance as a nested resource."""
    base_model = _from_env(base_model="DEITA_BASE_MODEL")
    store = DuckDBStore()
    scorers = ScorersResource(
        **base_model,
        **_from_env(
            pool_kind="DEITA_POOL_SCORER",
            pretrained_complexity="DEITA_PRETRAINED_COMPLEXITY",
            pretrained_quality="DEITA_PRETRAINED_QUALITY",
            max_length=SCORER_MAX_LENGTH_ENV,
        ),
        **_ifd_model(),
    )
    return {
        "store": store,
        "embedder": embedder_from_env(os.environ),
        "llm": llm_from_env(os.environ, store),
        "trainer": TrainerResource(**base_model),
        "reward": RewardResource(store=store, scorers=scorers, **_from_env(model="DEITA_REWARD_MODEL")),
        "scorers": scorers,
    }
