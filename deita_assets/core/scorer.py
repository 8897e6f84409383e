"""Digit-logit scorers (DEITA §1.4): our templates, token-id resolution, batched scoring, training.

A scorer reads a fixed template that ends in a marker ("Complexity:" / "Quality:") and predicts the
next token. The score is the expectation Σ k·p_k over the softmax of the logits at the digits
"1".."6" only — a continuous value in [1, 6]. The digit token ids come from the tokenizer (never
hard-coded). Inputs are truncated field by field so the marker always stays at the end, and every
truncation is counted. Nothing here falls back to a constant: a row that cannot be scored carries a
reason instead of a score.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deita_assets.core.chat_tokens import encode_text
from deita_assets.core.reward import RewardBatch, length_batches

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DIGITS = ("1", "2", "3", "4", "5", "6")
SCORE_VALUES = np.arange(1, len(DIGITS) + 1, dtype=np.float64)
TEMPLATE_VERSION = "deita-assets-scorer-v1"


@dataclass(frozen=True)
class ScoreTemplate:
    """Literal text around the fields: literals[0] field[0] literals[1] ... field[n-1] literals[n].

    The last literal ends with the score marker; the separator before the digit (" " or "") is
    chosen per tokenizer by `resolve_digit_ids`.
    """

    dimension: str
    fields: tuple[str, ...]
    literals: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.literals) != len(self.fields) + 1:
            raise ValueError("a template needs exactly one more literal than fields")

    def render(self, values: Sequence[str]) -> str:
        """The prompt as plain text (for OpenAI-compatible servers and for reading)."""
        self._check(values)
        parts = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            parts += [value, literal]
        return "".join(parts)

    def _check(self, values: Sequence[str]) -> None:
        if len(values) != len(self.fields):
            raise ValueError(f"{self.dimension} template takes {self.fields}, got {len(values)} values")


COMPLEXITY_TEMPLATE = ScoreTemplate(
    dimension="complexity",
    fields=("query",),
    literals=(
        "Judge how demanding the request below is for an assistant: how many constraints it sets, how "
        "much knowledge and how many reasoning steps it needs. Answer with one digit from 1 (trivial) "
        "to 6 (extremely demanding).\n\n[Request]\n",
        "\n[End of request]\n\nComplexity:",
    ),
)

QUALITY_TEMPLATE = ScoreTemplate(
    dimension="quality",
    fields=("question", "response"),
    literals=(
        "Judge the answer below: is it helpful, relevant, accurate, deep, creative and detailed enough "
        "for the question? Answer with one digit from 1 (poor) to 6 (cannot be improved).\n\n[Question]\n",
        "\n[End of question]\n\n[Answer]\n",
        "\n[End of answer]\n\nQuality:",
    ),
)

TEMPLATES = {t.dimension: t for t in (COMPLEXITY_TEMPLATE, QUALITY_TEMPLATE)}


def template_fingerprint(template: ScoreTemplate) -> str:
    """Changes whenever the template text changes, so scores are recomputed with it."""
    payload = json.dumps([TEMPLATE_VERSION, template.dimension, template.fields, template.literals])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- tokens


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def resolve_digit_ids(tokenizer: PreTrainedTokenizerBase, tail: str) -> tuple[str, tuple[int, ...]]:
    """Find the separator (" " or "") after `tail` for which each digit is exactly one new token.

    Returns (separator, ids of "1".."6"). Tokenizers differ: SmolLM2 and BERT split "Complexity: 3"
    into ..., ":", (" "), "3"; GPT-2-style vocabularies merge " 3" into one token, where the separator
    must then be "" so the digit stays a token of its own.
    """
    problems = []
    for separator in (" ", ""):
        base = _encode(tokenizer, tail + separator)
        ids = []
        for digit in DIGITS:
            full = _encode(tokenizer, tail + separator + digit)
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                problems.append(f"separator {separator!r}: {digit!r} does not extend the prompt by one token")
                break
            if tokenizer.decode([full[-1]]).strip() != digit:
                problems.append(f"separator {separator!r}: token {full[-1]} does not decode to {digit!r}")
                break
            ids.append(full[-1])
        else:
            if len(set(ids)) == len(DIGITS) and tokenizer.unk_token_id not in ids:
                return separator, tuple(ids)
            problems.append(f"separator {separator!r}: digit ids not distinct or unknown: {ids}")
    raise ValueError(f"cannot resolve single-token digits after {tail[-20:]!r}: " + "; ".join(problems))


def leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Special tokens the tokenizer puts in front of a text (BOS, [CLS]); trailing ones are dropped
    because the score marker must be the last thing the model reads."""
    plain = _encode(tokenizer, "hello")
    full = list(tokenizer("hello", add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start]
    return []


@dataclass(frozen=True)
class TokenizedTemplate:
    """A template turned into token ids for one tokenizer, with the digit ids resolved."""

    template: ScoreTemplate
    lead: tuple[int, ...]
    literals: tuple[tuple[int, ...], ...]
    separator: str
    digit_ids: tuple[int, ...]

    @property
    def fixed_length(self) -> int:
        return len(self.lead) + sum(len(lit) for lit in self.literals)


def tokenize_template(template: ScoreTemplate, tokenizer: PreTrainedTokenizerBase) -> TokenizedTemplate:
    separator, digit_ids = resolve_digit_ids(tokenizer, template.literals[-1])
    literals = [*template.literals[:-1], template.literals[-1] + separator]
    return TokenizedTemplate(
        template=template,
        lead=tuple(leading_special_ids(tokenizer)),
        literals=tuple(tuple(_encode(tokenizer, lit)) for lit in literals),
        separator=separator,
        digit_ids=digit_ids,
    )


def allocate_budget(lengths: Sequence[int], budget: int) -> list[int]:
    """Share `budget` tokens among fields: short fields keep everything, long ones split the rest."""
    keep = [0] * len(lengths)
    remaining = budget
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for rank, index in enumerate(order):
        keep[index] = min(lengths[index], remaining // (len(lengths) - rank))
        remaining -= keep[index]
    return keep


def encode_rows(
    tokenized: TokenizedTemplate,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[Sequence[str]],
    max_length: int,
) -> tuple[list[list[int]], list[bool]]:
    """Token ids per row (marker last) and whether the row had to be truncated to `max_length`."""
    budget = max_length - tokenized.fixed_length
    if budget < len(tokenized.template.fields):
        raise ValueError(f"max_length {max_length} leaves no room for the fields of the template")
    encoded, truncated = [], []
    for row in rows:
        tokenized.template._check(row)
        fields = [encode_text(tokenizer, value) for value in row]  # data text: no control tokens
        keep = allocate_budget([len(f) for f in fields], budget)
        ids = list(tokenized.lead) + list(tokenized.literals[0])
        for field_ids, n, literal in zip(fields, keep, tokenized.literals[1:], strict=True):
            ids += field_ids[:n] + list(literal)
        encoded.append(ids)
        truncated.append(any(n < len(f) for n, f in zip(keep, fields, strict=True)))
    return encoded, truncated


def model_context(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, wanted: int) -> int:
    """The usable input length: the configured one capped by the model's and tokenizer's limits."""
    limits = [wanted, getattr(model.config, "max_position_embeddings", None) or wanted]
    if 0 < (tokenizer.model_max_length or 0) < 10**9:
        limits.append(tokenizer.model_max_length)
    return int(min(limits))


def padding_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id batches are padded with: the pad token, else eos (causal LMs often have no pad)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    return int(pad)


# --------------------------------------------------------------------------- math


def digit_probabilities(digit_logits: np.ndarray) -> np.ndarray:
    """Softmax over the six digit logits only (rows), computed stably in float64."""
    logits = np.asarray(digit_logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def expected_score(digit_logits: np.ndarray) -> np.ndarray:
    """Σ k·p_k for k = 1..6: the continuous DEITA score."""
    return digit_probabilities(digit_logits) @ SCORE_VALUES


@dataclass
class ScoreBatch(RewardBatch):
    """Scores for a list of rows (NaN where a row failed, with the reason beside it), plus counters."""

    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return len(self.reasons) / self.seconds if self.seconds > 0 else float("nan")


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


# --------------------------------------------------------------------------- OpenAI-compatible logprobs


@dataclass(frozen=True)
class LogprobScore:
    """Score from a server's top-k logprobs; `low`/`high` bound it when digits were missing."""

    score: float | None
    low: float | None
    high: float | None
    status: str  # ok | bounded | failed
    reason: str | None


def score_from_top_logprobs(top: Mapping[str, float], missing_policy: str = "fail") -> LogprobScore:
    """Expectation over the digits in a first-token top-k list {token: logprob}.

    Tokens are matched after stripping whitespace (" 3" and "3" both count for 3, their
    probabilities added). A digit absent from the top-k has probability at most that of the
    k-th token, so with digits missing the true score lies in an interval, found exactly at the
    corners of the box [0, p_min] for each missing digit. Policy "fail" records a failure with that
    interval; "bounds" keeps the present-digit expectation and states the interval beside it.
    """
    if missing_policy not in ("fail", "bounds"):
        raise ValueError(f"unknown missing-digit policy {missing_policy!r} (fail | bounds)")
    if not top:
        return LogprobScore(None, None, None, "failed", "server returned no top_logprobs")
    mass = dict.fromkeys(DIGITS, 0.0)
    for token, logprob in top.items():
        key = token.strip()
        if key in mass and math.isfinite(logprob):
            mass[key] += math.exp(logprob)
    missing = [d for d in DIGITS if mass[d] == 0.0]
    if len(missing) == len(DIGITS):
        return LogprobScore(None, None, None, "failed", "no digit 1-6 among the top_logprobs")
    present = np.array([mass[d] for d in DIGITS])
    score = float(present @ SCORE_VALUES / present.sum())
    if not missing:
        return LogprobScore(score, score, score, "ok", None)
    ceiling = math.exp(min(top.values()))
    corners = []
    for bits in range(2 ** len(missing)):
        weights = present.copy()
        for j, digit in enumerate(missing):
            weights[int(digit) - 1] = ceiling if bits >> j & 1 else 0.0
        corners.append(float(weights @ SCORE_VALUES / weights.sum()))
    low, high = min(corners), max(corners)
    reason = f"digits {','.join(missing)} missing from top-{len(top)}; score in [{low:.3f}, {high:.3f}]"
    if missing_policy == "fail":
        return LogprobScore(None, low, high, "failed", reason)
    return LogprobScore(score, low, high, "bounded", reason)


class LogprobScorer:
    """The same template behind any OpenAI-compatible server that returns `top_logprobs`.

    The prompt is sent as one user message (chat protocol); the first generated token's top-k
    alternatives give the digit probabilities. `chat_many` is the LLM layer's batched, cached call.
    """

    def __init__(
        self,
        chat_many: Callable[[Sequence[Any]], Sequence[Any]],
        template: ScoreTemplate,
        top_logprobs: int = 20,
        missing_policy: str = "fail",
    ) -> None:
        self.chat_many, self.template = chat_many, template
        self.top_logprobs, self.missing_policy = top_logprobs, missing_policy

    def request(self, values: Sequence[str]) -> Any:
        from deita_assets.core.llm import ChatRequest

        return ChatRequest(
            messages=({"role": "user", "content": self.template.render(values)},),
            template_version=f"{TEMPLATE_VERSION}:{template_fingerprint(self.template)}",
            temperature=0.0,
            max_tokens=1,
            top_logprobs=self.top_logprobs,
        )

    def score(self, rows: Sequence[Sequence[str]]) -> ScoreBatch:
        start = time.perf_counter()
        results = self.chat_many([self.request(row) for row in rows]) if rows else []
        scores = np.full(len(rows), np.nan)
        reasons: list[str | None] = []
        statuses: dict[str, int] = {}
        for i, result in enumerate(results):
            if not result.ok:
                outcome = LogprobScore(
                    None, None, None, "failed", f"{result.error_kind}: {result.error_detail}"
                )
            elif not result.top_logprobs:
                outcome = LogprobScore(None, None, None, "failed", "server returned no logprobs")
            else:
                top: dict[str, float] = {}
                for token, logprob in result.top_logprobs[0]["top"]:
                    top[token] = max(logprob, top.get(token, -math.inf))
                outcome = score_from_top_logprobs(top, self.missing_policy)
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            if outcome.score is not None:
                scores[i] = outcome.score
            reasons.append(None if outcome.status != "failed" else outcome.reason)
        extra = {f"logprob_{k}": v for k, v in statuses.items()}
        return ScoreBatch(scores, reasons, [False] * len(rows), time.perf_counter() - start, extra)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning knobs; defaults sized for 2 CPU cores (the paper: 6 epochs, lr 2e-5, cosine)."""

    epochs: float = 2.0
    learning_rate: float = 2e-5
    batch_size: int = 8
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_length: int = 512
    max_steps: int | None = None
    seed: int = 0
    bf16_autocast: bool = True  # matmuls in bfloat16 (fp32 master weights) when the CPU supports it


def score_to_digit(score: float) -> int:
    """LLM score (1–6, possibly fractional) -> the target digit, rounded half up."""
    return int(min(6, max(1, math.floor(score + 0.5))))


def train_lm_scorer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    template: ScoreTemplate,
    rows: Sequence[Sequence[str]],
    targets: Sequence[float],
    config: TrainConfig,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> tuple[list[dict[str, float]], int]:
    """Causal-LM fine-tune with the loss on the score token only; returns (loss curve, rows truncated).

    The loss is next-token cross-entropy over the whole vocabulary at the position after the
    marker — the same as appending the digit and masking every other label, without paying for
    logits the loss ignores.
    """
    import torch

    if len(rows) != len(targets) or not rows:
        raise ValueError("training needs the same, non-zero number of rows and targets")
    torch.manual_seed(config.seed)
    tokenized = tokenize_template(template, tokenizer)
    encoded, truncated = encode_rows(
        tokenized, tokenizer, rows, model_context(model, tokenizer, config.max_length)
    )
    labels = torch.tensor([tokenized.digit_ids[score_to_digit(t) - 1] for t in targets])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))
    warmup = int(total * config.warmup_ratio)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(config.seed)
    autocast = config.bf16_autocast and pick_inference_dtype("auto") == torch.bfloat16
    model.train()
    curve: list[dict[str, float]] = []
    step = 0
    while step < total:
        for batch in torch.randperm(len(rows), generator=generator).split(config.batch_size):
            if step >= total:
                break
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = last_token_logits(model, [encoded[i] for i in batch.tolist()], int(pad))
            loss = torch.nn.functional.cross_entropy(logits.float(), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            point = {"step": step + 1, "loss": float(loss.detach()), "lr": schedule.get_last_lr()[0]}
            curve.append(point)
            if on_step:
                on_step(point)
            step += 1
    model.eval()
    return curve, sum(truncated)


def split_by_seed(seed_ids: Sequence[int], dev_fraction: float, salt: str = "scorer-dev") -> set[int]:
    """Dev seeds chosen by a salted hash: stable, and all variants of one seed land on one side."""
    seeds = sorted(set(seed_ids), key=lambda s: hashlib.sha256(f"{salt}:{s}".encode()).hexdigest())
    if len(seeds) < 2:
        return set()
    n_dev = min(len(seeds) - 1, max(1, round(len(seeds) * dev_fraction)))
    return set(seeds[:n_dev])


def dev_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float | None]:
    """Spearman and accuracy (rounded prediction == rounded LLM score) of a scorer on dev rows."""
    from scipy.stats import spearmanr

    predicted, target = np.asarray(predicted, float), np.asarray(target, float)
    ok = np.isfinite(predicted) & np.isfinite(target)
    p, t = predicted[ok], target[ok]
    rho = None
    if ok.sum() >= 2 and np.ptp(p) > 0 and np.ptp(t) > 0:
        rho = float(spearmanr(p, t).statistic)
    digits = np.vectorize(score_to_digit, otypes=[int])
    return {
        "n": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "spearman": rho,
        "accuracy": float((digits(p) == digits(t)).mean()) if ok.any() else None,
        "mae": float(np.abs(p - t).mean()) if ok.any() else None,
    }


def calibration_table(predicted: np.ndarray, target: np.ndarray) -> list[dict[str, Any]]:
    """Per predicted-score bin [k, k+1): rows, mean predicted, mean LLM score."""
    predicted, target = np.asarray(predicted, float), np.asarray(target, float)
    rows = []
    for k in range(1, 6):
        inside = (predicted >= k) & ((predicted < k + 1) if k < 5 else (predicted <= 6))
        rows.append(
            {
                "predicted": f"[{k}, {k + 1}{')' if k < 5 else ']'}",
                "rows": int(inside.sum()),
                "mean_predicted": float(predicted[inside].mean()) if inside.any() else None,
                "mean_llm": float(target[inside].mean()) if inside.any() else None,
            }
        )
    return rows


# --------------------------------------------------------------------------- artifacts


SCORER_INFO = "scorer.json"


def directory_hash(path: Path) -> str:
    """Content hash of every file under `path` (names and bytes): the scorer's data version."""
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:24]


def save_lm_scorer(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path, info: Mapping[str, Any]
) -> str:
    """Write safetensors weights, tokenizer and scorer.json; returns the directory's content hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / SCORER_INFO).write_text(json.dumps(dict(info), indent=2, default=str))
    return directory_hash(out_dir)
