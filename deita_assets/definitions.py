"""The single Definitions object: every asset, check, resource, job, schedule and sensor."""

import dagster as dg

from deita_assets import assets
from deita_assets.orchestration.automation import automation_sensor, refresh_selection_schedule
from deita_assets.orchestration.fan_out import SCALE_JOBS
from deita_assets.orchestration.jobs import MODEL_JOBS, ingest_job, refresh_selection_job
from deita_assets.orchestration.sensors import inbox_sensor
from deita_assets.resources.registry import build_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(assets),
    resources=build_resources(),
    jobs=[ingest_job, refresh_selection_job, *MODEL_JOBS, *SCALE_JOBS],
    schedules=[refresh_selection_schedule],
    sensors=[inbox_sensor, automation_sensor],
)
