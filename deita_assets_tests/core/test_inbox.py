"""Inbox naming, lossless bundling of many-file folders, eval skipping, and the scan cursor."""

import json
import os
import time
from collections import Counter
from pathlib import Path

from deita_assets.core.inbox import copy_into_inbox, plan_inbox, scan_inbox
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
    report = copy_into_inbox(plan_inbox([tmp_path / "data"]), inbox)
    assert [p.name for p in report.unbundled] == ["broken.json"]
    bundle = inbox / "sharegpt__convs.bundle.jsonl"
    result = ingest_file(bundle)
    assert result.source == "sharegpt" and len(result.kept) == 12 and result.rows_read == 12
    assert [k.turns[0]["content"] for k in result.kept] == [f"q{i}" for i in range(12)]
    broken = ingest_file(inbox / "sharegpt__convs_broken.json")
    assert broken.quarantine_counts() == {"malformed_json": 1}
    # Running the same ingest again writes nothing new (no new shard for the sensor).
    again = copy_into_inbox(plan_inbox([tmp_path / "data"]), inbox)
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
    from deita_assets.storage.paths import samples_dir

    inbox = tmp_path / "inbox"
    report = copy_into_inbox(plan_inbox([samples_dir()]), inbox)
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


def _links(tmp_path: Path) -> tuple[Path, Path]:
    """A source folder holding a link to /etc/passwd, a link to a JSON file outside and a linked folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(json.dumps([{"instruction": "leak", "output": "me"}]))
    src = tmp_path / "src" / "alpaca"
    src.mkdir(parents=True)
    (src / "real.json").write_text(json.dumps([{"instruction": "i", "output": "o"}]))
    (src / "passwd.jsonl").symlink_to("/etc/passwd")
    (src / "secret.json").symlink_to(outside / "secret.json")
    (src / "linked_dir").symlink_to(outside, target_is_directory=True)
    return src, outside


def test_links_in_source_folders_are_refused_with_a_reason(tmp_path: Path) -> None:
    from deita_assets.core.inbox import LINK_REFUSED

    src, _outside = _links(tmp_path)
    plan = plan_inbox([src.parent, src / "secret.json"], bundle=False)
    assert [name for _path, name in plan.copies] == ["alpaca__real.json"]
    refused = sorted(p.name for p, why in plan.skipped if why == LINK_REFUSED)
    assert refused == ["linked_dir", "passwd.jsonl", "secret.json", "secret.json"]
    report = copy_into_inbox(plan, tmp_path / "inbox")
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == ["alpaca__real.json"]
    assert report.written == [("alpaca__real.json", 1)]


def test_links_in_the_inbox_never_become_shards(tmp_path: Path) -> None:
    import pytest

    from deita_assets.core.ingest import ShardReadError

    _src, outside = _links(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "etc__passwd.jsonl").symlink_to("/etc/passwd")
    (inbox / "outside__secret.json").symlink_to(outside / "secret.json")
    new, cursor = scan_inbox(inbox, {}, set(), settle_seconds=0, now=time.time() + 10)
    assert new == [] and cursor == {}
    with pytest.raises(ShardReadError, match="symbolic link"):
        ingest_file(inbox / "etc__passwd.jsonl")


def test_source_names_are_checked_like_partition_keys(tmp_path: Path, capsys) -> None:
    import pytest

    from deita_assets.app.cli import main
    from deita_assets.core.inbox import check_source_name

    data = tmp_path / "a.json"
    data.write_text(json.dumps([{"instruction": "i", "output": "o"}]))
    inbox = tmp_path / "home" / "inbox"
    for bad in ("../../x", "/abs/path", "..", ".hidden", "a/b", "a__b", "", "-x", "x" * 65):
        with pytest.raises(ValueError, match="invalid source name"):
            check_source_name(bad)
        assert main(["ingest", str(data), "--inbox", str(inbox), f"--source={bad}"]) == 2
        assert "invalid source name" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not inbox.exists()
    assert main(["ingest", str(data), "--inbox", str(inbox), "--source", "my-set.v2"]) == 0
    assert [p.name for p in inbox.iterdir()] == ["my-set.v2__a.json"]
