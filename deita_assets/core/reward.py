"""Reward scoring of (instruction, response) pairs for MoDS's quality and necessity steps.

MoDS scores each pair with a sequence-classification reward model (OpenAssistant/reward-model-
deberta-v3-large-v2: the tokenizer gets the pair as two segments, the model returns one unbounded
scalar). Any HF `AutoModelForSequenceClassification` with a single output works here by name.

Offline there is no such model on this machine, so the offline reward source is the project's own
trained DEITA quality scorer (core/lm_scorer.py): a real model, but its scale is the digit expectation
in [1, 6], not an unbounded reward — MoDS's α and β must then be chosen on that scale. Every result
says which source produced it (`RewardSource.describe`).

Nothing here substitutes a constant for a failure: a pair that cannot be scored gets NaN and a reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ORIGINAL_REWARD_MODEL = "OpenAssistant/reward-model-deberta-v3-large-v2"
Pair = tuple[str, str]


@dataclass
class RewardBatch:
    """Rewards for a list of pairs: NaN where a pair failed, with the reason beside it."""

    scores: np.ndarray
    reasons: list[str | None]
    truncated: list[bool]
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        return sum(r is not None for r in self.reasons)


class RewardSource(Protocol):
    """What MoDS needs from a reward model: a score per pair, and a description of the scale."""

    def score(self, pairs: Sequence[Pair]) -> RewardBatch: ...

    def describe(self) -> dict[str, Any]: ...


def length_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first), so padding stays small.

    With `max_tokens`, a batch also closes before its padded size (rows × its longest row, the
    first one) would pass that budget: long rows go in small batches, short rows in full ones.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batch: list[int] = []
    for index in order:
        full = len(batch) == batch_size
        if batch and (full or (max_tokens and (len(batch) + 1) * lengths[batch[0]] > max_tokens)):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


class SequenceClassificationReward:
    """An HF sequence-classification reward model: pair in, logit of `label_index` out."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        name: str,
        max_length: int = 512,
        batch_size: int = 8,
        label_index: int = 0,
    ) -> None:
        n_labels = int(model.config.num_labels)
        if not 0 <= label_index < n_labels:
            raise ValueError(f"{name} has {n_labels} outputs; label_index {label_index} is out of range")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        limit = tokenizer.model_max_length if 0 < (tokenizer.model_max_length or 0) < 10**9 else max_length
        self.max_length = int(min(max_length, limit))
        self.batch_size = batch_size
        self.label_index = label_index

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "hf_sequence_classification",
            "model": self.name,
            "scale": "unbounded reward-model logit (MoDS: alpha=0.0 / beta=0.0 on Alpaca)",
            "max_length": self.max_length,
        }

    def _lengths(self, pairs: Sequence[Pair]) -> list[int]:
        encoded = self.tokenizer(
            [p[0] for p in pairs], [p[1] for p in pairs], truncation=False, verbose=False
        )["input_ids"]
        return [len(ids) for ids in encoded]

    def score(self, pairs: Sequence[Pair]) -> RewardBatch:
        """Batched forward passes (pairs padded on the right, `longest_first` truncation counted)."""
        import torch

        started = time.perf_counter()
        lengths = self._lengths(pairs) if pairs else []
        scores = np.full(len(pairs), np.nan)
        with torch.inference_mode():
            for batch in length_batches(lengths, self.batch_size):
                inputs = self.tokenizer(
                    [pairs[i][0] for i in batch],
                    [pairs[i][1] for i in batch],
                    padding=True,
                    truncation="longest_first",
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self.model(**inputs).logits
                scores[batch] = logits[:, self.label_index].float().numpy()
        finite = np.isfinite(scores)
        reasons = [None if ok else "non-finite reward logit" for ok in finite]
        truncated = [n > self.max_length for n in lengths]
        return RewardBatch(scores, reasons, truncated, time.perf_counter() - started)


def load_sequence_classification_reward(
    name_or_path: str, max_length: int = 512, batch_size: int = 8, label_index: int = 0, dtype: Any = None
) -> SequenceClassificationReward:
    """Load a reward model by hub id or local path (e.g. OpenAssistant/reward-model-deberta-v3-large-v2)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    model = AutoModelForSequenceClassification.from_pretrained(name_or_path, dtype=dtype or torch.float32)
    return SequenceClassificationReward(model, tokenizer, name_or_path, max_length, batch_size, label_index)


class QualityScorerReward:
    """The project's trained DEITA quality scorer used as MoDS's reward (offline stand-in).

    Its scale is E[digit] in [1, 6] (quality of the response to the question), so α/β are set on
    that scale; it is a real model trained on LLM rank-and-score data, not a heuristic.
    """

    def __init__(self, scorer: Any, model_path: str, model_hash: str | None) -> None:
        self.scorer = scorer  # a core.lm_scorer.LMScorer on the quality template
        self.model_path = model_path
        self.model_hash = model_hash

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "deita_quality_scorer",
            "model": self.model_path,
            "model_hash": self.model_hash,
            "scale": "DEITA quality expectation in [1, 6], not a reward logit: alpha/beta on this scale",
            "max_length": self.scorer.max_length,
        }

    def score(self, pairs: Sequence[Pair]) -> RewardBatch:
        result = self.scorer.score([(q, a) for q, a in pairs])
        return RewardBatch(
            np.asarray(result.scores, dtype=np.float64), result.reasons, result.truncated, result.seconds
        )


def row_reward(pair_scores: Sequence[float]) -> float:
    """A conversation's reward: the mean over its (user, assistant) pairs; NaN if any pair failed."""
    values = np.asarray(pair_scores, dtype=np.float64)
    return float(values.mean()) if values.size and np.isfinite(values).all() else float("nan")
