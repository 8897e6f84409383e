"""Bad-input corpus: every case ends as quarantine rows with a reason or a clear error, never a loss."""

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deita_assets.core import formats as F
from deita_assets.core.ingest import ShardReadError, find_shard_file, ingest_file, shard_key, source_name

GOOD = {"instruction": "Add 2 and 2", "input": "", "output": "4"}


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def reasons(result) -> Counter:
    return result.quarantine_counts()


def test_jsonl_good_rows_and_invariant(tmp_path: Path) -> None:
    other = {"instruction": "Say hi", "output": "hi"}
    result = ingest_file(write(tmp_path, "src__a.jsonl", jsonl(GOOD, other, GOOD)))
    assert result.source == "src" and result.container == "jsonl"
    assert [k.position for k in result.kept] == [1, 2]
    assert result.duplicates_within == [(3, result.kept[0].row_id)]
    assert result.rows_read == 3 and not result.quarantined


def test_truncated_json_array_keeps_complete_elements(tmp_path: Path) -> None:
    text = json.dumps([GOOD, {"instruction": "x", "output": "y"}])[:-25]
    result = ingest_file(write(tmp_path, "t.json", text))
    assert result.container == "json_array"
    assert len(result.kept) == 1
    assert [(q.position, q.reason) for q in result.quarantined] == [(1, F.MALFORMED_JSON)]
    assert result.rows_read == 2


def test_array_with_trailing_garbage_and_missing_comma(tmp_path: Path) -> None:
    result = ingest_file(write(tmp_path, "g.json", json.dumps([GOOD]) + " trailing"))
    assert len(result.kept) == 1 and reasons(result) == {F.MALFORMED_JSON: 1}
    result = ingest_file(write(tmp_path, "m.json", '[{"instruction": "a", "output": "b"} {"x": 1}]'))
    assert len(result.kept) == 1 and reasons(result) == {F.MALFORMED_JSON: 1}
    assert ingest_file(write(tmp_path, "e.json", " [ ] ")).rows_read == 0


def test_binary_garbage_is_quarantined_line_by_line(tmp_path: Path) -> None:
    garbage = bytes(range(256)) * 4 + b"\n\x00\xff\xfe\n"
    result = ingest_file(write(tmp_path, "bin.jsonl", garbage))
    assert not result.kept
    assert result.rows_read == len(result.quarantined) > 0
    assert set(reasons(result)) <= {F.NON_UTF8, F.MALFORMED_JSON}
    assert all(isinstance(q.raw, str) and q.raw.encode("utf-8") for q in result.quarantined)


def test_non_utf8_inside_a_string_and_lone_surrogate_escape(tmp_path: Path) -> None:
    bad_bytes = b'{"instruction": "caf\xe9", "output": "ok"}\n'
    escaped = b'{"instruction": "x\\udc80", "output": "ok"}\n'
    result = ingest_file(write(tmp_path, "u.jsonl", bad_bytes + escaped + json.dumps(GOOD).encode()))
    assert reasons(result) == {F.NON_UTF8: 2}
    assert len(result.kept) == 1
    assert "caf" in result.quarantined[0].raw


def test_wrong_types_and_empty_strings(tmp_path: Path) -> None:
    rows = [
        {"instruction": 5, "output": "x"},
        {"instruction": "x", "output": None},
        {"instruction": "", "output": "x"},
        {"instruction": "x", "output": "   "},
        [1, 2],
        "",
        {"conversations": [{"from": "human", "value": ["list"]}, {"from": "gpt", "value": "a"}]},
        GOOD,
    ]
    result = ingest_file(write(tmp_path, "w.jsonl", jsonl(*rows)))
    assert reasons(result) == {F.WRONG_TYPE: 3, F.MISSING_FIELD: 1, F.EMPTY_FIELD: 3}
    assert len(result.kept) == 1 and result.rows_read == len(rows)


