"""Stage: fine-tune the base model on each strategy's selection (one partition per strategy)."""

import json
from dataclasses import asdict

import dagster as dg
import pyarrow as pa
from pydantic import Field

from deita_assets.core.report import markdown_table
from deita_assets.core.training import SFTConfig, SFTResult, train_sft
from deita_assets.orchestration.partitions import strategy
from deita_assets.resources.store import DuckDBStore
from deita_assets.resources.trainer import TrainerResource

HEAVY = {"deita/heavy": "true"}


class FinetuneConfig(dg.Config):
    """CPU demo defaults. Paper recipes: DEITA 6 epochs, lr 2e-5, warmup 0.1, cosine, global batch 512,
    max length 2048; MoDS 3 epochs, lr 2e-5, warmup 0.03, cosine (see core/training.py)."""

    epochs: float = Field(
        default=1.0, description="Passes over the selection (ignored when max_steps is set)."
    )
    max_steps: int | None = Field(
        default=None, ge=1, description="Optimizer steps; set, it overrides epochs (equal compute)."
    )
    learning_rate: float = Field(default=1e-4)
    lr_scheduler: str = Field(default="cosine", description="transformers scheduler name.")
    warmup_ratio: float = Field(default=0.03)
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_length: int = Field(default=320, ge=16, description="Tokens per conversation (longer: truncated).")
    seed: int = Field(default=0)
    lora_r: int = Field(default=0, ge=0, description="LoRA rank; 0 = full fine-tuning.")
    lora_alpha: int = Field(default=16)
    save_steps: int = Field(default=10, ge=1, description="Checkpoint interval (resume point after a crash).")
    bf16: bool = Field(default=False, description="bfloat16 autocast (fast on CPUs with AMX/AVX512-BF16).")

    def sft_config(self, base_model: str) -> SFTConfig:
        return SFTConfig(base_model=base_model, **self.model_dump())


def training_rows(store: DuckDBStore, strategy_key: str) -> tuple[list[list[dict]], dict[str, int]]:
    """Kept rows of the selection as conversations; held-out or missing rows are dropped and counted."""
    rows = store.fetch_arrow("select_training_rows", [strategy_key]).to_pylist()
    conversations = [r["turns"] for r in rows if r["turns"] is not None and not r["held_out"]]
    counts = {
        "selected": len(rows),
        "missing_from_pool": sum(1 for r in rows if r["turns"] is None),
        "held_out_excluded": sum(1 for r in rows if r["held_out"]),
    }
    return conversations, counts


def training_run_row(strategy_key: str, config: SFTConfig, result: SFTResult) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "strategy": strategy_key,
                "base_model": config.base_model,
                "model_path": str(result.model_dir),
                "n_rows": result.n_rows,
                "steps": result.steps,
                "final_loss": result.final_loss,
                "tokens_per_second": result.tokens_per_second,
                "wall_seconds": result.wall_seconds,
                "config_json": json.dumps(asdict(config), sort_keys=True),
            }
        ]
    )


def training_metadata(result: SFTResult, counts: dict[str, int]) -> dict[str, object]:
    curve = result.loss_curve
    step = max(1, len(curve) // 20)
    return {
        "model_path": dg.MetadataValue.path(str(result.model_dir)),
        "dagster/row_count": result.n_rows,
        **{f"rows_{k}": v for k, v in counts.items()},
        "rows_dropped_no_assistant_tokens": result.n_dropped,
        "rows_truncated": result.n_truncated,
        "steps": result.steps,
        "resumed_from_step": result.resumed_from_step,
        "reused_finished_run": result.reused,
        "first_loss": curve[0][1] if curve else None,
        "final_loss": result.final_loss,
        "loss_curve": dg.MetadataValue.md(
            markdown_table([{"step": s, "loss": round(v, 4)} for s, v in curve[::step] + curve[-1:]])
        ),
        "tokens_seen": result.tokens_seen,
        "tokens_per_second": result.tokens_per_second,
        "wall_seconds": round(result.wall_seconds, 1),
    }


@dg.asset(
    partitions_def=strategy,
    deps=["selected_subset"],
    group_name="model",
    tags=HEAVY,
    op_tags=HEAVY,
    kinds={"pytorch", "duckdb"},
)
def finetuned_model(
    context: dg.AssetExecutionContext, config: FinetuneConfig, store: DuckDBStore, trainer: TrainerResource
) -> dg.MaterializeResult:
    """SFT of the base model on this strategy's kept rows, so strategies can be compared by the model
    they produce. Resumes from the last checkpoint after a crash; an identical finished run is reused."""
    trainer.prepare()
    sft = config.sft_config(trainer.base_model)
    conversations, counts = training_rows(store, context.partition_key)
    result = train_sft(conversations, sft, trainer.runs_dir(context.partition_key))
    store.replace_partition(
        "training_runs",
        [context.partition_key],
        training_run_row(context.partition_key, sft, result),
    )
    return dg.MaterializeResult(metadata=training_metadata(result, counts))
