"""Stage 4: trained complexity/quality scorers (per dimension) and pool scores (per shard).

The LLM labels only the evolved seed set; `scorer_model` turns those labels into two cheap scorers
per dimension (a fine-tuned causal LM and an embedding head) and `pool_scores` scores every pool
shard with the configured kind (DEITA §1.4–1.5).

Incremental recomputation: `scorer_model` reports a data version (the content hash of the scorers
it wrote) and `pool_scores` is eager — a new or changed `raw_pool` shard, or a re-trained scorer,
requests the affected shards. Each shard also stores a fingerprint of its rows, the scorer hashes,
the template and the settings; a requested shard whose fingerprint is unchanged returns at once
without loading a model, so retraining that yields identical weights, or a re-ingest with identical
rows, costs nothing.
"""

import shutil
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from deita_assets.core.lm_scorer import pick_inference_dtype
from deita_assets.core.models import load_causal_lm, offline_by_default
from deita_assets.core.report import markdown_table
from deita_assets.core.score_templates import TEMPLATE_VERSION, template_fingerprint
from deita_assets.core.scorer_head import HeadScorer, fit_ridge_select_alpha, head_text, save_head
from deita_assets.core.scorer_training import (
    TrainConfig,
    calibration_table,
    dev_metrics,
    directory_hash,
    save_lm_scorer,
    split_by_seed,
    train_lm_scorer,
)
from deita_assets.orchestration.partitions import dimension
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore, typed_rows

GROUP = "scorers"
USABLE_VARIANTS = ("ok", "degenerate")
SPEARMAN_CHECK = "dev_spearman_floor"
TRADE_OFF = (
    "lm: the paper's scorer, ~10-15 rows/s on 2 CPU cores (a 300K pool takes about half a day); "
    "embedding_head: ridge on sentence embeddings, embedding speed, usually lower dev Spearman; "
    "openai_logprobs: the same template on an OpenAI-compatible server (vLLM at scale)."
)


class ScorerTrainConfig(dg.Config):
    """Fine-tuning and evaluation settings; defaults train in minutes on 2 CPU cores."""

    epochs: float = Field(default=2.0, description="Passes over the training rows (paper: 6).")
    learning_rate: float = Field(default=5e-5, description="AdamW peak learning rate (paper: 2e-5).")
    batch_size: int = Field(default=8, ge=1)
    max_steps: int | None = Field(
        default=None, ge=1, description="Optimizer steps; set, it overrides epochs (demo/CI)."
    )
    max_length: int = Field(default=384, ge=32, description="Tokens per training prompt.")
    warmup_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    dev_fraction: float = Field(default=0.2, gt=0.0, lt=1.0, description="Share of SEEDS held out.")
    seed: int = 0
    bf16_autocast: bool = Field(
        default=True, description="bfloat16 matmuls (fp32 weights) when the CPU supports bf16; ~1.6x here."
    )
    train_embedding_head: bool = Field(default=True, description="Also fit the embedding-head kind.")
    dev_spearman_floor: float = Field(default=0.3, description="WARN when a scorer's dev Spearman is below.")


def training_rows(store: DuckDBStore, dim: str) -> tuple[list[dict[str, Any]], Counter]:
    """LLM-scored variants usable for training, and why the others were left out (counted)."""
    usable, excluded = [], Counter()
    for row in store.fetch_arrow("select_scorer_training_rows", [dim]).to_pylist():
        if row["score"] is None or not np.isfinite(row["score"]):
            excluded[f"no LLM score ({row['parse_status']})"] += 1
        elif row["variant_status"] not in USABLE_VARIANTS:
            excluded[f"variant {row['variant_status']}"] += 1
        elif not (row["instruction"] or "").strip() or (
            dim == "quality" and not (row["response"] or "").strip()
        ):
            excluded["empty text"] += 1
        else:
            row["values"] = (
                (row["instruction"],) if dim == "complexity" else (row["instruction"], row["response"])
            )
            usable.append(row)
    return usable, excluded