def test_50mb_single_row_is_quarantined_as_too_large(tmp_path: Path) -> None:
    huge = json.dumps({"instruction": "x", "output": "a" * 50_000_000})
    result = ingest_file(write(tmp_path, "huge.jsonl", jsonl(GOOD) + huge + "\n"))
    assert reasons(result) == {F.TOO_LARGE: 1} and len(result.kept) == 1
    assert len(result.quarantined[0].raw) <= 2_000
    as_array = ingest_file(write(tmp_path, "huge.json", "[" + json.dumps(GOOD) + "," + huge + "]"))
    assert reasons(as_array) == {F.TOO_LARGE: 1} and len(as_array.kept) == 1
    raised_cap = ingest_file(tmp_path / "huge.jsonl", max_row_bytes=60_000_000)
    assert len(raised_cap.kept) == 2


def test_mixed_formats_in_one_file(tmp_path: Path) -> None:
    rows = [
        GOOD,
        {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        {"prompt": "p", "completion": "c<|endoftext|>"},
        {"chosen": "\n\nHuman: h\n\nAssistant: a", "rejected": "x"},
        "a prompt only",
        {"something": "else"},
    ]
    result = ingest_file(write(tmp_path, "mixed.jsonl", jsonl(*rows)))
    assert result.format_counts() == {
        "alpaca": 1,
        "sharegpt": 1,
        "openai_messages": 1,
        "prompt_completion": 1,
        "hh_rlhf": 1,
    }
    assert reasons(result) == {F.NO_ASSISTANT_TURN: 1, F.UNKNOWN_FORMAT: 1}


def test_bom_and_crlf(tmp_path: Path) -> None:
    body = jsonl(GOOD, {"instruction": "line1\r\nline2", "output": "b"}).replace("\n", "\r\n")
    result = ingest_file(write(tmp_path, "crlf.jsonl", b"\xef\xbb\xbf" + body.encode()))
    assert len(result.kept) == 2 and not result.quarantined
    assert result.kept[1].turns[0]["content"] == "line1\nline2"
    array = ingest_file(write(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps([GOOD]).encode()))
    assert len(array.kept) == 1
    # Same rows whatever the line endings: same ids.
    plain = ingest_file(write(tmp_path, "lf.jsonl", jsonl(GOOD)))
    assert plain.kept[0].row_id == result.kept[0].row_id


def test_one_object_file_jsonl_named_json_and_truncated_object(tmp_path: Path) -> None:
    conv = {"id": "x", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    one = ingest_file(write(tmp_path, "one.json", json.dumps(conv, indent=2)))
    assert one.container == "json_object" and len(one.kept) == 1
    lines = ingest_file(write(tmp_path, "lines.json", jsonl(GOOD, conv)))
    assert lines.container == "jsonl" and len(lines.kept) == 2
    broken = ingest_file(write(tmp_path, "broken.json", json.dumps(conv, indent=2)[:-10]))
    assert broken.rows_read == 1 and reasons(broken) == {F.MALFORMED_JSON: 1}


def test_gzip_jsonl_and_json_string_lines(tmp_path: Path) -> None:
    data = gzip.compress((jsonl(GOOD) + '"Can you tell me about GLaDOS?"\n').encode())
    result = ingest_file(write(tmp_path, "x.jsonl.gz", data))
    assert result.container == "jsonl.gz"
    assert len(result.kept) == 1 and reasons(result) == {F.NO_ASSISTANT_TURN: 1}


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist([GOOD, {"instruction": "x", "input": None, "output": ""}]), path)
    result = ingest_file(path)
    assert result.container == "parquet"
    assert len(result.kept) == 1 and reasons(result) == {F.EMPTY_FIELD: 1}


def test_forced_record_format(tmp_path: Path) -> None:
    path = write(
        tmp_path, "f.jsonl", jsonl({"instruction": "i", "output": "o", "prompt": "p", "completion": "c"})
    )
    assert ingest_file(path).kept[0].format == "prompt_completion"
    assert ingest_file(path, record_format="alpaca").kept[0].format == "alpaca"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("corrupt.jsonl.gz", gzip.compress(b'{"a": 1}\n' * 1000)[:50], "corrupt or truncated gzip"),
        ("corrupt.parquet", b"PAR1 not really parquet", "cannot read Parquet"),
    ],
)
def test_unreadable_file_raises_naming_the_file(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(ShardReadError, match=message) as err:
        ingest_file(path)
    assert str(path) in str(err.value)


def test_missing_file_raises_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ShardReadError, match=r"missing\.jsonl"):
        ingest_file(tmp_path / "missing.jsonl", digest="0" * 64)


