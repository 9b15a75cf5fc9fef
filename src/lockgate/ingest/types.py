"""Plain data passed between parsing, chunking and indexing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lockgate.config import ArchiveConfig, OcrConfig

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
    # Set only for text read by OCR: the recogniser's mean confidence (0..1) for this block.
    ocr_confidence: float | None = None


@dataclass(frozen=True)
class Attachment:
    """A file found inside another (mail attachment, archive member), ingested as its own
    document linked to its parent. `error` is set when the member could not even be read."""

    name: str
    data: bytes = b""
    error: ParseError | None = None


@dataclass(frozen=True)
class OcrPage:
    """What OCR made of one page: kept in the version's metadata and the ingest summary."""

    page: int
    confidence: float
    lines: int
    flagged: bool


@dataclass
class ParsedDocument:
    blocks: list[Block]
    parser: str
    parser_version: str = "1"
    title: str | None = None
    pages: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    ocr_pages: list[OcrPage] = field(default_factory=list)

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
    ocr_confidence: float | None = None



@dataclass(frozen=True)
class ParseOptions:
    """What some parsers need beyond the bytes: OCR settings, archive limits, and how deep
    inside other containers (mail, zip) this file was found."""

    ocr: OcrConfig = field(default_factory=OcrConfig)
    archives: ArchiveConfig = field(default_factory=ArchiveConfig)
    depth: int = 0
    # Bytes already inflated from archives for this top-level file, shared by the archives
    # nested in it: `archives.max_total_mb` bounds the whole tree, not each level.
    inflated: list[int] = field(default_factory=lambda: [0])

class ParseError(Exception):
    """A file that cannot be turned into text. `reason` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
