"""The Repr Filter (DEITA §1.7), exact and blocked, plus the candidate orders every strategy walks.

The rule (the sequential walk): candidates in order; keep one if its cosine similarity to every
already-kept row is ≤ τ; stop at m kept. Similarity is the dot product of L2-normalized float32
rows, decided in float64 (products of float32 values are exact in float64, so a decision does not
depend on which BLAS summed them).

How it stays exact and fast without an N×N matrix:
- Candidates arrive in blocks. Matrix products of the block against the kept set (a preallocated
  capacity-m matrix filled in place, never re-copied) find conflicts with rows kept before the block;
  the block's own Gram matrix then resolves conflicts inside the block in order (a candidate only
  conflicts with rows KEPT before it, so rejected rows never matter).
- The products run in a cheap "screen" precision (bfloat16 by default, ~3-4× the float32 speed on
  this CPU) with a proven error bound δ per row (from the actual rounding residuals, see
  `_Screen.margin`). Only pairs whose screened similarity could still matter — within δ of τ for a
  decision, within 2δ of the row's screened maximum for the nearest kept row — are recomputed in
  float64. Every decision and every explanation therefore equals the float64 sequential walk.
- Elementwise work on the products (maxima, windows) runs in numpy on float32 copies made by a bit
  shift; torch is used only for the bf16 matrix products.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

DEFAULT_TAU = 0.9
Precision = Literal["bf16", "fp32"]
_NORM_LIMIT = 1.001  # rows must be unit vectors (zero rows allowed); bounds assume |x| ≤ 1.001
_SHAPE_BUCKET = 256  # kept-set products use a multiple of this many rows (oneDNN compiles per shape)
_COLUMN_CHUNK = 2048  # kept rows per screened product, so block × chunk stays in cache
_SAFETY = 1.1  # on top of the proven bounds


class _Screen:
    """Rounding to the screen precision, products, and the error bound of a screened similarity.

    For x̃ = round(x), ỹ = round(y): |x̃·ỹ − x·y| ≤ |x̃|·|ỹ−y| + |x̃−x|·|y| (residual norms, measured per
    row), plus float32 accumulation over d terms (≤ d·2^-24·|x̃||ỹ|), plus the rounding of the product
    to the output precision (≤ u_out·|s|).
    """

    def __init__(self, precision: Precision, dim: int) -> None:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"unknown screen precision {precision!r}")
        self.bf16 = precision == "bf16"
        self.u_in = 2.0**-8 if self.bf16 else 0.0
        self.u_out = 2.0**-8 if self.bf16 else 2.0**-24
        self.accumulation = dim * 2.0**-24 * (_NORM_LIMIT * (1 + self.u_in)) ** 2

    def round(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write x rounded to the screen precision into `out` (bf16 bits or float32); residual norms."""
        if not self.bf16:
            out[:] = x
            return np.zeros(len(x))
        bits = x.view(np.uint32)
        out[:] = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
        back = (out.astype(np.uint32) << 16).view(np.float32)
        resid = back - x  # exact: both are float32 and differ only below bf16's 8 bits
        # float32 sum of squares: relative error ≤ d·2^-24 (≪ the 1.1 safety factor of the bound)
        return np.sqrt(np.einsum("ij,ij->i", resid, resid).astype(np.float64)) * (1 + 1e-4)

    def tensor(self, stored: np.ndarray) -> torch.Tensor:
        """Zero-copy torch view of a screen-precision numpy buffer."""
        tensor = torch.from_numpy(stored)
        return tensor.view(torch.bfloat16) if self.bf16 else tensor

    def to_float32(self, product: torch.Tensor, rows: int, cols: int, buffer: np.ndarray) -> np.ndarray:
        """Contiguous float32 product[:rows, :cols] written into (the start of) a reused buffer.

        bf16 is widened by a bit shift in numpy: far faster here than torch's elementwise bf16 ops.
        """
        out = buffer.ravel()[: rows * cols].reshape(rows, cols)
        if self.bf16:
            bits = product.view(torch.int16).numpy()[:rows, :cols].view(np.uint16)
            np.left_shift(bits, 16, out=out.view(np.uint32), dtype=np.uint32)
        else:
            out[:] = product.numpy()[:rows, :cols]
        return out

    def margin(self, resid_row: np.ndarray | float, resid_other: float, magnitude: np.ndarray | float):
        """Bound on |screened − exact| for pairs with |screened| ≤ magnitude + 2·bound."""
        u = self.u_out * (1 + 2 * self.u_out)
        base = (
            _NORM_LIMIT * (1 + self.u_in) * resid_other
            + _NORM_LIMIT * np.asarray(resid_row)
            + self.accumulation
            + u * np.abs(magnitude)
        )
        return _SAFETY * base / (1 - 2 * u)


