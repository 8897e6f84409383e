"""The code location loads as the webserver would load it, and every asset explains itself."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from deita_assets.definitions import defs

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_definitions_are_loadable() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_asset_has_a_description() -> None:
    graph = defs.resolve_asset_graph()
    missing = [key.to_user_string() for key in graph.get_all_asset_keys() if not graph.get(key).description]
    assert missing == []


def test_dagster_cli_validates_the_code_location(deita_home: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DAGSTER_HOME": str(deita_home)}
    (deita_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "deita_assets.definitions",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_models_are_chosen_by_environment(monkeypatch) -> None:
    from deita_assets.resources.registry import build_resources

    monkeypatch.setenv("DEITA_EMBEDDER_MODEL", "intfloat/e5-large-v2")
    monkeypatch.setenv("DEITA_BASE_MODEL", "/models/my-base")
    monkeypatch.setenv("DEITA_POOL_SCORER", "embedding_head")
    monkeypatch.setenv("DEITA_PRETRAINED_QUALITY", "hkust-nlp/deita-quality-scorer")
    resources = build_resources()
    assert resources["embedder"].model == "intfloat/e5-large-v2"
    assert resources["trainer"].base_model == resources["scorers"].base_model == "/models/my-base"
    assert resources["scorers"].pool_kind == "embedding_head"
    assert resources["scorers"].pretrained("quality") == "hkust-nlp/deita-quality-scorer"
    assert resources["scorers"].pretrained("complexity") is None
