"""MoDS (arXiv 2311.15653) beside DEITA: coverage seed -> seed model -> necessity -> final selection.

Final = seed ∪ augmented, written to `mods_selection` (same columns as `selection`), which
selected_subset[mods] copies. Instructions are embedded with the `embedder` resource (offline:
all-MiniLM-L6-v2, mean pooling, unit vectors, cosine distance) — MoDS used bert-base-uncased [CLS]
vectors of the instruction (96 tokens); any sentence-transformers model is one config value away.
"""

from collections import Counter
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field

from deita_assets.assets.reward import reward_scores
from deita_assets.assets.training import HEAVY, FinetuneConfig, training_metadata, training_run_row
from deita_assets.core import mods
from deita_assets.core.kcenter import KCenterResult, k_center_greedy
from deita_assets.core.report import counts_table, histogram_table, markdown_table
from deita_assets.core.training import train_sft
from deita_assets.resources.embedder import EmbedderResource
from deita_assets.resources.reward import RewardResource
from deita_assets.resources.store import DuckDBStore, typed_rows
from deita_assets.resources.trainer import TrainerResource

SEED_MODEL_RUN = "mods_seed"  # the `strategy` value of the seed model's training_runs-shaped row


class ModsSeedConfig(dg.Config):
    alpha: float | None = Field(
        default=None,
        description="Quality threshold (keep reward > alpha). None: 0.0 for an HF reward model (MoDS, "
        "Alpaca); for the DEITA quality scorer (no published value) the alpha_quantile of the rewards.",
    )
    alpha_quantile: float = Field(
        default=0.5, ge=0, lt=1, description="Where alpha sits when it has no configured or paper value."
    )
    k: int = Field(default=16, ge=1, description="Seed size K (MoDS: 1K on Alpaca; demo-sized here).")
    seed: int = Field(default=0, description="Draws the k-center start point.")


class ModsSeedModelConfig(FinetuneConfig):
    """finetuned_model's settings; MoDS trained 3 epochs (lr 2e-5, warmup 0.03, cosine)."""

    epochs: float = Field(
        default=3.0, description="Passes over the seed (MoDS: 3; max_steps, when set, wins)."
    )
    batch_size: int = Field(default=4, ge=1)


class ModsNecessityConfig(dg.Config):
    beta: float | None = Field(
        default=None,
        description="Necessity threshold (own answer reward < beta). None: 0.0 for an HF reward model "
        "(MoDS, Alpaca); otherwise beta = alpha (as on Alpaca).",
    )
    k: int = Field(default=16, ge=0, description="Augmented set size (k-center over the necessary rows).")
    max_instructions: int = Field(
        default=48,
        ge=1,
        description="Demo cap: high-quality rows answered by the seed model (seeded sample).",
    )
    max_new_tokens: int = Field(default=64, ge=1, description="Tokens generated per answer.")
    max_prompt_tokens: int = Field(default=512, ge=16)
    batch_size: int = Field(default=8, ge=1, description="Prompts per generate() call.")
    seed: int = Field(default=0, description="Demo-cap sample order and k-center start.")


def _rewarded_rows(store: DuckDBStore) -> list[dict[str, Any]]:
    """Every rewarded pool row with its turns; refuses a table that mixes reward scales."""
    rows = store.fetch_arrow("select_mods_rewarded_rows").to_pylist()
    sources = {(r["source_kind"], r["source"]) for r in rows}
    if len(sources) > 1:
        raise ValueError(
            f"reward_scores mixes reward sources {sorted(sources)}: rescore every shard with one"
        )
    if not rows:
        raise ValueError("reward_scores is empty: materialize it for at least one pool_shard")
    return rows


def _kcenter(embedder: EmbedderResource, texts: list[str], k: int, seed: int) -> tuple[KCenterResult, int]:
    """k-center greedy (cosine) over embedded instructions; returns the run and #texts truncated."""
    vectors, truncated = embedder.embed(texts)
    return k_center_greedy(vectors, k, metric="cosine", seed=seed), int(np.sum(truncated))


