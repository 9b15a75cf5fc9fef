"""Helpers shared by the format parsers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from lockgate.ingest.types import Block, ParsedDocument, ParseError

_WS = re.compile(r"\s+")
# A line that starts a list item in plain text / markdown / PDF text layers.
LIST_MARKER = re.compile(r"^(\s*)([-*+•▪◦‣]|\d{1,3}[.)]|[a-zA-Z][.)])\s+(\S.*)$")


def squash(text: str) -> str:
    """Collapse all whitespace runs to single spaces."""
    return _WS.sub(" ", text).strip()


def render_table(rows: Iterable[Sequence[str]]) -> str:
    """Tables are one row per line, `| a | b |`, header row first, no separator row.

    Every format renders tables this way so the chunker can split any table by lines and
    repeat line 0 as the header.
    """
    lines = []
    for row in rows:
        cells = [squash(c).replace("|", "/") for c in row]
        if any(cells):
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finish(
    blocks: list[Block],
    parser: str,
    version: str,
    *,
    title: str | None = None,
    pages: int | None = None,
    metadata: dict[str, str] | None = None,
    title_from_heading: bool = True,
) -> ParsedDocument:
    kept = [b for b in blocks if b.text.strip()]
    if not kept:
        raise ParseError("no_text")
    if title is None and title_from_heading:
        title = next((b.text for b in kept if b.kind == "heading" and b.level == 1), None)
    return ParsedDocument(
        blocks=kept,
        parser=parser,
        parser_version=version,
        title=title,
        pages=pages,
        metadata=metadata or {},
    )
