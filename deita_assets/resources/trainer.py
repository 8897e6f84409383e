"""The `trainer` resource: which base model the fine-tunes start from, and where the eval set lives."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from deita_assets.core.models import BUNDLED_LLM, offline_by_default
from deita_assets.storage.paths import artifacts_dir, samples_dir


class TrainerResource(dg.ConfigurableResource):
    """Base model for fine-tuning and for the base-model reference row of the evaluation."""

    base_model: str = Field(
        default=BUNDLED_LLM,
        description="Hub id, local directory, local .gguf file, or the offline bundle alias.",
    )
    torch_threads: int = Field(
        default=0,
        ge=0,
        description="torch intra-op threads (0 = torch default); 1 is much faster on an oversubscribed CPU.",
    )
    mt_bench_dir: str | None = Field(
        default=None,
        description="Folder with question.jsonl + reference_answer/gpt-4.jsonl (default: shipped copy).",
    )

    def prepare(self) -> None:
        """Call before loading a model: offline hub settings and the thread count."""
        import torch

        offline_by_default()
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)

    def mt_bench_path(self) -> Path:
        return Path(self.mt_bench_dir) if self.mt_bench_dir else samples_dir() / "eval" / "mt_bench"

    def runs_dir(self, strategy: str) -> Path:
        return artifacts_dir("finetuned", strategy)
