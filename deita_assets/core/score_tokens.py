"""Templates as token ids for one tokenizer: digit-id resolution, field truncation, padding.

The digit token ids come from the tokenizer (never hard-coded). Inputs are truncated field by
field so the score marker always stays last, and every truncation is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deita_assets.core.chat_tokens import encode_text
from deita_assets.core.score_templates import DIGITS, ScoreTemplate

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def resolve_digit_ids(tokenizer: PreTrainedTokenizerBase, tail: str) -> tuple[str, tuple[int, ...]]:
    """Find the separator (" " or "") after `tail` for which each digit is exactly one new token.

    Returns (separator, ids of "1".."6"). Tokenizers differ: SmolLM2 and BERT split "Complexity: 3"
    into ..., ":", (" "), "3"; GPT-2-style vocabularies merge " 3" into one token, where the separator
    must then be "" so the digit stays a token of its own.
    """
    problems = []
    for separator in (" ", ""):
        base = _encode(tokenizer, tail + separator)
        ids = []
        for digit in DIGITS:
            full = _encode(tokenizer, tail + separator + digit)
            if len(full) != len(base) + 1 or full[: len(base)] != base:
                problems.append(f"separator {separator!r}: {digit!r} does not extend the prompt by one token")
                break
            if tokenizer.decode([full[-1]]).strip() != digit:
                problems.append(f"separator {separator!r}: token {full[-1]} does not decode to {digit!r}")
                break
            ids.append(full[-1])
        else:
            if len(set(ids)) == len(DIGITS) and tokenizer.unk_token_id not in ids:
                return separator, tuple(ids)
            problems.append(f"separator {separator!r}: digit ids not distinct or unknown: {ids}")
    raise ValueError(f"cannot resolve single-token digits after {tail[-20:]!r}: " + "; ".join(problems))


def leading_special_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Special tokens the tokenizer puts in front of a text (BOS, [CLS]); trailing ones are dropped
    because the score marker must be the last thing the model reads."""
    plain = _encode(tokenizer, "hello")
    full = list(tokenizer("hello", add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start]
    return []


@dataclass(frozen=True)
class TokenizedTemplate:
    """A template turned into token ids for one tokenizer, with the digit ids resolved."""

    template: ScoreTemplate
    lead: tuple[int, ...]
    literals: tuple[tuple[int, ...], ...]
    separator: str
    digit_ids: tuple[int, ...]

    @property
    def fixed_length(self) -> int:
        return len(self.lead) + sum(len(lit) for lit in self.literals)


def tokenize_template(template: ScoreTemplate, tokenizer: PreTrainedTokenizerBase) -> TokenizedTemplate:
    separator, digit_ids = resolve_digit_ids(tokenizer, template.literals[-1])
    literals = [*template.literals[:-1], template.literals[-1] + separator]
    return TokenizedTemplate(
        template=template,
        lead=tuple(leading_special_ids(tokenizer)),
        literals=tuple(tuple(_encode(tokenizer, lit)) for lit in literals),
        separator=separator,
        digit_ids=digit_ids,
    )


def allocate_tokens(lengths: Sequence[int], tokens: int) -> list[int]:
    """Share `tokens` among fields: short fields keep everything, long ones split the rest."""
    keep = [0] * len(lengths)
    remaining = tokens
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for rank, index in enumerate(order):
        keep[index] = min(lengths[index], remaining // (len(lengths) - rank))
        remaining -= keep[index]
    return keep


def encode_rows(
    tokenized: TokenizedTemplate,
    tokenizer: PreTrainedTokenizerBase,
    rows: Sequence[Sequence[str]],
    max_length: int,
) -> tuple[list[list[int]], list[bool]]:
    """Token ids per row (marker last) and whether the row had to be truncated to `max_length`."""
    room = max_length - tokenized.fixed_length
    if room < len(tokenized.template.fields):
        raise ValueError(f"max_length {max_length} leaves no room for the fields of the template")
    encoded, truncated = [], []
    for row in rows:
        tokenized.template._check(row)
        fields = [encode_text(tokenizer, value) for value in row]  # data text: no control tokens
        keep = allocate_tokens([len(f) for f in fields], room)
        ids = list(tokenized.lead) + list(tokenized.literals[0])
        for field_ids, n, literal in zip(fields, keep, tokenized.literals[1:], strict=True):
            ids += field_ids[:n] + list(literal)
        encoded.append(ids)
        truncated.append(any(n < len(f) for n, f in zip(keep, fields, strict=True)))
    return encoded, truncated


def model_context(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, wanted: int) -> int:
    """The usable input length: the configured one capped by the model's and tokenizer's limits."""
    limits = [wanted, getattr(model.config, "max_position_embeddings", None) or wanted]
    if 0 < (tokenizer.model_max_length or 0) < 10**9:
        limits.append(tokenizer.model_max_length)
    return int(min(limits))


def padding_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id batches are padded with: the pad token, else eos (causal LMs often have no pad)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("tokenizer has neither a pad nor an eos token to pad batches with")
    return int(pad)
