"""What a release is: its bundle (prompt pins, model choices, parameters) and where it stands,
and how its parts given on the command line are checked."""

from __future__ import annotations

import re

# The records are the store's (as the other stores' are); re-exported as the package's model.
from lockgate.store.releases import FINISHED, ROLLOUT, STAGES, Release, ReleaseError, StageChange

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PARAMS: dict[str, type] = {"temperature": float, "top_p": float, "max_tokens": int}
BUCKETS = 10_000  # a percentage is judged in hundredths: 12.34% is 1234 buckets

__all__ = [
    "BUCKETS", "FINISHED", "PARAMS", "ROLLOUT", "STAGES", "Release", "ReleaseError",
    "StageChange", "check_name", "parse_params", "parse_prompts",
]


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ReleaseError(
            f"release name '{name}' must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_params(pairs: dict[str, str]) -> dict[str, float | int]:
    """`temperature=0.2`, `max_tokens=256`, `top_p=0.9`, checked as the request API checks
    them (the same ranges), so a release cannot send what a caller could not."""
    out: dict[str, float | int] = {}
    for key, raw in pairs.items():
        kind = PARAMS.get(key)
        if kind is None:
            raise ReleaseError(f"unknown parameter '{key}' (known: {', '.join(PARAMS)})")
        try:
            value = kind(raw)
        except ValueError:
            raise ReleaseError(f"parameter {key}: '{raw}' is not a {kind.__name__}") from None
        if key == "temperature" and not 0 <= value <= 2:
            raise ReleaseError("parameter temperature must be between 0 and 2")
        if key == "top_p" and not 0 < value <= 1:
            raise ReleaseError("parameter top_p must be above 0 and at most 1")
        if key == "max_tokens" and value < 1:
            raise ReleaseError("parameter max_tokens must be at least 1")
        out[key] = value
    return out


def parse_prompts(pairs: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, raw in pairs.items():
        if not raw.isdigit() or int(raw) < 1:
            # A release is a fixed bundle: a label moves, so it cannot be pinned.
            raise ReleaseError(
                f"prompt {name}: pin a version number (name=3), not '{raw}'"
            )
        out[name] = int(raw)
    return out
