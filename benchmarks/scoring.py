"""Batched vs one-row-at-a-time LM scoring with the same model and rows, side by side in one run.

Usage: python benchmarks/scoring.py [--rows 64] [--batch-size 16] [--dtype auto] [--dimension quality]
                                    [--max-length 512] [--model bundled:smollm2-135m-instruct]

Rows are Alpaca pairs from ../shared/data (instruction + input, output), scored with the project's
template. Both loops use one LMScorer (same weights, dtype, truncation); the batched loop sorts by
length and pads on the right, the single loop calls it with one row at a time. Prints rows/s,
tokens/s, the speed-up, and the largest score difference between the two (bf16 kernels round
differently for different batch shapes; in float32 they agree to ~1e-5). Also prints the
embedding-head kind's cost for the same texts (embedding + a dot product) for comparison.
Target: batched ≥ 5× the single loop. The machine is shared: run it twice and expect noise.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from deita_assets.core.models import (
    BUNDLED_EMBEDDER,
    BUNDLED_LLM,
    load_causal_lm,
    load_sentence_transformer,
    offline_by_default,
)
from deita_assets.core.scorer import TEMPLATES, LMScorer, encode_rows, pick_inference_dtype
from deita_assets.core.scorer_head import head_text


def alpaca_rows(n: int, dimension: str) -> list[tuple[str, ...]]:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    data = Path(os.environ.get("DEITA_SHARED_DATA", default)) / "alpaca" / "alpaca_5000.json"
    records = json.loads(data.read_text())[:n]
    rows = []
    for r in records:
        question = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
        rows.append((question,) if dimension == "complexity" else (question, r["output"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--dimension", default="quality", choices=sorted(TEMPLATES))
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--model", default=BUNDLED_LLM)
    args = parser.parse_args()
    offline_by_default()
    dtype = pick_inference_dtype(args.dtype)
    rows = alpaca_rows(args.rows, args.dimension)
    model, tokenizer = load_causal_lm(args.model, dtype=dtype)
    scorer = LMScorer(model, tokenizer, TEMPLATES[args.dimension], args.max_length, args.batch_size)
    encoded, truncated = encode_rows(scorer.tokenized, tokenizer, rows, scorer.max_length)
    tokens = sum(map(len, encoded))
    print(f"model {args.model}  dtype {dtype}  threads {torch.get_num_threads()}  rows {len(rows)}")
    print(f"tokens {tokens} (mean {tokens / len(rows):.0f}/row, {sum(truncated)} rows truncated)")
    scorer.score(rows[: args.batch_size])  # warm-up: first-call kernel setup

    start = time.perf_counter()
    single = np.array([scorer.score([row]).scores[0] for row in rows])
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = scorer.score(rows).scores
    batched_s = time.perf_counter() - start

    print(f"{'loop':>22s} {'seconds':>8s} {'rows/s':>8s} {'tokens/s':>9s}")
    for name, seconds in (("one row at a time", single_s), (f"batched ({args.batch_size})", batched_s)):
        print(f"{name:>22s} {seconds:8.2f} {len(rows) / seconds:8.2f} {tokens / seconds:9.0f}")
    print(f"speed-up batched / single: {single_s / batched_s:.2f}x")
    print(
        f"max |score difference|: {np.nanmax(np.abs(single - batched)):.4f};"
        f" failures {np.isnan(batched).sum()}"
    )

    embedder = load_sentence_transformer(BUNDLED_EMBEDDER)
    texts = [head_text(row) for row in rows]
    embedder.encode(texts[:8])
    start = time.perf_counter()
    vectors = embedder.encode(texts, batch_size=32, normalize_embeddings=True)
    _ = vectors @ np.ones(vectors.shape[1], dtype=np.float32)
    head_s = time.perf_counter() - start
    print(
        f"embedding head (all-MiniLM-L6-v2 + ridge): {len(rows) / head_s:.1f} rows/s "
        f"({(single_s / len(rows)) / (head_s / len(rows)):.0f}x the single loop, "
        f"{batched_s / head_s:.1f}x the batched LM)"
    )


if __name__ == "__main__":
    main()
