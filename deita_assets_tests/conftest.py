"""Shared fixtures: an isolated data home per test and the path of ../shared/data."""

import os
from pathlib import Path

import pytest

from deita_assets.core.models import offline_by_default

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DEITA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()

offline_by_default()


@pytest.fixture
def deita_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DEITA_HOME (DuckDB file, inbox, artifacts) for one test."""
    home = tmp_path / "deita_home"
    home.mkdir()
    monkeypatch.setenv("DEITA_HOME", str(home))
    return home


@pytest.fixture
def store(deita_home: Path):
    from deita_assets.resources.store import DuckDBStore

    return DuckDBStore(database=str(deita_home / "deita.duckdb"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"../shared/data not found at {SHARED_DATA} (set DEITA_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled SmolLM2-135M-Instruct saved once as safetensors: later loads take ~1 s, not ~20 s."""
    from deita_assets.core.models import BUNDLED_LLM, load_causal_lm

    path = tmp_path_factory.mktemp("smollm2_safetensors")
    model, tokenizer = load_causal_lm(BUNDLED_LLM)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path
