"""embed_texts: unit float32 rows, E5 prefix rule, truncation counted (real bundled model)."""

import numpy as np
import pytest

from deita_assets.core.embedding import e5_prefix, embed_texts, embed_texts_detailed, embedding_dim
from deita_assets.core.models import BUNDLED_EMBEDDER, load_sentence_transformer


@pytest.fixture(scope="session")
def minilm():
    return load_sentence_transformer(BUNDLED_EMBEDDER)


def test_e5_prefix_only_for_e5_models():
    assert e5_prefix("intfloat/e5-large-v2") == "query: "
    assert e5_prefix("intfloat/e5-base-v2", "passage") == "passage: "
    assert e5_prefix("/models/multilingual-e5-small") == "query: "
    assert e5_prefix(BUNDLED_EMBEDDER) is None
    assert e5_prefix("sentence-transformers/all-MiniLM-L6-v2") is None


@pytest.mark.slow
def test_embeddings_are_unit_float32_and_truncation_counted(minilm):
    long_text = "word " * (minilm.max_seq_length + 50)
    texts = ["How do I sort a list in Python?", "Sorting a Python list", long_text, ""]
    vectors, n_truncated = embed_texts(minilm, texts, prefix=None, batch_size=2)
    assert vectors.dtype == np.float32
    assert vectors.shape == (4, embedding_dim(minilm))
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert n_truncated == 1
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])


@pytest.mark.slow
def test_prefix_is_prepended(minilm):
    with_prefix, _ = embed_texts_detailed(minilm, ["hello there"], prefix="query: ")
    literal, _ = embed_texts_detailed(minilm, ["query: hello there"], prefix=None)
    plain, _ = embed_texts_detailed(minilm, ["hello there"], prefix=None)
    np.testing.assert_allclose(with_prefix, literal, atol=1e-6)
    assert not np.allclose(with_prefix, plain, atol=1e-3)


@pytest.mark.slow
def test_empty_input_gives_empty_matrix(minilm):
    vectors, n_truncated = embed_texts(minilm, [], prefix=None)
    assert vectors.shape == (0, 384) and n_truncated == 0
