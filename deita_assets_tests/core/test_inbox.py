"""Inbox naming, lossless bundling of many-file folders, eval skipping, and the scan cursor."""

import json
import os
import time
from collections import Counter
from pathlib import Path

from deita_assets.core.inbox import execute_plan, plan_inbox, scan_inbox
from deita_assets.core.ingest import file_digest, ingest_file, shard_key


def make_tree(root: Path) -> None:
    (root / "alpaca").mkdir(parents=True)
    (root / "alpaca" / "a.json").write_text(json.dumps([{"instruction": "i", "output": "o"}]))
    (root / "gpteacher" / "Codegen").mkdir(parents=True)
    (root / "gpteacher" / "Codegen" / "c.json").write_text(
        json.dumps([{"instruction": "c", "response": "r"}])
    )
    many = root / "sharegpt" / "convs"
    many.mkdir(parents=True)
    for i in range(12):
        conv = {"conversations": [{"from": "human", "value": f"q{i}"}, {"from": "gpt", "value": f"a{i}"}]}
        (many / f"{i:02d}.json").write_text(json.dumps(conv, indent=2))
    (many / "broken.json").write_text('{"conversations": [')
    (root / "eval").mkdir()
    (root / "eval" / "question.jsonl").write_text('{"prompt": "x"}\n')
    (root / "SOURCES.md").write_text("# sources")


def test_plan_names_bundles_and_skips(tmp_path: Path) -> None:
    make_tree(tmp_path / "data")
    plan = plan_inbox([tmp_path / "data"])
    assert sorted(name for _, name in plan.copies) == ["alpaca__a.json", "gpteacher__Codegen_c.json"]
    assert [(len(files), name) for files, name in plan.bundles] == [(13, "sharegpt__convs.bundle.jsonl")]
    skipped = {p.name for p, _ in plan.skipped}
    assert {"eval", "SOURCES.md"} <= skipped
    unbundled = plan_inbox([tmp_path / "data"], bundle=False)
    assert not unbundled.bundles and len(unbundled.copies) == 15


def test_bundle_is_lossless_and_unparseable_files_stay_separate(tmp_path: Path) -> None:
    make_tree(tmp_path / "data")
    inbox = tmp_path / "inbox"
    report = execute_plan(plan_inbox([tmp_path / "data"]), inbox)
    assert [p.name for p in report.unbundled] == ["broken.json"]
    bundle = inbox / "sharegpt__convs.bundle.jsonl"
    result = ingest_file(bundle)
    assert result.source == "sharegpt" and len(result.kept) == 12 and result.rows_read == 12
    assert [k.turns[0]["content"] for k in result.kept] == [f"q{i}" for i in range(12)]
    broken = ingest_file(inbox / "sharegpt__convs_broken.json")
    assert broken.quarantine_counts() == {"malformed_json": 1}
    # Running the same ingest again writes nothing new (no new shard for the sensor).
    again = execute_plan(plan_inbox([tmp_path / "data"]), inbox)
    assert not again.written and len(again.unchanged) == len(report.written)
    assert not [p for p in inbox.iterdir() if p.name.startswith(".")]


def test_scan_cursor_new_changed_and_settling(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    a = inbox / "s__a.jsonl"
    a.write_text('{"instruction": "i", "output": "o"}\n')
    old = time.time() - 60
    os.utime(a, (old, old))
    (inbox / "notes.txt").write_text("ignored")
    new, cursor = scan_inbox(inbox, {}, set(), settle_seconds=2, now=time.time())
    key = shard_key(a.name, file_digest(a))
    assert new == [(key, a)] and cursor[a.name][2] == key
    # Re-tick with the cursor, or with a lost cursor but the partition registered: nothing.
    assert scan_inbox(inbox, cursor, {key}, settle_seconds=2, now=time.time())[0] == []
    assert scan_inbox(inbox, {}, {key}, settle_seconds=2, now=time.time())[0] == []
    # A file still being written waits; a changed file is a new shard.
    a.write_text('{"instruction": "i2", "output": "o2"}\n')
    assert scan_inbox(inbox, cursor, {key}, settle_seconds=2, now=time.time())[0] == []
    os.utime(a, (old + 1, old + 1))
    new2, _ = scan_inbox(inbox, cursor, {key}, settle_seconds=2, now=time.time())
    assert len(new2) == 1 and new2[0][0] != key


def test_shipped_samples_give_six_shards_with_known_counts(tmp_path: Path) -> None:
    from deita_assets.paths import samples_dir

    inbox = tmp_path / "inbox"
    report = execute_plan(plan_inbox([samples_dir()]), inbox)
    assert (
        len(report.written) == 6
        and ("self_instruct_t0__data_per_template.bundle.jsonl", 10) in report.written
    )
    results = {p.name: ingest_file(p) for p in sorted(inbox.iterdir())}
    kept = {r.source: 0 for r in results.values()}
    for r in results.values():
        kept[r.source] += len(r.kept)
    assert kept == {
        "gpteacher": 120,
        "gsm8k_alpaca_format": 80,
        "hh_rlhf": 80,
        "oasst_samples": 0,
        "self_instruct_t0": 108,
    }
    quarantined = sum((r.quarantine_counts() for r in results.values()), start=Counter())
    assert quarantined == {"no_assistant_turn": 30, "empty_field": 12}
    formats = sum((r.format_counts() for r in results.values()), start=Counter())
    assert formats == {"alpaca": 200, "hh_rlhf": 80, "prompt_completion": 108}
