"""Batched digit-logit scoring with a local causal LM: one forward pass per length batch.

Rows are padded on the right, the shared template prefix is computed once (`PrefixCache`), and
only the last position's logits are materialised. Nothing falls back to a constant: a row that
cannot be scored carries a reason instead of a score.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from deita_assets.core.reward import length_batches
from deita_assets.core.score_templates import DIGITS, ScoreBatch, ScoreTemplate, expected_score
from deita_assets.core.score_tokens import encode_rows, model_context, padding_id, tokenize_template

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def pick_inference_dtype(preference: str = "auto") -> torch.dtype:
    """bfloat16 when the CPU has native bf16 support (AVX512-BF16/AMX), else float32."""
    import torch

    if preference == "float32":
        return torch.float32
    if preference == "bfloat16":
        return torch.bfloat16
    if preference != "auto":
        raise ValueError(f"unknown dtype preference {preference!r} (auto | bfloat16 | float32)")
    supported = torch.cuda.is_available() or torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return torch.bfloat16 if supported else torch.float32


def _pad_right(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(ids) for ids in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, ids in enumerate(batch):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    return input_ids, mask


@dataclass(frozen=True)
class PrefixCache:
    """Keys and values of the template text every row starts with, computed once per scorer.

    Every scored prompt begins with the same instruction block (~50 tokens, more than half of a
    typical complexity prompt), so re-reading it for each row is wasted work. The cache is shared
    by all rows of a batch (expanded, not copied) and positions continue after it, so each row's
    logits are those of the full prompt.
    """

    length: int
    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    @classmethod
    def compute(cls, model: PreTrainedModel, prefix: Sequence[int]) -> PrefixCache:
        import torch

        with torch.inference_mode():
            cache = model(input_ids=torch.tensor([list(prefix)]), use_cache=True).past_key_values
        return cls(len(prefix), tuple((layer.keys, layer.values) for layer in cache.layers))

    def for_batch(self, size: int) -> Any:
        from transformers import DynamicCache

        return DynamicCache(
            ddp_cache_data=[(k.expand(size, -1, -1, -1), v.expand(size, -1, -1, -1)) for k, v in self.layers]
        )


def last_token_logits(
    model: PreTrainedModel,
    batch: Sequence[Sequence[int]],
    pad_id: int,
    prefix: PrefixCache | None = None,
) -> torch.Tensor:
    """Next-token logits after each row's last real token; rows padded on the right.

    Right padding keeps causal attention exact (real tokens never see pads) and `logits_to_keep`
    with the distinct last positions avoids computing the full [batch, length, vocab] logits.
    With a `prefix`, rows hold only the tokens after it.
    """
    import torch

    input_ids, mask = _pad_right(batch, pad_id)
    last = mask.sum(dim=1) - 1
    inputs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask}
    if prefix is not None:
        size, width = input_ids.shape
        inputs["attention_mask"] = torch.cat([torch.ones((size, prefix.length), dtype=mask.dtype), mask], 1)
        inputs["position_ids"] = torch.arange(prefix.length, prefix.length + width).expand(size, -1)
        inputs["past_key_values"] = prefix.for_batch(size)
    positions, which = torch.unique(last, return_inverse=True)
    try:
        logits = model(**inputs, logits_to_keep=positions).logits
        return logits[torch.arange(len(batch)), which]
    except TypeError:  # models without logits_to_keep: full logits, then gather
        logits = model(**inputs).logits
        return logits[torch.arange(len(batch)), last]


class LMScorer:
    """A causal LM scorer: one forward pass per batch, digit-logit expectation per row."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        template: ScoreTemplate,
        max_length: int = 1024,
        batch_size: int = 16,
        reuse_prefix: bool = True,
        max_batch_tokens: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenized = tokenize_template(template, tokenizer)
        self.max_length = model_context(model, tokenizer, max_length)
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.pad_id = padding_id(tokenizer)
        shared = [*self.tokenized.lead, *self.tokenized.literals[0]]
        self.prefix = PrefixCache.compute(self.model, shared) if reuse_prefix and shared else None

    def digit_logits(self, encoded: Sequence[Sequence[int]], batch_size: int | None = None) -> np.ndarray:
        """[rows, 6] float32 logits at the digit ids, batched by length."""
        import torch

        out = np.empty((len(encoded), len(DIGITS)), dtype=np.float32)
        digit_index = torch.tensor(self.tokenized.digit_ids, dtype=torch.long)
        skip = self.prefix.length if self.prefix else 0
        rows = [ids[skip:] for ids in encoded]
        batches = length_batches([len(r) for r in rows], batch_size or self.batch_size, self.max_batch_tokens)
        with torch.inference_mode():
            for batch in batches:
                logits = last_token_logits(self.model, [rows[i] for i in batch], self.pad_id, self.prefix)
                out[batch] = logits.index_select(1, digit_index).float().numpy()
        return out

    def score(self, rows: Sequence[Sequence[str]], batch_size: int | None = None) -> ScoreBatch:
        """Score rows (tuples of the template's fields); failures carry a reason, never a default."""
        start = time.perf_counter()
        encoded, truncated = encode_rows(self.tokenized, self.tokenizer, rows, self.max_length)
        logits = self.digit_logits(encoded, batch_size) if encoded else np.zeros((0, len(DIGITS)))
        finite = np.isfinite(logits).all(axis=1)
        scores = np.full(len(rows), np.nan)
        if finite.any():
            scores[finite] = expected_score(logits[finite])
        reasons = [None if ok else "non-finite digit logits" for ok in finite]
        return ScoreBatch(scores, reasons, truncated, time.perf_counter() - start)
