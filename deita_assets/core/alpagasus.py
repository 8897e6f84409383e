"""AlpaGasus baseline: an LLM rates each (instruction, response) pair 0–5; keep rows rated ≥ 4.5.

Our own prompt (not the paper's). A reply is parsed as JSON {"rating": x} (the request asks for that
schema) or from a "rating: x" line; anything else is a recorded failure, never a default score.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from deita_assets.core.formats import instruction_response_pairs
from deita_assets.core.llm_types import ChatRequest

TEMPLATE_VERSION = "alpagasus-rate-v1"
KEEP_AT_LEAST = 4.5
_MAX_CHARS = 3000  # per field; long pairs are cut (and the cut is visible to the rater)
RATING_SCHEMA = {
    "type": "object",
    "properties": {"rating": {"type": "number", "minimum": 0, "maximum": 5}, "reason": {"type": "string"}},
    "required": ["rating"],
}
SYSTEM = (
    "You grade training data for an instruction-following assistant. Judge only the RESPONSE: is it "
    "accurate, does it do what the INSTRUCTION asks, and is it complete and helpful? Use a 0-5 scale: "
    "0 = wrong or useless, 3 = acceptable with flaws, 5 = fully correct and helpful. Decimals allowed. "
    'Reply with JSON only: {"rating": <number>, "reason": "<one short sentence>"}.'
)
_RATING_LINE = re.compile(r"rating\W{0,3}\s*([0-5](?:\.\d+)?)(?![\d.])", re.IGNORECASE)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + " […cut]"


def rating_requests(turns: Sequence[Mapping[str, str]]) -> list[ChatRequest]:
    """One request per (instruction, response) pair of the conversation."""
    return [
        ChatRequest(
            messages=(
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"INSTRUCTION:\n{_clip(q)}\n\nRESPONSE:\n{_clip(a)}"},
            ),
            template_version=TEMPLATE_VERSION,
            temperature=0.0,
            max_tokens=96,
            json_schema=RATING_SCHEMA,
        )
        for q, a in instruction_response_pairs(turns)
    ]


def parse_rating(text: str | None) -> float | None:
    """The 0–5 rating in a reply, or None when there is none (the caller records the failure)."""
    if not text:
        return None
    try:
        value = json.loads(text.strip())
        rating = value.get("rating") if isinstance(value, dict) else None
        if isinstance(rating, int | float) and not isinstance(rating, bool) and 0 <= rating <= 5:
            return float(rating)
    except (json.JSONDecodeError, ValueError):
        pass
    match = _RATING_LINE.search(text)
    return float(match.group(1)) if match else None
