"""Instruction-Following Difficulty (Cherry LLM, Superfiltering): how much the instruction helps a
small LM predict the answer.

IFD(Q, A) = PPL(A | Q) / PPL(A), both perplexities over exactly the same answer tokens:
- conditioned: the answer after the instruction rendered through the model's chat template with the
  generation prompt (no chat template: a start token, Q, a blank line);
- alone: the answer after the template's assistant header only (no template: after the start token),
  so the first answer token is predicted in both and only the instruction differs.
IFD ≥ 1 means the instruction does not make the answer easier (Superfiltering discards those rows).
The answer is tokenized once, without special tokens, and reused in both sequences. When a pair does
not fit `max_length`, the instruction and the answer share the room (short parts keep everything) and
the truncation is counted. Forward passes are batched (right padding, length-sorted); per-token losses
are taken only at answer positions. A pair that cannot be measured carries a reason, never a value.

A row's IFD is the mean of its turns' IFDs (the papers score single-turn pairs; the mean keeps a
row's value on the per-pair scale, so the IFD < 1 rule still means the same thing).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from deita_assets.core.formats import instruction_response_pairs
from deita_assets.core.reward import length_batches
from deita_assets.core.score_tokens import allocate_tokens, leading_special_ids, model_context, padding_id

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

OK, AT_LEAST_ONE, FAILED = "ok", "at_least_one", "failed"
NO_TEMPLATE_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PairTokens:
    """One (instruction, answer) pair as the two sequences whose answer losses IFD compares."""

    conditioned: tuple[int, ...]  # context ids: template(instruction) + generation prompt
    alone: tuple[int, ...]  # context ids: assistant header only
    answer: tuple[int, ...]
    truncated: bool


@dataclass
class IFDBatch:
    """Per pair: IFD (NaN where it failed, reason beside it), both perplexities, truncation."""

    ifd: np.ndarray
    ppl_conditioned: np.ndarray
    ppl_alone: np.ndarray
    reasons: list[str | None]
    truncated: list[bool]
    seconds: float


class PromptRenderer:
    """Turns instruction text into context token ids for one tokenizer (chat template or plain)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        lead = leading_special_ids(tokenizer)
        if not self.chat and not lead:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
            if start is None:
                raise ValueError("tokenizer has no chat template and no bos/eos token to start the answer")
            lead = [int(start)]
        self.lead = tuple(lead)
        self.header = tuple(self.encode(self._header_text())) if self.chat else ()

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render(self, instruction: str, generation_prompt: bool) -> str:
        turns = [{"role": "user", "content": instruction}]
        return str(
            self.tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt)
        )

    def _header_text(self) -> str:
        """What the template appends for the assistant's turn (e.g. "<|im_start|>assistant\\n")."""
        without, with_prompt = self._render("x", False), self._render("x", True)
        if not with_prompt.startswith(without):
            raise ValueError("chat template's generation prompt is not a suffix of the user turn")
        return with_prompt[len(without) :]

    def conditioned(self, instruction: str) -> list[int]:
        if self.chat:
            return [*self.lead, *self.encode(self._render(instruction, True))]
        return [*self.lead, *self.encode(instruction + NO_TEMPLATE_SEPARATOR)]

    def alone(self) -> list[int]:
        return [*self.lead, *self.header]


def encode_pair(renderer: PromptRenderer, instruction: str, answer: str, max_length: int) -> PairTokens:
    """Both sequences of a pair within `max_length` tokens (instruction and answer cut fairly)."""
    answer_ids = renderer.encode(answer)
    context = renderer.conditioned(instruction)
    if len(context) + len(answer_ids) <= max_length:
        return PairTokens(tuple(context), tuple(renderer.alone()), tuple(answer_ids), False)
    instruction_ids = renderer.encode(instruction)
    fixed = len(context) - len(instruction_ids)
    keep_q, keep_a = allocate_tokens([len(instruction_ids), len(answer_ids)], max(0, max_length - fixed))
    if keep_q < len(instruction_ids):
        context = renderer.conditioned(renderer.tokenizer.decode(instruction_ids[:keep_q]))
    keep_a = min(keep_a, max_length - len(context))
    return PairTokens(tuple(context), tuple(renderer.alone()), tuple(answer_ids[: max(0, keep_a)]), True)


def answer_nll(
    model: PreTrainedModel,
    sequences: Sequence[tuple[Sequence[int], Sequence[int]]],
    pad_id: int,
    batch_size: int = 16,
    max_batch_tokens: int | None = 1024,
) -> np.ndarray:
    """Mean negative log-likelihood (nats/token) of each answer given its context, batched.

    Rows are (context ids, answer ids), right padded (real tokens never attend to pads); logits are
    kept only from the earliest answer-predicting position of the batch on, and the loss is taken at
    answer positions only.
    """
    import torch

    out = np.full(len(sequences), np.nan)
    lengths = [len(c) + len(a) for c, a in sequences]
    with torch.inference_mode():
        for batch in length_batches(lengths, batch_size, max_batch_tokens):
            out[batch] = _batch_nll(model, [sequences[i] for i in batch], pad_id)
    return out


