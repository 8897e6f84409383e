import dagster as dg
import pytest

from deita_assets.core.comparison import comparison_rows, equal_budget, plot_comparison
from deita_assets.core.evaluation import (
    choose_holdout,
    find_leaks,
    holdout_items,
    load_mt_bench,
    normalize_prompt,
    spread_over_categories,
)
from deita_assets.core.plots import markdown_image
from deita_assets.storage.paths import samples_dir


def test_shipped_mt_bench_loads_with_references():
    items = load_mt_bench(samples_dir() / "eval" / "mt_bench")
    assert len(items) == 80
    with_refs = [i for i in items if i.references]
    assert len(with_refs) == 30
    assert all(len(i.questions) == 2 for i in items)
    conv = with_refs[0].reference_conversation()
    assert [t["role"] for t in conv] == ["user", "assistant", "user", "assistant"]
    assert {i.category for i in spread_over_categories(items, 8)} == {i.category for i in items}


def test_normalized_prompt_catches_cosmetic_variants():
    canonical = normalize_prompt("what s the capital of france")
    assert normalize_prompt("  What's the  CAPITAL of France?\n") == canonical
    leaks = find_leaks(
        ["Compose an engaging travel blog post!"],
        [("r1", "compose an ENGAGING travel blog post"), ("r2", "Compose a travel blog post")],
    )
    assert leaks == [("r1", "compose an ENGAGING travel blog post")]
    assert find_leaks([""], [("r3", "")]) == []


def test_choose_holdout_is_seeded_and_spreads_over_sources():
    candidates = [(f"a{i}", "lima") for i in range(10)] + [(f"b{i}", "gpteacher") for i in range(3)]
    chosen = choose_holdout(candidates, 6, seed=1)
    assert chosen == choose_holdout(list(reversed(candidates)), 6, seed=1)
    assert len(chosen) == 6 and sum(c.startswith("b") for c in chosen) == 3
    assert choose_holdout(candidates, 100, seed=1) == sorted(r for r, _ in candidates)
    assert choose_holdout(candidates, 6, seed=2) != chosen


def test_holdout_items_keep_turn_structure():
    turns = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    (item,) = holdout_items([("r1", turns)])
    assert item.questions == ("q",) and item.references == ("a",)
    assert item.reference_conversation() == turns[1:]


def test_comparison_rows_and_plot(tmp_path):
    evaluation = [
        {"strategy": "base", "benchmark": "mt_bench", "metric": "reference_nll", "value": 1.5},
        {"strategy": "base", "benchmark": "mt_bench", "metric": "judge_score", "value": 3.0},
        {"strategy": "deita", "benchmark": "mt_bench", "metric": "reference_nll", "value": 1.25},
        {"strategy": "deita", "benchmark": "pool_holdout", "metric": "reference_nll", "value": 2.0},
        {"strategy": "deita", "benchmark": "mt_bench", "metric": "win_rate_vs_base", "value": 0.75},
        {"strategy": "random", "benchmark": "mt_bench", "metric": "reference_nll", "value": 1.75},
    ]
    training = [
        {"strategy": "deita", "n_rows": 10, "steps": 5, "final_loss": 1.0},
        {"strategy": "random", "n_rows": 10, "steps": 5, "final_loss": 1.1},
    ]
    rows = comparison_rows(evaluation, training)
    assert [r["strategy"] for r in rows] == ["base", "deita", "random"]
    assert rows[1]["mt_bench_nll_delta"] == pytest.approx(-0.25)
    assert rows[2]["mt_bench_nll_delta"] == pytest.approx(0.25)
    assert rows[1]["pool_holdout_nll_delta"] is None  # base has no hold-out row: no made-up delta
    assert rows[1]["mt_bench_win_rate_vs_base"] == 0.75 and rows[0]["train_rows"] is None
    assert equal_budget(rows)
    assert not equal_budget([*rows, {"strategy": "x", "train_rows": 3}])
    png = plot_comparison(rows, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert markdown_image(png, "strategy comparison").startswith(
        "![strategy comparison](data:image/png;base64,iVBOR"
    )


def test_heavy_jobs_carry_the_run_queue_tag():
    from deita_assets.definitions import defs

    for name in ("finetune_and_evaluate", "evaluate_base_model"):
        assert defs.resolve_job_def(name).tags.get("deita/heavy") == "true"
    graph = defs.resolve_asset_graph()
    for key in ("finetuned_model", "model_evaluation", "base_model_evaluation"):
        assert graph.get(dg.AssetKey(key)).tags.get("deita/heavy") == "true"
