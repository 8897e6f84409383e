"""A scripted "LLM" for the evol assets: rewrites grow by one clause, rankings follow length."""

import json
import re
from typing import Any

_TAG = re.compile(r"<(instruction|response)>\n(.*?)\n</\1>", re.DOTALL)
_ITEM = re.compile(r"^\[(\d+)\] (.*?)(?=^\[\d+\] |\n\nReply with)", re.DOTALL | re.MULTILINE)


def evol_responder(body: dict[str, Any]) -> str:
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")  # repairs: the first ask
    if "<instruction>" in prompt and "Reply with" not in prompt:
        tags = dict(_TAG.findall(prompt))
        target = tags.get("response", tags["instruction"])
        return f"{target} Also cover one more aspect in detail."
    items = {int(k): text for k, text in _ITEM.findall(prompt)}
    by_length = sorted(items, key=lambda k: (len(items[k]), k))
    scores = {k: 1 + rank for rank, k in enumerate(by_length)}
    if body.get("response_format"):
        return json.dumps({"scores": [{"item": k, "score": min(6, s)} for k, s in sorted(scores.items())]})
    return "\n".join(f"[{k}] Score: {min(6, s)}" for k, s in sorted(scores.items()))
