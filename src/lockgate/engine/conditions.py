"""Thresholds a source sentence sets ("on flights shorter than 6 hours", "any purchase above
EUR 500", "within 30 days"), or a table row in a threshold column (`monthly_uptime_below_
percent: 99.0`), against the amounts a question states ("a nine-hour flight", "a €700
monitor", "two weeks ago", "98%"): of two rules that both share the question's words, the
one whose condition the question's case meets is the one that applies to it."""

from __future__ import annotations

import re

# Not "a" or "an": "a week", "an hour" are mostly rates ("3 days a week"), not amounts.
_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
}
# Durations in days, so that "two weeks" meets "within 30 days".
_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_UNITS = {
    "km": "km",
    "kilometre": "km",
    "kilometer": "km",
    "mile": "mile",
    "euro": "eur",
    "eur": "eur",
    "usd": "usd",
    "dollar": "usd",
    "gbp": "gbp",
    "gb": "gb",
    "seat": "seat",
    "user": "user",
    "percent": "percent",
    "pct": "percent",
}
_CURRENCY = {"€": "eur", "eur": "eur", "$": "usd", "usd": "usd", "£": "gbp", "gbp": "gbp"}

_NUMBER = r"\d[\d,]*(?:\.\d+)?|" + "|".join(sorted(_WORDS, key=len, reverse=True))
_UNIT = (
    r"(?:minute|hour|day|week|month|year|kilomet(?:re|er)|km|mile|euro|eur|usd|dollar|gb|"
    r"seat|user)s?"
)
_AMOUNT = (
    rf"(?:(?P<cur>€|\$|£|\b(?:eur|usd|gbp)\b)\s?(?P<money>\d[\d,]*(?:\.\d+)?)"
    rf"|\b(?P<pct>\d+(?:\.\d+)?)\s?(?:%|percent\b)"
    rf"|\b(?P<n>{_NUMBER})[\s-]+(?P<unit>{_UNIT})\b)"
)
_QUANTITY = re.compile(_AMOUNT, re.I)
# "shorter than 6 hours", "above EUR 500", "within 30 days", "6 hours or longer".
_BELOW = r"shorter than|less than|fewer than|under|below|up to|at most|no more than|within"
_ABOVE = r"longer than|more than|greater than|over|above|exceeding|at least"
_BOUND = re.compile(
    rf"\b(?:(?P<below>{_BELOW})|(?P<above>{_ABOVE}))\s+{_AMOUNT}"
    rf"|{_AMOUNT.replace('?P<', '?P<t_')}\s+or\s+(?:(?P<t_above>longer|more|over|above)"
    rf"|(?P<t_below>shorter|less|fewer|under|below))\b",
    re.I,
)

Quantity = tuple[float, str]  # (value, dimension: "days", "eur", "km", ...)


def _value(text: str) -> float | None:
    text = text.lower().replace(",", "")
    if text in _WORDS:
        return float(_WORDS[text])
    try:
        return float(text)
    except ValueError:
        return None


def _quantity(groups: dict[str, str | None], prefix: str = "") -> Quantity | None:
    pct = groups.get(f"{prefix}pct")
    if pct:
        return float(pct), "percent"
    cur, money = groups.get(f"{prefix}cur"), groups.get(f"{prefix}money")
    if cur and money:
        value = _value(money)
        return None if value is None else (value, _CURRENCY[cur.lower()])
    n, unit = groups.get(f"{prefix}n"), groups.get(f"{prefix}unit")
    if not n or not unit:
        return None
    value = _value(n)
    return None if value is None else _scaled(value, unit)


def _scaled(value: float, unit: str) -> Quantity | None:
    """`value` of a unit word ("hours", "kilometres", "usd"), durations in days; None for
    a word that is no unit."""
    unit = unit.lower().rstrip("s")
    if unit in _DAYS:
        return value * _DAYS[unit], "days"
    dim = _UNITS.get(unit)
    return None if dim is None else (value, dim)


def quantities(text: str) -> list[Quantity]:
    """The amounts a text states, durations in days."""
    out = []
    for m in _QUANTITY.finditer(text):
        q = _quantity(m.groupdict())
        if q is not None:
            out.append(q)
    return out


def _bounds(text: str) -> list[tuple[str, Quantity]]:
    """("below" | "above", amount) for each threshold a sentence sets."""
    out = []
    for m in _BOUND.finditer(text):
        g = m.groupdict()
        if g.get("below") or g.get("above"):
            q, side = _quantity(g), "below" if g.get("below") else "above"
        else:
            q, side = _quantity(g, "t_"), "above" if g.get("t_above") else "below"
        if q is not None:
            out.append((side, q))
    return out


# A table column that is a threshold: `monthly_uptime_below_percent`, `max_seats`,
# `min_order_usd`; its unit from the name's last word.
_COLUMN_SIDE = re.compile(
    r"(?:^|[_.\s])(?:(?P<below>below|under|max|maximum|up_to|less_than)|"
    r"(?P<above>above|over|min|minimum|at_least|more_than))(?:[_.\s]|$)",
    re.I,
)


def _row_bounds(header: str, row: str) -> list[tuple[str, Quantity]]:
    """The thresholds a table row sets in its threshold columns (see `_COLUMN_SIDE`)."""
    names = [c.strip() for c in header.strip().strip("|").split("|")]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    out: list[tuple[str, Quantity]] = []
    for name, cell in zip(names, cells, strict=False):
        m = _COLUMN_SIDE.search(name)
        value = _value(cell)
        if m is None or value is None:
            continue
        quantity = _scaled(value, re.split(r"[_.\s]", name)[-1])
        if quantity is not None:
            out.append(("below" if m.group("below") else "above", quantity))
    return out


def _verdicts(question: str, sentence: str, header: str | None = None) -> list[bool]:
    """For each threshold of the sentence (or of the table row under `header`) on a
    dimension the question states an amount of, whether an amount of the question meets
    it."""
    asked = quantities(question)
    if not asked:
        return []
    bounds = _row_bounds(header, sentence) if header is not None else _bounds(sentence)
    out = []
    for side, (limit, dim) in bounds:
        values = [v for v, d in asked if d == dim]
        if values:
            out.append(any(v <= limit if side == "below" else v >= limit for v in values))
    return out


def applies(question: str, sentence: str, header: str | None = None) -> bool:
    """Whether the sentence sets a threshold that an amount of the question meets (same
    dimension): "a nine-hour flight" meets "6 hours or longer", not "shorter than 6
    hours"; "98%" uptime meets a row's `monthly_uptime_below_percent` 99.0, not 95.0.
    False where either has none to compare."""
    return any(_verdicts(question, sentence, header))


def contradicts(question: str, sentence: str, header: str | None = None) -> bool:
    """Whether the sentence's thresholds on the question's dimensions are all unmet: the
    rule for other cases ("shorter than 6 hours" for a nine-hour flight)."""
    verdicts = _verdicts(question, sentence, header)
    return bool(verdicts) and not any(verdicts)