def _replace_dir(tmp: Path, final: Path) -> None:
    """Swap a freshly written artifact directory into place (the old one is removed after)."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _train_lm(
    dim: str, scorers: ScorersResource, config: ScorerTrainConfig, train: list[dict], log: Any, folder: Path
) -> tuple[str, str, list[dict[str, float]], float, int]:
    """Fine-tune `base_model` on the train rows; returns (path, hash, loss curve, seconds, truncated)."""
    offline_by_default()
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(scorers.base_model)
    train_config = TrainConfig(**config.model_dump(include={f.name for f in fields(TrainConfig)}))

    def on_step(point: dict[str, float]) -> None:
        if point["step"] % 10 == 1:
            log.info(f"{dim} step {point['step']}: loss {point['loss']:.4f}")

    curve, n_truncated = train_lm_scorer(
        model,
        tokenizer,
        scorers.template(dim),
        [r["values"] for r in train],
        [r["score"] for r in train],
        train_config,
        on_step,
    )
    final = folder / "lm"
    tmp = final.with_name("lm.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    info = {
        "dimension": dim,
        "base_model": scorers.base_model,
        "template_version": TEMPLATE_VERSION,
        "template_fingerprint": template_fingerprint(scorers.template(dim)),
        "train_config": train_config.__dict__,
        "n_train": len(train),
        "loss_curve": curve,
        "train_rows_truncated": n_truncated,
    }
    save_lm_scorer(model, tokenizer, tmp, info)
    _replace_dir(tmp, final)
    return str(final), directory_hash(final), curve, time.perf_counter() - start, n_truncated


def _evaluate(kind: str, scorer: Any, dev: list[dict]) -> dict[str, Any]:
    batch = scorer.score([r["values"] for r in dev])
    target = np.array([r["score"] for r in dev], dtype=np.float64)
    metrics = dev_metrics(batch.scores, target)
    return {
        "kind": kind,
        **metrics,
        "rows_per_second": batch.rows_per_second,
        "truncated": int(sum(batch.truncated)),
        "calibration": calibration_table(batch.scores, target),
    }


def _fit_head(
    dim: str, embedder: EmbedderResource, train: list[dict], dev: list[dict], folder: Path
) -> tuple[str, str, HeadScorer, dict[float, float]]:
    vectors, _ = embedder.embed([head_text(r["values"]) for r in train])
    targets = np.array([r["score"] for r in train], dtype=np.float64)
    head, alpha_errors = fit_ridge_select_alpha(
        vectors, targets, [r["seed_id"] for r in train], embedder=embedder.spec()
    )
    final = folder / "embedding_head"
    tmp = final.with_name("embedding_head.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_head(head, tmp, {"dimension": dim, "n_train": len(train), "alpha_errors": alpha_errors})
    _replace_dir(tmp, final)
    return str(final), directory_hash(final), HeadScorer(head, embedder.embed), alpha_errors


def _eval_row(dim: str, kind: str, path: str, digest: str, ev: dict, **extra: Any) -> dict[str, Any]:
    return {
        "dimension": dim,
        "scorer_kind": kind,
        "model_path": path,
        "model_hash": digest,
        "dev_spearman": ev["spearman"],
        "dev_accuracy": ev["accuracy"],
        "dev_mae": ev["mae"],
        "rows_per_second": ev["rows_per_second"],
        "n_dev": ev["n"] + ev["n_failed"],
        "n_dev_failed": ev["n_failed"],
        "trained": True,
        **extra,
    }


def _loss_table(curve: list[dict[str, float]], points: int = 12) -> str:
    if not curve:
        return "_(no training: pretrained scorer)_"
    picks = sorted({round(i) for i in np.linspace(0, len(curve) - 1, min(points, len(curve)))})
    return markdown_table([{k: curve[i][k] for k in ("step", "loss", "lr")} for i in picks])


def _lm_kind(
    dim: str,
    scorers: ScorersResource,
    config: ScorerTrainConfig,
    train: list,
    dev: list,
    log: Any,
    folder: Path,
) -> dict[str, Any]:
    """Train (or take the configured released/local) LM scorer, then evaluate it reloaded from disk."""
    pretrained = scorers.pretrained(dim)
    curve: list[dict[str, float]] = []
    seconds, truncated = 0.0, 0
    if pretrained:
        path, digest, kind = pretrained, f"pretrained:{pretrained}", "pretrained"
        log.info(f"{dim}: using {pretrained}, no training")
    else:
        path, digest, curve, seconds, truncated = _train_lm(dim, scorers, config, train, log, folder)
        kind = "lm"
    ev = _evaluate(kind, scorers.lm_scorer(path, digest, dim), dev)
    row = _eval_row(
        dim,
        kind,
        path,
        digest,
        ev,
        base_model=pretrained or scorers.base_model,
        trained=not pretrained,
        train_steps=len(curve),
        final_loss=curve[-1]["loss"] if curve else None,
        train_seconds=seconds,
    )
    metadata = {
        "model_path": path,
        "model_hash": digest,
        "trained": not pretrained,
        "train_seconds": seconds,
        "train_rows_truncated": truncated,
        "loss_curve": dg.MetadataValue.md(_loss_table(curve)),
    }
    return {"row": row, "eval": ev, "metadata": metadata}


def _eval_metadata(evals: list[dict[str, Any]]) -> dict[str, Any]:
    """Both kinds side by side (dev Spearman, accuracy, rows/s) and one calibration table each."""
    columns = ("kind", "spearman", "accuracy", "mae", "rows_per_second", "n", "n_failed", "truncated")
    out: dict[str, Any] = {
        "dev_metrics": dg.MetadataValue.md(markdown_table([{k: e[k] for k in columns} for e in evals])),
        "scorer_kinds_trade_off": TRADE_OFF,
    }
    for e in evals:
        out[f"calibration_{e['kind']}"] = dg.MetadataValue.md(markdown_table(e["calibration"]))
    return out


@dg.asset(
    group_name=GROUP,
    partitions_def=dimension,
    deps=[dg.AssetDep("evolved_variants"), dg.AssetDep("ranked_scores")],
    kinds={"pytorch", "duckdb"},
    code_version="scorer_model-v1",
    check_specs=[
        dg.AssetCheckSpec(SPEARMAN_CHECK, asset="scorer_model", description="dev Spearman ≥ configured floor")
    ],
)
def scorer_model(
    context: dg.AssetExecutionContext,
    config: ScorerTrainConfig,
    store: DuckDBStore,
    scorers: ScorersResource,
    embedder: EmbedderResource,
) -> dg.MaterializeResult:
    """Fine-tune a causal LM to emit the LLM's score digit after our template (loss on that token
    only), and fit an embedding head on the same labels. Train/dev are split by seed, so no seed's
    variants sit on both sides; both kinds' dev Spearman, accuracy and rows/s land in `scorer_eval`.
    A released or local scorer in config replaces training (it is still evaluated on dev)."""
    dim = context.partition_key
    usable, excluded = training_rows(store, dim)
    dev_seeds = split_by_seed([r["seed_id"] for r in usable], config.dev_fraction)
    train = [r for r in usable if r["seed_id"] not in dev_seeds]
    dev = [r for r in usable if r["seed_id"] in dev_seeds]
    if not train or not dev:
        raise dg.Failure(
            f"{dim}: {len(usable)} usable LLM-scored variants from {len({r['seed_id'] for r in usable})} "
            f"seeds — need at least two seeds to train and evaluate; excluded: {dict(excluded)}"
        )
    folder = store.artifacts_dir("scorers", dim)
    lm = _lm_kind(dim, scorers, config, train, dev, context.log, folder)
    rows, evals = [lm["row"]], [lm["eval"]]
    alpha_errors: dict[float, float] = {}
    if config.train_embedding_head:
        head_path, head_digest, head_scorer, alpha_errors = _fit_head(dim, embedder, train, dev, folder)
        evals.append(_evaluate("embedding_head", head_scorer, dev))
        rows.append(
            _eval_row(dim, "embedding_head", head_path, head_digest, evals[-1], embedder=embedder.spec())
        )
    for row in rows:
        row.update(n_train=len(train), template_fingerprint=template_fingerprint(scorers.template(dim)))
    table = typed_rows("scorer_eval", rows)
    store.replace_partition("scorer_eval", [dim], table)
    low = [e for e in evals if e["spearman"] is None or e["spearman"] < config.dev_spearman_floor]
    check = dg.AssetCheckResult(
        check_name=SPEARMAN_CHECK,
        passed=not low,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "floor": config.dev_spearman_floor,
            **{f"{e['kind']}_spearman": e["spearman"] for e in evals},
        },
    )
    metadata = {
        "dagster/row_count": len(rows),
        "n_train": len(train),
        "n_dev": len(dev),
        "train_seeds": len({r["seed_id"] for r in train}),
        "dev_seeds": len(dev_seeds),
        "excluded_variants": dg.MetadataValue.md(
            markdown_table([{"reason": k, "rows": v} for k, v in excluded.items()])
        ),
        "inference_dtype": str(pick_inference_dtype(scorers.dtype)),
        "ridge_alpha_mse": dg.MetadataValue.json({str(k): v for k, v in alpha_errors.items()}),
        **lm["metadata"],
        **_eval_metadata(evals),
    }
    version = "|".join(f"{r['scorer_kind']}={r['model_hash']}" for r in rows)
    return dg.MaterializeResult(
        metadata=metadata, check_results=[check], data_version=dg.DataVersion(version)
    )
