"""Find dates written in the common English ways and normalise them to ISO 8601.

Numeric dates like 03/04/2024 are ambiguous; `day_first` (the European reading, the default)
decides unless one part is above 12. A month and year without a day ("March 2024") becomes
the reduced-precision ISO form "2024-03". Nothing here guesses two-digit years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MON = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th)?"
_PATTERNS = [
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ][\d:.]+(?:Z|[+-][\d:]+)?)?\b"),
    re.compile(r"\b(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})\b"),
    re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?{_MON},?\s+(?P<y>\d{{4}})\b", re.I),
    re.compile(rf"\b{_MON}\s+(?P<d>\d{{1,2}}){_ORD},?\s+(?P<y>\d{{4}})\b", re.I),
    re.compile(r"\b(?P<a>\d{1,2})[./](?P<b>\d{1,2})[./](?P<y>\d{4})\b"),
    re.compile(rf"\b{_MON}\s+(?P<y>\d{{4}})\b", re.I),
]
# Words just before a date that say what the date means.
_EFFECTIVE = re.compile(
    r"(effective|updated|revised|revision|last modified|last reviewed|issued|published|"
    r"dated|version date|valid from|as of)\b[^\n]{0,25}$",
    re.I,
)
_REVIEW = re.compile(
    r"(review[- ]?by|next review|review date|expires|valid until)\b[^\n]{0,20}$", re.I
)


@dataclass(frozen=True)
class FoundDate:
    text: str  # as written
    iso: str  # YYYY-MM-DD, or YYYY-MM without a day
    start: int
    label: str | None = None  # "effective" / "review" when the words before say so


def _iso(y: int, m: int, d: int | None) -> str | None:
    if not 1000 <= y <= 2999:
        return None
    try:
        return date(y, m, d).isoformat() if d else date(y, m, 1).isoformat()[:7]
    except ValueError:
        return None


def _from_match(m: re.Match[str], day_first: bool) -> str | None:
    g = m.groupdict()
    y = int(g["y"])
    if g.get("a"):
        a, b = int(g["a"]), int(g["b"])
        if a > 12 >= b:
            day, mon = a, b
        elif b > 12 >= a:
            day, mon = b, a
        else:
            day, mon = (a, b) if day_first else (b, a)
        return _iso(y, mon, day)
    mon = _MONTHS[g["mon"].lower()] if g.get("mon") else int(g["m"])
    return _iso(y, mon, int(g["d"]) if g.get("d") else None)


def find_dates(text: str, day_first: bool = True, limit: int = 200) -> list[FoundDate]:
    """Dates in reading order; a span claimed by a more specific pattern is not re-read."""
    taken: list[tuple[int, int]] = []
    found: list[FoundDate] = []
    for pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            iso = _from_match(m, day_first)
            if iso is None:
                continue
            taken.append((m.start(), m.end()))
            before = text[max(0, m.start() - 40) : m.start()]
            label = (
                "effective"
                if _EFFECTIVE.search(before)
                else ("review" if _REVIEW.search(before) else None)
            )
            found.append(FoundDate(m.group(0), iso, m.start(), label))
    found.sort(key=lambda f: f.start)
    return found[:limit]


def to_iso(value: object, day_first: bool = True) -> str | None:
    """A metadata value (string, date, datetime, epoch) as an ISO date, or None."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value).date().isoformat()
    if not isinstance(value, str) or not value.strip():
        return None
    raw = value.strip()
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    if raw.startswith("D:") and raw[2:10].isdigit():  # PDF metadata: D:YYYYMMDDHHmmSS
        return _iso(int(raw[2:6]), int(raw[6:8]), int(raw[8:10]))
    dates = find_dates(raw, day_first, limit=1)
    return dates[0].iso if dates else None
