"""Shared fixtures: an isolated data home per test, real Alpaca rows, and ../shared/data when present."""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deita_assets.core.models import offline_by_default

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples"
SHARED_DATA = Path(os.environ.get("DEITA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()

offline_by_default()


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One dequantized-model cache for the session (inherited by the Dagster subprocesses), so the
    suite neither writes to the user's cache nor dequantizes the bundled GGUF more than once."""
    path = tmp_path_factory.mktemp("model_cache")
    with pytest.MonkeyPatch.context() as patch:  # the variable is restored when the session ends
        patch.setenv("DEITA_MODEL_CACHE", str(path))
        yield path


@pytest.fixture
def deita_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DEITA_HOME (store folder, inbox, artifacts) for one test."""
    home = tmp_path / "deita_home"
    home.mkdir()
    monkeypatch.setenv("DEITA_HOME", str(home))
    return home


@pytest.fixture
def store(deita_home: Path):
    from deita_assets.resources.store import DuckDBStore

    return DuckDBStore(root=str(deita_home / "store"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full 12-source corpus, for the few tests that are about that corpus itself."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"needs the full corpus: ../shared/data not found at {SHARED_DATA} (set DEITA_SHARED_DATA)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def alpaca_records() -> list[dict]:
    """Real Alpaca-format records: the shared 5,000-row Alpaca sample when present, else the bundled
    samples' Alpaca-format files (GSM8K, then GPTeacher codegen: 160 rows), so a user's machine runs
    the same tests."""
    shared = SHARED_DATA / "alpaca" / "alpaca_5000.json"
    if shared.is_file():
        return json.loads(shared.read_text(encoding="utf-8"))
    bundled = ("gsm8k_alpaca_format/gsm_8k_train.json", "gpteacher/Codegen/codegen-instruct.json")
    return [r for name in bundled for r in json.loads((SAMPLES / name).read_text(encoding="utf-8"))]


@pytest.fixture(scope="session")
def small_llm_dir(model_cache: Path) -> Path:
    """The bundled SmolLM2-135M-Instruct as safetensors (its dequantized copy): loads in ~1 s."""
    from deita_assets.core.models import BUNDLED_LLM, dequantized_gguf_dir, resolve_causal_lm

    return dequantized_gguf_dir(resolve_causal_lm(BUNDLED_LLM))
