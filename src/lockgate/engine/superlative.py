"""The table row a superlative question asks for: "the cheapest plan", "the cheapest plan
that comes with SSO", "the most expensive plan billed annually". No sentence says which row
is cheapest, and every row shares the question's words alike; the answer is found by
comparing a price column across the rows that meet the question's conditions (a yes/no
column the question names, by its name or its initials: "single sign-on" for `sso`)."""

from __future__ import annotations

import re

from lockgate.engine.sentences import SourceSentence, question_words

_LOWEST = re.compile(
    r"\b(?:cheapest|least expensive|lowest[- ]priced|lowest price|most affordable)\b", re.I
)
# "The smallest plan" for a team of a size is the cheapest one it fits in.
_SMALLEST = re.compile(r"\bsmallest\b", re.I)
_HEADCOUNT = re.compile(
    r"\b(\d[\d,]*)\s+(?:people|persons|users|employees|staff|members|seats|colleagues)\b", re.I
)
_CAPACITY = frozenset({"seat", "seats", "user", "users", "member", "members"})
_HIGHEST = re.compile(r"\b(?:most expensive|priciest|highest[- ]priced|highest price)\b", re.I)
_PRICE = frozenset({"price", "cost", "usd", "eur", "gbp"})
_MONTHLY = re.compile(r"\bmonth(?:ly)?\b|\bmonth[- ]to[- ]month\b", re.I)
_ANNUAL = re.compile(r"\b(?:annual(?:ly)?|yearly|per year|a year)\b", re.I)
_YES = frozenset({"yes", "true", "included", "available", "✓", "y"})
_NO = frozenset({"no", "false", "not included", "unavailable", "-", "n", ""})
_ACRONYM = 5  # letters: the longest column name matched by its initials


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _terms(cell: str) -> set[str]:
    return set(re.split(r"[\W_]+", cell.lower())) - {""}


def _value(cell: str) -> float | None:
    m = re.fullmatch(r"[$€£]?\s*(\d[\d,]*(?:\.\d+)?)", cell.strip())
    return float(m.group(1).replace(",", "")) if m else None


def _initials(question: str) -> set[str]:
    """Every run of 2-5 consecutive words' first letters: "single sign-on" gives "sso"."""
    words = [w for w in re.split(r"[\s-]+", question.lower()) if w[:1].isalpha()]
    out: set[str] = set()
    for size in range(2, _ACRONYM + 1):
        for i in range(len(words) - size + 1):
            out.add("".join(w[0] for w in words[i : i + size]))
    return out


def _price_column(header: list[str], question: str) -> int | None:
    priced = [
        i for i, c in enumerate(header) if i and _terms(c) & _PRICE and "percent" not in _terms(c)
    ]
    if not priced:
        return None
    # A price per seat or per extra unit is not what a plan costs.
    plain = [i for i in priced if "price" in _terms(header[i])] or priced
    for period, words in ((_MONTHLY, "monthly"), (_ANNUAL, "annual")):
        if period.search(question):
            chosen = [i for i in plain if words in _terms(header[i])]
            if chosen:
                return chosen[0]
    return plain[0]


def _conditions(header: list[str], rows: list[list[str]], question: str) -> list[int]:
    """The yes/no columns the question names: by a word of the column's name ("with SSO")
    or by the initials of its words ("single sign-on")."""
    asked = question_words(question)
    initials = _initials(question)
    out: list[int] = []
    for i, name in enumerate(header):
        if not i or i >= min(len(r) for r in rows):
            continue
        values = {r[i].lower() for r in rows}
        if not values <= _YES | _NO or not values & _YES:
            continue
        if _named(name, asked, initials):
            out.append(i)
    return out


def _named(name: str, asked: set[str], initials: set[str]) -> bool:
    """Whether the question names a column: a word of its name, or its initials."""
    key = name.lower().strip()
    if question_words(key.replace("_", " ")) & asked:
        return True
    return key.isalpha() and len(key) <= _ACRONYM and key in initials


# What a search for the rows to compare adds to the question's words.
PRICE_QUERY = "price per month"


def _headcount(question: str) -> int | None:
    m = _HEADCOUNT.search(question)
    return int(m.group(1).replace(",", "")) if m else None


def asks_superlative(text: str, question: str | None = None) -> bool:
    """Whether `text` (a part of `question`) asks for the cheapest or dearest row."""
    sized = _SMALLEST.search(text) and _headcount(question or text) is not None
    return bool(_LOWEST.search(text) or _HIGHEST.search(text) or sized)


def _fits_in(header: list[str], cells: list[str], size: int | None) -> bool:
    """Whether a row's maximum size ("max_seats: 50", "unlimited") holds `size` people."""
    if size is None:
        return True
    for i, name in enumerate(header):
        terms = _terms(name)
        if i and "max" in terms and terms & _CAPACITY and i < len(cells):
            if cells[i].lower() == "unlimited":
                return True
            value = _value(cells[i])
            return value is not None and value >= size
    return True


def best_row(part: str, question: str, sentences: list[SourceSentence]) -> SourceSentence | None:
    """The row of a table among `sentences` that a superlative `part` of `question` asks
    for, or None where it asks for none or no table has a price column to compare."""
    if not asks_superlative(part, question):
        return None
    lowest = not _HIGHEST.search(part)
    size = _headcount(question)
    tables: dict[str, list[SourceSentence]] = {}
    for s in sentences:
        if s.header is not None and s.text.lstrip().startswith("|"):
            tables.setdefault(s.header, []).append(s)
    best: tuple[float, SourceSentence] | None = None
    for header_line, found in tables.items():
        header = _cells(header_line)
        column = _price_column(header, part)
        if column is None:
            continue
        unique = list({s.text: s for s in found}.values())
        rows = [_cells(s.text) for s in unique]
        conditions = _conditions(header, rows, question)
        for s, cells in zip(unique, rows, strict=True):
            if len(cells) <= column or any(cells[i].lower() not in _YES for i in conditions):
                continue
            if not _fits_in(header, cells, size):
                continue
            value = _value(cells[column])
            if value is None:
                continue
            key = value if lowest else -value
            if best is None or key < best[0]:
                best = (key, s)
    return best[1] if best else None


def compared_columns(question: str, header: list[str]) -> set[int]:
    """The columns a superlative question's row is quoted with: the price compared and the
    yes/no columns it names ("plan: Business, monthly_price_usd: 399, sso: yes")."""
    if not asks_superlative(question, question):
        return set()
    column = _price_column(header, question)
    if column is None:
        return set()
    asked, initials = question_words(question), _initials(question)
    return {column} | {i for i, name in enumerate(header) if i and _named(name, asked, initials)}
