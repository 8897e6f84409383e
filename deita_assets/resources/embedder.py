"""The `embedder` resource: which sentence-embedding model, which text, loaded once per process."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
from pydantic import Field

from deita_assets.core.embedding import E5Role, TextMode, e5_prefix, embed_texts_detailed
from deita_assets.core.models import BUNDLED_EMBEDDER, load_sentence_transformer, offline_by_default

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_models: dict[tuple[str, str, int | None], SentenceTransformer] = {}
_models_lock = threading.Lock()


class EmbedderResource(dg.ConfigurableResource):
    """Sentence-transformers embedder; E5 models (by name) get their "query: "/"passage: " prefix."""

    model: str = Field(
        default=BUNDLED_EMBEDDER,
        description="Hub id or local path (e.g. intfloat/e5-large-v2), or the offline bundle alias.",
    )
    text_mode: TextMode = Field(
        default="conversation",
        description="Embed the whole rendered conversation (paper) or the first instruction only.",
    )
    e5_role: E5Role = Field(
        default="query", description="E5 prefix role; 'query' is E5's advice for symmetric similarity."
    )
    batch_size: int = Field(default=32, ge=1, description="Texts per forward pass.")
    max_seq_length: int | None = Field(
        default=None, ge=8, description="Tokens read per text (None = the model's own limit)."
    )
    device: str = Field(default="cpu", description="torch device.")

    def load(self) -> SentenceTransformer:
        """The model, loaded once per process (and per model/device/length) and then reused."""
        key = (self.model, self.device, self.max_seq_length)
        with _models_lock:
            if key not in _models:
                offline_by_default()
                loaded = load_sentence_transformer(self.model, device=self.device)
                if self.max_seq_length is not None:
                    loaded.max_seq_length = self.max_seq_length
                _models[key] = loaded
            return _models[key]

    @property
    def prefix(self) -> str | None:
        return e5_prefix(self.model, self.e5_role)

    def spec(self) -> str:
        """What determines the vectors (not batch size or device): stored with every embedding row."""
        return f"{self.model}|text={self.text_mode}|prefix={self.prefix or ''}|max_seq={self.max_seq_length}"

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n × d float32 unit vectors, per-text truncation mask)."""
        return embed_texts_detailed(self.load(), texts, prefix=self.prefix, batch_size=self.batch_size)
