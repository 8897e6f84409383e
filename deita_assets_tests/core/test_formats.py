"""Record formats -> one conversation shape; exact expectations per format and per failure."""

from pathlib import Path

import pytest

from deita_assets.core import formats as F
from deita_assets.core.formats import RecordError, normalize_record


def turns(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": r, "content": c} for r, c in pairs]


def test_alpaca_joins_input_and_accepts_response_key() -> None:
    rec = normalize_record({"instruction": "Sum", "input": "1, 2", "output": " 3 \r\n"})
    assert rec.format == "alpaca"
    assert rec.turns == turns(("user", "Sum\n\n1, 2"), ("assistant", "3"))
    gpteacher = normalize_record({"instruction": "Hi", "input": "", "response": "Hello"})
    assert gpteacher.turns == turns(("user", "Hi"), ("assistant", "Hello"))
    assert normalize_record({"instruction": "Hi", "input": None, "output": "Yo"}).turns[0]["content"] == "Hi"


def test_alpaca_lima_history_comes_first_and_system_is_kept() -> None:
    rec = normalize_record(
        {"instruction": "q2", "input": "", "output": "a2", "history": [["q1", "a1"]], "system": "Be kind"}
    )
    assert rec.turns == turns(
        ("system", "Be kind"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")
    )


def test_self_instruct_seed_task() -> None:
    rec = normalize_record(
        {"id": "seed_task_0", "instruction": "Translate", "instances": [{"input": "hola", "output": "hello"}]}
    )
    assert rec.format == "self_instruct_seed"
    assert rec.turns == turns(("user", "Translate\n\nhola"), ("assistant", "hello"))


def test_sharegpt_ignores_extra_keys_and_maps_roles() -> None:
    rec = normalize_record(
        {
            "id": "x",
            "conversations": [
                {"from": "system", "value": "sys"},
                {"from": "human", "value": "hi", "sentiment": {"pos": 1}},
                {"from": "gpt", "value": "hello", "language": "en"},
            ],
            "overall_sentiment": {},
        }
    )
    assert rec.format == "sharegpt"
    assert rec.turns == turns(("system", "sys"), ("user", "hi"), ("assistant", "hello"))


def test_sharegpt_empty_turn_is_dropped_and_counted() -> None:
    rec = normalize_record(
        {
            "conversations": [
                {"from": "human", "value": "a"},
                {"from": "gpt", "value": "b"},
                {"from": "human", "value": "  "},
                {"from": "gpt", "value": "c"},
            ]
        }
    )
    assert rec.empty_turns_dropped == 1
    assert [t["content"] for t in rec.turns] == ["a", "b", "c"]


def test_openai_messages_with_content_parts() -> None:
    rec = normalize_record(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image"}]},
                {"role": "assistant", "content": "ok"},
            ]
        }
    )
    assert rec.format == "openai_messages"
    assert rec.turns == turns(("user", "look"), ("assistant", "ok"))


def test_prompt_completion_strips_endoftext() -> None:
    rec = normalize_record({"prompt": "Q?\n", "completion": " A.<|endoftext|>"})
    assert rec.format == "prompt_completion"
    assert rec.turns == turns(("user", "Q?"), ("assistant", "A."))
    with pytest.raises(RecordError) as err:
        normalize_record({"prompt": "Q?", "completion": "<|endoftext|>"})
    assert err.value.reason == F.EMPTY_FIELD


def test_hh_rlhf_multi_turn_takes_chosen() -> None:
    rec = normalize_record(
        {"chosen": "\n\nHuman: hi\n\nAssistant: hey\n\nHuman: how?\n\nAssistant: fine", "rejected": "x"}
    )
    assert rec.format == "hh_rlhf"
    assert rec.turns == turns(("user", "hi"), ("assistant", "hey"), ("user", "how?"), ("assistant", "fine"))


def test_hh_rlhf_empty_final_answer_is_no_assistant_turn() -> None:
    with pytest.raises(RecordError) as err:
        normalize_record({"chosen": "\n\nHuman: steal a puppy?\n\nAssistant: ", "rejected": ""})
    assert err.value.reason == F.NO_ASSISTANT_TURN


