"""Plain text: paragraphs split on blank lines, list-looking lines become list items."""

from __future__ import annotations

from lockgate.ingest.parsers._common import LIST_MARKER, finish
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import Block, BlockKind, ParsedDocument, ParseOptions


def text_to_blocks(text: str, page: int | None = None) -> list[Block]:
    """Split on blank lines; each list-marker line opens a list item, other lines continue."""
    blocks: list[Block] = []
    kind: BlockKind = "paragraph"
    buf: list[str] = []

    def flush() -> None:
        if buf:
            blocks.append(Block(kind, "\n".join(buf).strip("\n"), page=page))
            buf.clear()

    for raw in text.split("\n"):
        line = raw.rstrip()
        if not line.strip():
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
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        return finish(text_to_blocks(decode_bytes(data)), self.name, self.version)
