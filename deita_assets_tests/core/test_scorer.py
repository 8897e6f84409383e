"""Scorer core: the digit-expectation math, token-id resolution for three tokenizers, batching,
truncation, top-logprob scoring, seed split, metrics, and a tiny real training run."""

import math

import numpy as np
import pytest
import torch

from deita_assets.core.lm_scorer import LMScorer
from deita_assets.core.logprob_scorer import LogprobScorer, score_from_top_logprobs
from deita_assets.core.score_templates import (
    COMPLEXITY_TEMPLATE,
    DIGITS,
    QUALITY_TEMPLATE,
    digit_probabilities,
    expected_score,
)
from deita_assets.core.score_tokens import allocate_tokens, encode_rows, resolve_digit_ids, tokenize_template
from deita_assets.core.scorer_training import (
    TrainConfig,
    calibration_table,
    dev_metrics,
    directory_hash,
    save_lm_scorer,
    split_by_seed,
    train_lm_scorer,
)
from deita_assets_tests.support.scorer_fixtures import (
    FixedLogitsModel,
    PositionLogitsModel,
    byte_bpe_tokenizer,
    tiny_llama,
)


@pytest.fixture(scope="module")
def bpe():
    return byte_bpe_tokenizer()


@pytest.fixture(scope="module")
def bert():
    from transformers import AutoTokenizer

    from deita_assets.core.models import bundled_minilm_path

    return AutoTokenizer.from_pretrained(str(bundled_minilm_path()))


@pytest.fixture(scope="module")
def smollm2():
    from transformers import AutoTokenizer

    from deita_assets.core.models import BUNDLED_LLM, resolve_causal_lm

    source = resolve_causal_lm(BUNDLED_LLM)
    return AutoTokenizer.from_pretrained(source.name_or_path, gguf_file=source.gguf_file)


# ------------------------------------------------------------------ math


def test_expected_score_matches_hand_computation():
    # logits (1,2,3,0,0,0): e^1+e^2+e^3+3 = 33.192875; Σk·e^l = e+2e²+3e³+4+5+6 = 92.753005
    hand = 92.753005 / 33.192875
    assert expected_score(np.array([[1.0, 2, 3, 0, 0, 0]]))[0] == pytest.approx(hand, 1e-6)
    assert expected_score(np.zeros((1, 6)))[0] == pytest.approx(3.5)
    # a single dominant digit gives (almost exactly) that digit; shifts do not matter
    assert expected_score(np.array([[0, 0, 0, 0, 0, 50.0]]))[0] == pytest.approx(6.0, abs=1e-12)
    shifted = np.array([[1001.0, 1002, 1003, 1000, 1000, 1000]])
    assert expected_score(shifted)[0] == pytest.approx(hand, 1e-6)
    probs = digit_probabilities(np.array([[1.0, 2, 3, 0, 0, 0]]))
    assert probs.sum() == pytest.approx(1.0)
    assert probs[0, 2] == pytest.approx(math.exp(3) / 33.192875, 1e-6)


def test_lm_scorer_uses_only_the_six_digit_logits(bpe):
    tokenized = tokenize_template(COMPLEXITY_TEMPLATE, bpe)
    model = FixedLogitsModel(len(bpe), tokenized.digit_ids, [1.0, 2, 3, 0, 0, 0])
    batch = LMScorer(model, bpe, COMPLEXITY_TEMPLATE, 128, 3, reuse_prefix=False).score(
        [("hello",), ("hello world " * 5,), ("x",), ("score 3",)]
    )
    np.testing.assert_allclose(batch.scores, 2.7943649, rtol=1e-6)
    assert batch.reasons == [None] * 4


def test_batched_scoring_reads_each_rows_own_last_position(bpe):
    tokenized = tokenize_template(COMPLEXITY_TEMPLATE, bpe)
    model = PositionLogitsModel(len(bpe), tokenized.digit_ids)
    scorer = LMScorer(model, bpe, COMPLEXITY_TEMPLATE, 256, 4, reuse_prefix=False)
    rows = [("hello " * n,) for n in (1, 7, 2, 9, 3, 3, 12)]
    encoded, _ = encode_rows(scorer.tokenized, bpe, rows, scorer.max_length)
    batch = scorer.score(rows)
    expected = [(len(ids) - 1) % 6 + 1 for ids in encoded]  # the digit the last position favours
    np.testing.assert_allclose(batch.scores, expected, atol=1e-6)


