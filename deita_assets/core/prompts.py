"""Our own prompt texts for Evol-Complexity, Evol-Quality and rank-and-score, versioned.

Every request records its template version, and the version is part of the LLM cache key: editing a
text below must bump its version so cached replies to the old wording are not reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from deita_assets.core.llm_types import ChatRequest

EVOL_VERSION = "evol-v1"
RANK_VERSION = "rank-v1"
REPAIR_VERSION = "rank-repair-v1"

COMPLEXITY = "complexity"
QUALITY = "quality"

# One operation per round; the descriptions are what the rewriter is told to do.
COMPLEXITY_OPS: dict[str, str] = {
    "add_constraints": "Add one further constraint or requirement the answer has to satisfy.",
    "deepen": "Ask about the topic in more depth or breadth, so that a fuller answer is needed.",
    "concretize": "Replace a general concept in it with a more specific, concrete one.",
    "increase_reasoning": "Make it explicitly require several steps of reasoning to answer.",
}
QUALITY_OPS: dict[str, str] = {
    "helpfulness": "Make the response more helpful to the person who asked.",
    "relevance": "Make the response more relevant: address exactly what the instruction asks.",
    "depth": "Make the response go deeper: explain the why, not only the what.",
    "creativity": "Make the response more creative and engaging while staying correct.",
    "detail": "Make the response more detailed: add a concrete example or specific facts.",
}
OPS = {COMPLEXITY: COMPLEXITY_OPS, QUALITY: QUALITY_OPS}

_COMPLEXITY_SYSTEM = "You rewrite instructions to make them slightly harder. You output only the new one."
_QUALITY_SYSTEM = "You improve answers to instructions. You output only the improved answer."

_COMPLEXITY_TASK = """Rewrite the instruction below into a slightly more complex version.
How: {how}
Keep it one instruction a person could still answer. Keep any quoted input, code or table in it \
unchanged. Add only about 10 to 20 words. Write only the new instruction, with no title, preamble or \
explanation.

<instruction>
{instruction}
</instruction>"""

_QUALITY_TASK = """Improve the response below to the instruction.
How: {how}
Do not change the instruction. Keep what is correct in the response. Add only about 10 to 20 words. \
Write only the improved response, with no title, preamble or explanation.

<instruction>
{instruction}
</instruction>

<response>
{response}
</response>"""

# Fragments of the scaffolding above: finding one in a reply (and not in the text it rewrote) means
# the model echoed the prompt instead of rewriting.
SCAFFOLD_MARKERS = (
    "<instruction>",
    "</instruction>",
    "<response>",
    "</response>",
    "How:",
    "Add only about 10 to 20 words",
    "Write only the new instruction",
    "Write only the improved response",
    "Rewrite the instruction",
    "Improve the response",
    "slightly more complex version",
    "Keep it one instruction",
    "Keep what is correct in the response",
)


def evol_request(
    dimension: str, op: str, instruction: str, response: str, seed: int, temperature: float, max_tokens: int
) -> ChatRequest:
    """One round: complexity rewrites the instruction; quality rewrites the response, instruction fixed."""
    how = OPS[dimension][op]
    if dimension == COMPLEXITY:
        system, user = _COMPLEXITY_SYSTEM, _COMPLEXITY_TASK.format(how=how, instruction=instruction)
    else:
        system = _QUALITY_SYSTEM
        user = _QUALITY_TASK.format(how=how, instruction=instruction, response=response)
    return ChatRequest(
        messages=({"role": "system", "content": system}, {"role": "user", "content": user}),
        template_version=f"{EVOL_VERSION}/{dimension}/{op}",
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
    )


_RANK_INTRO = {
    COMPLEXITY: (
        "Below are {n} versions of an instruction, labelled [1] to [{n}]. Rank them by how complex and "
        "demanding they are to answer, and give each a score from 1 (simplest) to 5 (most complex). "
        "Give 6 only to a version that is too complex to answer sensibly. Versions that differ in "
        "complexity should get different scores."
    ),
    QUALITY: (
        "Below is an instruction followed by {n} responses to it, labelled [1] to [{n}]. Rank the "
        "responses by quality (helpfulness, relevance, accuracy, depth, creativity and level of "
        "detail) and give each a score from 1 (worst) to 5 (best). Give 6 only to a response that "
        "cannot be improved. Responses that differ in quality should get different scores."
    ),
}
_LINES_FORMAT = (
    "Reply with exactly {n} lines, one per item in order [1] to [{n}], each in the form\n"
    "[k] Score: x\nwhere k is the item number and x the score. Write nothing else."
)
_JSON_FORMAT = (
    'Reply with JSON only: {{"scores": [{{"item": k, "score": x}}, ...]}} with exactly one entry for '
    "each item k from 1 to {n}, in order."
)


def rank_schema(n: int) -> dict:
    """JSON schema of a rank-and-score reply: n entries of (item 1..n, integer score 1..6)."""
    entry = {
        "type": "object",
        "properties": {
            "item": {"type": "integer", "minimum": 1, "maximum": n},
            "score": {"type": "integer", "minimum": 1, "maximum": 6},
        },
        "required": ["item", "score"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"scores": {"type": "array", "items": entry, "minItems": n, "maxItems": n}},
        "required": ["scores"],
        "additionalProperties": False,
    }


def rank_messages(dimension: str, shown: Sequence[str], instruction: str, structured: bool) -> list[dict]:
    """The rank-and-score prompt over the variants in the (already shuffled) order shown."""
    n = len(shown)
    parts = [_RANK_INTRO[dimension].format(n=n)]
    if dimension == QUALITY:
        parts.append(f"Instruction:\n{instruction}")
    parts.append("\n\n".join(f"[{k}] {text}" for k, text in enumerate(shown, start=1)))
    parts.append((_JSON_FORMAT if structured else _LINES_FORMAT).format(n=n))
    return [{"role": "user", "content": "\n\n".join(parts)}]


def rank_request(
    dimension: str, shown: Sequence[str], instruction: str, structured: bool, max_tokens: int = 256
) -> ChatRequest:
    fmt = "json" if structured else "lines"
    return ChatRequest(
        messages=tuple(rank_messages(dimension, shown, instruction, structured)),
        template_version=f"{RANK_VERSION}/{dimension}/{fmt}",
        temperature=0.0,
        max_tokens=max_tokens,
        seed=0,
        json_schema=rank_schema(len(shown)) if structured else None,
    )


def repair_request(first: ChatRequest, reply: str, problem: str, n: int) -> ChatRequest:
    """One follow-up turn telling the model what was wrong with its reply and asking again."""
    fmt = _JSON_FORMAT if first.json_schema is not None else _LINES_FORMAT
    follow_up = f"Your reply could not be used: {problem}. Score every item exactly once.\n" + fmt.format(n=n)
    return ChatRequest(
        messages=(
            *first.messages,
            {"role": "assistant", "content": reply},
            {"role": "user", "content": follow_up},
        ),
        template_version=f"{REPAIR_VERSION}/{first.template_version}",
        temperature=first.temperature,
        max_tokens=first.max_tokens,
        seed=first.seed,
        json_schema=first.json_schema,
    )
