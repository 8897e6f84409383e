"""IFD (Superfiltering) throughput: the pool_scores path on real Alpaca pairs, one model, several
padded-token budgets per forward pass.

Usage: python benchmarks/ifd.py [--rows 256] [--model bundled:smollm2-135m-instruct] [--max-length 512]
                                [--max-batch-tokens 512,1024,2048] [--batch-size 64] [--dtype auto]

Each pair costs two forward passes (answer after the instruction, answer after the assistant header
only). Prints rows/s per setting, the share of IFD ≥ 1 and truncated pairs. The machine is shared:
run it twice and expect noise.
"""

import argparse
import time

import numpy as np
import torch

from benchmarks.scoring import alpaca_rows
from deita_assets.core.ifd import IFDScorer
from deita_assets.core.lm_scorer import pick_inference_dtype
from deita_assets.core.models import BUNDLED_LLM, load_causal_lm, offline_by_default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--model", default=BUNDLED_LLM)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--max-batch-tokens", default="512,1024,2048")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    offline_by_default()
    dtype = pick_inference_dtype(args.dtype)
    model, tokenizer = load_causal_lm(args.model, dtype=dtype)
    pairs = alpaca_rows(args.rows, "quality")
    print(f"model {args.model}, {dtype}, {len(pairs)} Alpaca pairs, torch threads {torch.get_num_threads()}")
    for budget in [int(b) for b in args.max_batch_tokens.split(",")]:
        scorer = IFDScorer(model, tokenizer, args.max_length, args.batch_size, budget)
        start = time.perf_counter()
        got = scorer.score(pairs)
        seconds = time.perf_counter() - start
        finite = got.ifd[np.isfinite(got.ifd)]
        print(
            f"max_batch_tokens {budget}: {len(pairs) / seconds:.1f} rows/s ({seconds:.1f} s), "
            f"IFD >= 1: {(finite >= 1).mean():.0%}, median IFD {np.median(finite):.3f}, "
            f"truncated {sum(got.truncated)}, failed {sum(r is not None for r in got.reasons)}"
        )


if __name__ == "__main__":
    main()
