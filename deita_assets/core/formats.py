"""Input formats: what a file is, what each record is, and the one conversation shape they become.

Every stage downstream sees a conversation as a list of turns `{"role", "content"}` with role one of
system/user/assistant, so scorers, embedders and trainers never care where a row came from.

Record formats found in the wild (and in ../shared/data):

- alpaca: instruction / input / output (or `response`), optional LIMA-style `history` [[q, a], ...]
  turns before the final pair and an optional `system` string. User content is
  instruction + "\\n\\n" + input when input is non-empty.
- self_instruct_seed: instruction + instances [{input, output}, ...]; one user/assistant exchange per
  instance (seed tasks have one instance each).
- sharegpt: `conversations` (or `conversation`) = [{from: human|gpt|system, value}, ...]; extra keys
  in each message are ignored.
- openai_messages: `messages` = [{role, content}, ...]; content may be a list of text parts. Tool use
  is kept as text, not dropped: an assistant turn's `tool_calls` (its content may be null) is
  rendered as "[tool call] name(arguments)" lines in that assistant turn, and a `tool` (or legacy
  `function`) turn becomes a user turn "[tool result name] …" — the model's input, never a training
  target. Both are counted (`NormalizedRecord.tool_turns_rendered`).
- prompt_completion: prompt / completion, a trailing "<|endoftext|>" is stripped (a completion that is
  nothing else is an empty field).
- hh_rlhf: `chosen` transcript "\\n\\nHuman: … \\n\\nAssistant: …" (the preferred side).
- prompt_only: a bare JSON string, or an object with only an instruction/prompt: never kept, quarantined
  as "no_assistant_turn" (there is nothing to learn from without a response).

Normalization: content is stripped and CRLF becomes LF; turns whose content is empty after that are
dropped (the count is reported, see `NormalizedRecord.empty_turns_dropped`); a conversation must keep
at least one assistant turn and one user turn (ShareGPT has answer-only chunks of split
conversations). Problems raise `RecordError` with a stable quarantine reason code.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict

Role = Literal["system", "user", "assistant"]


class Turn(TypedDict):
    role: Role
    content: str


Conversation = list[Turn]

# Quarantine reason codes (stable strings: they are stored and counted).
MALFORMED_JSON = "malformed_json"
NON_UTF8 = "non_utf8"
WRONG_TYPE = "wrong_type"
MISSING_FIELD = "missing_field"
EMPTY_FIELD = "empty_field"
NO_ASSISTANT_TURN = "no_assistant_turn"
NO_USER_TURN = "no_user_turn"
UNKNOWN_ROLE = "unknown_role"
TOO_LARGE = "too_large"
UNKNOWN_FORMAT = "unknown_format"
REASONS = (
    MALFORMED_JSON,
    NON_UTF8,
    WRONG_TYPE,
    MISSING_FIELD,
    EMPTY_FIELD,
    NO_ASSISTANT_TURN,
    NO_USER_TURN,
    UNKNOWN_ROLE,
    TOO_LARGE,
    UNKNOWN_FORMAT,
)


class RecordError(ValueError):
    """A record that cannot become a conversation; `reason` is the quarantine code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class NormalizedRecord:
    format: str
    turns: Conversation
    empty_turns_dropped: int = 0
    tool_turns_rendered: int = 0  # assistant tool calls and tool results kept as text


# ---------------------------------------------------------------------------------------------
# File containers
# ---------------------------------------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"


def detect_container(path: Path, head: bytes) -> str:
    """Layout of a (decompressed) file from its name and first bytes.

    `head` is the start of the decompressed content. A `{` start is ambiguous (one object per file
    vs. JSONL); `.jsonl` names decide JSONL, otherwise the caller tries a whole-file parse first
    (`json_object`) and falls back to JSONL, see ingest.
    """
    if head[:4] == b"PAR1":
        return "parquet"
    first = head.removeprefix(_BOM).lstrip()[:1]
    suffixes = [s.lower() for s in path.suffixes]
    if ".jsonl" in suffixes or ".ndjson" in suffixes:  # the name decides: a first line may be an array
        return "jsonl"
    if first == b"[":
        return "json_array"
    if first == b"{":
        return "json_object"
    return "jsonl"


# ---------------------------------------------------------------------------------------------
# Record formats
# ---------------------------------------------------------------------------------------------

