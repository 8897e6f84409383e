"""Small real tokenizers and models for scorer tests: built in-process, no downloads, seconds to make."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch

from deita_assets.core.score_templates import TEMPLATES


def byte_bpe_tokenizer():
    """A GPT-2-style byte-level BPE tokenizer whose vocabulary merges " 3" into one token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [f"Complexity: {d} Quality: {d} score {d}" for d in "123456"] * 50
    corpus += [lit for t in TEMPLATES.values() for lit in t.literals] * 20 + ["hello world"] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<pad>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def tiny_llama(vocab_size: int, seed: int = 0, **config_overrides: Any):
    """A randomly initialised 2-layer Llama: real attention and padding behaviour, milliseconds per step."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        **{
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            **config_overrides,
        }
    )
    return LlamaForCausalLM(config).eval()


class FixedLogitsModel(torch.nn.Module):
    """Returns the same logits at every position: digits get `digit_logits`, every other token 100.

    The huge non-digit logits prove the softmax is taken over the six digits only.
    """

    def __init__(self, vocab_size: int, digit_ids, digit_logits) -> None:
        super().__init__()
        self.vector = torch.full((vocab_size,), 100.0)
        self.vector[list(digit_ids)] = torch.tensor(digit_logits, dtype=torch.float32)
        self.config = SimpleNamespace(max_position_embeddings=4096)

    def forward(self, input_ids, attention_mask=None, logits_to_keep=0):
        keep = input_ids.shape[1] if isinstance(logits_to_keep, int) else len(logits_to_keep)
        return SimpleNamespace(logits=self.vector.expand(input_ids.shape[0], keep, -1).clone())


class PositionLogitsModel(torch.nn.Module):
    """Digit (position mod 6) + 1 wins at each position: shows which position was read per row."""

    def __init__(self, vocab_size: int, digit_ids) -> None:
        super().__init__()
        self.vocab_size, self.digit_ids = vocab_size, list(digit_ids)
        self.config = SimpleNamespace(max_position_embeddings=4096)

    def forward(self, input_ids, attention_mask=None, logits_to_keep=0):
        width = input_ids.shape[1]
        positions = torch.arange(width) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = torch.zeros(input_ids.shape[0], len(positions), self.vocab_size)
        for j, pos in enumerate(positions.tolist()):
            logits[:, j, self.digit_ids[pos % 6]] = 20.0
        return SimpleNamespace(logits=logits)
