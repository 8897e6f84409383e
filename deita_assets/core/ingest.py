"""Read one shard file into kept conversations and quarantined records, accounting for every record.

Why: data from the wild is dirty (truncated files, stray bytes, prompt-only rows). Nothing may vanish
silently, so each record read ends in exactly one bucket: kept, quarantined (with a reason), or a
duplicate of an earlier kept row (invariant: rows_read = kept + quarantined + duplicates). Only a file
that cannot be read at all (missing, corrupt gzip/Parquet) raises, with a message naming the file.

`position` of a record: 1-based line number for JSONL, 0-based element index for JSON arrays and
Parquet, 0 for a one-object JSON file.
"""

import gzip
import hashlib
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deita_assets.core.formats import (
    MALFORMED_JSON,
    NON_UTF8,
    TOO_LARGE,
    Conversation,
    RecordError,
    detect_container,
    is_gzip,
    normalize_record,
    row_id,
)

DEFAULT_MAX_ROW_BYTES = 1_000_000
RAW_KEEP_CHARS = 2_000  # quarantine keeps this much raw text: enough to see what went wrong
DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz", ".parquet")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # CRLF, LF and old-Mac CR-only files alike


def split_lines(text: str) -> list[str]:
    """JSONL lines under any of the three line-ending conventions (JSON strings hold no raw CR/LF)."""
    return _LINE_BREAK.split(text)


class ShardReadError(RuntimeError):
    """The whole file is unreadable (not one bad record): the run must fail, naming the file."""


@dataclass(frozen=True)
class RawRecord:
    """One record as read: its parsed value, or the reason it could not be parsed."""

    position: int
    raw: str  # text as read (surrogate-escaped where bytes were not UTF-8)
    value: Any = None
    error: RecordError | None = None


@dataclass(frozen=True)
class KeptRow:
    position: int
    row_id: str
    format: str
    turns: Conversation

    @property
    def n_chars(self) -> int:
        return sum(len(t["content"]) for t in self.turns)


@dataclass(frozen=True)
class QuarantinedRow:
    position: int
    reason: str
    detail: str
    raw: str


@dataclass
class ShardResult:
    """Everything one shard file gave; duplicates_within are later copies of a row kept earlier."""

    source: str
    source_file: str
    container: str
    content_hash: str
    kept: list[KeptRow] = field(default_factory=list)
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    duplicates_within: list[tuple[int, str]] = field(default_factory=list)  # (position, row_id)
    empty_turns_dropped: int = 0
    tool_turns_rendered: int = 0  # tool calls/results kept as text turns (core.formats)

    @property
    def rows_read(self) -> int:
        return len(self.kept) + len(self.quarantined) + len(self.duplicates_within)

    def quarantine_counts(self) -> Counter[str]:
        return Counter(q.reason for q in self.quarantined)

    def format_counts(self) -> Counter[str]:
        return Counter(k.format for k in self.kept)


# ---------------------------------------------------------------------------------------------
# Names and keys
# ---------------------------------------------------------------------------------------------


def is_data_file(path: Path) -> bool:
    """A regular data file; never a symbolic link (links are refused, see core.inbox)."""
    name = path.name.lower()
    return (
        not path.is_symlink() and path.is_file() and not name.startswith(".") and name.endswith(DATA_SUFFIXES)
    )


def source_name(file_name: str) -> str:
    """Inbox files are named `<source>__<name>`; without `__` the source is the file stem."""
    if "__" in file_name:
        return file_name.split("__", 1)[0]
    stem = file_name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if stem.lower().endswith(suffix):
            return stem[: -len(suffix)]
    return Path(stem).stem


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_name(file_name: str) -> str:
    return _UNSAFE.sub("_", file_name)[:100]


def shard_key(file_name: str, digest: str) -> str:
    """Partition key: readable file name + content hash, so a changed file is a new shard."""
    return f"{safe_name(file_name)}-{digest[:12]}"


def find_shard_file(inbox: Path, key: str) -> Path:
    """The inbox file whose name and current content give `key`; clear error if none does."""
    prefix, _, short = key.rpartition("-")
    candidates = [p for p in sorted(inbox.iterdir()) if is_data_file(p) and safe_name(p.name) == prefix]
    for path in candidates:
        if file_digest(path).startswith(short):
            return path
    seen = ", ".join(p.name for p in candidates) or "no file with that name"
    raise ShardReadError(
        f"shard {key!r}: no file in {inbox} with that name and content hash ({seen}); "
        "the file was removed or changed (a changed file is a new shard)"
    )


# ---------------------------------------------------------------------------------------------
# Reading records
# ---------------------------------------------------------------------------------------------


def _utf8_bytes(raw: str) -> bytes:
    return raw.encode("utf-8", "surrogateescape")


def _has_bad_bytes(raw: str) -> bool:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _parse(position: int, raw: str, max_bytes: int) -> RawRecord:
    size = len(_utf8_bytes(raw)) if len(raw) * 4 > max_bytes else len(raw)
    if size > max_bytes:
        return RawRecord(position, raw, error=RecordError(TOO_LARGE, f"{size} bytes > cap {max_bytes}"))
    try:
        return RawRecord(position, raw, value=json.loads(raw))
    except (ValueError, RecursionError) as err:  # JSONDecodeError, int digit limit, deep nesting
        if _has_bad_bytes(raw):
            return RawRecord(position, raw, error=RecordError(NON_UTF8, "bytes that are not UTF-8"))
        return RawRecord(position, raw, error=RecordError(MALFORMED_JSON, str(err)))


