"""Lifetimes written the way people say them: 90d, 12h, 30m, 2w, 3600s."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_FORM = re.compile(r"(\d{1,9})([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError with the accepted form when it is not one."""
    found = _FORM.fullmatch(text.strip().lower())
    if not found or int(found.group(1)) == 0:
        raise ValueError(
            f"invalid duration '{text}': use a positive number and a unit s, m, h, d or w "
            "(e.g. 90d)"
        )
    return float(int(found.group(1)) * _UNITS[found.group(2)])
