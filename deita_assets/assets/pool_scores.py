"""Stage 4b: per-turn complexity and quality for every pool row, and the DEITA sample score.

See assets/scorers.py for how only changed shards are recomputed (eager automation + data versions
+ a stored per-shard fingerprint).
"""

import time
from collections import Counter, defaultdict
from contextlib import nullcontext
from typing import Any

import dagster as dg
import numpy as np
import pyarrow as pa

from deita_assets.assets.scorers import GROUP, TRADE_OFF, scorer_model
from deita_assets.core.ifd import ifd_rows
from deita_assets.core.lm_scorer import pick_inference_dtype
from deita_assets.core.logprob_scorer import LogprobScorer
from deita_assets.core.plots import histograms_png, markdown_image
from deita_assets.core.pool_scoring import OK, score_rows, shard_fingerprint
from deita_assets.core.report import counts_table, histogram_table, markdown_table
from deita_assets.core.score_templates import template_fingerprint
from deita_assets.core.scorer_head import HeadScorer, load_head
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.llm import LLMResource
from deita_assets.resources.scorers import ScorersResource
from deita_assets.resources.store import DuckDBStore, typed_rows

CODE_VERSION = "pool_scores-v1"
COMPLETE_CHECK, RANGE_CHECK = "every_row_scored_or_failed", "scores_in_range"
DIMENSIONS = ("complexity", "quality")
LM_KINDS = ("lm", "pretrained")


def scorer_specs(store: DuckDBStore, scorers: ScorersResource, embedder: EmbedderResource, llm: LLMResource):
    """Per dimension, the scorer row from `scorer_eval` for the configured kind (what will score)."""
    kind = scorers.pool_kind
    if kind == "openai_logprobs":
        return {
            d: {
                "kind": kind,
                "endpoint": llm.base_url or "local",
                "model": llm.model,
                "template": template_fingerprint(scorers.template(d)),
                "top_logprobs": scorers.top_logprobs,
                "missing_digits": scorers.missing_digits,
            }
            for d in DIMENSIONS
        }
    wanted = LM_KINDS if kind == "lm" else ("embedding_head",)
    found = {
        r["dimension"]: r
        for r in store.fetch_arrow("select_scorer_eval").to_pylist()
        if r["scorer_kind"] in wanted
    }
    missing = [d for d in DIMENSIONS if d not in found]
    if missing:
        raise dg.Failure(
            f"no {kind} scorer for {missing}: materialize scorer_model for those dimensions first"
        )
    if kind == "embedding_head":
        stale = [d for d in DIMENSIONS if found[d]["embedder"] != embedder.spec()]
        if stale:
            raise dg.Failure(
                f"embedding heads for {stale} were fit on another embedder than {embedder.spec()}"
            )
    changed = [
        d for d in DIMENSIONS if found[d]["template_fingerprint"] != template_fingerprint(scorers.template(d))
    ]
    if changed:
        raise dg.Failure(f"the {changed} template changed since scorer_model ran: re-materialize it")
    lm_settings = {"max_length": scorers.max_length, "dtype": scorers.dtype} if kind == "lm" else {}
    keys = ("scorer_kind", "model_path", "model_hash", "embedder", "template_fingerprint")
    return {d: {"kind": kind, **{k: found[d][k] for k in keys}, **lm_settings} for d in DIMENSIONS}


def build_scorer(dim: str, spec: dict, scorers: ScorersResource, embedder: EmbedderResource, session: Any):
    if spec["kind"] == "openai_logprobs":
        return LogprobScorer(
            session.chat_many, scorers.template(dim), scorers.top_logprobs, scorers.missing_digits
        )
    if spec["scorer_kind"] == "embedding_head":
        return HeadScorer(load_head(spec["model_path"]), embedder.embed)
    return scorers.lm_scorer(spec["model_path"], spec["model_hash"], dim)


def _label(spec: dict) -> str:
    return spec.get("model_path") or f"{spec.get('endpoint')}:{spec.get('model')}"