def test_names_keys_and_lookup(tmp_path: Path) -> None:
    assert source_name("gpteacher__Codegen_codegen-instruct.json") == "gpteacher"
    assert source_name("lima.json") == "lima"
    assert source_name("hh.jsonl.gz") == "hh"
    path = write(tmp_path, "my data__x (1).jsonl", jsonl(GOOD))
    from deita_assets.core.ingest import file_digest

    key = shard_key(path.name, file_digest(path))
    assert key.startswith("my_data__x_1_.jsonl-") and len(key.rsplit("-", 1)[1]) == 12
    assert find_shard_file(tmp_path, key) == path
    path.write_text(jsonl(GOOD, GOOD))
    with pytest.raises(ShardReadError, match="changed"):
        find_shard_file(tmp_path, key)


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000,
        '{"instruction": "x", "output": ' + "9" * 5000 + "}",
        '{"instruction": "x", "output": NaN}',
    ],
)
def test_pathological_json_is_quarantined_not_raised(tmp_path: Path, line: str) -> None:
    result = ingest_file(write(tmp_path, "p.jsonl", jsonl(GOOD) + line + "\n"))
    assert result.rows_read == 2 and len(result.kept) == 1
    assert set(reasons(result)) <= {F.MALFORMED_JSON, F.WRONG_TYPE}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2_000), suffix=st.sampled_from([".jsonl", ".json", ".txt"]))
def test_any_bytes_end_as_rows_or_a_clear_error(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = write(tmp_path, f"fuzz{suffix}", data)
    try:
        result = ingest_file(path)
    except ShardReadError as err:
        assert str(path) in str(err)
        return
    assert result.rows_read == len(result.kept) + len(result.quarantined) + len(result.duplicates_within)
    assert all(q.raw.encode("utf-8") is not None and q.reason in F.REASONS for q in result.quarantined)
    if result.container == "jsonl":
        lines = re.split(rb"\r\n|\r|\n", data.removeprefix(b"\xef\xbb\xbf"))  # CR alone ends a line too
        assert result.rows_read == sum(1 for line in lines if line.strip(b" \t"))


def test_jsonl_whose_first_line_is_an_array_is_read_line_by_line(tmp_path: Path) -> None:
    other = {"instruction": "Say hi", "output": "hi"}
    text = json.dumps([GOOD, other]) + "\n" + jsonl(GOOD, other, {"instruction": "Count", "output": "1 2"})
    result = ingest_file(write(tmp_path, "src__a.jsonl", text))
    assert result.container == "jsonl" and result.rows_read == 4  # 4 lines, none lost
    assert reasons(result) == {F.WRONG_TYPE: 1} and result.quarantined[0].position == 1
    assert [k.position for k in result.kept] == [2, 3, 4]
    assert result.rows_read == len(result.kept) + len(result.quarantined) + len(result.duplicates_within)


def test_cr_only_line_endings_split_into_lines(tmp_path: Path) -> None:
    other = {"instruction": "Say hi", "output": "hi"}
    result = ingest_file(
        write(tmp_path, "src__mac.jsonl", json.dumps(GOOD) + "\r" + json.dumps(other) + "\r")
    )
    assert [k.position for k in result.kept] == [1, 2] and not result.quarantined


def test_tool_calls_and_tool_turns_are_kept_as_text_and_counted(tmp_path: Path) -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    record = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": '{"temp_c": 21}'},
            {"role": "assistant", "content": "It is 21 °C in Paris."},
        ]
    }
    result = ingest_file(write(tmp_path, "src__tools.jsonl", jsonl(record)))
    assert not result.quarantined and result.tool_turns_rendered == 2
    assert result.kept[0].turns == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": '[tool call] get_weather({"city":"Paris"})'},
        {"role": "user", "content": '[tool result get_weather] {"temp_c": 21}'},
        {"role": "assistant", "content": "It is 21 °C in Paris."},
    ]