def _embedding_spec(embedder: EmbedderResource) -> str:
    """What MoDS embeds: the first user instruction (the resource's text_mode is for pool_embeddings)."""
    return embedder.spec(text_mode="first_instruction")


@dg.asset(deps=[reward_scores, "eval_holdout"], group_name="mods", kinds={"duckdb"})
def mods_seed(
    context: dg.AssetExecutionContext, config: ModsSeedConfig, store: DuckDBStore, embedder: EmbedderResource
) -> dg.MaterializeResult:
    """MoDS steps 1–2: rows with reward > α, then k-center greedy over their instructions -> K seed rows.

    Held-out evaluation rows (eval_holdout) are never candidates, here or in necessity.

    Coverage, not score, picks the seed: the farthest-first walk spreads K instructions over the
    high-quality set so the seed model sees every kind of task once.
    """
    rows = _rewarded_rows(store)
    kind, source = rows[0]["source_kind"], rows[0]["source"]
    alpha, alpha_from = mods.choose_alpha(
        kind, config.alpha, [r["reward"] for r in rows], config.alpha_quantile
    )
    high = [r for r in rows if mods.is_high_quality(r["reward"], r["status"], alpha)]
    if not high:
        raise ValueError(
            f"no row has reward > alpha={alpha} among {len(rows)}: lower alpha (see reward_scores)"
        )
    instructions = [mods.first_instruction(r["turns"]) or "" for r in high]
    run, truncated = _kcenter(embedder, instructions, config.k, config.seed)
    picks = mods.seed_picks(
        high,
        instructions,
        run,
        alpha=alpha,
        reward_source=f"{kind}:{source}",
        embedder=_embedding_spec(embedder),
        k_requested=config.k,
    )
    store.replace_partition("mods_seed", [], typed_rows("mods_seed", picks))
    rewards = [r["reward"] for r in rows if r["reward"] is not None]
    context.log.info(f"MoDS seed: {len(picks)} of {len(high)} high-quality rows (alpha={alpha})")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(picks),
            "alpha": alpha,
            "alpha_from": alpha_from,
            "reward_source": f"{kind}:{source}",
            "n_rewarded": len(rows),
            "n_reward_failed": sum(r["status"] != "ok" for r in rows),
            "n_high_quality": len(high),
            "k_requested": config.k,
            "kcenter_exhausted": run.exhausted,
            "covering_radius_cosine": run.radius,
            "instructions_truncated": truncated,
            "embedder": _embedding_spec(embedder),
            "reward_histogram": dg.MetadataValue.md(histogram_table(rewards, bins=12, label="reward")),
            "seed_preview": dg.MetadataValue.md(
                markdown_table(
                    [{k: p[k] for k in ("pick_order", "reward", "instruction")} for p in picks[:20]], 80
                )
            ),
        }
    )


@dg.asset(deps=[mods_seed], group_name="mods", kinds={"pytorch"}, tags=HEAVY, op_tags=HEAVY)
def mods_seed_model(
    context: dg.AssetExecutionContext,
    config: ModsSeedModelConfig,
    store: DuckDBStore,
    trainer: TrainerResource,
) -> dg.MaterializeResult:
    """MoDS step 3a: fine-tune the base model on the seed set; its own answers then reveal what it lacks.

    Same SFT and base model (`trainer` resource) as finetuned_model; a rerun with the same seed and
    config reuses or resumes the run directory instead of training again.
    """
    seed_rows = store.fetch_arrow("select_mods_seed").to_pylist()
    if not seed_rows:
        raise ValueError("mods_seed is empty: materialize mods_seed first")
    trainer.prepare()
    sft = config.sft_config(trainer.base_model)
    result = train_sft([r["turns"] for r in seed_rows], sft, store.artifacts_dir("mods_seed_model"))
    record = training_run_row(SEED_MODEL_RUN, sft, result)
    store.replace_partition("mods_seed_model", [], record)
    context.log.info(f"MoDS seed model: {result.steps} steps, final loss {result.final_loss}")
    return dg.MaterializeResult(metadata=training_metadata(result, {"seed": len(seed_rows)}))


