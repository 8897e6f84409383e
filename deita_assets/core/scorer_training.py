"""Fine-tuning a causal LM into a DEITA scorer, its dev split and metrics, and the saved artifact.

The loss sits on the score token only; the artifact (weights, tokenizer, scorer.json) is versioned
by the content hash of its directory.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deita_assets.core.lm_scorer import last_token_logits, pick_inference_dtype
from deita_assets.core.score_templates import ScoreTemplate, score_to_digit
from deita_assets.core.score_tokens import encode_rows, model_context, tokenize_template

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


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

    def optimizer_steps(self, n_rows: int) -> int:
        """Optimizer steps the run will take: max_steps if set, else epochs over the rows."""
        if self.max_steps is not None:
            return self.max_steps
        return max(1, math.ceil(math.ceil(n_rows / self.batch_size) * self.epochs))


def warmup_cosine(total: int, warmup: int) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warmup over `warmup` steps, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

    return factor


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

    A loop of its own rather than core/training's HF Trainer: that stack trains on full
    conversations (labels on every assistant token, full-sequence logits, checkpoint/resume for
    long runs); this loss is one position per row from `last_token_logits`, and a scorer run takes
    minutes, so a Trainer would need a custom compute_loss and buy only checkpointing.
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
    total = config.optimizer_steps(len(rows))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total, int(total * config.warmup_ratio))
    )
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
