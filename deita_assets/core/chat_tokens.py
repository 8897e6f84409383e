"""Conversation -> token ids with labels on assistant tokens only, through the model's chat template.

Shared by training (the loss) and evaluation (reference-answer NLL), so both score exactly the same
tokens: the assistant's text plus the template's end-of-turn marker, never the prompt or system text.

Turn content is always encoded as plain text: a row that spells `<|im_end|>`, `<|im_start|>` or
`<|endoftext|>` gets the characters of that spelling, never the control token, so it cannot forge
turns or end a sequence. Only the chat template's own markup becomes special tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
Turn = dict[str, str]


@dataclass(frozen=True)
class EncodedConversation:
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def normalize_turns(turns: Sequence[Any]) -> list[Turn]:
    """Accept {role, content} dicts or DuckDB/Arrow structs; keep only the two fields."""
    return [{"role": str(t["role"]), "content": str(t["content"])} for t in turns]


_SLOT = "\ue000{}\ue001"  # private-use placeholders standing in for turn content while rendering
_SLOT_SPLIT = re.compile("\ue000\\d+\ue001")


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """Token ids of data text (a turn, a scored field): special-token spellings stay plain text."""
    return list(tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])


def _template_pieces(tokenizer: PreTrainedTokenizerBase, turns: list[Turn], full: str) -> list[str]:
    """The template's own text around each turn's content: pieces[i] comes before content i.

    Rendered with placeholders for the contents; a template that alters content (so the pieces and
    contents do not rebuild `full`) is rejected rather than encoded with forged control tokens.
    """
    slots = [{"role": t["role"], "content": _SLOT.format(i)} for i, t in enumerate(turns)]
    pieces = _SLOT_SPLIT.split(_render(tokenizer, slots, generation_prompt=False))
    rebuilt = "".join(p + c for p, c in zip(pieces, [*(t["content"] for t in turns), ""], strict=True))
    if len(pieces) != len(turns) + 1 or rebuilt != full:
        raise ValueError("chat template alters turn content; cannot encode it as plain text")
    return pieces


def _encode_with_offsets(tokenizer: PreTrainedTokenizerBase, pieces: list[str], contents: list[str]):
    """(ids, character offsets into the joined text): template pieces with special tokens, contents
    as plain text."""
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    position = 0
    for piece, content in zip(pieces, [*contents, ""], strict=True):
        for text, plain in ((piece, False), (content, True)):
            if not text:
                continue
            encoding = tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=plain
            )
            ids += encoding["input_ids"]
            offsets += [(position + a, position + b) for a, b in encoding["offset_mapping"]]
            position += len(text)
    return ids, offsets


def _render(tokenizer: PreTrainedTokenizerBase, turns: list[Turn], generation_prompt: bool) -> str:
    text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt)
    return str(text)


def assistant_char_spans(
    tokenizer: PreTrainedTokenizerBase, turns: list[Turn]
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of every assistant reply in it.

    A reply's span runs from the end of the prompt rendered with the generation prompt to the end of
    the conversation rendered through that reply, so it includes the end-of-turn marker (the model
    must learn to stop). Templates whose renderings are not prefixes of each other are rejected
    rather than silently mis-masked.
    """
    full = _render(tokenizer, turns, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for index, turn in enumerate(turns):
        if turn["role"] != "assistant":
            continue
        start_text = _render(tokenizer, turns[:index], generation_prompt=True) if index else ""
        end_text = _render(tokenizer, turns[: index + 1], generation_prompt=False)
        if not (full.startswith(end_text) and end_text.startswith(start_text)):
            raise ValueError("chat template renders prefixes inconsistently; cannot locate assistant spans")
        spans.append((len(start_text), len(end_text)))
    return full, spans


def encode_conversation(
    tokenizer: PreTrainedTokenizerBase, turns: Sequence[Any], max_length: int
) -> EncodedConversation:
    """Token ids of the templated conversation (content as plain text); labels copy assistant tokens,
    -100 elsewhere."""
    turns = normalize_turns(turns)
    text, spans = assistant_char_spans(tokenizer, turns)
    pieces = _template_pieces(tokenizer, turns, text)
    ids, offsets = _encode_with_offsets(tokenizer, pieces, [t["content"] for t in turns])
    labels = [
        token if any(start <= offsets[i][0] < end for start, end in spans) else IGNORE_INDEX
        for i, token in enumerate(ids)
    ]
    truncated = len(ids) > max_length
    return EncodedConversation(ids[:max_length], labels[:max_length], truncated)


def pad_batch(
    items: Sequence[EncodedConversation], pad_id: int, left: bool = False
) -> dict[str, torch.Tensor]:
    """Pad to the longest item: pads get attention 0 and label -100."""
    import torch

    width = max(len(item.input_ids) for item in items)
    ids, mask, labels = [], [], []
    for item in items:
        pad = width - len(item.input_ids)
        fill = ([pad_id] * pad, [0] * pad, [IGNORE_INDEX] * pad)
        body = (item.input_ids, [1] * len(item.input_ids), item.labels)
        parts = (
            [f + b for f, b in zip(fill, body, strict=True)]
            if left
            else [b + f for f, b in zip(fill, body, strict=True)]
        )
        ids.append(parts[0])
        mask.append(parts[1])
        labels.append(parts[2])
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "attention_mask": torch.tensor(mask, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
    }
