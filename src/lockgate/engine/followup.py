"""The question a grounded turn answers, from the conversation's user messages.

A follow-up ("And how many of those can I carry over?", "What about meals?") names nothing
the sources could be found by: alone, it retrieves the wrong document and its words are not
what an answer must share. Such a follow-up is asked together with the user's previous
message; any other last message is the question on its own."""

from __future__ import annotations

import re

from lockgate.guardrails.grounding import content_words

# It opens as a continuation ("and ...", "what about ...", "also ...") ...
_CONTINUES = re.compile(r"^\s*(?:and|also|plus|what about|how about|and what about)\b", re.I)
# ... or it is short and points back at what was said before.
_POINTS_BACK = re.compile(
    r"\b(?:those|these|that one|them|it|its|they|their|the same|there)\b", re.I
)
_SHORT = 4  # content words


def is_follow_up(text: str) -> bool:
    if _CONTINUES.search(text):
        return True
    return len(content_words(text)) <= _SHORT and bool(_POINTS_BACK.search(text))


def standalone_question(users: list[str]) -> str:
    """The last user message, with the one before it where the last is a follow-up."""
    texts = [u.strip() for u in users if u.strip()]
    if not texts:
        return ""
    last = texts[-1]
    if len(texts) > 1 and is_follow_up(last):
        return f"{texts[-2]} {last}"
    return last
