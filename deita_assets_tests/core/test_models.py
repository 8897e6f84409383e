"""The one process-wide model cache: each key loads once, from any thread, and kinds never collide."""

from concurrent.futures import ThreadPoolExecutor

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