def _batch_nll(model: PreTrainedModel, rows: Sequence[tuple[Sequence[int], Sequence[int]]], pad_id: int):
    import torch

    width = max(len(c) + len(a) for c, a in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (context, answer) in enumerate(rows):
        ids = [*context, *answer]
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(ids)] = 1
    first = min(len(c) for c, _ in rows) - 1  # earliest position whose logits predict an answer token
    logits = _logits_from(model, input_ids, mask, width - first)
    means = []
    for i, (context, answer) in enumerate(rows):
        start = len(context) - 1 - first
        predicted = logits[i, start : start + len(answer)].float()
        targets = torch.tensor(list(answer), dtype=torch.long)
        means.append(float(torch.nn.functional.cross_entropy(predicted, targets)))
    return np.asarray(means)


def _logits_from(model: PreTrainedModel, input_ids: torch.Tensor, mask: torch.Tensor, keep: int):
    """Logits of the last `keep` positions (all of them for models without `logits_to_keep`)."""
    try:
        return model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits
    except TypeError:
        return model(input_ids=input_ids, attention_mask=mask).logits[:, -keep:]


class IFDScorer:
    """IFD of (instruction, answer) pairs with one causal LM (SmolLM2-135M bundled, GPT-2, any HF LM)."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int = 512,
        batch_size: int = 16,
        max_batch_tokens: int | None = 1024,
    ) -> None:
        self.model = model.eval()
        self.renderer = PromptRenderer(tokenizer)
        self.max_length = model_context(model, tokenizer, max_length)
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.pad_id = padding_id(tokenizer)

    def score(self, pairs: Sequence[tuple[str, str]]) -> IFDBatch:
        start = time.perf_counter()
        encoded = [encode_pair(self.renderer, q, a, self.max_length) for q, a in pairs]
        reasons = [_unmeasurable(p, answer) for p, (_, answer) in zip(encoded, pairs, strict=True)]
        measurable = [i for i, r in enumerate(reasons) if r is None]
        sequences = [(encoded[i].conditioned, encoded[i].answer) for i in measurable]
        sequences += [(encoded[i].alone, encoded[i].answer) for i in measurable]
        nll = answer_nll(self.model, sequences, self.pad_id, self.batch_size, self.max_batch_tokens)
        conditioned, alone = np.full(len(pairs), np.nan), np.full(len(pairs), np.nan)
        conditioned[measurable], alone[measurable] = nll[: len(measurable)], nll[len(measurable) :]
        with np.errstate(over="ignore", invalid="ignore"):
            ifd = np.exp(conditioned - alone)  # PPL ratio = exp of the mean-NLL difference
        for i in measurable:
            if not np.isfinite(ifd[i]):
                reasons[i] = "non-finite answer loss"
                ifd[i] = np.nan
        return IFDBatch(
            ifd,
            np.exp(conditioned),
            np.exp(alone),
            reasons,
            [p.truncated for p in encoded],
            time.perf_counter() - start,
        )


def _unmeasurable(pair: PairTokens, answer: str) -> str | None:
    if not answer.strip():
        return "empty answer"
    return None if pair.answer else "no answer token fits max_length"


def row_ifd(values: Sequence[float], reasons: Sequence[str | None]) -> tuple[float | None, str, str | None]:
    """(row IFD = mean over turns, status, reason) from its turns' IFDs and failure reasons."""
    failed = [f"turn {t}: {r}" for t, r in enumerate(reasons) if r]
    if not values or failed:
        return None, FAILED, "; ".join(failed) or "no (user, assistant) turn pair"
    value = float(np.mean(values))
    if value >= 1.0:
        return value, AT_LEAST_ONE, "IFD ≥ 1: the instruction does not make the answer easier to predict"
    return value, OK, None


def ifd_rows(rows: Sequence[Mapping[str, Any]], scorer: IFDScorer) -> tuple[list[dict[str, Any]], dict]:
    """Per row (same order) the pool_scores IFD columns, and run statistics; one batched pass."""
    refs = [(i, pair) for i, row in enumerate(rows) for pair in instruction_response_pairs(row["turns"])]
    batch = scorer.score([pair for _, pair in refs])
    by_row: dict[int, list[int]] = {}
    for k, (index, _) in enumerate(refs):
        by_row.setdefault(index, []).append(k)
    out = []
    for index in range(len(rows)):
        ks = by_row.get(index, [])
        values = [float(batch.ifd[k]) for k in ks]
        value, status, reason = row_ifd(values, [batch.reasons[k] for k in ks])
        out.append(
            {
                "ifd": value,
                "ifd_turns": [v if math.isfinite(v) else None for v in values],
                "ifd_status": status,
                "ifd_reason": reason,
                "ifd_truncated_turns": sum(batch.truncated[k] for k in ks),
            }
        )
    finite = batch.ifd[np.isfinite(batch.ifd)]
    stats = {
        "ifd_pairs": len(refs),
        "ifd_seconds": batch.seconds,
        "ifd_pairs_per_second": len(refs) / batch.seconds if batch.seconds > 0 else float("nan"),
        "ifd_failed_pairs": sum(r is not None for r in batch.reasons),
        "ifd_truncated_pairs": int(sum(batch.truncated)),
        "ifd_pairs_at_least_one": int((finite >= 1).sum()),
        "ifd_median": float(np.median(finite)) if finite.size else float("nan"),
    }
    return out, stats
