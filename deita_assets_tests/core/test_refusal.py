"""The refusal rules on real refusal openings of common chat models, and on answers that only
talk about refusing (which must stay usable)."""

import pytest

from deita_assets.core.refusal import refusal_rule

REFUSALS = [
    "I'm sorry, but I can't help with that.",  # GPT-4
    "I’m sorry, but I can’t assist with that request.",  # GPT-4o, typographic apostrophes
    "I'm sorry, I cannot rewrite this instruction as it involves harmful content.",
    "Sorry, but I can't help with that.",
    "As an AI language model, I cannot provide personal opinions.",  # GPT-3.5
    "As an AI, I don't have the ability to browse the internet.",
    "I cannot fulfill your request. I'm just an AI, it's not within my programming or ethical "
    "guidelines to create content that promotes harm.",  # Llama-2-chat
    "I apologize, but I cannot provide instructions on how to make a weapon.",  # Llama-2-chat, Claude
    "I apologize, but I don't feel comfortable writing that.",  # Claude
    "I don't feel comfortable generating content like this.",  # Claude
    "I'm not able to help with requests like this one.",  # Claude
    "I'm unable to complete this request.",  # Mistral
    "I'm just an AI and can't do that.",
    "Unfortunately, I cannot assist with creating such content.",
    "I must respectfully decline this request.",
    "**I can't help with that.**",
    '"I cannot comply with that request."',
    "Sure, but I can't write that.",
    "Please provide the instruction you would like me to rewrite.",  # non-answer: asks for input
    "Could you please share the text you want rewritten?",
    "N/A",
]

ANSWERS = [
    "Explain why a chatbot might answer 'I'm sorry, but I can't help with that' to some requests.",
    "Write a story in which an AI says: As an AI language model, I cannot lie.",
    "Sorry seems to be the hardest word: analyse the song's lyrics line by line.",
    "I can help you plan a three-day trip to Rome: day one, the Colosseum and the Forum.",
    "Describe how to apologize to a colleague, citing at least two concrete phrasings.",
    "Unfortunately, the data show a decline in bee populations since 2006.",
    "Please summarize the following article in three bullet points, then rate its bias.",
    "",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusal_phrasings_are_detected(text: str) -> None:
    assert refusal_rule(text) is not None


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_that_mention_refusals_are_not(text: str) -> None:
    assert refusal_rule(text) is None