def _write_necessity(
    store: DuckDBStore,
    rows: list[dict[str, Any]],
    seed_rows: list[dict[str, Any]],
    alpha: float,
    table: list[dict[str, Any]],
    augmented_ids: list[str],
    nearest: dict[str, tuple[str, float]],
) -> list[dict[str, Any]]:
    """Write `mods_necessity` and the explained final `mods_selection`; returns the selection rows."""
    selection = mods.explain_selection(
        [mods.Rewarded(r["row_id"], r["reward"], r["status"]) for r in rows],
        alpha,
        [r["row_id"] for r in seed_rows],
        {t["row_id"]: t["status"] for t in table},
        augmented_ids,
        nearest,
    )
    store.replace_partition("mods_necessity", [], typed_rows("mods_necessity", table))
    store.replace_partition(
        "mods_selection",
        [],
        typed_rows("mods_selection", selection),
    )
    return selection


@dg.asset(deps=[mods_seed_model, mods_seed, reward_scores], group_name="mods", kinds={"pytorch", "duckdb"})
def mods_necessity(
    context: dg.AssetExecutionContext,
    config: ModsNecessityConfig,
    store: DuckDBStore,
    embedder: EmbedderResource,
    reward: RewardResource,
) -> dg.MaterializeResult:
    """MoDS steps 3b–4: rows the seed model answers badly (own reward < β), k-center over them -> augmented.

    The paper runs k-center on the necessary rows (the original repo forgot); so do we. Only a
    seeded sample of `max_instructions` high-quality rows is answered (CPU demo cap, recorded);
    the rest are explained as not examined. Writes `mods_necessity` and the final `mods_selection`.
    """
    rows = _rewarded_rows(store)
    seed_rows = store.fetch_arrow("select_mods_seed").to_pylist()
    model_rows = store.fetch_arrow("select_mods_seed_model").to_pylist()
    if not seed_rows or not model_rows:
        raise ValueError("materialize mods_seed and mods_seed_model first")
    alpha = seed_rows[0]["alpha"]
    beta, beta_from = mods.choose_beta(rows[0]["source_kind"], config.beta, alpha)
    candidates, examined, capped = mods.examined_split(
        rows, {r["row_id"] for r in seed_rows}, alpha, config.max_instructions, config.seed
    )
    instructions = [mods.first_instruction(r["turns"]) or "" for r in examined]

    answers, prompts_cut, gen_seconds = mods.generate_own_answers(
        model_rows[0]["model_path"],
        instructions,
        config.max_new_tokens,
        config.batch_size,
        config.max_prompt_tokens,
    )
    scored = reward.load().score(list(zip(instructions, answers, strict=True)))
    statuses = [mods.necessity_status(mods.finite_or_none(s), beta) for s in scored.scores]
    necessary = [i for i, s in enumerate(statuses) if s == mods.NECESSARY_NOT_PICKED]
    run, _ = _kcenter(embedder, [instructions[i] for i in necessary], config.k, config.seed)
    table, nearest = mods.necessity_rows(
        examined, instructions, answers, scored.scores, statuses, necessary, run
    )
    table += [
        mods.necessity_row(r, mods.first_instruction(r["turns"]) or "", status=mods.DEMO_CAP) for r in capped
    ]
    for item in table:
        item["beta"] = beta
    augmented_ids = [examined[necessary[j]]["row_id"] for j in run.order.tolist()]
    selection = _write_necessity(store, rows, seed_rows, alpha, table, augmented_ids, nearest)
    reasons = Counter(s["reason"] for s in selection)
    own = [t["own_reward"] for t in table if t.get("own_reward") is not None]
    context.log.info(f"MoDS: {len(seed_rows)} seed + {len(augmented_ids)} augmented rows kept")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "alpha": alpha,
            "beta": beta,
            "beta_from": beta_from,
            "reward_source": seed_rows[0]["reward_source"],
            "n_rewarded": len(rows),
            "n_high_quality": len(candidates) + len(seed_rows),
            "n_seed": len(seed_rows),
            "n_candidates_non_seed": len(candidates),
            "demo_cap_max_instructions": config.max_instructions,
            "n_answered": len(examined),
            "n_not_examined_cap": len(capped),
            "n_own_answer_unscored": statuses.count(mods.OWN_ANSWER_UNSCORED),
            "n_necessary": len(necessary),
            "n_augmented": len(augmented_ids),
            "n_selected": len(seed_rows) + len(augmented_ids),
            "max_new_tokens": config.max_new_tokens,
            "prompts_truncated": prompts_cut,
            "generation_seconds": round(gen_seconds, 1),
            "own_answers_scored_seconds": round(scored.seconds, 1),
            "own_reward_histogram": dg.MetadataValue.md(
                histogram_table(own, bins=12, label="own answer reward")
            ),
            "reasons": dg.MetadataValue.md(counts_table(reasons, key="reason")),
            "examples": dg.MetadataValue.md(
                markdown_table(
                    [
                        {k: t.get(k) for k in ("status", "own_reward", "instruction", "generated")}
                        for t in table[:12]
                    ],
                    60,
                )
            ),
        }
    )


