"""The schedule re-selects only strategies whose per-shard inputs changed since their selection."""

import dagster as dg
import pytest

from deita_assets.automation import refresh_strategies, stale_strategies


def _materialize(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def test_nothing_is_stale_before_any_data() -> None:
    with dg.instance_for_test() as instance:
        assert stale_strategies(instance, ["deita", "random"]) == (0.0, [])


def test_new_shard_scores_make_older_selections_stale() -> None:
    with dg.instance_for_test() as instance:
        _materialize(instance, "pool_embeddings", "shard-a")
        _materialize(instance, "pool_scores", "shard-a")
        _materialize(instance, "selected_subset", "deita")
        newest, stale = stale_strategies(instance, ["deita", "random"])
        assert newest > 0 and stale == ["random"]
        _materialize(instance, "pool_scores", "shard-b")
        assert stale_strategies(instance, ["deita", "random"])[1] == ["deita", "random"]


def test_refresh_strategies_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEITA_REFRESH_STRATEGIES", "deita,nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        refresh_strategies()
