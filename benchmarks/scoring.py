"""Batched vs one-row-at-a-time LM scoring with the same model and rows, side by side in one run.

Usage: python benchmarks/scoring.py [--rows 64] [--batch-size 64] [--max-batch-tokens 512] [--dtype auto]
                                    [--dimensions complexity,quality] [--max-length 512]
                                    [--model bundled:smollm2-135m-instruct]

Rows are Alpaca pairs from ../shared/data (instruction + input, output), scored with the project's
template. Four loops over one model (same weights, dtype, truncation), per dimension:
- one row at a time, full prompt: the plain loop (what the official DEITA scripts do);
- batched, full prompt: length-sorted batches padded on the right, at most --batch-size rows and
  --max-batch-tokens padded tokens each (the `scorers` resource's defaults) — batching alone;
- one row at a time, shared prefix: the template's opening block read once (a key/value cache)
  and every row continuing from it — prefix reuse alone;
- batched + shared prefix: what the `scorers` resource does by default (the product path).
The headline ratio is the product path over the plain loop; the other two rows show where the
speed comes from. A roofline line says how close the plain loop already is to this CPU's measured
matmul peak: batching cannot go past that ceiling, it can only remove per-call overhead.
Also prints the embedding-head kind's cost for the same texts (embedding + a dot product).
Target: ≥ 5× the one-row loop. The machine is shared: run it twice and expect noise.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from deita_assets.core.lm_scorer import LMScorer, pick_inference_dtype
from deita_assets.core.models import (
    BUNDLED_EMBEDDER,
    BUNDLED_LLM,
    load_causal_lm,
    load_sentence_transformer,
    offline_by_default,
)
from deita_assets.core.score_templates import TEMPLATES
from deita_assets.core.score_tokens import encode_rows
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


def matmul_peak_gflops(dtype: torch.dtype, seconds: float = 1.5) -> float:
    """This CPU's sustained GEMM rate at the model's shapes (2048 tokens × 576 → 1536), in GFLOP/s."""
    a, b = torch.randn(2048, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * 2048 * 576 * 1536 * done / (time.perf_counter() - start) / 1e9


def timed(scorer: LMScorer, rows: list[tuple[str, ...]], one_at_a_time: bool) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    if one_at_a_time:
        scores = np.array([scorer.score([row]).scores[0] for row in rows])
    else:
        scores = scorer.score(rows).scores
    return time.perf_counter() - start, scores


def compare(model, tokenizer, dimension: str, args: argparse.Namespace, peak: float) -> None:
    rows = alpaca_rows(args.rows, dimension)
    template = TEMPLATES[dimension]
    batching = {"max_batch_tokens": args.max_batch_tokens or None}
    full = LMScorer(
        model, tokenizer, template, args.max_length, args.batch_size, reuse_prefix=False, **batching
    )
    reusing = LMScorer(model, tokenizer, template, args.max_length, args.batch_size, **batching)
    encoded, truncated = encode_rows(full.tokenized, tokenizer, rows, full.max_length)
    tokens = sum(map(len, encoded))
    print(
        f"\n{dimension}: {len(rows)} rows, {tokens} tokens (mean {tokens / len(rows):.0f}/row, "
        f"{sum(truncated)} truncated), shared prefix {reusing.prefix.length} tokens/row"
    )
    for scorer in (full, reusing):  # warm-up: first-call kernel setup at both shapes
        scorer.score(rows[: args.batch_size])
        scorer.score(rows[:1])
    loops = {
        "one row at a time": (full, True),
        "batched": (full, False),
        "one at a time + prefix": (reusing, True),
        "batched + prefix": (reusing, False),
    }
    results = {name: timed(scorer, rows, single) for name, (scorer, single) in loops.items()}
    plain_s, plain = results["one row at a time"]
    print(f"{'loop':>28s} {'seconds':>8s} {'rows/s':>8s} {'x plain':>8s} {'max |Δscore|':>13s}")
    for name, (seconds, scores) in results.items():
        print(
            f"{name:>28s} {seconds:8.2f} {len(rows) / seconds:8.2f} {plain_s / seconds:8.2f} "
            f"{np.nanmax(np.abs(scores - plain)):13.4f}"
        )
    product_s, product = results["batched + prefix"]
    print(
        f"speed-up batched + prefix / one row at a time: {plain_s / product_s:.2f}x "
        f"(batching alone {plain_s / results['batched'][0]:.2f}x); "
        f"failures {int(np.isnan(product).sum())}"
    )
    flops = 2 * sum(p.numel() for n, p in model.named_parameters() if "embed" not in n and "lm_head" not in n)
    achieved = tokens * flops / plain_s / 1e9
    print(
        f"roofline: the plain loop runs {achieved:.0f} GFLOP/s = {achieved / peak:.0%} of the measured "
        f"{peak:.0f} GFLOP/s GEMM peak, so batching alone can reach at most {peak / achieved:.1f}x"
    )
    embedding_head_cost(rows, plain_s)


def embedding_head_cost(rows: list[tuple[str, ...]], plain_s: float) -> None:
    embedder = load_sentence_transformer(BUNDLED_EMBEDDER)
    texts = [head_text(row) for row in rows]
    embedder.encode(texts[:8])
    start = time.perf_counter()
    vectors = embedder.encode(texts, batch_size=32, normalize_embeddings=True)
    _ = vectors @ np.ones(vectors.shape[1], dtype=np.float32)
    head_s = time.perf_counter() - start
    print(
        f"embedding head (all-MiniLM-L6-v2 + ridge): {len(rows) / head_s:.1f} rows/s "
        f"({plain_s / head_s:.0f}x the plain loop)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-batch-tokens", type=int, default=512, help="0 = no token cap")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--dimensions", default="complexity,quality")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--model", default=BUNDLED_LLM)
    args = parser.parse_args()
    offline_by_default()
    dtype = pick_inference_dtype(args.dtype)
    model, tokenizer = load_causal_lm(args.model, dtype=dtype)
    peak = matmul_peak_gflops(dtype)
    print(
        f"model {args.model}  dtype {dtype}  threads {torch.get_num_threads()}  load {os.getloadavg()[0]:.1f}"
    )
    for dimension in args.dimensions.split(","):
        if dimension not in TEMPLATES:
            raise SystemExit(f"unknown dimension {dimension!r} (one of {sorted(TEMPLATES)})")
        compare(model, tokenizer, dimension, args, peak)


if __name__ == "__main__":
    main()
