"""EmbedderResource: loads once per process, prefix and spec follow the configuration."""

import numpy as np
import pytest

from deita_assets.resources.embedder import EmbedderResource


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
