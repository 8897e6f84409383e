"""End to end through the real webserver and daemon: a file dropped in the inbox becomes a shard,
the sensor launches its run, and lineage and metadata are readable over GraphQL like the UI does."""

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deita_assets.storage.paths import samples_dir
from deita_assets_tests.e2e.dagster_server import DagsterDev, start_dagster_dev

pytestmark = pytest.mark.slow

ASSET_NODES = """
query { assetNodes { assetKey { path } dependencyKeys { path } partitionDefinition { name } } }
"""
SENSORS = """
query { repositoriesOrError { ... on RepositoryConnection { nodes {
  sensors { name sensorState { status } } schedules { name scheduleState { status } } } } } }
"""
RUNS = """
query { runsOrError { ... on Runs { results {
  runId status jobName tags { key value } assetSelection { path } } } } }
"""
MATERIALIZATIONS = """
query ($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
  assetMaterializations { partition runId metadataEntries { label
    ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr } } } } } }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    workdir = tmp_path_factory.mktemp("e2e")
    dev = start_dagster_dev(workdir, extra_env={"DEITA_INBOX_SETTLE_SECONDS": "0"})
    try:
        yield dev
    finally:
        dev.stop()


def _wait_for(predicate, timeout: float, what: str, server: DagsterDev):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}\n{server.log_tail()}")


def test_lineage_is_served(server: DagsterDev) -> None:
    nodes = {tuple(n["assetKey"]["path"]): n for n in server.graphql(ASSET_NODES)["assetNodes"]}
    assert nodes[("raw_pool",)]["partitionDefinition"]["name"] == "pool_shard"
    downstream = [key for key, node in nodes.items() if {"path": ["raw_pool"]} in node["dependencyKeys"]]
    assert downstream, "raw_pool should feed later stages"


def test_incremental_automation_is_on_by_default(server: DagsterDev) -> None:
    (repository,) = server.graphql(SENSORS)["repositoriesOrError"]["nodes"]
    sensors = {s["name"]: s["sensorState"]["status"] for s in repository["sensors"]}
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    assert sensors["inbox_sensor"] == sensors["deita_automation"] == "RUNNING"
    assert schedules["refresh_selection_schedule"] == "RUNNING"


def test_dropped_file_becomes_a_shard_run_with_metadata(server: DagsterDev) -> None:
    sample = samples_dir() / "gsm8k_alpaca_format" / "gsm_8k_train.json"
    inbox = server.deita_home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, inbox / "gsm8k__gsm_8k_train.json")

    def finished_ingest_run():
        runs = server.graphql(RUNS)["runsOrError"]["results"]
        done = [
            r
            for r in runs
            if r["jobName"] == "ingest_shard" and r["status"] in ("SUCCESS", "FAILURE", "CANCELED")
        ]
        return done[0] if done else None

    run = _wait_for(finished_ingest_run, 240, "the sensor's ingest run", server)
    assert run["status"] == "SUCCESS", server.log_tail()
    partition = {t["key"]: t["value"] for t in run["tags"]}["dagster/partition"]
    assert partition.startswith("gsm8k__gsm_8k_train.json")

    asset = server.graphql(MATERIALIZATIONS, {"path": ["raw_pool"]})["assetOrError"]
    (event,) = [m for m in asset["assetMaterializations"] if m["partition"] == partition]
    metadata = {e["label"]: e for e in event["metadataEntries"]}
    expected_rows = len(json.loads(Path(sample).read_text()))
    assert 0 < metadata["dagster/row_count"]["intValue"] <= expected_rows

    def automated_embedding_run():
        runs = server.graphql(RUNS)["runsOrError"]["results"]
        return next(
            (
                r
                for r in runs
                if {"path": ["pool_embeddings"]} in (r["assetSelection"] or [])
                and {"key": "dagster/partition", "value": partition} in r["tags"]
                and r["status"] in ("SUCCESS", "FAILURE", "CANCELED")
            ),
            None,
        )

    # Incremental: the automation sensor embeds the new shard by itself, and only that shard.
    embedding_run = _wait_for(automated_embedding_run, 300, "the automated pool_embeddings run", server)
    assert embedding_run["status"] == "SUCCESS", server.log_tail()
    embedded = server.graphql(MATERIALIZATIONS, {"path": ["pool_embeddings"]})["assetOrError"]
    assert {m["partition"] for m in embedded["assetMaterializations"]} == {partition}
