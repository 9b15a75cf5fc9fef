"""Text helpers for the grounding check (and the topic scanner's sentence split).

Sentence splitting keeps character spans so a finding can point at (and a redaction can drop)
exactly one sentence. Fact extraction pulls out what must be checked literally against the
context: numbers (amounts, percentages, dates' days and years), month names, and named
entities (capitalised words that do not start a sentence, acronyms, product codes)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CITATION = re.compile(r"\s*\[(\d{1,3})\]")
# A sentence ends at . ! ? (or a newline) followed by space/end, but not inside "e.g." or
# "3.5" or after a one-letter initial; markdown list items and blank lines also end one.
_BOUNDARY = re.compile(
    r"(?<!\b[A-Za-z])(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\betc)(?<!\bMr)(?<!\bMs)(?<!\bDr)"
    r"(?<!\bNo)[.!?]+(?:\s*\[\d{1,3}\])*(?=\s|$)|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)"
)
_WORD = re.compile(r"[a-z0-9]+(?:[.,'][a-z0-9]+)*")
_NUMBER = re.compile(r"(?<![\w.])[$€£]?\d+(?:[.,:]\d+)*(?:\s?%|\s?percent)?(?![\w])|"
                     r"(?<![\w])\d+(?:st|nd|rd|th)\b", re.I)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_MONTH = re.compile(r"\b(" + "|".join(_MONTHS) + r")\b", re.I)
_WORD_NUMBERS = {
    # "one", "once", "single" are left out: far more often an article or idiom than a count.
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50",
    "sixty": "60", "ninety": "90", "hundred": "100", "twice": "2",
}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.I)
# Capitalised tokens (incl. CamelCase, acronyms, codes like "SOC2", "ISO-27001").
_PROPER = re.compile(r"\b[A-Z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*\b")
STOP = frozenset(
    """a an the and or but of to in on at for from by with without as is are was were be been
    being it its this that these those there their they them we our us you your i me my he she
    his her not no nor so if then than too very can could may might must shall should will would
    do does did done have has had having which who whom whose what when where why how all any
    each every some such only also just more most other into about over under after before
    between during per via up out off again further once here both few own same s t don
    until while because through above below against yes please note however therefore thus
    one""".split()
)
# Capitalised words that are not names when they appear mid-sentence.
_NOT_ENTITIES = frozenset(
    """I I'm I'll I've I'd OK Yes No Note However Also Please If The A An In On At For And Or
    But To From By With As It This That These Those Our Your You We They He She His Her Their
    Its My Sources Source Answer Question Mon Tue Wed Thu Fri Sat Sun Monday Tuesday Wednesday
    Thursday Friday Saturday Sunday""".split()
)


@dataclass
class Sentence:
    start: int
    end: int  # end of the sentence text including its citation markers
    text: str  # the sentence without citation markers
    citations: list[int] = field(default_factory=list)


def split_sentences(text: str, limit: int = 256) -> list[Sentence]:
    """Sentences with spans in `text`; citation markers are kept in the span, removed from
    `.text` and listed in `.citations`. At most `limit` sentences (the rest is one tail)."""
    out: list[Sentence] = []
    pos = 0
    for m in _BOUNDARY.finditer(text):
        if len(out) >= limit - 1:
            break
        _add(out, text, pos, m.end())
        pos = m.end()
    _add(out, text, pos, len(text))
    return out


def _add(out: list[Sentence], text: str, start: int, end: int) -> None:
    raw = text[start:end]
    lead = len(raw) - len(raw.lstrip())
    raw = raw.strip()
    if not raw:
        return
    s = start + lead
    cites = [int(n) for n in CITATION.findall(raw)]
    plain = CITATION.sub("", raw).strip()
    out.append(Sentence(s, s + len(raw), plain, cites))


_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|can't|won't|isn't|aren't|doesn't|"
    r"don't|didn't|wasn't|weren't|shouldn't|mustn't|non-\w+|nothing|nobody)\b",
    re.I,
)


def negated(text: str) -> bool:
    return _NEGATION.search(text) is not None


def word_tokens(text: str) -> set[str]:
    """Every lower-cased word, hyphenated parts both joined and apart (entity look-up)."""
    found: set[str] = set()
    for m in re.finditer(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower()):
        tok = m.group(0)
        found.add(tok)
        if "-" in tok or "'" in tok:
            found.update(re.split(r"[-']", tok))
            found.add(re.sub(r"[-']", "", tok))
    return found


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words, lightly stemmed so 'refunds'/'refunded' meet."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1}


def stem(word: str) -> str:
    # "carries"/"carried" meet "carry", "policies" meets "policy".
    if word.endswith(("ies", "ied")) and len(word) >= 5:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def numbers(text: str) -> set[str]:
    """Numbers in a canonical form: '$1,200.00' -> '1200', '15 %' -> '15', 'thirty' -> '30'."""
    found: set[str] = set()
    for m in _NUMBER.finditer(text):
        found.add(canonical_number(m.group(0)))
    for m in _WORD_NUMBER.finditer(text):
        found.add(_WORD_NUMBERS[m.group(1).lower()])
    found.discard("")
    return found


def canonical_number(raw: str) -> str:
    s = raw.lower().replace("percent", "").replace("%", "").strip(" $€£")
    s = re.sub(r"(st|nd|rd|th)$", "", s)
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", s):
        s = s.rstrip("0").rstrip(".")
    if s.isdigit():
        return s.lstrip("0") or "0"
    return s


def months(text: str) -> set[str]:
    return {m.group(1).lower()[:3] for m in _MONTH.finditer(text)}


def entities(sentence: str) -> set[str]:
    """Capitalised tokens that are not the sentence's first word (which is capitalised anyway),
    lower-cased; acronyms and codes count wherever they are."""
    found: set[str] = set()
    first = True
    for m in _PROPER.finditer(sentence):
        tok = m.group(0)
        at_start = first and not sentence[: m.start()].strip(" \"'([*-")
        first = False
        if tok in _NOT_ENTITIES or tok.lower() in _MONTHS:
            continue
        # Codes, acronyms and CamelCase names ("PayPal") are names wherever they stand.
        code = (any(c.isdigit() for c in tok) or (tok.isupper() and len(tok) >= 2)
                or any(c.isupper() for c in tok[1:]))
        if at_start and not code:
            continue
        found.add(tok.lower())
    return found
