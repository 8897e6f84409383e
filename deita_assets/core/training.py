"""Supervised fine-tuning on a selection: chat template, loss on assistant tokens only, optional LoRA.

Built on transformers' Trainer because it already checkpoints model, optimizer, scheduler and RNG
state and resumes from them: a run killed mid-training continues from its last checkpoint when it
is started again with the same config and data (the run directory is keyed by both). The DEITA
scorers train with their own short loop (core/scorer_training.py: one-token loss, no resume); see
train_lm_scorer for why the two stacks stay apart.

Paper recipes (documented, not the demo default — a 135M model on 2 CPU cores cannot afford them):
- DEITA (hkust-nlp/deita examples/train/sft.sh, Mistral-7B on 6K rows): 6 epochs, lr 2e-5, warmup
  ratio 0.1, cosine schedule, global batch 512, max length 2048, user turns masked.
- MoDS (METHOD.md §2): 3 epochs, lr 2e-5, warmup ratio 0.03, cosine schedule.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deita_assets.core.chat_tokens import EncodedConversation, encode_conversation, pad_batch
from deita_assets.core.models import BUNDLED_LLM, load_causal_lm

if TYPE_CHECKING:
    from transformers import TrainerCallback

FINAL_DIR = "final"
CHECKPOINT_DIR = "checkpoints"
CONFIG_FILE = "training_config.json"


@dataclass(frozen=True)
class SFTConfig:
    """Fine-tuning settings; defaults are a CPU demo size, see PAPER_RECIPES for the papers' values."""

    base_model: str = BUNDLED_LLM
    epochs: float = 1.0
    max_steps: int | None = None  # set: overrides epochs (one convention with the scorer)
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 320
    seed: int = 0
    weight_decay: float = 0.0
    lora_r: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    save_steps: int = 10
    save_total_limit: int = 2
    bf16: bool = False

    def optimizer_steps(self, n_rows: int) -> int:
        """Optimizer steps the run will take: max_steps if set, else epochs over the data."""
        if self.max_steps is not None:
            return self.max_steps
        per_epoch = math.ceil(math.ceil(n_rows / self.batch_size) / self.grad_accum)
        return max(1, math.ceil(per_epoch * self.epochs))


PAPER_RECIPES: dict[str, SFTConfig] = {
    "deita": SFTConfig(
        epochs=6,
        learning_rate=2e-5,
        warmup_ratio=0.1,
        lr_scheduler="cosine",
        batch_size=8,
        grad_accum=64,
        max_length=2048,
    ),
    "mods": SFTConfig(epochs=3, learning_rate=2e-5, warmup_ratio=0.03, lr_scheduler="cosine"),
}


@dataclass
class SFTResult:
    model_dir: Path
    run_dir: Path
    n_rows: int
    n_dropped: int
    n_truncated: int
    steps: int
    resumed_from_step: int
    reused: bool
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    tokens_seen: int = 0
    tokens_per_second: float | None = None
    wall_seconds: float = 0.0

    @property
    def final_loss(self) -> float | None:
        return self.loss_curve[-1][1] if self.loss_curve else None

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data["model_dir"], data["run_dir"] = str(self.model_dir), str(self.run_dir)
        data["final_loss"] = self.final_loss
        return data