def _jsonl(text: str, max_bytes: int) -> Iterator[RawRecord]:
    for number, line in enumerate(split_lines(text), start=1):
        if line.strip(" \t"):  # JSON whitespace only: a line of other junk is a record to quarantine
            yield _parse(number, line, max_bytes)


def _json_array(text: str, max_bytes: int) -> Iterator[RawRecord]:
    """Elements one by one; a truncated or broken tail becomes one malformed record, not a crash."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\r\n]*")
    index = ws.match(text, text.index("[") + 1).end()
    position = 0
    if text.startswith("]", index):
        index = ws.match(text, index + 1).end()
        if index != len(text):
            yield RawRecord(0, text[index:], error=RecordError(MALFORMED_JSON, "data after the array"))
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, index)
        except (ValueError, RecursionError) as err:  # JSONDecodeError, int digit limit, deep nesting
            tail = text[index:]
            reason = NON_UTF8 if _has_bad_bytes(tail[:RAW_KEEP_CHARS]) else MALFORMED_JSON
            yield RawRecord(position, tail, error=RecordError(reason, f"array element unreadable: {err}"))
            return
        raw = text[index:end]
        size = len(_utf8_bytes(raw))
        if size > max_bytes:
            yield RawRecord(position, raw, error=RecordError(TOO_LARGE, f"{size} bytes > cap {max_bytes}"))
        else:
            yield RawRecord(position, raw, value=value)
        position += 1
        index = ws.match(text, end).end()
        if text.startswith(",", index):
            index = ws.match(text, index + 1).end()
            continue
        if text.startswith("]", index):
            rest = text[ws.match(text, index + 1).end() :]
            if rest:
                yield RawRecord(position, rest, error=RecordError(MALFORMED_JSON, "data after the array"))
            return
        tail = text[index:]
        yield RawRecord(position, tail, error=RecordError(MALFORMED_JSON, "array truncated or missing ','"))
        return


def _json_object_or_lines(text: str, max_bytes: int) -> tuple[str, Iterator[RawRecord]]:
    """A `{`-file is one object (ShareGPT sample files) or JSONL written under a .json name."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        first_line = split_lines(stripped)[0]
        try:
            json.loads(first_line)
        except (ValueError, RecursionError):
            return "json_object", iter([_parse(0, stripped, max_bytes)])
        return "jsonl", _jsonl(text, max_bytes)
    size = len(_utf8_bytes(stripped))
    if size > max_bytes:
        error = RecordError(TOO_LARGE, f"{size} bytes > cap {max_bytes}")
        return "json_object", iter([RawRecord(0, stripped, error=error)])
    return "json_object", iter([RawRecord(0, stripped, value=value)])


def _parquet(path: Path, max_bytes: int) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:
        raise ShardReadError(f"cannot read Parquet file {path}: {err}") from err
    for position, record in enumerate(table.to_pylist()):
        raw = json.dumps(record, ensure_ascii=False, default=str)
        size = len(_utf8_bytes(raw))
        if size > max_bytes:
            yield RawRecord(position, raw, error=RecordError(TOO_LARGE, f"{size} bytes > cap {max_bytes}"))
        else:
            yield RawRecord(position, raw, value=record)


def read_records(path: Path, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> tuple[str, Iterator[RawRecord]]:
    """(container name, records) of a file; raises ShardReadError if the file is unreadable or a link."""
    if path.is_symlink():
        raise ShardReadError(f"{path} is a symbolic link; links are refused (copy the file itself)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ShardReadError(f"cannot read shard file {path}: {err}") from err
    compressed = is_gzip(data)
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise ShardReadError(
                f"cannot decompress shard file {path} (corrupt or truncated gzip): {err}"
            ) from err
    container = detect_container(path, data[:64])
    if container == "parquet":
        if compressed:
            raise ShardReadError(f"{path}: gzip-compressed Parquet is not supported")
        return container, _parquet(path, max_row_bytes)
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    if container == "json_array":
        records = _json_array(text, max_row_bytes)
    elif container == "json_object":
        container, records = _json_object_or_lines(text, max_row_bytes)
    else:
        records = _jsonl(text, max_row_bytes)
    return container + (".gz" if compressed else ""), records


def _printable(raw: str) -> str:
    return _utf8_bytes(raw[:RAW_KEEP_CHARS]).decode("utf-8", "replace")


def ingest_file(
    path: Path,
    *,
    source: str | None = None,
    record_format: str | None = None,
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
    digest: str | None = None,
) -> ShardResult:
    """Read and normalize one shard file; within-file duplicates keep the first occurrence."""
    container, records = read_records(path, max_row_bytes)
    result = ShardResult(
        source=source or source_name(path.name),
        source_file=path.name,
        container=container,
        content_hash=digest or file_digest(path),
    )
    seen: set[str] = set()
    for record in records:
        try:
            if record.error is not None:
                raise record.error
            normalized = normalize_record(record.value, record_format)
            try:
                rid = row_id(normalized.turns)
            except UnicodeEncodeError as err:  # lone surrogates from \\u escapes or raw bytes
                raise RecordError(NON_UTF8, "text that is not valid UTF-8 (lone surrogate)") from err
        except RecordError as err:
            result.quarantined.append(
                QuarantinedRow(record.position, err.reason, err.detail, _printable(record.raw))
            )
            continue
        if rid in seen:
            result.duplicates_within.append((record.position, rid))
            continue
        seen.add(rid)
        result.empty_turns_dropped += normalized.empty_turns_dropped
        result.tool_turns_rendered += normalized.tool_turns_rendered
        result.kept.append(KeptRow(record.position, rid, normalized.format, normalized.turns))
    return result
