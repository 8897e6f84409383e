"""The HF sequence-classification reward path, on a tiny randomly initialised BERT built locally."""

from pathlib import Path

import numpy as np
import pytest

from deita_assets.core.reward import (
    length_batches,
    load_sequence_classification_reward,
    row_reward,
)
from deita_assets_tests.support.tiny_models import build_tiny_reward_model


@pytest.fixture(scope="module")
def tiny_reward_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT reward model (num_labels=1) and WordPiece tokenizer saved to disk: no hub."""
    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny_reward"))


PAIRS = [
    ("write a poem about the sea", "the sea is blue . the sea is long"),
    ("explain why the sky is blue", "short answer"),
    ("the cat", "sat on the mat " * 20),  # longer than 24 tokens: truncated
    ("a dog", "a cat"),
    ("explain", "the " * 3),
]


def test_batched_scores_equal_one_by_one(tiny_reward_dir: Path) -> None:
    reward = load_sequence_classification_reward(str(tiny_reward_dir), max_length=64, batch_size=3)
    batched = reward.score(PAIRS)
    single = np.array([reward.score([pair]).scores[0] for pair in PAIRS])
    np.testing.assert_allclose(batched.scores, single, rtol=1e-5, atol=1e-5)
    assert np.isfinite(batched.scores).all() and np.ptp(batched.scores) > 0
    assert batched.n_failed == 0
    assert reward.max_length == 24  # capped by the tokenizer's own limit
    assert batched.truncated == [False, False, True, False, False]
    assert reward.describe()["kind"] == "hf_sequence_classification"


def test_scores_are_the_models_logit(tiny_reward_dir: Path) -> None:
    """Same number as a hand-made forward pass on the tokenizer's pair encoding."""
    import torch

    reward = load_sequence_classification_reward(str(tiny_reward_dir))
    inputs = reward.tokenizer(PAIRS[0][0], PAIRS[0][1], return_tensors="pt")
    with torch.inference_mode():
        expected = float(reward.model(**inputs).logits[0, 0])
    assert reward.score([PAIRS[0]]).scores[0] == pytest.approx(expected, abs=1e-6)
    assert reward.score([]).scores.size == 0


def test_label_index_must_exist(tiny_reward_dir: Path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        load_sequence_classification_reward(str(tiny_reward_dir), label_index=1)


def test_length_batches_cover_every_index_once() -> None:
    batches = list(length_batches([3, 9, 1, 9, 4], 2))
    assert batches == [[1, 3], [4, 0], [2]]


def test_row_reward_is_mean_and_nan_on_any_failure() -> None:
    assert row_reward([1.0, 2.0]) == 1.5
    assert np.isnan(row_reward([1.0, float("nan")]))
    assert np.isnan(row_reward([]))
