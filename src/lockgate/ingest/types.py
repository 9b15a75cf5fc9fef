"""Plain data passed between parsing, chunking and indexing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["heading", "paragraph", "list_item", "table", "code"]


@dataclass(frozen=True)
class Block:
    """One structural unit of a parsed document, in reading order.

    `level` is only meaningful for headings (1 = top level). `page` is 1-based and only set
    for paginated formats (PDF).
    """

    kind: BlockKind
    text: str
    level: int = 0
    page: int | None = None


@dataclass
class ParsedDocument:
    blocks: list[Block]
    parser: str
    parser_version: str = "1"
    title: str | None = None
    pages: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: text plus where it came from."""

    position: int
    text: str
    heading_path: tuple[str, ...] = ()
    page: int | None = None
    char_start: int = 0


class ParseError(Exception):
    """A file that cannot be turned into text. `reason` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
