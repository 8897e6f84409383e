import dagster as dg
import pytest

from deita_assets.core.models import BUNDLED_LLM
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.registry import build_resources
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore


@pytest.mark.parametrize(("value", "expected"), [(None, BUNDLED_LLM), ("none", None), ("gpt2", "gpt2")])
def test_ifd_model_comes_from_the_environment(monkeypatch, value, expected) -> None:
    if value is None:
        monkeypatch.delenv("DEITA_IFD_MODEL", raising=False)
    else:
        monkeypatch.setenv("DEITA_IFD_MODEL", value)
    assert build_resources()["scorers"].ifd_model == expected


def test_embedder_comes_from_the_environment_with_the_key_as_an_env_var(monkeypatch) -> None:
    for var in ("BACKEND", "MODEL", "BASE_URL", "DIM", "PREFIX_BY_SERVER", "API_KEY"):
        monkeypatch.delenv(f"DEITA_EMBEDDER_{var}", raising=False)
    assert build_resources()["embedder"].backend == "sentence-transformers"
    monkeypatch.setenv("DEITA_EMBEDDER_BACKEND", "openai")
    monkeypatch.setenv("DEITA_EMBEDDER_MODEL", "multilingual-e5-small-q4")
    monkeypatch.setenv("DEITA_EMBEDDER_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("DEITA_EMBEDDER_DIM", "384")
    monkeypatch.setenv("DEITA_EMBEDDER_PREFIX_BY_SERVER", "1")
    monkeypatch.setenv("DEITA_EMBEDDER_API_KEY", "sk-secret-value")
    embedder = build_resources()["embedder"]
    assert embedder.spec() == "openai:multilingual-e5-small-q4|dim=384|text=conversation|prefix=query: "
    assert embedder.prefix_by_server and "sk-secret" not in repr(embedder)


def test_resources_that_need_others_get_the_same_ones_inside_a_run(monkeypatch, tmp_path) -> None:
    """The llm caches into, and the reward reads, the run's one store; the reward loads through the
    run's one scorers resource: declared once in build_resources, resolved by Dagster per run."""
    monkeypatch.setenv("DEITA_HOME", str(tmp_path))
    monkeypatch.setenv("DEITA_SCORER_MAX_LENGTH", "96")
    seen: dict[str, object] = {}

    @dg.asset
    def probe(store: DuckDBStore, llm: LLMResource, reward: RewardResource, scorers: ScorersResource) -> None:
        seen.update(store=store.root, llm=llm.store.root, reward=reward.store.root)
        seen.update(scorers=scorers.max_length, reward_scorers=reward.scorers.max_length)

    assert dg.materialize([probe], resources=build_resources()).success
    assert seen["store"] == seen["llm"] == seen["reward"] == str(tmp_path / "store")
    assert seen["scorers"] == seen["reward_scorers"] == 96
