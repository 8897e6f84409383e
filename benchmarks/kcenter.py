"""k-center greedy: our incremental O(N·K·d) walk vs. the textbook loop that recomputes N×|S| each step.

Usage: python benchmarks/kcenter.py [N] [K] [D]   (default 20000 200 384, MiniLM's width)

Both pick the same centers (checked); the textbook form recomputes every point's distance to every
center at each step (what a naive port of MoDS's k-center does), so its work grows as N·K²·d/2.
Timings on a shared 2-core machine are noisy: read the ratio, and rerun when it is quiet.
"""

import sys
import time

import numpy as np

from deita_assets.core.kcenter import k_center_greedy, prepare_points


def textbook(points: np.ndarray, k: int, start: int) -> list[int]:
    """Each step: distances of all points to all chosen centers (N×|S| matrix), min, argmax."""
    x = prepare_points(points, "cosine")
    chosen = [start]
    for _ in range(k - 1):
        dist = np.maximum(1.0 - x @ x[chosen].T, 0.0).min(axis=1)
        dist[chosen] = -np.inf
        chosen.append(int(np.argmax(dist)))
    return chosen


def main() -> None:
    n, k, d = (int(a) for a in (sys.argv[1:] + ["20000", "200", "384"][len(sys.argv) - 1 :])[:3])
    points = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    started = time.perf_counter()
    ours = k_center_greedy(points, k, metric="cosine", start=0)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    naive = textbook(points, k, 0)
    naive_s = time.perf_counter() - started
    same = ours.order.tolist() == naive
    print(f"N={n} K={k} d={d}")
    print(f"incremental k-center : {ours_s:8.2f} s  ({n * k / ours_s / 1e6:.1f} M point-center distances/s)")
    print(f"textbook recompute   : {naive_s:8.2f} s")
    print(f"speed-up             : {naive_s / ours_s:8.1f}x   same centers: {same}")
    print(f"covering radius (cosine distance): {ours.radius:.4f}")


if __name__ == "__main__":
    main()
