import dagster as dg

from deita_assets.graph_runner import PlannedRun, execute_plan, plan_runs

shard = dg.DynamicPartitionsDefinition(name="toy_shard")
dimension = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=shard)
def raw() -> None: ...


@dg.asset(partitions_def=shard, deps=[raw])
def embedded() -> None: ...


@dg.asset(deps=[raw])
def seed() -> None: ...


@dg.asset(partitions_def=dimension, deps=[seed])
def variants() -> None: ...


def test_plan_follows_dependencies_and_partitions() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_shard", ["s1", "s2"])
        plan = plan_runs(
            [variants, seed, embedded, raw], instance, lambda name, keys: keys[:1] if name == "x" else keys
        )
    key = dg.AssetKey
    assert plan == [
        PlannedRun((key("raw"),), "s1"),
        PlannedRun((key("raw"),), "s2"),
        PlannedRun((key("embedded"),), "s1"),
        PlannedRun((key("embedded"),), "s2"),
        PlannedRun((key("seed"),), None),
        PlannedRun((key("variants"),), "a"),
        PlannedRun((key("variants"),), "b"),
    ]


def test_execute_plan_records_materializations_in_the_instance() -> None:
    defs = dg.Definitions(assets=[raw, embedded, seed, variants])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_shard", ["s1"])
        plan = plan_runs(list(defs.assets), instance, lambda _name, keys: [k for k in keys if k != "b"])
        outcomes = execute_plan(plan, defs, instance, log=lambda _msg: None)
        assert [ok for _step, ok in outcomes] == [True, True, True, True]
        event = instance.get_latest_materialization_event(dg.AssetKey("variants"))
        assert event is not None and event.dagster_event.partition == "a"


def test_quickstart_leaves_out_the_mods_chain_unless_mods_is_chosen() -> None:
    from deita_assets.definitions import defs
    from deita_assets.quickstart import assets_for

    def keys(strategies: list[str]) -> set[str]:
        return {k.to_user_string() for a in assets_for(defs, strategies) for k in a.keys}

    mods_chain = {"reward_scores", "mods_seed", "mods_seed_model", "mods_necessity"}
    without = keys(["deita", "random"])
    assert not mods_chain & without and {"pool_scores", "selected_subset", "finetuned_model"} <= without
    assert mods_chain <= keys(["deita", "mods"])
    with dg.instance_for_test() as instance:
        planned = {
            k.to_user_string()
            for run in plan_runs(assets_for(defs, ["deita"]), instance)
            for k in run.asset_keys
        }
    assert "selected_subset" in planned and not mods_chain & planned