def test_non_finite_logits_are_failures_not_defaults(bpe):
    tokenized = tokenize_template(COMPLEXITY_TEMPLATE, bpe)
    model = FixedLogitsModel(len(bpe), tokenized.digit_ids, [float("nan"), 0, 0, 0, 0, 0])
    batch = LMScorer(model, bpe, COMPLEXITY_TEMPLATE, 128, reuse_prefix=False).score([("a",), ("b",)])
    assert np.isnan(batch.scores).all()
    assert batch.reasons == ["non-finite digit logits"] * 2 and batch.n_failed == 2


def test_tiny_llama_batched_equals_one_at_a_time(bpe):
    scorer = LMScorer(tiny_llama(len(bpe)), bpe, QUALITY_TEMPLATE, max_length=200, batch_size=4)
    rows = [("hello " * n, "world " * (13 - n)) for n in range(1, 12)]
    batched = scorer.score(rows).scores
    single = np.array([scorer.score([row]).scores[0] for row in rows])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert ((batched >= 1) & (batched <= 6)).all()
    np.testing.assert_array_equal(batched, scorer.score(rows).scores)  # deterministic


@pytest.mark.parametrize("template", [COMPLEXITY_TEMPLATE, QUALITY_TEMPLATE])
def test_shared_prefix_cache_gives_the_full_prompts_scores(bpe, template):
    model = tiny_llama(len(bpe), seed=3)
    rows = [
        tuple(f"{word} " * (n + k) for k in range(len(template.fields)))
        for n, word in enumerate(["hello", "world", "score 3", "Quality", "x"], start=1)
    ]
    reusing = LMScorer(model, bpe, template, max_length=200, batch_size=3)
    full = LMScorer(model, bpe, template, max_length=200, batch_size=3, reuse_prefix=False)
    assert reusing.prefix is not None and reusing.prefix.length == reusing.tokenized.fixed_length - sum(
        len(lit) for lit in reusing.tokenized.literals[1:]
    )
    assert full.prefix is None
    np.testing.assert_allclose(reusing.score(rows).scores, full.score(rows).scores, atol=1e-5)
    single = [full.score([row]).scores[0] for row in rows]
    np.testing.assert_allclose(reusing.score(rows).scores, single, atol=1e-5)


# ------------------------------------------------------------------ tokens


@pytest.mark.parametrize("name", ["smollm2", "bert", "bpe"])
def test_digit_ids_resolved_from_each_tokenizer(name, request):
    tokenizer = request.getfixturevalue(name)
    for template in (COMPLEXITY_TEMPLATE, QUALITY_TEMPLATE):
        tokenized = tokenize_template(template, tokenizer)
        assert [tokenizer.decode([i]).strip() for i in tokenized.digit_ids] == list(DIGITS)
        # the prompt followed by each digit tokenizes exactly like prompt ids + that digit's id
        tail = template.literals[-1] + tokenized.separator
        for digit, token_id in zip(DIGITS, tokenized.digit_ids, strict=True):
            ids = tokenizer(tail + digit, add_special_tokens=False)["input_ids"]
            assert ids == [*tokenized.literals[-1], token_id]


def test_separator_depends_on_the_tokenizer(smollm2, bert, bpe):
    assert tokenize_template(COMPLEXITY_TEMPLATE, smollm2).separator == " "
    assert tokenize_template(COMPLEXITY_TEMPLATE, bert).separator == " "
    # the BPE vocabulary merges " 3": the digit must follow the marker directly
    assert len(bpe(" 3", add_special_tokens=False)["input_ids"]) == 1
    assert tokenize_template(COMPLEXITY_TEMPLATE, bpe).separator == ""
    assert tokenize_template(COMPLEXITY_TEMPLATE, smollm2).digit_ids == (33, 34, 35, 36, 37, 38)
    assert tokenize_template(COMPLEXITY_TEMPLATE, bert).lead == (bert.cls_token_id,)


def test_unresolvable_digits_raise(bpe):
    class NoDigits:
        unk_token_id = None

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text.replace("3", "")]}

        def decode(self, ids):
            return "".join(map(chr, ids))

    with pytest.raises(ValueError, match="cannot resolve"):
        resolve_digit_ids(NoDigits(), "Complexity:")


def test_truncation_keeps_marker_and_is_counted(smollm2):
    tokenized = tokenize_template(QUALITY_TEMPLATE, smollm2)
    max_length = tokenized.fixed_length + 40
    rows = [("short question", "word " * 500), ("q " * 300, "a " * 300), ("hi", "there")]
    encoded, truncated = encode_rows(tokenized, smollm2, rows, max_length)
    assert truncated == [True, True, False]
    for ids in encoded:
        assert len(ids) <= max_length
        assert ids[-len(tokenized.literals[-1]) :] == list(tokenized.literals[-1])
    # the short question survives whole; the long answer gets the rest of the budget
    assert smollm2.decode(encoded[0]).count("short question") == 1
    assert allocate_tokens([5, 100], 40) == [5, 35]
    assert allocate_tokens([300, 300], 40) == [20, 20]
    with pytest.raises(ValueError):
        encode_rows(tokenized, smollm2, rows, tokenized.fixed_length)


