"""The reward resource's offline default: the trained quality scorer found in scorer_eval."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from deita_assets.core.score_templates import QUALITY_TEMPLATE, template_fingerprint
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore
from deita_assets_tests.support.store_rows import add_rows
from deita_assets_tests.support.tiny_models import build_tiny_causal_lm

PAIRS = [("Name a color.", "Blue."), ("Explain why the sky is blue.", "Rayleigh scattering of sunlight.")]


def add_scorer(store: DuckDBStore, path: str, kind: str, fingerprint: str) -> None:
    row = {
        "dimension": "quality",
        "scorer_kind": kind,
        "model_path": path,
        "model_hash": f"hash-{kind}",
        "template_fingerprint": fingerprint,
    }
    add_rows(store, "scorer_eval", pa.Table.from_pylist([row]))


@pytest.mark.slow
def test_quality_scorer_is_the_offline_reward(store: DuckDBStore, tmp_path: Path) -> None:
    scorers = ScorersResource(dtype="float32")
    reward = RewardResource(store=store, scorers=scorers)
    with pytest.raises(RuntimeError, match="no trained quality scorer"):
        reward.load()

    path = str(build_tiny_causal_lm(tmp_path / "scorer"))
    add_scorer(store, path, "pretrained", template_fingerprint(QUALITY_TEMPLATE))
    add_scorer(store, str(tmp_path / "head.json"), "embedding_head", "x")  # newer, but not an LM scorer
    source = reward.load()
    assert source.describe()["kind"] == "deita_quality_scorer"
    assert source.describe()["model"] == path
    batch = source.score(PAIRS)
    assert batch.n_failed == 0 and ((batch.scores >= 1) & (batch.scores <= 6)).all()
    direct = scorers.lm_scorer(path, "hash-pretrained", "quality").score(PAIRS).scores
    np.testing.assert_allclose(batch.scores, direct)

    add_scorer(store, path, "lm", "fingerprint-of-another-template")
    with pytest.raises(RuntimeError, match="template changed"):
        reward.load()
