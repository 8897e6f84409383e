"""The cheap scorer kind: ridge regression on sentence embeddings, trained on the same LLM scores.

Why: on 2 CPU cores the LM scorer reads ~10–15 rows/s, so a 300K pool takes half a day; a linear
head on embeddings scores at embedding speed (and the embeddings can be shared with selection). It
is weaker; the scorer_model asset reports both kinds' dev Spearman and throughput side by side.
The regularization strength is picked by a seed-grouped split inside the training set, so dev rows
never influence it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deita_assets.core.score_templates import ScoreBatch
from deita_assets.core.scorer_training import directory_hash, split_by_seed

ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)


@dataclass(frozen=True)
class RidgeHead:
    """score ≈ E·w + b (HeadScorer clips to [1, 6] and counts the clipped rows)."""

    weights: np.ndarray
    bias: float
    alpha: float
    embedder: str

    def predict_raw(self, embeddings: np.ndarray) -> np.ndarray:
        return np.asarray(embeddings, dtype=np.float32) @ self.weights.astype(np.float32) + self.bias


def fit_ridge(embeddings: np.ndarray, targets: np.ndarray, alpha: float, embedder: str = "") -> RidgeHead:
    """Closed-form ridge on centred data; the d×d Gram matrix is formed in float32 then solved in
    float64 (d is small; large float64 products crash this machine's BLAS)."""
    x = np.asarray(embeddings, dtype=np.float32)
    y = np.asarray(targets, dtype=np.float64)
    mean_x, mean_y = x.mean(axis=0), y.mean()
    xc = x - mean_x
    gram = (xc.T @ xc).astype(np.float64) + alpha * np.eye(x.shape[1])
    rhs = (xc.T @ (y - mean_y).astype(np.float32)).astype(np.float64)
    weights = np.linalg.solve(gram, rhs)
    bias = float(mean_y - mean_x.astype(np.float64) @ weights)
    return RidgeHead(weights.astype(np.float32), bias, alpha, embedder)


def fit_ridge_select_alpha(
    embeddings: np.ndarray,
    targets: np.ndarray,
    seed_ids: Sequence[int],
    alphas: Sequence[float] = ALPHAS,
    embedder: str = "",
) -> tuple[RidgeHead, dict[float, float]]:
    """Pick alpha by squared error on held-out training seeds, then refit on all training rows."""
    seeds = np.asarray(seed_ids)
    inner_dev = np.isin(seeds, list(split_by_seed(seed_ids, 0.25, salt="ridge-alpha")))
    errors: dict[float, float] = {}
    if inner_dev.any() and (~inner_dev).sum() >= 2:
        for alpha in alphas:
            head = fit_ridge(embeddings[~inner_dev], targets[~inner_dev], alpha)
            errors[alpha] = float(
                np.mean((head.predict_raw(embeddings[inner_dev]) - targets[inner_dev]) ** 2)
            )
        best = min(errors, key=lambda a: (errors[a], a))
    else:
        best = 1.0
    return fit_ridge(embeddings, targets, best, embedder), errors


def save_head(head: RidgeHead, out_dir: Path, info: dict) -> str:
    """weights.npy + head.json (bias, alpha, embedder spec); returns the directory hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "weights.npy", head.weights)
    payload = {**info, "bias": head.bias, "alpha": head.alpha, "embedder": head.embedder}
    (out_dir / "head.json").write_text(json.dumps(payload, indent=2, default=str))
    return directory_hash(out_dir)


def load_head(path: Path) -> RidgeHead:
    info = json.loads((Path(path) / "head.json").read_text())
    weights = np.load(Path(path) / "weights.npy")
    return RidgeHead(weights, float(info["bias"]), float(info["alpha"]), info["embedder"])


def head_text(values: Sequence[str]) -> str:
    """The text a head embeds for a template's fields: the query, or question + response."""
    return "\n\n".join(values)


EmbedFn = Callable[[Sequence[str]], tuple[np.ndarray, np.ndarray]]


class HeadScorer:
    """Scores rows with an embedding head; `embed` returns (unit vectors, truncation mask)."""

    def __init__(self, head: RidgeHead, embed: EmbedFn) -> None:
        self.head, self.embed = head, embed

    def score(self, rows: Sequence[Sequence[str]]) -> ScoreBatch:
        start = time.perf_counter()
        if not rows:
            return ScoreBatch(np.zeros(0), [], [], 0.0, {"clipped": 0})
        vectors, truncated = self.embed([head_text(row) for row in rows])
        raw = self.head.predict_raw(vectors).astype(np.float64)
        finite = np.isfinite(raw)
        scores = np.where(finite, np.clip(raw, 1.0, 6.0), np.nan)
        reasons = [None if ok else "non-finite embedding or prediction" for ok in finite]
        clipped = int(np.sum(finite & (scores != raw)))
        return ScoreBatch(
            scores, reasons, [bool(t) for t in truncated], time.perf_counter() - start, {"clipped": clipped}
        )
