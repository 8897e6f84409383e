"""The UI as a person sees it: headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium) opens the lineage graph and the selected_subset / strategy_comparison asset pages of a
real `dagster dev` after a small real materialization, checks that lineage and the plots render, and
saves screenshots (to $DEITA_SCREENSHOTS when set, else the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from deita_assets.storage.paths import samples_dir
from deita_assets_tests.e2e.dagster_server import DagsterDev, start_dagster_dev
from deita_assets_tests.support.tiny_models import build_tiny_causal_lm

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHARD_FILE = "gsm8k__gsm_8k_train.json"
STRATEGIES = ("random", "longest_response")


def _materialize_small_graph(home: Path, tiny_model: Path) -> None:
    """Every stage from one real shard to the strategy comparison, in the server's own instance:
    real ingest, embeddings and selection; a tiny model stands in for the base model so the
    fine-tunes and evaluations take seconds."""
    from deita_assets.assets.embeddings import pool_embeddings
    from deita_assets.assets.evaluation import (
        base_model_evaluation,
        eval_holdout,
        model_evaluation,
        strategy_comparison,
    )
    from deita_assets.assets.ingest import raw_pool
    from deita_assets.assets.selection import selected_subset
    from deita_assets.assets.training import finetuned_model
    from deita_assets.core.ingest import file_digest, shard_key
    from deita_assets.resources.embedder import EmbedderResource
    from deita_assets.resources.llm import LLMResource
    from deita_assets.resources.store import DuckDBStore
    from deita_assets.resources.trainer import TrainerResource

    inbox = home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / SHARD_FILE
    shutil.copyfile(samples_dir() / "gsm8k_alpaca_format" / "gsm_8k_train.json", path)
    shard = shard_key(SHARD_FILE, file_digest(path))
    store = DuckDBStore(root=str(home / "store"))
    resources = {
        "store": store,
        "embedder": EmbedderResource(),
        "llm": LLMResource(store=store),
        "trainer": TrainerResource(base_model=str(tiny_model)),
    }
    train = {"max_steps": 2, "batch_size": 2, "max_length": 128, "save_steps": 2}
    evaluation = {"nll_max_length": 128}
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("pool_shard", [shard])

        def run(assets: list, partition: str | None = None, ops: dict | None = None) -> None:
            config = {"ops": {name: {"config": c} for name, c in (ops or {}).items()}}
            result = dg.materialize(
                assets, partition_key=partition, instance=instance, resources=resources, run_config=config
            )
            assert result.success

        run([raw_pool], shard)
        run([pool_embeddings], shard)
        run([eval_holdout], ops={"eval_holdout": {"holdout_size": 4}})
        run([base_model_evaluation], ops={"base_model_evaluation": evaluation})
        for strategy in STRATEGIES:
            run([selected_subset], strategy, ops={"selected_subset": {"budget": 8}})
            run(
                [finetuned_model, model_evaluation],
                strategy,
                ops={"finetuned_model": train, "model_evaluation": evaluation},
            )
        run([strategy_comparison])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (`make test` installs them as root)")
    workdir = tmp_path_factory.mktemp("browser")
    dev = start_dagster_dev(workdir)
    home = dev.deita_home
    try:
        with pytest.MonkeyPatch.context() as env:  # this process writes into the server's instance
            env.setenv("DEITA_HOME", str(home))
            env.setenv("DAGSTER_HOME", str(home / "dagster"))
            env.setenv("DAGSTER_STORAGE_DIR", str(home / "dagster" / "storage"))
            _materialize_small_graph(home, build_tiny_causal_lm(workdir / "tiny_base"))
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for downloads
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium_profile")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1600,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("DEITA_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _page_text(driver) -> str:
    return driver.find_element("tag name", "body").text


def _wait(driver, predicate, what: str, timeout: float = 90.0):
    """Poll until `predicate(driver)` is truthy; on timeout keep a screenshot of what was shown."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate(driver)
        if value:
            return value
        time.sleep(0.5)
    driver.save_screenshot(os.environ.get("DEITA_SCREENSHOTS", "/tmp") + "/timed_out.png")
    raise AssertionError(f"timed out waiting for {what}; page text: {_page_text(driver)[:1500]}")


def _rendered_images(driver) -> int:
    """Inline data-URI PNGs on the page that the browser decoded (naturalWidth > 0)."""
    return driver.execute_script(
        "return [...document.images].filter(i => i.src.startsWith('data:image/png') && i.complete"
        " && i.naturalWidth > 0).length;"
    )


def test_lineage_graph_renders(server: DagsterDev, browser, screenshots: Path) -> None:
    browser.get(f"{server.url}/assets/selected_subset?view=lineage")
    names = (
        "raw_pool",
        "pool_embeddings",
        "pool_scores",
        "eval_holdout",
        "selected_subset",
        "finetuned_model",
    )
    _wait(browser, lambda d: all(n in _page_text(d) for n in names), "selected_subset and its neighbours")
    edges = browser.execute_script("return document.querySelectorAll('svg path').length;")
    assert edges > 5, "lineage edges should be drawn between the asset nodes"
    browser.save_screenshot(str(screenshots / "lineage.png"))


def _show_metadata_entry(driver, key: str) -> None:
    """Filter the asset page's metadata table down to one key and open its markdown, as a person
    would: the UI shows long markdown values behind a `[Show Markdown]` link, in a dialog."""
    box = _wait(
        driver,
        lambda d: next(
            iter(d.find_elements("css selector", "input[placeholder='Filter metadata keys']")), None
        ),
        "the metadata table",
    )
    box.send_keys(key)

    def dialog_open(d) -> bool:  # the table re-renders as it filters: (re)click until it opens
        if d.find_elements("css selector", "[role=dialog]"):
            return True
        links = d.find_elements("xpath", "//a[contains(text(), 'Show Markdown')]")
        if len(links) == 1:
            links[0].click()
        return False

    _wait(driver, dialog_open, f"the {key} markdown dialog")


def test_selected_subset_page_shows_its_plots(server: DagsterDev, browser, screenshots: Path) -> None:
    browser.get(f"{server.url}/assets/selected_subset")
    _show_metadata_entry(browser, "plots")
    assert _wait(browser, _rendered_images, "the selection's plots") == 2  # scores + composition
    browser.save_screenshot(str(screenshots / "selected_subset.png"))


def test_strategy_comparison_page_shows_the_plot(server: DagsterDev, browser, screenshots: Path) -> None:
    browser.get(f"{server.url}/assets/strategy_comparison")
    _show_metadata_entry(browser, "plot")
    _wait(browser, _rendered_images, "the comparison plot")
    browser.save_screenshot(str(screenshots / "strategy_comparison.png"))