def run_fingerprint(config: SFTConfig, conversations: Sequence[Sequence[dict[str, str]]]) -> str:
    """Hash of config and training data: same inputs -> same run directory -> resume or reuse."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for turns in conversations:
        digest.update(json.dumps([[t["role"], t["content"]] for t in turns]).encode())
    return digest.hexdigest()[:16]


def encode_training_rows(
    tokenizer: Any, conversations: Sequence[Sequence[Any]], max_length: int
) -> tuple[list[EncodedConversation], int, int]:
    """Encode rows; rows left with no assistant token after truncation are dropped and counted."""
    encoded, dropped, truncated = [], 0, 0
    for turns in conversations:
        item = encode_conversation(tokenizer, turns, max_length)
        if item.n_target_tokens == 0:
            dropped += 1
            continue
        truncated += int(item.truncated)
        encoded.append(item)
    return encoded, dropped, truncated


class _EncodedDataset:
    """A map-style dataset the Trainer can index; items stay plain lists until collation."""

    def __init__(self, items: list[EncodedConversation]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        item = self.items[index]
        return {"input_ids": item.input_ids, "labels": item.labels}


def _collator(pad_id: int):
    def collate(features: list[dict[str, list[int]]]) -> dict[str, Any]:
        items = [EncodedConversation(f["input_ids"], f["labels"], False) for f in features]
        return pad_batch(items, pad_id)

    return collate


def _apply_lora(model: Any, config: SFTConfig) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _training_arguments(config: SFTConfig, checkpoint_dir: Path, total_steps: int) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        num_train_epochs=config.epochs,
        max_steps=total_steps,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=math.ceil(config.warmup_ratio * total_steps),
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        bf16=config.bf16,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
    )


def _no_checkpoint_at_the_end() -> TrainerCallback:
    """Trainer saves a checkpoint (weights + AdamW state, ~3x the model) at the last step; the final
    model is saved right after it, so that checkpoint could only ever resume a finished run."""
    from transformers import TrainerCallback

    class NoCheckpointAtTheEnd(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if state.global_step >= state.max_steps:
                control.should_save = False
            return control

    return NoCheckpointAtTheEnd()


def _loss_curve(log_history: list[dict[str, Any]]) -> list[tuple[int, float]]:
    return [(int(entry["step"]), float(entry["loss"])) for entry in log_history if "loss" in entry]


def _save_model(model: Any, tokenizer: Any, config: SFTConfig, final_dir: Path) -> None:
    """Safetensors weights (LoRA merged in, so evaluation loads a plain model) and the tokenizer."""
    trained = model.merge_and_unload() if config.lora_r > 0 else model
    final_dir.mkdir(parents=True, exist_ok=True)
    trained.save_pretrained(str(final_dir))
    tokenizer.save_pretrained(str(final_dir))


def train_sft(
    conversations: Sequence[Sequence[Any]],
    config: SFTConfig,
    runs_dir: Path,
    callbacks: Sequence[TrainerCallback] = (),
) -> SFTResult:
    """Fine-tune `config.base_model` on the conversations; resume or reuse a run with the same inputs.

    Saves the final model (safetensors, LoRA merged into the weights), its tokenizer and the
    training config + result under `runs_dir/<fingerprint>/final`.
    """
    from transformers import Trainer

    if not conversations:
        raise ValueError("no training rows: the selection is empty")
    run_dir = Path(runs_dir) / run_fingerprint(config, conversations)
    final_dir, checkpoint_dir = run_dir / FINAL_DIR, run_dir / CHECKPOINT_DIR
    if (final_dir / CONFIG_FILE).is_file():
        saved = json.loads((final_dir / CONFIG_FILE).read_text())["result"]
        return replace(_result_from_summary(saved), reused=True)

    started = time.perf_counter()
    model, tokenizer = load_causal_lm(config.base_model)
    items, dropped, truncated = encode_training_rows(tokenizer, conversations, config.max_length)
    if not items:
        raise ValueError(f"all {dropped} training rows lost their assistant tokens at max_length")
    model = _apply_lora(model, config) if config.lora_r > 0 else model
    total_steps = config.optimizer_steps(len(items))
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = last_complete_checkpoint(checkpoint_dir)
    trainer = Trainer(
        model=model,
        args=_training_arguments(config, checkpoint_dir, total_steps),
        train_dataset=_EncodedDataset(items),
        data_collator=_collator(tokenizer.pad_token_id),
        callbacks=[_no_checkpoint_at_the_end(), *callbacks],
    )
    resumed_from = int(Path(last).name.rsplit("-", 1)[-1]) if last else 0
    train_started = time.perf_counter()
    tokens_before = _tokens_in_checkpoint(last)
    trainer.train(resume_from_checkpoint=last)
    train_seconds = time.perf_counter() - train_started
    tokens_seen = int(trainer.state.num_input_tokens_seen)

    _save_model(trainer.model, tokenizer, config, final_dir)
    result = SFTResult(
        model_dir=final_dir,
        run_dir=run_dir,
        n_rows=len(items),
        n_dropped=dropped,
        n_truncated=truncated,
        steps=int(trainer.state.global_step),
        resumed_from_step=resumed_from,
        reused=False,
        loss_curve=_loss_curve(trainer.state.log_history),
        tokens_seen=tokens_seen,
        tokens_per_second=(tokens_seen - tokens_before) / train_seconds if train_seconds > 0 else None,
        wall_seconds=time.perf_counter() - started,
    )
    payload = {"config": asdict(config), "fingerprint": run_dir.name, "result": result.summary()}
    (final_dir / CONFIG_FILE).write_text(json.dumps(payload, indent=2))
    return result


def last_complete_checkpoint(checkpoint_dir: Path) -> str | None:
    """The newest checkpoint whose trainer_state.json exists (Trainer writes it after the weights,
    optimizer and RNG state), so a process killed while saving resumes from the previous one."""
    steps = []
    for path in Path(checkpoint_dir).glob("checkpoint-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            steps.append((int(suffix), path))
    return str(max(steps)[1]) if steps else None


def _tokens_in_checkpoint(checkpoint: str | None) -> int:
    """Tokens already trained on before a resume, so tokens/s counts only this process's work."""
    if not checkpoint:
        return 0
    state_file = Path(checkpoint) / "trainer_state.json"
    if not state_file.is_file():
        return 0
    return int(json.loads(state_file.read_text()).get("num_input_tokens_seen", 0))


def _result_from_summary(summary: dict[str, Any]) -> SFTResult:
    data = {k: v for k, v in summary.items() if k != "final_loss"}
    data["model_dir"], data["run_dir"] = Path(data["model_dir"]), Path(data["run_dir"])
    data["loss_curve"] = [tuple(point) for point in data["loss_curve"]]
    return SFTResult(**data)


def load_trained(model_dir: Path | str) -> tuple[Any, Any]:
    """Load a saved fine-tune (or any base model) for evaluation."""
    return load_causal_lm(str(model_dir))
