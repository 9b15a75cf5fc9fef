"""Where a stream must stop releasing text for now: a markdown link or image, or an HTML
tag, has begun but not ended. Released halves would each look harmless and join up again
in the caller's renderer."""

from __future__ import annotations

import re

# Longer than any link worth rendering; an unclosed "[" further back is just a bracket.
HOLD_LIMIT = 1000
_TAG_START = re.compile(r"<[A-Za-z!/?]")
# Only these characters matter; the walk jumps from one to the next.
_BRACKETS = re.compile(r"\\.|[\[\]]", re.S)
_PARENS = re.compile(r"\\.|[()]|\n(?=\n)", re.S)


def unfinished(text: str, limit: int = HOLD_LIMIT) -> int | None:
    """Index in `text` where an unfinished construct starts, or None."""
    begin = max(0, len(text) - limit)
    held: list[int] = []
    lt = text.rfind("<", begin)
    if lt != -1 and ">" not in text[lt:] and (lt + 1 == len(text) or _TAG_START.match(text, lt)):
        held.append(lt)
    if "[" in text[begin:]:
        held.extend(_open_brackets(text, begin))
    if not held:
        return None
    first = min(held)
    return first - 1 if first > 0 and text[first - 1] == "!" else first


def _open_brackets(text: str, begin: int) -> list[int]:
    """Starts of "[" ... constructs that a following character could still make a link."""
    held: list[int] = []
    opened: list[int] = []  # "[" not closed yet
    pos = begin
    while (m := _BRACKETS.search(text, pos)) is not None:
        pos = m.end()
        if m.group(0) == "[":
            opened.append(m.start())
        elif m.group(0) == "]" and opened:
            start = opened.pop()
            if pos == len(text):
                held.append(start)  # "(url)", "[ref]" or ": url" may follow
            elif text[pos] == "(":
                close = _closing_paren(text, pos)
                if close is None:
                    return [*held, start, *opened[:1]]
                pos = close + 1
    return [*held, *opened[:1]]


def _closing_paren(text: str, at: int) -> int | None:
    depth = 0
    for m in _PARENS.finditer(text, at):
        c = m.group(0)
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return m.start()
        elif c == "\n":
            return m.start()  # a blank line ends any destination: nothing is open past it
    return None
