"""Tiny randomly initialised models built on disk for tests (no hub, seconds to build)."""

from pathlib import Path

WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "write", "poem", "about", "sea", "explain", "why"]
WORDS += ["sky", "is", "blue", "answer", "short", "long", "list", "name", "give", "of", "and", "to", "in"]


def build_tiny_reward_model(out: Path, model_max_length: int = 24) -> Path:
    """A 2-layer BERT sequence-classification reward model (num_labels=1) and its WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ".", ","]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), model_max_length=model_max_length)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max(64, model_max_length),
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_causal_lm(out: Path) -> Path:
    """A 2-layer random Llama with the bundled SmolLM2 tokenizer (chat template included).

    Same tokenizer and template as the real base model, so training/generation code paths are the
    real ones; the network is ~2M parameters, so a training step takes milliseconds.
    """
    from transformers import AutoTokenizer

    from deita_assets.core.models import bundled_gguf_path
    from deita_assets_tests.support.scorer_fixtures import tiny_llama

    gguf = bundled_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = tiny_llama(
        len(tokenizer),
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