def _checks(store: DuckDBStore, shard: str) -> list[dg.AssetCheckResult]:
    counts = store.fetch_arrow("select_pool_scores_check", {"shard": shard}).to_pylist()[0]
    complete = not (
        counts["missing"]
        or counts["orphaned"]
        or counts["failed_without_reason"]
        or counts["ok_without_score"]
        or counts["ifd_unexplained"]
    )
    return [
        dg.AssetCheckResult(
            check_name=COMPLETE_CHECK,
            passed=complete,
            metadata={
                k: counts[k]
                for k in (
                    "rows_scored",
                    "missing",
                    "orphaned",
                    "failed_without_reason",
                    "ok_without_score",
                    "ifd_unexplained",
                )
            },
        ),
        dg.AssetCheckResult(
            check_name=RANGE_CHECK,
            passed=counts["out_of_range"] == 0,
            metadata={"out_of_range": counts["out_of_range"]},
        ),
    ]


def _per_source(out: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in out:
        groups[row["source"] or "?"].append(row)
    parts = []
    for source, rows in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:10]:
        ok = [r for r in rows if r["status"] == OK]
        c = [v for r in ok for v in r["complexity"]]
        q = [v for r in ok for v in r["quality"]]
        head = f"**{source}**: {len(rows)} rows, {len(rows) - len(ok)} failed"
        if ok:
            mean_score = np.mean([r["evol_score"] for r in ok])
            head += f", mean c {np.mean(c):.2f}, mean q {np.mean(q):.2f}, mean score {mean_score:.2f}"
        parts.append(
            head + "\n\n" + histogram_table([r["evol_score"] for r in ok], bins=8, label="evol_score")
        )
    return "\n\n".join(parts)


def _score_plot(store: DuckDBStore, out: list[dict[str, Any]], shard: str) -> str:
    """Complexity and quality per turn, and the evol score per row, as one picture."""
    ok = [r for r in out if r["status"] == OK]
    series = {
        "complexity (turn)": [v for r in ok for v in r["complexity"]],
        "quality (turn)": [v for r in ok for v in r["quality"]],
        "evol score (row)": [r["evol_score"] for r in ok],
    }
    png = histograms_png(
        series, "score", f"pool scores of {len(ok)} rows", store.artifacts_dir("pool_scores") / f"{shard}.png"
    )
    return markdown_image(png, "score histograms")


def _examples(out: list[dict[str, Any]], rows: list[dict[str, Any]], top: bool, n: int = 5) -> str:
    text = {r["row_id"]: r["turns"][0]["content"] if r["turns"] else "" for r in rows}
    ok = sorted((r for r in out if r["status"] == OK), key=lambda r: r["evol_score"], reverse=top)[:n]
    return markdown_table(
        [
            {
                "evol_score": r["evol_score"],
                "source": r["source"],
                "turns": r["n_turns"],
                "c": r["complexity"][0],
                "q": r["quality"][0],
                "first turn": text[r["row_id"]],
            }
            for r in ok
        ],
        max_chars=100,
    )


def _ifd(rows: list[dict[str, Any]], scorers: ScorersResource) -> tuple[list[dict[str, Any]], dict]:
    """IFD columns per row (Superfiltering), or empty ones when `ifd_model` is null."""
    scorer = scorers.ifd_scorer()
    if scorer is None:
        return [{} for _ in rows], {}
    return ifd_rows(rows, scorer)


def _ifd_metadata(ifd: list[dict[str, Any]], stats: dict, model: str | None) -> dict[str, Any]:
    if not stats:
        return {"ifd_model": "off"}
    values = [r["ifd"] for r in ifd if r["ifd"] is not None]
    seconds = stats["ifd_seconds"]
    return {
        "ifd_model": model,
        "ifd_rows_per_second": len(ifd) / seconds if seconds > 0 else None,
        "ifd_status": dg.MetadataValue.md(counts_table(Counter(r["ifd_status"] for r in ifd), "ifd_status")),
        "ifd_histogram": dg.MetadataValue.md(
            histogram_table(values, bins=10, label="IFD") if values else "none"
        ),
        "ifd_stats": dg.MetadataValue.json({k: float(v) for k, v in stats.items()}),
    }


