"""Write a selection in the formats fine-tuning tools read: ShareGPT JSON (LLaMA-Factory, axolotl),
OpenAI-messages JSONL (TRL SFTTrainer, OpenAI fine-tuning) and Parquet (datasets.load_dataset)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def to_sharegpt(row_id: str, turns: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {
        "id": row_id,
        "conversations": [{"from": SHAREGPT_ROLES[t["role"]], "value": t["content"]} for t in turns],
    }


def to_messages(row_id: str, turns: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    return {"id": row_id, "messages": [{"role": t["role"], "content": t["content"]} for t in turns]}


def write_exports(
    rows: Sequence[Mapping[str, Any]], directory: Path, stem: str
) -> dict[str, tuple[Path, int]]:
    """rows: {row_id, turns, source, score} in selection order -> {format: (path, rows written)}."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "sharegpt_json": directory / f"{stem}.sharegpt.json",
        "openai_messages_jsonl": directory / f"{stem}.messages.jsonl",
        "parquet": directory / f"{stem}.parquet",
    }
    sharegpt = [to_sharegpt(r["row_id"], r["turns"]) for r in rows]
    _atomic_write(
        paths["sharegpt_json"],
        lambda p: p.write_text(json.dumps(sharegpt, ensure_ascii=False), encoding="utf-8"),
    )
    lines = "".join(json.dumps(to_messages(r["row_id"], r["turns"]), ensure_ascii=False) + "\n" for r in rows)
    _atomic_write(paths["openai_messages_jsonl"], lambda p: p.write_text(lines, encoding="utf-8"))
    turn = pa.struct([("role", pa.string()), ("content", pa.string())])
    table = pa.table(
        {
            "id": pa.array([r["row_id"] for r in rows], pa.string()),
            "messages": pa.array([[dict(t) for t in r["turns"]] for r in rows], pa.list_(turn)),
            "source": pa.array([r.get("source") for r in rows], pa.string()),
            "score": pa.array([r.get("score") for r in rows], pa.float64()),
        }
    )
    _atomic_write(paths["parquet"], lambda p: pq.write_table(table, p))
    return {name: (path, len(rows)) for name, path in paths.items()}