_ROLE_ALIASES: dict[str, Role] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
}
_HH_SPLIT = re.compile(r"\n\n(Human|Assistant): ?")
_ENDOFTEXT = "<|endoftext|>"


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _field(record: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    """A string field; None counts as absent. Raises with the right reason code."""
    value = record.get(key)
    if value is None:
        if required:
            raise RecordError(MISSING_FIELD, f"field {key!r} is missing")
        return ""
    if not isinstance(value, str):
        raise RecordError(WRONG_TYPE, f"field {key!r} is {type(value).__name__}, expected a string")
    value = _clean(value)
    if required and not value:
        raise RecordError(EMPTY_FIELD, f"field {key!r} is empty")
    return value


def _list_field(record: Mapping[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    if value is None:
        raise RecordError(MISSING_FIELD, f"field {key!r} is missing")
    if not isinstance(value, list):
        raise RecordError(WRONG_TYPE, f"field {key!r} is {type(value).__name__}, expected a list")
    return value


def _user_content(instruction: str, input_text: str) -> str:
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def _alpaca(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    instruction = _field(record, "instruction")
    input_text = _field(record, "input", required=False)
    output_key = "output" if record.get("output") is not None else "response"
    if record.get(output_key) is None:
        raise RecordError(MISSING_FIELD, "field 'output' (or 'response') is missing")
    output = _field(record, output_key)
    turns: list[tuple[str, Any]] = []
    system = _field(record, "system", required=False)
    if system:
        turns.append(("system", system))
    history = record.get("history")
    if history is not None:
        if not isinstance(history, list):
            raise RecordError(WRONG_TYPE, f"field 'history' is {type(history).__name__}, expected a list")
        for i, pair in enumerate(history):
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise RecordError(WRONG_TYPE, f"history[{i}] is not a [question, answer] pair")
            turns += [("user", pair[0]), ("assistant", pair[1])]
    turns += [("user", _user_content(instruction, input_text)), ("assistant", output)]
    return turns


def _self_instruct_seed(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    instruction = _field(record, "instruction")
    instances = _list_field(record, "instances")
    if not instances:
        raise RecordError(EMPTY_FIELD, "field 'instances' is empty")
    turns: list[tuple[str, Any]] = []
    for i, instance in enumerate(instances):
        if not isinstance(instance, Mapping):
            raise RecordError(WRONG_TYPE, f"instances[{i}] is {type(instance).__name__}, expected an object")
        user = _user_content(instruction, _field(instance, "input", required=False))
        turns += [("user", user), ("assistant", _field(instance, "output"))]
    return turns


TOOL_ROLES = ("tool", "function")
TOOL_CALL_PREFIX = "[tool call]"
TOOL_RESULT_PREFIX = "[tool result"


class ToolText(str):
    """Turn text rendered from a tool call or tool result, so normalization can count it."""


def _tool_call_text(calls: Any) -> str:
    """OpenAI `tool_calls` (or a legacy `function_call`) as readable lines: "[tool call] f({...})"."""
    lines = []
    for call in calls if isinstance(calls, list) else [calls]:
        function = call.get("function", call) if isinstance(call, Mapping) else {}
        name = function.get("name", "?") if isinstance(function, Mapping) else "?"
        arguments = function.get("arguments", "") if isinstance(function, Mapping) else ""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        lines.append(f"{TOOL_CALL_PREFIX} {name}({arguments})")
    return "\n".join(lines)


def _tool_turn(message: Mapping[str, Any], content: Any) -> tuple[str, Any] | None:
    """A tool call or tool result as a text turn, or None when the message is neither."""
    calls = message.get("tool_calls") or message.get("function_call")
    if calls and message.get("role") == "assistant":
        text = content if isinstance(content, str) else ""
        return "assistant", ToolText(f"{text}\n{_tool_call_text(calls)}".strip())
    if message.get("role") in TOOL_ROLES:
        label = message.get("name") or message.get("tool_call_id") or message["role"]
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        return "user", ToolText(f"{TOOL_RESULT_PREFIX} {label}] {content}")
    return None


def _messages(record: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
    turns: list[tuple[str, Any]] = []
    for i, message in enumerate(_list_field(record, key)):
        if not isinstance(message, Mapping):
            raise RecordError(WRONG_TYPE, f"{key}[{i}] is {type(message).__name__}, expected an object")
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value", message.get("text")))
        if (tool := _tool_turn(message, content)) is not None:
            turns.append(tool)
            continue
        if role is None or content is None:
            raise RecordError(MISSING_FIELD, f"{key}[{i}] lacks a role/from or content/value field")
        if isinstance(content, list) and all(isinstance(p, Mapping) and "type" in p for p in content):
            # OpenAI content parts: keep the text parts in order (images etc. cannot be trained on here)
            content = "\n".join(p.get("text", "") for p in content if p["type"] == "text")
        turns.append((role, content))
    return turns


def _sharegpt(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return _messages(record, "conversations" if "conversations" in record else "conversation")


def _openai_messages(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return _messages(record, "messages")


def _prompt_completion(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    prompt = _field(record, "prompt")
    completion = _field(record, "completion").removesuffix(_ENDOFTEXT)
    if not completion.strip():
        raise RecordError(EMPTY_FIELD, f"field 'completion' is empty apart from {_ENDOFTEXT}")
    return [("user", prompt), ("assistant", completion)]


def _hh_rlhf(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    transcript = _field(record, "chosen").replace("\r\n", "\n")
    parts = _HH_SPLIT.split("\n\n" + transcript)
    if parts[0].strip():
        raise RecordError(UNKNOWN_FORMAT, "transcript does not start with 'Human:' or 'Assistant:'")
    speakers = {"Human": "user", "Assistant": "assistant"}
    return [(speakers[parts[i]], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _prompt_only(record: Any) -> list[tuple[str, Any]]:
    if isinstance(record, str):
        if not record.strip():
            raise RecordError(EMPTY_FIELD, "record is an empty string")
        return [("user", record)]
    key = next((k for k in ("instruction", "prompt", "question", "turns") if k in record), None)
    if key is None:
        raise RecordError(MISSING_FIELD, "no instruction/prompt/question field")
    return [("user", json.dumps(record[key], ensure_ascii=False) if key == "turns" else record[key])]


RECORD_FORMATS: dict[str, Callable[[Any], list[tuple[str, Any]]]] = {
    "alpaca": _alpaca,
    "self_instruct_seed": _self_instruct_seed,
    "sharegpt": _sharegpt,
    "openai_messages": _openai_messages,
    "prompt_completion": _prompt_completion,
    "hh_rlhf": _hh_rlhf,
    "prompt_only": _prompt_only,
}


def detect_record_format(record: Any) -> str:
    """Which of RECORD_FORMATS a parsed JSON value is; raises RecordError if none fits."""
    if isinstance(record, str):
        return "prompt_only"
    if not isinstance(record, Mapping):
        raise RecordError(WRONG_TYPE, f"record is a JSON {_json_type(record)}, expected an object")
    if "conversations" in record or "conversation" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai_messages"
    if "chosen" in record:
        return "hh_rlhf"
    if "instances" in record and "instruction" in record:
        return "self_instruct_seed"
    if "prompt" in record and "completion" in record:
        return "prompt_completion"
    if "instruction" in record and ("output" in record or "response" in record):
        return "alpaca"
    if any(k in record for k in ("instruction", "prompt", "question", "turns")):
        return "prompt_only"
    keys = ", ".join(sorted(map(str, record))[:8])
    raise RecordError(UNKNOWN_FORMAT, f"no known record format has these keys: {keys}")


def _json_type(value: Any) -> str:
    names = {list: "array", dict: "object", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def normalize_record(record: Any, record_format: str | None = None) -> NormalizedRecord:
    """Parsed JSON value -> conversation, detecting the format unless one is forced."""
    fmt = record_format or detect_record_format(record)
    if fmt not in RECORD_FORMATS:
        raise ValueError(f"unknown record format {fmt!r}; known: {', '.join(RECORD_FORMATS)}")
    if fmt != "prompt_only" and not isinstance(record, Mapping):
        raise RecordError(WRONG_TYPE, f"record is a JSON {_json_type(record)}, expected an object")
    raw_turns = RECORD_FORMATS[fmt](record)
    turns: Conversation = []
    dropped = 0
    tools = sum(isinstance(content, ToolText) for _role, content in raw_turns)
    for i, (role, content) in enumerate(raw_turns):
        if not isinstance(role, str) or role.strip().lower() not in _ROLE_ALIASES:
            raise RecordError(UNKNOWN_ROLE, f"turn {i} has role {role!r}")
        if not isinstance(content, str):
            raise RecordError(WRONG_TYPE, f"turn {i} content is {_json_type(content)}, expected a string")
        text = _clean(content)
        if not text:
            dropped += 1
            continue
        turns.append({"role": _ROLE_ALIASES[role.strip().lower()], "content": text})
    if not any(t["role"] == "assistant" for t in turns):
        raise RecordError(NO_ASSISTANT_TURN, f"{fmt} record has no non-empty assistant turn")
    if not any(t["role"] == "user" for t in turns):
        raise RecordError(NO_USER_TURN, f"{fmt} record has no non-empty user turn")
    return NormalizedRecord(fmt, turns, dropped, tools)


# ---------------------------------------------------------------------------------------------
# Helpers every stage uses
# ---------------------------------------------------------------------------------------------

_ROLE_LABEL = {"system": "System", "user": "User", "assistant": "Assistant"}


def render_conversation(turns: Sequence[Mapping[str, str]]) -> str:
    """One text for embeddings and display: "User: …\\n\\nAssistant: …"."""
    return "\n\n".join(f"{_ROLE_LABEL.get(t['role'], t['role'])}: {t['content']}" for t in turns)


def instruction_response_pairs(turns: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    """(user turn, the assistant turn right after it) for per-turn scoring, in order."""
    return [
        (turns[i]["content"], turns[i + 1]["content"])
        for i in range(len(turns) - 1)
        if turns[i]["role"] == "user" and turns[i + 1]["role"] == "assistant"
    ]


def row_id(turns: Sequence[Mapping[str, str]]) -> str:
    """Stable id of a normalized conversation (same turns -> same id, in any shard or process)."""
    canonical = json.dumps(
        [[t["role"], t["content"]] for t in turns], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
