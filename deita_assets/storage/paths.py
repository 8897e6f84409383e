"""Where data, artifacts and SQL live; one place so every module agrees."""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def data_home() -> Path:
    """`DEITA_HOME` (default `./.deita`), made absolute so Dagster subprocesses agree on it."""
    home = Path(os.environ.get("DEITA_HOME", ".deita")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def inbox_dir() -> Path:
    path = data_home() / "inbox"
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifacts_dir(*parts: str) -> Path:
    path = data_home().joinpath("artifacts", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_root() -> Path:
    """The store folder: Parquet files per partition (deita_assets/resources/store.py)."""
    return data_home() / "store"


def sql_dir() -> Path:
    """`sql/` at the repo top level (editable install) or its copy inside the wheel."""
    for candidate in (PACKAGE_DIR.parent / "sql", PACKAGE_DIR / "_sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("sql/ directory not found next to the package or inside it")


def samples_dir() -> Path:
    for candidate in (PACKAGE_DIR.parent / "samples", PACKAGE_DIR / "_samples"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("samples/ directory not found next to the package or inside it")
