import pytest

from deita_assets.core.models import BUNDLED_LLM
from deita_assets.resources.registry import build_resources


@pytest.mark.parametrize(("value", "expected"), [(None, BUNDLED_LLM), ("none", None), ("gpt2", "gpt2")])
def test_ifd_model_comes_from_the_environment(monkeypatch, value, expected) -> None:
    if value is None:
        monkeypatch.delenv("DEITA_IFD_MODEL", raising=False)
    else:
        monkeypatch.setenv("DEITA_IFD_MODEL", value)
    assert build_resources()["scorers"].ifd_model == expected