def test_rendered_template_matches_tokenized_prompt(smollm2):
    tokenized = tokenize_template(COMPLEXITY_TEMPLATE, smollm2)
    text = COMPLEXITY_TEMPLATE.render(["Sort a list"]) + tokenized.separator
    assert text.endswith("Complexity: ")
    encoded, _ = encode_rows(tokenized, smollm2, [("Sort a list",)], 512)
    assert smollm2.decode(encoded[0]) == text


# ------------------------------------------------------------------ top logprobs


def test_top_logprobs_all_digits():
    top = {str(d): math.log(p) for d, p in zip(range(1, 7), [0.1, 0.1, 0.2, 0.2, 0.2, 0.2], strict=True)}
    result = score_from_top_logprobs(top)
    assert result.status == "ok" and result.score == pytest.approx(0.1 + 0.2 + 0.6 + 0.8 + 1.0 + 1.2)


def test_top_logprobs_merge_space_variants_and_ignore_other_tokens():
    top = {"3": math.log(0.3), " 3": math.log(0.3), "4": math.log(0.2), "The": math.log(0.1)}
    top |= {d: math.log(0.025) for d in "1256"}
    result = score_from_top_logprobs(top)
    w = {1: 0.025, 2: 0.025, 3: 0.6, 4: 0.2, 5: 0.025, 6: 0.025}
    assert result.score == pytest.approx(sum(k * p for k, p in w.items()) / sum(w.values()))


def test_missing_digits_fail_or_state_bounds():
    top = {"3": math.log(0.5), "4": math.log(0.3), "x": math.log(0.1)}  # 1,2,5,6 missing; each <= 0.1
    failed = score_from_top_logprobs(top, "fail")
    assert failed.status == "failed" and failed.score is None and "1,2,5,6" in failed.reason
    bounded = score_from_top_logprobs(top, "bounds")
    assert bounded.status == "bounded"
    assert bounded.score == pytest.approx((3 * 0.5 + 4 * 0.3) / 0.8)
    # lowest: 1 and 2 at the 0.1 ceiling, 5 and 6 absent; highest: the reverse
    assert bounded.low == pytest.approx((1 * 0.1 + 2 * 0.1 + 1.5 + 1.2) / 1.0)
    assert bounded.high == pytest.approx((1.5 + 1.2 + 5 * 0.1 + 6 * 0.1) / 1.0)
    assert bounded.low < bounded.score < bounded.high
    assert score_from_top_logprobs({"a": -0.1}).status == "failed"
    assert score_from_top_logprobs({}).reason == "server returned no top_logprobs"


# ------------------------------------------------------------------ split, metrics


def test_split_by_seed_keeps_variants_together_and_is_stable():
    seeds = [s for s in range(20) for _ in range(6)]
    dev = split_by_seed(seeds, 0.25)
    assert len(dev) == 5 and dev == split_by_seed(list(reversed(seeds)), 0.25)
    assert split_by_seed([1, 1, 1], 0.5) == set()
    assert len(split_by_seed([1, 2], 0.9)) == 1


def test_dev_metrics_and_calibration():
    pred = np.array([1.2, 2.6, 3.1, 4.9, 5.8, np.nan])
    llm = np.array([1.0, 3.0, 3.0, 4.0, 6.0, 2.0])
    metrics = dev_metrics(pred, llm)
    assert metrics["n"] == 5 and metrics["n_failed"] == 1
    assert metrics["spearman"] == pytest.approx(0.9746794, 1e-6)  # ties in llm: 3,3
    assert metrics["accuracy"] == pytest.approx(4 / 5)  # 4.9 rounds to 5, llm 4
    table = calibration_table(pred[:5], llm[:5])
    assert [row["rows"] for row in table] == [1, 1, 1, 1, 1]
    assert table[4]["mean_llm"] == 6.0
    assert dev_metrics(np.ones(3), np.array([1.0, 2, 3]))["spearman"] is None


# ------------------------------------------------------------------ training


