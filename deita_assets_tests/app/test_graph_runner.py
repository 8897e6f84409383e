import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from deita_assets.app.graph_runner import RUNNER_PID_TAG, PlannedRun, execute_plan, plan_runs
from deita_assets.app.instance import fail_abandoned_runs
from deita_assets.orchestration.partitions import IN_ORDER_TAG

shard = dg.DynamicPartitionsDefinition(name="toy_shard")
dimension = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(partitions_def=shard, tags={IN_ORDER_TAG: "true"})
def raw() -> None: ...


@dg.asset(partitions_def=shard, deps=[raw])
def embedded() -> None: ...


@dg.asset(deps=[raw])
def seed() -> None: ...


@dg.asset(partitions_def=dimension, deps=[seed])
def variants(context: dg.AssetExecutionContext) -> None:
    if context.partition_key == "b" and os.environ.get("TOY_FAIL_B"):
        raise RuntimeError("dimension b fails on purpose")


@dg.asset(partitions_def=dimension, deps=[variants])
def scored() -> None: ...


@dg.asset
def slow() -> None:
    time.sleep(120)


toy_defs = dg.Definitions(assets=[raw, embedded, seed, variants, scored])
slow_defs = dg.Definitions(assets=[slow])
TOY = f"{__name__}:toy_defs"


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A persistent instance at $DAGSTER_HOME: the worker processes open the same one."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as inst:
        yield inst


def test_plan_follows_dependencies_and_partitions() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("toy_shard", ["s1", "s2"])
        plan = plan_runs([variants, seed, embedded, raw], instance)
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
    # same partitions: the same partition only; raw in key order; other upstreams: every partition
    assert [run.after for run in plan] == [(), (0,), (0,), (1,), (0, 1), (4,), (4,)]


def test_runs_go_side_by_side_and_a_failure_stops_only_what_reads_it(instance, monkeypatch) -> None:
    instance.add_dynamic_partitions("toy_shard", ["s1", "s2"])
    plan = plan_runs(list(toy_defs.assets), instance)
    monkeypatch.setenv("TOY_FAIL_B", "1")
    seen = []
    outcomes = execute_plan(plan, TOY, instance, jobs=2, on_done=lambda o, p: seen.append((o, p.done)))
    result = {o.run.label: (o.success, o.error) for o in outcomes}
    assert all(ok for label, (ok, _e) in result.items() if not label.endswith("[b]"))
    assert result["variants [b]"][0] is False and "dimension b fails" in result["variants [b]"][1]
    assert result["scored [b]"] == (False, "not started: variants [b] failed")
    assert [done for _o, done in seen] == list(range(1, len(plan) + 1))
    assert instance.get_latest_materialization_event(dg.AssetKey("scored")).dagster_event.partition == "a"
    runs = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
    assert len(runs) == len(plan) - 2 and all(RUNNER_PID_TAG in r.dagster_run.tags for r in runs)


def test_a_run_killed_with_sigkill_is_marked_failed_on_the_next_start(instance, tmp_path: Path) -> None:
    script = (
        "import dagster as dg, os\n"
        "from deita_assets_tests.app.test_graph_runner import slow_defs\n"
        "from deita_assets.app.graph_runner import RUNNER_PID_TAG\n"
        "job = slow_defs.resolve_implicit_global_asset_job_def()\n"
        "with dg.DagsterInstance.get() as instance:\n"
        "    job.execute_in_process(instance=instance, tags={RUNNER_PID_TAG: str(os.getpid())})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 120
    started = []
    while time.monotonic() < deadline and not started:
        started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        time.sleep(0.5)
    assert started, "the run never reached STARTED"
    assert fail_abandoned_runs(instance) == []  # its process is alive: left alone
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    (record,) = started
    assert instance.get_run_by_id(record.dagster_run.run_id).status == dg.DagsterRunStatus.STARTED
    assert fail_abandoned_runs(instance) == [record.dagster_run.run_id]
    assert instance.get_run_by_id(record.dagster_run.run_id).status == dg.DagsterRunStatus.FAILURE


def test_quickstart_leaves_out_the_mods_chain_unless_mods_is_chosen() -> None:
    from deita_assets.app.quickstart import assets_for
    from deita_assets.definitions import defs

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


def test_demo_config_names_real_assets_and_reaches_only_their_runs() -> None:
    from deita_assets.app.quickstart import DEMO_CONFIG, demo_run_config
    from deita_assets.definitions import defs

    names = {k.to_user_string() for a in defs.assets for k in a.keys}
    assert set(DEMO_CONFIG) <= names
    key = dg.AssetKey
    assert demo_run_config(PlannedRun((key("raw_pool"),), "s1")) == {}
    assert demo_run_config(PlannedRun((key("evol_seed"),), None)) == {
        "ops": {"evol_seed": {"config": DEMO_CONFIG["evol_seed"]}}
    }