@pytest.mark.parametrize(
    "record",
    [
        "Can you tell me about GLaDOS?",
        {"instruction": "Write a poem", "instruction_type": "creative"},
        {"prompt": "only a prompt"},
    ],
)
def test_prompt_only_rows_have_no_assistant_turn(record: object) -> None:
    with pytest.raises(RecordError) as err:
        normalize_record(record)
    assert err.value.reason == F.NO_ASSISTANT_TURN


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"instruction": 5, "output": "x"}, F.WRONG_TYPE),
        ({"instruction": "x", "output": ["a"]}, F.WRONG_TYPE),
        ({"instruction": "", "output": "x"}, F.EMPTY_FIELD),
        ({"instruction": "x", "output": "  "}, F.EMPTY_FIELD),
        ({"instruction": "x", "input": 3, "output": "y"}, F.WRONG_TYPE),
        ({"instruction": "x", "output": "y", "history": "nope"}, F.WRONG_TYPE),
        ({"instruction": "x", "output": "y", "history": [["only one"]]}, F.WRONG_TYPE),
        ({"conversations": "text"}, F.WRONG_TYPE),
        ({"conversations": [{"from": "alien", "value": "x"}]}, F.UNKNOWN_ROLE),
        ({"conversations": [{"from": "human"}]}, F.MISSING_FIELD),
        ({"conversations": [{"from": "gpt", "value": 7}]}, F.WRONG_TYPE),
        ({"conversations": [{"from": "gpt", "value": "only an answer"}]}, F.NO_USER_TURN),
        ({"messages": [None]}, F.WRONG_TYPE),
        ({"instruction": "x", "instances": []}, F.EMPTY_FIELD),
        ({"foo": 1}, F.UNKNOWN_FORMAT),
        ([1, 2], F.WRONG_TYPE),
        (42, F.WRONG_TYPE),
        (None, F.WRONG_TYPE),
        ("", F.EMPTY_FIELD),
    ],
)
def test_bad_records_raise_with_reason(record: object, reason: str) -> None:
    with pytest.raises(RecordError) as err:
        normalize_record(record)
    assert err.value.reason == reason
    assert err.value.reason in F.REASONS


def test_forced_format_overrides_detection() -> None:
    record = {"instruction": "i", "output": "o", "prompt": "p", "completion": "c"}
    assert normalize_record(record).format == "prompt_completion"
    assert normalize_record(record, "alpaca").turns == turns(("user", "i"), ("assistant", "o"))
    with pytest.raises(RecordError) as err:
        normalize_record({"prompt": "p"}, "alpaca")
    assert err.value.reason == F.MISSING_FIELD
    with pytest.raises(ValueError, match="unknown record format"):
        normalize_record(record, "nope")


def test_render_pairs_and_row_id() -> None:
    conv = turns(("system", "s"), ("user", "u1"), ("assistant", "a1"), ("user", "u2"), ("assistant", "a2"))
    assert (
        F.render_conversation(conv) == "System: s\n\nUser: u1\n\nAssistant: a1\n\nUser: u2\n\nAssistant: a2"
    )
    assert F.instruction_response_pairs(conv) == [("u1", "a1"), ("u2", "a2")]
    assert F.instruction_response_pairs(turns(("assistant", "a"), ("user", "u"))) == []
    rid = F.row_id(conv)
    assert rid == F.row_id([dict(t) for t in conv]) and len(rid) == 32
    assert rid != F.row_id(conv[1:])
    # Same content from two formats is the same row.
    a = normalize_record({"instruction": "q", "input": "", "output": "a"}).turns
    b = normalize_record(
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    ).turns
    assert F.row_id(a) == F.row_id(b)
    # Pinned so the id never changes silently across releases (ids are stored and joined on).
    assert F.row_id(a) == "b97259b5ad9ab7fb90cabe9620c26dfb"


@pytest.mark.parametrize(
    ("name", "head", "container"),
    [
        ("a.json", b"[{}]", "json_array"),
        ("a.json", b"\xef\xbb\xbf  \r\n[", "json_array"),
        ("a.json", b'{"id": 1}', "json_object"),
        ("a.jsonl", b'{"a": 1}\n{"a": 2}', "jsonl"),
        ("a.jsonl.gz", b'{"a": 1}', "jsonl"),
        ("a.jsonl", b'[1]\n{"a": 2}', "jsonl"),  # the name decides, not a first-line array
        ("a.txt", b'"a string"\n', "jsonl"),
        ("a.parquet", b"PAR1....", "parquet"),
    ],
)
def test_detect_container(name: str, head: bytes, container: str) -> None:
    assert F.detect_container(Path(name), head) == container