def _stored_rows(
    out: list[dict], ifd: list[dict], shard: str, scorers: ScorersResource, label: str, fingerprint: str
) -> pa.Table:
    """One pool_scores row per pool row: its scores, its IFD and what produced them."""
    return typed_rows(
        "pool_scores",
        [
            {
                **r,
                **i,
                "shard": shard,
                "aggregate": scorers.aggregate,
                "scorer": label,
                "scorer_kind": scorers.pool_kind,
                "input_fingerprint": fingerprint,
            }
            for r, i in zip(out, ifd, strict=True)
        ],
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=pool_shard,
    deps=[dg.AssetDep("raw_pool"), dg.AssetDep(scorer_model, partition_mapping=dg.AllPartitionMapping())],
    kinds={"pytorch", "duckdb"},
    code_version=CODE_VERSION,
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec(
            COMPLETE_CHECK,
            asset="pool_scores",
            description="every pool row scored or failed with a reason (IFD too, when computed)",
        ),
        dg.AssetCheckSpec(
            RANGE_CHECK, asset="pool_scores", description="c_t, q_t in [1, 6]; score in its range"
        ),
    ],
)
def pool_scores(
    context: dg.AssetExecutionContext,
    store: DuckDBStore,
    scorers: ScorersResource,
    embedder: EmbedderResource,
    llm: LLMResource,
) -> dg.MaterializeResult:
    """Score every row of one pool shard: c_t on each instruction alone, q_t on (instruction,
    response), sample score Σ c_t·q_t (or the mean). Rows that cannot be scored are stored as
    'failed' with the reason — never given a made-up score. Unchanged shards are not recomputed."""
    shard = context.partition_key
    rows = store.fetch_arrow("select_pool_rows_for_scoring", [shard]).to_pylist()
    specs = scorer_specs(store, scorers, embedder, llm)
    ifd_spec = {"model": scorers.ifd_model, "max_length": scorers.ifd_max_length, "dtype": scorers.dtype}
    fingerprint = shard_fingerprint(
        rows, {"code": CODE_VERSION, "aggregate": scorers.aggregate, **specs, "ifd": ifd_spec}
    )
    stored = [
        r["input_fingerprint"]
        for r in store.fetch_arrow("select_pool_scores_fingerprint", [shard]).to_pylist()
    ]
    if rows and stored == [fingerprint]:
        context.log.info(f"shard {shard}: rows and scorers unchanged, keeping the stored scores")
        return dg.MaterializeResult(
            metadata={"recomputed": False, "dagster/row_count": len(rows), "input_fingerprint": fingerprint},
            data_version=dg.DataVersion(fingerprint),
            check_results=_checks(store, shard),
        )
    start = time.perf_counter()
    with llm.session() if scorers.pool_kind == "openai_logprobs" else nullcontext() as session:
        built = {d: build_scorer(d, specs[d], scorers, embedder, session) for d in DIMENSIONS}
        out, stats = score_rows(rows, built["complexity"].score, built["quality"].score, scorers.aggregate)
    seconds = time.perf_counter() - start
    ifd, ifd_stats = _ifd(rows, scorers)
    label = ";".join(f"{d}={_label(specs[d])}" for d in DIMENSIONS)
    kind = scorers.pool_kind
    store.replace_partition(
        "pool_scores", [shard], _stored_rows(out, ifd, shard, scorers, label, fingerprint)
    )
    status = Counter(r["status"] for r in out)
    reasons = Counter(r["failure_reason"] for r in out if r["failure_reason"])
    metadata = {
        "recomputed": True,
        "dagster/row_count": len(out),
        "scored": status.get(OK, 0),
        "failed": len(out) - status.get(OK, 0),
        "failure_reasons": dg.MetadataValue.md(counts_table(reasons, "reason")),
        "scorer_kind": kind,
        "scorer": label,
        "inference_dtype": str(pick_inference_dtype(scorers.dtype)) if kind == "lm" else None,
        "aggregate": scorers.aggregate,
        "rows_per_second": len(out) / seconds if seconds > 0 else None,
        "turns_per_second": stats["turns"] / seconds if seconds > 0 else None,
        "scorer_kinds_trade_off": TRADE_OFF,
        "scoring_stats": dg.MetadataValue.json({k: float(v) for k, v in stats.items()}),
        "score_by_source": dg.MetadataValue.md(_per_source(out)),
        "score_histograms": dg.MetadataValue.md(_score_plot(store, out, shard)),
        "top_examples": dg.MetadataValue.md(_examples(out, rows, top=True)),
        "bottom_examples": dg.MetadataValue.md(_examples(out, rows, top=False)),
        "input_fingerprint": fingerprint,
        **_ifd_metadata(ifd, ifd_stats, scorers.ifd_model),
    }
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(fingerprint), check_results=_checks(store, shard)
    )
