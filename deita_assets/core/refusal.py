"""Refusals and non-answers: replies that must never become scorer training data.

Why a rule list: an evolution round that the model refuses ("I'm sorry, but I can't help with that")
is a fluent, non-empty reply, so the length/echo checks accept it, and the ranker and the scorers
then learn from a refusal as if it were an instruction or an answer. The rules below are the
openings the common chat models use (GPT-3.5/4, Claude, Llama-2-chat, Mistral/Mixtral, Gemma,
Qwen); they are matched at the start of the reply only (after quotes, markdown and a "Sure,"), so an
instruction that merely talks about refusals stays usable. Each rule has a name, stored as the
reason, so a false positive can be traced to the rule that made it.
"""

from __future__ import annotations

import re

_APOS = "['\u2019]"  # straight and typographic apostrophes
_CANT = (
    rf"(?:can{_APOS}?t|cannot|can not|am unable to|{_APOS}m unable to|am not able to|"
    rf"{_APOS}m not able to|won{_APOS}t|will not)"
)
_HELP = (
    r"(?:help|assist|comply|fulfil+|provide|create|generate|write|rewrite|complete|do|engage|"
    r"answer|respond|support|continue|produce|give|share|offer|participate)"
)

REFUSAL_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        # "I'm sorry, but I can't help with that." (GPT-4), "I apologize, but I cannot …" (Claude, Llama-2)
        (
            "sorry_cannot",
            rf"^(?:i{_APOS}m|i am|we{_APOS}re|i)?\s*(?:very |so |really )?"
            rf"(?:sorry|apologi[sz]e)\b[^.!?\n]{{0,60}}?\bi\s*(?:{_CANT}|do not feel|don{_APOS}t feel)",
        ),
        ("sorry_no_help", rf"^sorry,? (?:but )?(?:i|that)\s*{_CANT}"),
        # "As an AI language model, I …" (GPT-3.5), "As a large language model …", "As an AI assistant, …"
        ("as_an_ai", r"^as an? (?:ai|artificial intelligence|large language model|language model|llm)\b"),
        # "I cannot fulfill your request. I'm just an AI …" (Llama-2-chat), "I can't assist with that."
        ("i_cannot", rf"^(?:unfortunately,? )?i\s*{_CANT}\s+(?:\w+\s+){{0,2}}?{_HELP}\b"),
        ("just_an_ai", rf"^i{_APOS}m just an ai\b|^i am just an ai\b"),
        # "I must decline …", "I have to respectfully decline …"
        ("decline", r"^i (?:must|have to|need to|will have to)\s+(?:\w+\s+)?(?:decline|refuse)\b"),
        # Claude: "I don't feel comfortable …", "I'm not comfortable …"
        ("not_comfortable", rf"^i (?:do not|don{_APOS}t) feel comfortable|^i{_APOS}m not comfortable"),
        # Non-answers: the model asks for the input instead of rewriting it.
        (
            "asks_for_input",
            r"^(?:please|could you(?: please)?|can you(?: please)?) (?:provide|share|give|send)"
            r"(?: me)? (?:the|your|a|an|more)\b",
        ),
        ("no_content", r"^(?:n/a|none|no (?:instruction|response|answer) (?:provided|given))[.!]?$"),
    )
)

# Quotes, markdown and assent words a refusal may open with ("Sure, but I can't …" is still one).
_LEAD = re.compile(
    r"^[\s\"'`*_>#\-\u201c\u2018]*(?:(?:sure|okay|ok|well|hmm|oh)[,.!]?\s+(?:but\s+)?)?", re.IGNORECASE
)


def refusal_rule(text: str | None) -> str | None:
    """The name of the first refusal rule the start of `text` matches, or None for a real answer."""
    if not text:
        return None
    head = _LEAD.sub("", text.strip(), count=1)[:300]
    for name, pattern in REFUSAL_RULES:
        if pattern.search(head):
            return name
    return None
