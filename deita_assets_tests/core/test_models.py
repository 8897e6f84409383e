"""The one process-wide model cache: each key loads once, from any thread, and kinds never collide."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deita_assets.core.models import loaded_once


def test_each_key_loads_once_across_threads_and_kinds_stay_apart() -> None:
    loads: list[str] = []

    def load(kind: str) -> object:
        loads.append(kind)
        return object()

    key = ("test-kind-a", "model-x")
    with ThreadPoolExecutor(4) as pool:
        models = list(pool.map(lambda _: loaded_once(key, lambda: load("a")), range(8)))
    assert all(model is models[0] for model in models) and loads == ["a"]
    other = loaded_once(("test-kind-b", "model-x"), lambda: load("b"))
    assert other is not models[0] and loads == ["a", "b"]


def test_a_gguf_file_is_dequantized_once_even_when_asked_at_the_same_time(tmp_path, monkeypatch) -> None:
    from deita_assets.core import models
    from deita_assets_tests.support.scorer_fixtures import tiny_llama

    monkeypatch.setenv("DEITA_MODEL_CACHE", str(tmp_path / "cache"))
    gguf = tmp_path / "tiny.Q4_1.gguf"
    gguf.write_bytes(b"first version")
    conversions: list[str] = []

    class Tokenizer:
        def save_pretrained(self, path: str) -> None:
            Path(path, "tokenizer.json").write_text("{}")

    def dequantize(source, dtype):
        conversions.append(source.gguf_file)
        return tiny_llama(32), Tokenizer()

    monkeypatch.setattr(models, "_load_pretrained", dequantize)
    source = models.CausalLMSource(str(tmp_path), gguf.name)
    with ThreadPoolExecutor(4) as pool:
        dirs = set(pool.map(lambda _: models.dequantized_gguf_dir(source), range(4)))
    (copy,) = dirs
    assert conversions == [gguf.name]
    assert {p.name for p in copy.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name, f"{copy.name}.lock"]

    gguf.write_bytes(b"second version")  # new bytes: a new copy, the old one untouched
    assert models.dequantized_gguf_dir(source) != copy and len(conversions) == 2 and copy.is_dir()


def test_the_dequantized_copy_is_the_gguf_model(small_llm_dir) -> None:
    """Same weights, same tokens and chat template as transformers' own GGUF load."""
    import torch

    from deita_assets.core import models

    gguf = models.resolve_causal_lm(models.BUNDLED_LLM)
    direct, direct_tokenizer = models._load_pretrained(gguf, torch.float32)
    copy, copy_tokenizer = models.load_causal_lm(models.BUNDLED_LLM)
    expected = direct.state_dict()
    assert all(torch.equal(value, expected[name]) for name, value in copy.state_dict().items())
    chat = [{"role": "user", "content": "Name a blue thing."}, {"role": "assistant", "content": "The sky."}]
    assert copy_tokenizer.apply_chat_template(chat) == direct_tokenizer.apply_chat_template(chat)
    assert copy_tokenizer.pad_token_id == direct_tokenizer.pad_token_id is not None
