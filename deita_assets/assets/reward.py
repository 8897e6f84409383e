"""reward_scores: MoDS's quality signal, one reward per pool row, per shard."""

import math
from collections import Counter

import dagster as dg
import numpy as np

from deita_assets.core.formats import instruction_response_pairs
from deita_assets.core.report import counts_table, histogram_table
from deita_assets.core.reward import row_reward
from deita_assets.orchestration.partitions import pool_shard
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.store import DuckDBStore, typed_rows


@dg.asset(
    partitions_def=pool_shard,
    deps=[
        "raw_pool",
        dg.AssetDep("scorer_model", partition_mapping=dg.SpecificPartitionsPartitionMapping(["quality"])),
    ],
    group_name="mods",
    kinds={"duckdb", "pytorch"},
    automation_condition=dg.AutomationCondition.eager(),
)
def reward_scores(
    context: dg.AssetExecutionContext, store: DuckDBStore, reward: RewardResource
) -> dg.MaterializeResult:
    """Reward of every (user, assistant) pair of the shard's rows, and the row's mean: MoDS step 1 input.

    The reward source (an HF reward model by name, or offline the trained DEITA quality scorer) is
    recorded on every row, because α/β only mean something on the scale of the source that scored.
    """
    shard = context.partition_key
    pool = store.fetch_arrow("select_mods_pool_shard", [shard]).to_pylist()
    pairs_per_row = [instruction_response_pairs(row["turns"]) for row in pool]
    source = reward.load()
    described = source.describe()
    flat = [pair for pairs in pairs_per_row for pair in pairs]
    batch = source.score(flat)
    rows, start = [], 0
    for row, pairs in zip(pool, pairs_per_row, strict=True):
        scores = batch.scores[start : start + len(pairs)]
        reasons = sorted({r for r in batch.reasons[start : start + len(pairs)] if r})
        truncated = sum(batch.truncated[start : start + len(pairs)])
        start += len(pairs)
        value = row_reward(scores)
        failure = "; ".join(reasons) if reasons else (None if pairs else "no (user, assistant) pair")
        rows.append(
            {
                "shard": shard,
                "row_id": row["row_id"],
                "rewards": [float(s) if math.isfinite(s) else None for s in scores],
                "reward": value if math.isfinite(value) else None,
                "status": "ok" if math.isfinite(value) else "failed",
                "failure_reason": failure if not math.isfinite(value) else None,
                "n_pairs": len(pairs),
                "n_truncated": truncated,
                "source_kind": described["kind"],
                "source": described["model"],
            }
        )
    table = typed_rows("reward_scores", rows)
    store.replace_partition("reward_scores", [shard], table)
    ok = np.array([r["reward"] for r in rows if r["reward"] is not None], dtype=np.float64)
    failures = Counter(r["failure_reason"] for r in rows if r["failure_reason"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "reward_source": dg.MetadataValue.json(described),
            "pairs_scored": len(flat),
            "pairs_truncated": int(sum(batch.truncated)),
            "rows_failed": len(rows) - len(ok),
            "failures": dg.MetadataValue.md(counts_table(failures, key="reason")),
            "reward_mean": float(ok.mean()) if ok.size else None,
            "reward_histogram": dg.MetadataValue.md(histogram_table(ok, bins=12, label="reward")),
            "seconds": round(batch.seconds, 2),
            "pairs_per_second": round(len(flat) / batch.seconds, 2) if batch.seconds > 0 else None,
        }
    )


@dg.asset_check(asset=reward_scores, blocking=True)
def reward_scores_consistent(store: DuckDBStore) -> dg.AssetCheckResult:
    """Every row is either scored (finite reward) or failed with a reason; one source scale only."""
    rows = store.fetch_arrow("select_mods_reward_check").to_pylist()[0]
    passed = rows["bad_rows"] == 0 and rows["duplicates"] == 0 and rows["source_kinds"] <= 1
    return dg.AssetCheckResult(passed=passed, metadata={k: int(v) for k, v in rows.items()})
