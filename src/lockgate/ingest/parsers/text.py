"""Plain text: paragraphs split on blank lines, list-looking lines become list items."""

from __future__ import annotations

import re

from lockgate.ingest.parsers._common import LIST_MARKER, finish
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import Block, BlockKind, ParsedDocument, ParseOptions

# An FAQ's question line ("Q: Can I export my data?") and the answer line after it.
_FAQ_Q = re.compile(r"^\s*(?:Q|Question)\s*[:.)]\s+\S")
_FAQ_A = re.compile(r"^\s*(?:A|Answer)\s*[:.)]\s+\S")


def _is_faq(lines: list[str]) -> bool:
    """Questions each followed by an answer line, at least two of them: a document of
    questions and answers, where each pair is one topic of its own."""
    pairs = sum(
        1 for a, b in zip(lines, lines[1:], strict=False) if _FAQ_Q.match(a) and _FAQ_A.match(b)
    )
    return pairs >= 2


def text_to_blocks(text: str, page: int | None = None) -> list[Block]:
    """Split on blank lines; each list-marker line opens a list item, other lines continue.
    In a document of questions and answers, each question line is a heading: its answer is
    then indexed and cited under it, not packed with the neighbouring questions' answers
    (whose words would drown its own in the chunk's vector)."""
    lines = [raw.rstrip() for raw in text.split("\n")]
    faq = _is_faq([ln for ln in lines if ln.strip()])
    blocks: list[Block] = []
    kind: BlockKind = "paragraph"
    buf: list[str] = []

    def flush() -> None:
        if buf:
            blocks.append(Block(kind, "\n".join(buf).strip("\n"), page=page))
            buf.clear()

    for line in lines:
        if faq and _FAQ_Q.match(line):
            flush()
            blocks.append(Block("heading", line.strip(), level=2, page=page))
            kind = "paragraph"
        elif not line.strip():
            flush()
            kind = "paragraph"
        elif LIST_MARKER.match(line):
            flush()
            kind = "list_item"
            buf.append(line)
        else:
            buf.append(line)
    flush()
    return blocks


class TextParser:
    name = "text"
    version = "2"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        return finish(text_to_blocks(decode_bytes(data)), self.name, self.version)
