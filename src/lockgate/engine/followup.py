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
    r"\b(?:those|these|that one|them|it|its|they|their|the same|there|the \S+ ones?|"
    r"that kind|this kind|such|instead)\b",
    re.I,
)
_SHORT = 4  # content words
# What people say before the follow-up itself: "ok and the high-severity ones?", "Thanks!
# What about meals?", "right, so and on Starter?".
_OPENER = re.compile(
    r"^\s*(?:(?:ok|okay|ok so|alright|all right|right|cool|great|thanks|thank you|got it|"
    r"i see|hmm|so|perfect|nice)\b[\s,.!:;-]*)+",
    re.I,
)


def _without_opener(text: str) -> str:
    return _OPENER.sub("", text, count=1) or text


def is_follow_up(text: str) -> bool:
    text = _without_opener(text)
    if _CONTINUES.search(text):
        return True
    return len(content_words(text)) <= _SHORT and bool(_POINTS_BACK.search(text))


def standalone_question(users: list[str]) -> str:
    """The last user message, with the one before it where the last is a follow-up; a
    follow-up asking the same for another name ("And for the Team plan?") is the previous
    question with that name in place of the one it named."""
    texts = [u.strip() for u in users if u.strip()]
    if not texts:
        return ""
    last = texts[-1]
    if len(texts) > 1 and is_follow_up(last):
        bare = _without_opener(last)
        return swapped(texts[-2], bare) or f"{texts[-2]} {bare}"
    return last


# "And for the Team plan?", "What about Enterprise?", "And in Tier 3 cities?": the same
# question for what the words after it name.
_SAME_FOR = re.compile(
    r"^\s*(?:and|what about|how about|and what about)\s+(?:(?:for|on|in|at|with)\s+)?"
    r"(?:the\s+|a\s+|an\s+)?(?P<np>[^?.!,;]+?)\s*[?.!]*\s*$",
    re.I,
)
# A name: capitalised words, a figure after one ("Tier 1"); not the question's first word.
_NAME = r"[A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|\d+))*"
_NP_WORDS = 4


def swapped(previous: str, follow_up: str) -> str | None:
    """`previous` asked again for the name `follow_up` gives, else None: the name and its
    noun ("Team plan") take the place of the previous name before that noun ("Starter
    plan"); a name alone takes the place of the previous question's only name."""
    m = _SAME_FOR.match(follow_up)
    if m is None:
        return None
    np = m.group("np").strip()
    words = np.split()
    if not 0 < len(words) <= _NP_WORDS or not words[0][:1].isupper():
        return None
    head = words[-1]
    if head[:1].islower():
        replaced = rf"(?<=\s){_NAME}\s+{re.escape(head)}\b"  # "Starter plan"
    elif re.fullmatch(_NAME, np):
        replaced = rf"(?<=\s){_NAME}"  # the previous question's one name
    else:
        return None
    found = list(re.finditer(replaced, previous))
    if len(found) != 1:
        return None
    at = found[0]
    return previous[: at.start()] + np + previous[at.end() :]
