"""Sentences that share a question's words, even its kind of answer, and still do not answer
it: a figure in another unit ("within three months" for "how many hours"), the opposite of
what is asked ("paid leave" for "unpaid leave"), the question's own premise given back ("10
days of paid sick leave" for "what happens after my 10 sick days?"), or a document saying
what it covers ("This policy covers business travel") for a question about something else.
The extract (`engine/extractive.py`) quotes none of them: the turn is refused instead."""

from __future__ import annotations

import re

from lockgate.engine.sentences import question_words
from lockgate.guardrails.grounding import numbers

_TIME_UNITS = r"seconds?|minutes?|hours?|days?|weeks?|months?|years?"
# "How many overtime hours", "the number of working days": the unit a figure must be in.
_COUNTED = re.compile(
    rf"\b(?:how many|number of)\s+(?:[a-z-]+\s+)?"
    rf"(?!(?:does|is|was|has|this|its|us|yes)\b)({_TIME_UNITS}|[a-z]+s)\b",
    re.I,
)
_NUMBER_WORDS = (
    r"\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"a|an|several"
)
# A figure with its unit: "three months", "16 weeks", "90 days".
_FIGURE_UNIT = re.compile(rf"\b(?:{_NUMBER_WORDS})[\s-]+(?:[a-z-]+\s+)?({_TIME_UNITS})\b", re.I)


def _unit(word: str) -> str:
    word = word.lower()
    return word[:-1] if word.endswith("s") else word


def other_unit(question: str, text: str) -> bool:
    """Whether a question counting in one unit ("how many hours") is given figures that
    are all in other units of time ("within three months"), or, counting things ("how many
    API tokens"), only durations ("expire after 90 days")."""
    m = _COUNTED.search(question)
    if not m:
        return False
    asked = _unit(m.group(1))
    durations = [_unit(u.group(1)) for u in _FIGURE_UNIT.finditer(text)]
    if not durations or asked in durations:
        return False
    is_time = re.fullmatch(_TIME_UNITS, m.group(1), re.I) is not None
    if is_time:
        return True
    # Counting things: every figure of the sentence is a duration.
    return len(durations) >= len(numbers(text))


# "unpaid", "non-refundable", "nonprofit": the word its prefix negates.
_NEGATED = re.compile(r"\b(un|non-?)([a-z]{4,})\b", re.I)
# Words that only look negated.
_NOT_NEGATED = frozenset(
    "unless under understand understood undertake until unit units union united universal "
    "university unique uniform unanimous nonetheless nonsense".split()
)


def opposite_word(question: str, text: str) -> bool:
    """Whether the question asks about a negated thing ("unpaid leave") and the sentence
    says only the thing itself ("fully paid parental leave")."""
    lower = text.lower()
    for m in _NEGATED.finditer(question):
        word, base = m.group(0).lower(), m.group(2).lower()
        if word in _NOT_NEGATED or word in lower or word.replace("-", "") in lower.replace("-", ""):
            continue
        if re.search(rf"\b{re.escape(base)}\b", lower):
            return True
    return False


# The question asks past a figure it states: "longer than the 10 paid sick days", "once my
# 16 weeks run out", "more than 20 days".
_BEYOND = re.compile(
    r"\b(?:longer than|more than|beyond|after|past|over|exceed(?:s|ing)?|above|once|used up|"
    r"runs? out)\b",
    re.I,
)


def restates_premise(question: str, text: str) -> bool:
    """Whether the sentence only gives back the figure the question asks past ("What
    happens if I'm sick for longer than the 10 paid sick days?" and "Employees receive 10
    days of paid sick leave per year."): it says what the caller already knows, not what
    happens after."""
    stated = numbers(question)
    given = numbers(text)
    if not given or not given <= stated or not _BEYOND.search(question):
        return False
    return not _BEYOND.search(text)


# A document saying what it is about: "This policy covers business travel ...", "This
# guide takes a new workspace from sign-up to ...", "Applies to all subscriptions."
_SCOPE = re.compile(
    r"^\s*(?:(?:this|the)\s+(?:policy|guide|handbook|document|agreement|section|page|faq)\b"
    r"|applies to\b)",
    re.I,
)
_DOCUMENT_WORDS = frozenset(
    question_words("policy guide handbook document agreement section page faq apply scope")
)


def about_document(question: str, text: str) -> bool:
    """Whether the sentence is a document's statement of its own scope and the question is
    not about the document ("Does Northwind cover my health insurance abroad?")."""
    return bool(_SCOPE.search(text)) and not (question_words(question) & _DOCUMENT_WORDS)


def misses(question: str, text: str) -> bool:
    """Whether a sentence fails to answer the question for one of the reasons above."""
    return (
        other_unit(question, text)
        or opposite_word(question, text)
        or restates_premise(question, text)
        or about_document(question, text)
    )
