"""The shapes a model may give a canary to get it past a plain substring check.

Everything is compared "squeezed": lower-cased letters and digits only, so separators,
spacing, line breaks and case do not matter ("L G - 6 f b b", one character per line). On
that form a canary is looked for whole; as its random body alone; reversed; base64- and
hex-encoded; and split into up to three pieces written anywhere in the text ("first half
lg-6fbb2 ... second half 8cfff39")."""

from __future__ import annotations

import base64
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_ALNUM_RUN = re.compile(r"[0-9A-Za-z]+")
# A body shorter than this is too likely to turn up by chance to be looked for on its own.
_MIN_BODY = 8
# Pieces of a split canary: each at least this long, at most this many.
_MIN_PIECE = {"canary": 4, "body": 5}
_MAX_PIECES = 3


def squeeze(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


@dataclass(frozen=True)
class Forms:
    # name -> squeezed string; "canary" first, then the others by how telling they are.
    contiguous: tuple[tuple[str, str], ...]
    # What may be split into pieces, and what a stream holds back a prefix of.
    splittable: tuple[tuple[str, str], ...]


@lru_cache(maxsize=256)
def forms(canary: str) -> Forms:
    whole = squeeze(canary)
    body = squeeze(re.split(r"[^0-9A-Za-z]", canary)[-1])
    found: list[tuple[str, str]] = [("canary", whole)]
    splittable = [("canary", whole)]
    raw = [canary.encode()]
    if len(body) >= _MIN_BODY and body != whole:
        found.append(("hex body", body))
        splittable.append(("body", body))
        raw.append(body.encode())
    found.append(("reversed", whole[::-1]))
    if len(body) >= _MIN_BODY and body != whole:
        found.append(("reversed", body[::-1]))
    for data in raw:
        found.extend(("base64", b) for b in _base64_cores(data))
        found.append(("hex-encoded", data.hex()))
    return Forms(tuple((n, f) for n, f in found if f), tuple(splittable))


def _base64_cores(data: bytes) -> list[str]:
    """The base64 characters that depend on `data` alone, for each of the three alignments
    it can have inside a longer encoded string."""
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode()
        first = (shift * 8 + 5) // 6  # characters that still hold bits of the padding
        last = (shift + len(data)) * 8 // 6  # the next character mixes in what follows
        out.append(squeeze(encoded[first:last]))
    return out


@dataclass(frozen=True)
class Hit:
    form: str
    start: int  # in the squeezed text
    end: int


def find(squeezed: str, canary: str) -> Hit | None:
    f = forms(canary)
    for name, form in f.contiguous:
        at = squeezed.find(form)
        if at != -1:
            return Hit(name, at, at + len(form))
    for name, form in f.splittable:
        pieces = _cover(squeezed, form, _MIN_PIECE[name])
        if pieces is not None:
            first = min(a for a, _ in pieces)
            last = max(b for _, b in pieces)
            return Hit(f"{name} in {len(pieces)} pieces", first, last)
    return None


def _cover(squeezed: str, target: str, min_piece: int) -> list[tuple[int, int]] | None:
    """Where the pieces are, if `target` is all there in at most _MAX_PIECES pieces of at
    least `min_piece` characters each. Greedy, longest piece first: every part of a piece
    that is there is there too, so shortening a piece never loses a cover."""
    pieces: list[tuple[int, int]] = []
    i = 0
    while i < len(target):
        j = i + min_piece
        if len(pieces) == _MAX_PIECES or j > len(target) or target[i:j] not in squeezed:
            return None
        while j < len(target) and target[i : j + 1] in squeezed:
            j += 1
        if 0 < len(target) - j < min_piece:
            j = len(target) - min_piece  # leave the last piece its minimum length
            if j - i < min_piece:
                return None
        at = squeezed.find(target[i:j])
        pieces.append((at, at + j - i))
        i = j
    return pieces


def squeezed_with_offsets(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` squeezed, and for each run of kept characters (start in the squeezed text,
    start in `text`), to map a hit back to the caller's text."""
    runs: list[tuple[int, int]] = []
    parts: list[str] = []
    at = 0
    for m in _ALNUM_RUN.finditer(text):
        runs.append((at, m.start()))
        part = m.group(0).lower()
        parts.append(part)
        at += len(part)
    return "".join(parts), runs


def original_span(runs: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    keys = [r[0] for r in runs]
    first = runs[bisect_right(keys, start) - 1]
    last = runs[bisect_right(keys, end - 1) - 1]
    return first[1] + start - first[0], last[1] + end - last[0]


def hold_from(trail: str, text: str, canary: str) -> int:
    """Index in `text` from which a stream should wait: the released `trail` (squeezed) and
    `text` end in what could be the start of the canary, so releasing it would hand out
    the first half before the second shows what it is."""
    squeezed = trail + squeeze(text)
    longest = 0
    for name, form in forms(canary).splittable:
        floor = 3 if name == "canary" else _MIN_PIECE["body"] - 1
        for size in range(min(len(form) - 1, len(squeezed)), floor - 1, -1):
            if squeezed.endswith(form[:size]):
                longest = max(longest, size)
                break
    if not longest:
        return len(text)
    kept = [m.start() for m in re.finditer(r"[0-9A-Za-z]", text)]
    inside = min(longest, len(kept))
    return kept[len(kept) - inside] if inside else len(text)
