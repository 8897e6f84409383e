"""IFD arithmetic against direct, unbatched forward passes; truncation, failures and IFD ≥ 1."""

import math

import numpy as np
import pytest
import torch

from deita_assets.core.ifd import AT_LEAST_ONE, FAILED, OK, IFDScorer, ifd_rows, row_ifd
from deita_assets_tests.support.scorer_fixtures import byte_bpe_tokenizer, tiny_llama

PAIRS = [
    ("Write a poem about the sea.", "The sea is blue and long, the sky is blue."),
    ("Why is the sky blue?", "Short answer: light."),
    ("Name a cat.", "Tom"),
]


@pytest.fixture(scope="module")
def smol_tokenizer(small_llm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(small_llm_dir)


def by_hand(model, context_ids, answer_ids):
    """exp(mean NLL of the answer tokens) from one unpadded forward pass."""
    ids = torch.tensor([[*context_ids, *answer_ids]])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    nll = [-logprobs[len(context_ids) + j - 1, t].item() for j, t in enumerate(answer_ids)]
    return math.exp(sum(nll) / len(nll))


def encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_ifd_through_the_chat_template_equals_direct_forward_passes(smol_tokenizer):
    tokenizer = smol_tokenizer
    model = tiny_llama(len(tokenizer), max_position_embeddings=1024)
    got = IFDScorer(model, tokenizer, max_length=512, batch_size=2).score(PAIRS)
    header = "<|im_start|>assistant\n"
    for i, (question, answer) in enumerate(PAIRS):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
        )
        assert prompt.endswith(header)
        a = encode(tokenizer, answer)
        conditioned, alone = (
            by_hand(model, encode(tokenizer, prompt), a),
            by_hand(model, encode(tokenizer, header), a),
        )
        assert got.ppl_conditioned[i] == pytest.approx(conditioned, rel=1e-4)
        assert got.ppl_alone[i] == pytest.approx(alone, rel=1e-4)
        assert got.ifd[i] == pytest.approx(conditioned / alone, rel=1e-4)
    assert got.reasons == [None] * 3 and got.truncated == [False] * 3


def test_ifd_without_a_chat_template_starts_from_the_eos_token_and_counts_truncation():
    tokenizer = byte_bpe_tokenizer()  # GPT-2 style: no chat template, eos doubles as start token
    model = tiny_llama(len(tokenizer))
    eos = tokenizer.eos_token_id
    got = IFDScorer(model, tokenizer, max_length=512).score(PAIRS[:2])
    for i, (question, answer) in enumerate(PAIRS[:2]):
        a = encode(tokenizer, answer)
        expected = by_hand(model, [eos, *encode(tokenizer, question + "\n\n")], a) / by_hand(model, [eos], a)
        assert got.ifd[i] == pytest.approx(expected, rel=1e-4)
    short = IFDScorer(model, tokenizer, max_length=24).score([(PAIRS[0][0] * 4, PAIRS[0][1] * 4), ("Hi", "")])
    assert short.truncated[0] and np.isfinite(short.ifd[0])
    assert short.reasons == [None, "empty answer"] and np.isnan(short.ifd[1])


def test_row_ifd_is_the_turn_mean_and_marks_at_least_one():
    assert row_ifd([0.5, 0.7], [None, None]) == (pytest.approx(0.6), OK, None)
    value, status, reason = row_ifd([0.9, 1.3], [None, None])
    assert value == pytest.approx(1.1) and status == AT_LEAST_ONE and "IFD ≥ 1" in reason
    assert row_ifd([float("nan")], ["empty answer"]) == (None, FAILED, "turn 0: empty answer")
    assert row_ifd([], []) == (None, FAILED, "no (user, assistant) turn pair")


def test_ifd_rows_batches_every_turn_of_every_row(smol_tokenizer):
    model = tiny_llama(len(smol_tokenizer), max_position_embeddings=1024)
    scorer = IFDScorer(model, smol_tokenizer)
    turns = [
        {"role": "user", "content": PAIRS[0][0]},
        {"role": "assistant", "content": PAIRS[0][1]},
        {"role": "user", "content": PAIRS[1][0]},
        {"role": "assistant", "content": PAIRS[1][1]},
    ]
    rows = [
        {"turns": turns},
        {"turns": turns[:1]},
        {"turns": [turns[0], {"role": "assistant", "content": " "}]},
    ]
    out, stats = ifd_rows(rows, scorer)
    single = scorer.score(PAIRS[:2]).ifd
    assert out[0]["ifd_turns"] == pytest.approx(list(single), rel=1e-4)
    assert out[0]["ifd"] == pytest.approx(float(np.mean(single)), rel=1e-4)
    assert out[0]["ifd_status"] == (OK if out[0]["ifd"] < 1 else AT_LEAST_ONE)
    assert out[1]["ifd_status"] == FAILED and out[1]["ifd_reason"] == "no (user, assistant) turn pair"
    assert out[2]["ifd_status"] == FAILED and out[2]["ifd_reason"] == "turn 0: empty answer"
    assert stats["ifd_pairs"] == 3 and stats["ifd_failed_pairs"] == 1