def test_training_learns_the_score_token_and_round_trips(bpe, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = tiny_llama(len(bpe), seed=1)
    rows = [("hello " * (d * 2),) for d in range(1, 7) for _ in range(4)]
    targets = [float(d) for d in range(1, 7) for _ in range(4)]
    config = TrainConfig(epochs=10, learning_rate=1e-2, batch_size=12, warmup_ratio=0.05, max_length=128)
    curve, n_truncated = train_lm_scorer(model, bpe, COMPLEXITY_TEMPLATE, rows, targets, config)
    assert len(curve) == 20 and curve[-1]["step"] == 20 and n_truncated == 0
    assert np.mean([p["loss"] for p in curve[-5:]]) < 0.5 * np.mean([p["loss"] for p in curve[:5]])
    scores = LMScorer(model, bpe, COMPLEXITY_TEMPLATE, 128).score(rows).scores
    assert dev_metrics(scores, np.array(targets))["spearman"] > 0.8
    digest = save_lm_scorer(model, bpe, tmp_path / "s", {"dimension": "complexity"})
    assert (tmp_path / "s" / "model.safetensors").is_file() and len(digest) == 24
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "s", dtype=torch.float32)
    again = LMScorer(reloaded, AutoTokenizer.from_pretrained(tmp_path / "s"), COMPLEXITY_TEMPLATE, 128)
    np.testing.assert_allclose(again.score(rows).scores, scores, atol=1e-5)
    assert directory_hash(tmp_path / "s") == digest


# ------------------------------------------------------------------ OpenAI-compatible scorer


def _result(top, error=None):
    from deita_assets.core.llm_types import ChatResult

    logprobs = None if top is None else [{"token": "x", "logprob": -1.0, "top": top}]
    return ChatResult("k", "3", "length", 10, 1, False, error, "boom" if error else None, "b", "m", logprobs)


def test_logprob_scorer_requests_and_outcomes():
    tops = [
        [[d, math.log(1 / 6)] for d in DIGITS],
        [["3", math.log(0.6)], ["The", math.log(0.3)]],
        None,
    ]
    sent = []

    def chat_many(requests):
        sent.extend(requests)
        return [_result(tops[0]), _result(tops[1]), _result(None), _result(None, "server_error")]

    batch = LogprobScorer(chat_many, QUALITY_TEMPLATE, top_logprobs=5).score([("q", "a")] * 4)
    assert sent[0].top_logprobs == 5 and sent[0].max_tokens == 1 and sent[0].temperature == 0.0
    assert sent[0].messages[0]["content"].endswith("Quality:")
    assert batch.scores[0] == pytest.approx(3.5) and np.isnan(batch.scores[1:]).all()
    assert batch.reasons[1].startswith("digits 1,2,4,5,6 missing from top-2")
    assert batch.reasons[2:] == ["server returned no logprobs", "server_error: boom"]
    assert batch.extra == {"logprob_ok": 1, "logprob_failed": 3}
    bounded = LogprobScorer(lambda r: [_result(tops[1])], QUALITY_TEMPLATE, 5, "bounds").score([("q", "a")])
    assert bounded.scores[0] == pytest.approx(3.0) and bounded.extra == {"logprob_bounded": 1}


@pytest.mark.slow
def test_logprob_scorer_against_local_llama_cpp_server(store):
    """The real OpenAI path: llama.cpp's server on SmolLM2 returns top-20 logprobs; the untrained chat
    model rarely puts all six digits there, so rows come back scored in [1, 6] or failed with why."""
    from deita_assets.resources.llm import LLMResource

    rows = [("Write a haiku about autumn.",), ("Prove there are infinitely many primes.",)]
    with LLMResource(store=store).session() as session:
        batch = LogprobScorer(session.chat_many, COMPLEXITY_TEMPLATE).score(rows)
    for score, reason in zip(batch.scores, batch.reasons, strict=True):
        assert (1 <= score <= 6 and reason is None) or (np.isnan(score) and "top" in reason)


def test_token_budget_batches_keep_long_rows_small_and_fill_short_ones():
    from deita_assets.core.reward import length_batches

    lengths = [100, 10, 10, 10, 50, 50, 10]
    assert list(length_batches(lengths, 8, max_tokens=120)) == [[0], [4, 5], [1, 2, 3, 6]]
    assert list(length_batches(lengths, 2)) == [[0, 4], [5, 1], [2, 3], [6]]
    assert sorted(i for b in length_batches(lengths, 3, max_tokens=1) for i in b) == list(range(7))


def test_token_budget_does_not_change_scores(bpe):
    model, rows = tiny_llama(len(bpe), seed=5), [("hello " * n, "world " * (2 * n)) for n in range(1, 9)]
    capped = LMScorer(model, bpe, QUALITY_TEMPLATE, 200, batch_size=8, max_batch_tokens=64)
    plain = LMScorer(model, bpe, QUALITY_TEMPLATE, 200, batch_size=8)
    np.testing.assert_allclose(capped.score(rows).scores, plain.score(rows).scores, atol=1e-5)
