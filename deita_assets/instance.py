"""Prepare a Dagster instance under the data home so `dagster dev` works from any directory."""

import os
import shutil
from pathlib import Path

from deita_assets.paths import PACKAGE_DIR, data_home


def prepare_dagster_home() -> Path:
    """Create $DEITA_HOME/dagster with the project's dagster.yaml and export the env it needs.

    DAGSTER_HOME must be absolute; an explicit DAGSTER_HOME from the user is respected.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or data_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = PACKAGE_DIR.parent / "dagster.yaml"
    if not config.exists() and template.is_file():
        shutil.copyfile(template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_STORAGE_DIR", str(home / "storage"))
    os.environ.setdefault("DEITA_HOME", str(data_home()))
    return home