def _violations(
    store: DuckDBStore, sql_name: str, must_be_zero: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """Run a one-row check query; returns its counts and the names of the nonzero `must_be_zero` ones."""
    found = store.fetch_arrow(sql_name).to_pylist()[0]
    return found, [name for name in must_be_zero if found[name]]


def _result(found: dict[str, Any], problems: list[str], warn_only: bool = False) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN if warn_only else dg.AssetCheckSeverity.ERROR,
        metadata={
            **{k: v for k, v in found.items() if v is not None},
            "problems": "; ".join(problems) or "none",
        },
    )


@dg.asset_check(asset=mods_seed, blocking=True)
def mods_seed_valid(store: DuckDBStore) -> dg.AssetCheckResult:
    """Seed rows are distinct and above α (ERROR); K of them unless high-quality rows ran short (WARN)."""
    found, problems = _violations(store, "check_mods_seed", ["duplicates", "not_above_alpha"])
    expected = min(found["k_requested"] or 0, found["n_high_quality"])
    if problems:
        return _result(found, problems)
    if found["n_seed"] != expected:
        size = f"seed size {found['n_seed']} != min(K, high-quality) = {expected} (duplicate instructions?)"
        return _result(found, [size], warn_only=True)
    return _result(found, [])


@dg.asset_check(asset=mods_necessity, blocking=True)
def mods_necessity_valid(store: DuckDBStore) -> dg.AssetCheckResult:
    """necessary ⊆ high-quality minus seed, necessary means own reward < β, augmented ⊆ necessary."""
    must_be_zero = [
        "duplicates",
        "not_high_quality",
        "in_seed",
        "necessary_not_below_beta",
        "augmented_not_necessary",
    ]
    return _result(*_violations(store, "check_mods_necessity", must_be_zero))


@dg.asset_check(asset=mods_necessity, blocking=True)
def mods_selection_valid(store: DuckDBStore) -> dg.AssetCheckResult:
    """mods_selection keeps exactly seed ∪ augmented and explains every rewarded, not held-out row once."""
    found, problems = _violations(
        store,
        "check_mods_selection",
        ["duplicates", "kept_unexplained", "rewarded_rows_missing", "held_out_rows_present"],
    )
    if found["n_kept"] != found["n_expected_kept"]:
        problems.append("kept rows != seed + augmented")
    return _result(found, problems)