def screen_margin(precision: Precision, dim: int) -> float:
    """Worst-case bound for any two rows of norm ≤ 1.001 (residual ≤ u·|x| per row, |s| ≤ 1)."""
    screen = _Screen(precision, dim)
    worst_resid = screen.u_in * _NORM_LIMIT
    return float(screen.margin(worst_resid, worst_resid, _NORM_LIMIT**2))


@dataclass(frozen=True)
class FilterOutcome:
    """What the walk did: the kept ids and one explanation per examined candidate."""

    kept_ids: np.ndarray  # int64, in keep order
    examined_ids: np.ndarray  # int64, in examination (score) order
    examined_kept: np.ndarray  # bool per examined candidate
    nearest_ids: np.ndarray  # int64 id of the nearest row kept before it, -1 if none yet
    nearest_sims: np.ndarray  # float64 similarity to it, nan if none
    budget: int
    tau: float

    @property
    def n_kept(self) -> int:
        return len(self.kept_ids)

    @property
    def shortfall(self) -> int:
        """Rows missing from the budget because the candidates ran out (0 when the budget is met)."""
        return self.budget - self.n_kept


class ReprFilter:
    """Streaming, exact Repr Filter: feed candidates in order (any chunking), read `outcome()`.

    Memory: the capacity-m kept matrix (screen precision + a float64 copy for exact recomputation)
    plus one block × column-chunk product; independent of the pool size.
    """

    def __init__(
        self,
        dim: int,
        *,
        budget: int,
        tau: float = DEFAULT_TAU,
        precision: Precision = "bf16",
        block_size: int = 1024,
    ) -> None:
        if budget < 1 or block_size < 1 or dim < 1:
            raise ValueError("budget, block_size and dim must be positive")
        self.dim, self.budget, self.tau, self.block_size = dim, budget, float(tau), block_size
        self.precision = precision
        self._screen = _Screen(precision, dim)
        self.delta = screen_margin(precision, dim)  # worst case, for in-block decisions
        store = np.uint16 if self._screen.bf16 else np.float32
        # Preallocated, zero-filled, written in place as rows are kept (never re-copied). Products use
        # bucketed shapes; padding rows are zero and their columns are sliced off.
        self._kept_stored = np.zeros((budget, dim), dtype=store)
        self._kept_screen = self._screen.tensor(self._kept_stored)
        self._kept64 = np.zeros((budget, dim), dtype=np.float64)
        self._kept_resid = 0.0  # max rounding-residual norm over kept rows
        self._block_stored = np.zeros((block_size, dim), dtype=store)
        self._block_screen = self._screen.tensor(self._block_stored)
        self._chunk_buffer = np.empty((block_size, _COLUMN_CHUNK), dtype=np.float32)
        self._gram_buffer = np.empty((block_size, block_size), dtype=np.float32)
        self._kept_ids = np.empty(budget, dtype=np.int64)
        self._k = 0
        self.exact_pairs = 0  # pairs recomputed in float64 (decisions near τ, nearest-row candidates)
        self._trace: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def n_kept(self) -> int:
        return self._k

    @property
    def done(self) -> bool:
        return self._k >= self.budget

    def feed(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> bool:
        """Examine the next candidates in order; returns True once the budget is met (stop feeding)."""
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)}×{self.dim} vectors, got {vectors.shape}")
        if len(vectors) and float(np.max(np.einsum("ij,ij->i", vectors, vectors))) > _NORM_LIMIT**2:
            raise ValueError("vectors must be L2-normalized (cosine similarity is their dot product)")
        for start in range(0, len(ids), self.block_size):
            if self.done:
                break
            stop = start + self.block_size
            self._block(ids[start:stop], vectors[start:stop])
        return self.done

    def outcome(self) -> FilterOutcome:
        parts = list(zip(*self._trace, strict=True)) if self._trace else [[], [], [], []]

        def cat(items: Iterable[np.ndarray], dtype: type) -> np.ndarray:
            items = list(items)
            return np.concatenate(items).astype(dtype, copy=False) if items else np.zeros(0, dtype=dtype)

        return FilterOutcome(
            kept_ids=self._kept_ids[: self._k].copy(),
            examined_ids=cat(parts[0], np.int64),
            examined_kept=cat(parts[1], bool),
            nearest_ids=cat(parts[2], np.int64),
            nearest_sims=cat(parts[3], np.float64),
            budget=self.budget,
            tau=self.tau,
        )

    # -- one block -------------------------------------------------------------------------------

    def _block(self, ids: np.ndarray, block: np.ndarray) -> None:
        k0, n = self._k, len(block)
        block64 = block.astype(np.float64)
        self._block_stored[n:] = 0
        resid = self._screen.round(block, self._block_stored[:n])
        screened = self._block_screen
        prior_best, prior_arg = self._best_prior(block64, screened, resid, n, k0)
        gram = self._screen.to_float32(screened @ screened.T, n, n, self._gram_buffer)
        kept_local, end = self._resolve_in_block(block64, gram, prior_best > self.tau, k0)
        n_new = len(kept_local)
        self._kept_stored[k0 : k0 + n_new] = self._block_stored[kept_local]
        self._kept64[k0 : k0 + n_new] = block64[kept_local]
        if n_new:
            self._kept_resid = max(self._kept_resid, float(resid[kept_local].max()))
        self._kept_ids[k0 : k0 + n_new] = ids[kept_local]
        self._k = k0 + n_new
        nearest, sims = self._merge_in_block(block64[:end], gram[:end], kept_local, k0, prior_best, prior_arg)
        kept_mask = np.zeros(end, dtype=bool)
        kept_mask[kept_local] = True
        self._trace.append((ids[:end].copy(), kept_mask, nearest, sims))

    def _exact(self, block64: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float64 similarities of block rows `rows` (sorted) with kept positions `cols`, row by row."""
        self.exact_pairs += len(rows)
        out = np.empty(len(rows), dtype=np.float64)
        bounds = np.r_[0, np.flatnonzero(np.diff(rows)) + 1, len(rows)]
        for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            out[start:stop] = self._kept64[cols[start:stop]] @ block64[rows[start]]
        return out

    def _best_prior(
        self, block64: np.ndarray, screened: torch.Tensor, resid: np.ndarray, n: int, k0: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact max similarity (−inf if none) and its kept position (ties: earliest) per block row.

        The screen runs over column chunks small enough to stay in cache. A pair can only be the true
        maximum if its screened value is within 2δ of the row's screened maximum M (the true max is
        ≥ M − δ and the pair's screened value ≥ its true value − δ), so only those pairs are recomputed.
        The window floor M − 2δ(M) only rises as M does, so pairs collected early are a superset.
        """
        best = np.full(n, -np.inf)
        arg = np.full(n, -1, dtype=np.int64)
        if k0 == 0:
            return best, arg
        running = np.full(n, -np.inf, dtype=np.float32)
        found_rows, found_cols, found_vals = [], [], []
        for c0 in range(0, k0, _COLUMN_CHUNK):
            width = min(k0 - c0, _COLUMN_CHUNK)
            padded = min(self.budget - c0, -(-width // _SHAPE_BUCKET) * _SHAPE_BUCKET)
            product = screened @ self._kept_screen[c0 : c0 + padded].T
            chunk = self._screen.to_float32(product, n, width, self._chunk_buffer)
            np.maximum(running, chunk.max(axis=1), out=running)
            floor = running - 2 * self._screen.margin(resid, self._kept_resid, running)
            flat = np.flatnonzero(chunk >= floor.astype(np.float32)[:, None])
            found_rows.append(flat // width)
            found_cols.append(flat % width + c0)
            found_vals.append(chunk.ravel()[flat])
        rows, cols, vals = (np.concatenate(parts) for parts in (found_rows, found_cols, found_vals))
        floor = running - 2 * self._screen.margin(resid, self._kept_resid, running)
        keep = vals >= floor[rows]
        order = np.lexsort((cols[keep], rows[keep]))
        rows, cols = rows[keep][order], cols[keep][order]
        exact = self._exact(block64, rows, cols)
        first = _first_best(rows, cols, exact)
        best[rows[first]] = exact[first]
        arg[rows[first]] = cols[first]
        return best, arg

    def _resolve_in_block(
        self, block64: np.ndarray, gram: np.ndarray, conflict: np.ndarray, k0: int
    ) -> tuple[list[int], int]:
        """Walk the block in order; returns kept positions and how many rows were examined."""
        tau, delta = self.tau, self.delta
        alive = ~conflict
        kept: list[int] = []
        for j in np.flatnonzero(alive).tolist():
            if not alive[j]:
                continue
            kept.append(j)
            if k0 + len(kept) == self.budget:
                return kept, j + 1
            later = gram[j, j + 1 :]
            clash = later > tau + delta
            unsure = np.flatnonzero((later > tau - delta) & ~clash & alive[j + 1 :])
            if unsure.size:
                self.exact_pairs += unsure.size
                clash[unsure[block64[unsure + j + 1] @ block64[j] > tau]] = True
            alive[j + 1 :] &= ~clash
        return kept, len(block64)

    def _merge_in_block(
        self,
        block64: np.ndarray,
        gram: np.ndarray,
        kept_local: list[int],
        k0: int,
        prior_best: np.ndarray,
        prior_arg: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest kept row per examined row: the exact prior best vs the block's earlier kept rows.

        The block's kept rows now sit at kept positions k0, k0+1, ...; one is a candidate for row r
        only if kept before r and its screened similarity could reach the best found so far.
        """
        n = len(block64)
        best, arg = prior_best[:n].copy(), prior_arg[:n].copy()
        if kept_local:
            local = np.asarray(kept_local, dtype=np.int64)
            in_block = gram[:, local]  # a copy: masked in place below
            in_block[local[None, :] >= np.arange(n)[:, None]] = -np.inf  # kept at or after the row
            screened_max = in_block.max(axis=1)
            floor = np.maximum(best, screened_max - self.delta) - self.delta
            floor[~np.isfinite(floor)] = np.inf  # no earlier kept row in the block: no candidate
            flat = np.flatnonzero(in_block >= floor[:, None].astype(np.float32))
            rows, which = flat // len(local), flat % len(local)
            if rows.size:
                cols = which + k0
                exact = self._exact(block64, rows, cols)
                first = _first_best(rows, cols, exact)
                better = exact[first] > best[rows[first]]  # ties keep the earlier (prior) kept row
                best[rows[first][better]] = exact[first][better]
                arg[rows[first][better]] = cols[first][better]
        has = arg >= 0
        nearest = np.full(n, -1, dtype=np.int64)
        nearest[has] = self._kept_ids[arg[has]]
        return nearest, np.where(has, best, np.nan)


def _first_best(rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index (into the pair arrays) of each row's largest value; ties -> smallest column."""
    order = np.lexsort((cols, -values, rows))
    return order[np.r_[True, rows[order][1:] != rows[order][:-1]]] if len(order) else order


def repr_filter(
    embeddings: np.ndarray,
    order: np.ndarray,
    *,
    budget: int,
    tau: float = DEFAULT_TAU,
    precision: Precision = "bf16",
    block_size: int = 1024,
) -> FilterOutcome:
    """In-memory Repr Filter over `embeddings[order]`; ids in the outcome are row positions.

    Blocks are gathered from `order` one at a time, so the pool is never copied in score order.
    """
    walk = ReprFilter(embeddings.shape[1], budget=budget, tau=tau, precision=precision, block_size=block_size)
    order = np.asarray(order, dtype=np.int64)
    for start in range(0, len(order), block_size):
        chunk = order[start : start + block_size]
        if walk.feed(chunk, embeddings[chunk]):
            break
    return walk.outcome()


# -- candidate orders -------------------------------------------------------------------------


def score_order(scores: np.ndarray, row_ids: Sequence[str]) -> np.ndarray:
    """Positions by score descending, ties broken by row id (stable across runs and shards)."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: drop unscored rows before ordering (and report them)")
    ids = np.asarray(row_ids, dtype=object)
    return np.lexsort((ids, -scores)).astype(np.int64)


def random_order(row_ids: Sequence[str], seed: int) -> np.ndarray:
    """A seeded permutation that depends only on the set of ids, not on the order rows were read."""
    by_id = np.argsort(np.asarray(row_ids, dtype=object), kind="stable")
    return by_id[seeded_shuffle(len(by_id), seed)].astype(np.int64)


def seeded_shuffle(n: int, seed: int) -> np.ndarray:
    """The permutation every seeded strategy applies to its id-sorted candidates."""
    return np.random.default_rng(seed).permutation(n)


def top_by_score(scores: np.ndarray, row_ids: Sequence[str], budget: int) -> np.ndarray:
    """The m best positions by score (ties by row id): the single-score baselines."""
    return score_order(scores, row_ids)[:budget]


@dataclass(frozen=True)
class GramCheck:
    pairs_above: int
    max_similarity: float
    example: tuple[int, int] | None


def gram_check(vectors: np.ndarray, tau: float, block: int = 2048) -> GramCheck:
    """Pairs of rows with cosine > τ by a plain blockwise Gram matrix — independent of the filter.

    float32 products; every pair within 1e-4 of τ or above is re-decided in float64.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    count, best, example = 0, -np.inf, None
    for i in range(0, len(x), block):
        for j in range(i, len(x), block):
            sims = x[i : i + block] @ x[j : j + block].T
            if i == j:
                sims[np.tril_indices(len(sims))] = -np.inf
            best = max(best, float(sims.max(initial=-np.inf)))
            rows, cols = np.nonzero(sims > tau - 1e-4)
            if rows.size:
                exact = np.einsum("ij,ij->i", x[i + rows].astype(np.float64), x[j + cols].astype(np.float64))
                over = np.flatnonzero(exact > tau)
                count += over.size
                if over.size and example is None:
                    example = (int(i + rows[over[0]]), int(j + cols[over[0]]))
    return GramCheck(count, best if np.isfinite(best) else float("nan"), example)
