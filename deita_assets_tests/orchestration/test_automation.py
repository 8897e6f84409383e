"""The schedule re-selects only strategies whose per-shard inputs changed since their selection."""

import dagster as dg
import pytest

from deita_assets.orchestration.automation import refresh_strategies, stale_strategies
from deita_assets.storage.lineage import DATA_VERSION_TAG, INPUTS_VERSION, pool_inputs_version


def _shard_stage(instance: dg.DagsterInstance, key: str, shard: str, version: str) -> None:
    instance.add_dynamic_partitions("pool_shard", [shard])
    event = dg.AssetMaterialization(asset_key=key, partition=shard, tags={DATA_VERSION_TAG: version})
    instance.report_runless_asset_event(event)


def _select(instance: dg.DagsterInstance, strategy: str) -> None:
    metadata = {INPUTS_VERSION: pool_inputs_version(instance)}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="selected_subset", partition=strategy, metadata=metadata)
    )


def test_nothing_is_stale_before_any_data() -> None:
    with dg.instance_for_test() as instance:
        assert stale_strategies(instance, ["deita", "random"]) == (None, [])


def test_changed_shard_data_versions_make_older_selections_stale() -> None:
    with dg.instance_for_test() as instance:
        _shard_stage(instance, "pool_embeddings", "shard-a", "e1")
        _shard_stage(instance, "pool_scores", "shard-a", "s1")
        _select(instance, "deita")
        version, stale = stale_strategies(instance, ["deita", "random"])
        assert version is not None and stale == ["random"]
        _shard_stage(instance, "pool_scores", "shard-b", "s2")  # a new shard was scored
        assert stale_strategies(instance, ["deita", "random"])[1] == ["deita", "random"]


def test_a_rematerialization_with_the_same_data_version_is_not_a_change() -> None:
    with dg.instance_for_test() as instance:
        _shard_stage(instance, "pool_embeddings", "shard-a", "e1")
        _shard_stage(instance, "pool_scores", "shard-a", "s1")
        _select(instance, "deita")
        _shard_stage(instance, "pool_embeddings", "shard-a", "e1")  # same spec and rows: no-op
        assert stale_strategies(instance, ["deita"])[1] == []
        _shard_stage(instance, "pool_embeddings", "shard-a", "e2")  # e.g. another embedding model
        assert stale_strategies(instance, ["deita"])[1] == ["deita"]


def test_refresh_strategies_rejects_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEITA_REFRESH_STRATEGIES", "deita,nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        refresh_strategies()


def test_the_schedule_gives_every_strategy_the_budget_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deita_assets.orchestration.automation import refresh_selection_schedule

    monkeypatch.setenv("DEITA_SELECTION_BUDGET", "25")
    monkeypatch.setenv("DEITA_REFRESH_STRATEGIES", "deita,random")
    with dg.instance_for_test() as instance:
        _shard_stage(instance, "pool_scores", "shard-a", "s1")
        requests = refresh_selection_schedule(dg.build_schedule_context(instance=instance))
    assert sorted(r.partition_key for r in requests) == ["deita", "random"]
    assert all(r.run_config == {"ops": {"selected_subset": {"config": {"budget": 25}}}} for r in requests)
