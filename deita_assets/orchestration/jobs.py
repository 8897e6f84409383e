"""Every asset job of the graph (the per-shard fan-out jobs are built in fan_out.py).

The heavy model jobs are tagged `deita/heavy`: dagster.yaml limits such runs (tag_concurrency_limits),
so launching these jobs (or backfills of them) queues training and evaluation runs instead of running
them all side by side on a small CPU. The assets also carry the tag so it shows in the UI.
"""

import dagster as dg

from deita_assets.assets.evaluation import base_model_evaluation, model_evaluation
from deita_assets.assets.ingest import raw_pool
from deita_assets.assets.mods import mods_necessity, mods_seed, mods_seed_model
from deita_assets.assets.training import HEAVY, finetuned_model

ingest_job = dg.define_asset_job("ingest_shard", selection=[raw_pool])
refresh_selection_job = dg.define_asset_job(
    "refresh_selection",
    selection=dg.AssetSelection.keys("selected_subset", "finetuned_model", "model_evaluation"),
    tags=HEAVY,
    description="Re-select, fine-tune and evaluate one strategy after new data was scored.",
)

finetune_and_evaluate_job = dg.define_asset_job(
    "finetune_and_evaluate",
    selection=dg.AssetSelection.assets(finetuned_model, model_evaluation),
    tags=HEAVY,
    description="Fine-tune on one strategy's selection and evaluate it (one heavy run per strategy).",
)
evaluate_base_model_job = dg.define_asset_job(
    "evaluate_base_model",
    selection=dg.AssetSelection.assets(base_model_evaluation),
    tags=HEAVY,
    description="Evaluate the untuned base model: the reference row of the comparison.",
)
mods_job = dg.define_asset_job(
    "mods_seed_and_necessity",
    selection=dg.AssetSelection.assets(mods_seed, mods_seed_model, mods_necessity),
    tags=HEAVY,
    description="MoDS after reward_scores: coverage seed, seed model fine-tune, necessity (one heavy run).",
)
MODEL_JOBS = [finetune_and_evaluate_job, evaluate_base_model_job, mods_job]
