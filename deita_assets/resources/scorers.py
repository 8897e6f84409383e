"""The `scorers` resource: which scorer kind scores the pool, which models, and their settings.

Kinds (DEITA §1.4 plus a cheap alternative):
- `lm`: the causal-LM scorer that `scorer_model` fine-tuned (or a released / local scorer named in
  `pretrained_complexity` / `pretrained_quality`, which skips training). Faithful to the paper, but
  ~10–15 rows/s on 2 CPU cores: a 300K pool takes half a day.
- `embedding_head`: ridge regression on the `embedder` resource's sentence embeddings, trained on
  the same LLM scores; runs at embedding speed and is weaker (both kinds' dev Spearman and rows/s
  are in `scorer_eval` and the assets' metadata so the choice is informed).
- `openai_logprobs`: the same template sent to the `llm` resource's OpenAI-compatible server (e.g.
  vLLM serving a released scorer); digits missing from the returned top-k fail the turn, or with
  `missing_digits="bounds"` keep the present-digit score and count the rows whose score is only bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

from deita_assets.core.ifd import IFDScorer
from deita_assets.core.lm_scorer import LMScorer, pick_inference_dtype
from deita_assets.core.models import BUNDLED_LLM, load_causal_lm, loaded_once, offline_by_default
from deita_assets.core.score_templates import TEMPLATES, ScoreTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

RELEASED = {
    "complexity": "hkust-nlp/deita-complexity-scorer",
    "quality": "hkust-nlp/deita-quality-scorer",
}
PoolKind = Literal["lm", "embedding_head", "openai_logprobs"]


class ScorersResource(dg.ConfigurableResource):
    """Scorer models and inference settings shared by `scorer_model` and `pool_scores`."""

    base_model: str = Field(
        default=BUNDLED_LLM,
        description="Causal LM to fine-tune into scorers: hub id, local dir/.gguf, or the offline bundle.",
    )
    pretrained_complexity: str | None = Field(
        default=None,
        description=f"Use this scorer instead of training one, e.g. {RELEASED['complexity']} or a local dir.",
    )
    pretrained_quality: str | None = Field(
        default=None,
        description=f"Use this scorer instead of training one, e.g. {RELEASED['quality']} or a local dir.",
    )
    template_overrides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per dimension, the template's literal texts (fields go between them). Released "
        "scorers were trained on their authors' prompt: paste it here to score with them faithfully.",
    )
    pool_kind: PoolKind = Field(
        default="lm",
        description="Scorer kind for the pool: lm (paper, ~10-15 rows/s on 2 cores), embedding_head "
        "(embedding speed, weaker), openai_logprobs (the llm resource's server).",
    )
    aggregate: Literal["sum", "mean"] = Field(
        default="sum", description="Sample score over turns: Σ c_t·q_t (paper) or its mean."
    )
    max_length: int = Field(default=512, ge=32, description="Tokens read per scored text (marker kept).")
    batch_size: int = Field(default=64, ge=1, description="Most rows per forward pass (length-sorted).")
    max_batch_tokens: int | None = Field(
        default=512,
        ge=1,
        description="Most padded tokens per forward pass: on a CPU small batches that stay in cache are "
        "fastest (measured best at 512-1024 on 2 cores); on a GPU raise it (e.g. 16384) or set null.",
    )
    dtype: Literal["auto", "bfloat16", "float32"] = Field(
        default="auto", description="Inference dtype; auto = bfloat16 when the CPU supports it."
    )
    ifd_model: str | None = Field(
        default=BUNDLED_LLM,
        description="Causal LM computing IFD (Superfiltering) in pool_scores: the offline bundle, gpt2, any "
        "hub id or local dir; null = skip IFD (the superfilter strategies then have no eligible row).",
    )
    ifd_max_length: int = Field(default=512, ge=16, description="Tokens per IFD sequence (pair cut fairly).")
    top_logprobs: int = Field(default=20, ge=1, le=20, description="top-k asked from the server.")
    missing_digits: Literal["fail", "bounds"] = Field(
        default="fail", description="A digit absent from the top-k: fail the turn, or state bounds."
    )

    def template(self, dimension: str) -> ScoreTemplate:
        base = TEMPLATES[dimension]
        literals = self.template_overrides.get(dimension)
        return ScoreTemplate(dimension, base.fields, tuple(literals)) if literals else base

    def pretrained(self, dimension: str) -> str | None:
        return {"complexity": self.pretrained_complexity, "quality": self.pretrained_quality}[dimension]

    def lm_scorer(self, path: str, model_hash: str | None, dimension: str) -> LMScorer:
        """The LM scorer at `path`, loaded once per process (per hash, dtype and template)."""
        template = self.template(dimension)

        def load() -> LMScorer:
            model, tokenizer = self._causal_lm(path)
            return LMScorer(
                model,
                tokenizer,
                template,
                self.max_length,
                self.batch_size,
                max_batch_tokens=self.max_batch_tokens,
            )

        settings = (self.dtype, self.max_length, self.batch_size, self.max_batch_tokens, template)
        return loaded_once(("lm_scorer", path, model_hash, *settings), load)

    def ifd_scorer(self) -> IFDScorer | None:
        """The IFD scorer for `ifd_model`, loaded once per process; None when IFD is switched off."""
        if self.ifd_model is None:
            return None
        ifd_model = self.ifd_model

        def load() -> IFDScorer:
            model, tokenizer = self._causal_lm(ifd_model)
            return IFDScorer(model, tokenizer, self.ifd_max_length, self.batch_size, self.max_batch_tokens)

        key = ("ifd", ifd_model, self.dtype, self.ifd_max_length, self.batch_size, self.max_batch_tokens)
        return loaded_once(key, load)

    def _causal_lm(self, path: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """The causal LM at `path` in the inference dtype, offline unless told otherwise."""
        offline_by_default()
        return load_causal_lm(path, dtype=pick_inference_dtype(self.dtype))
