"""Structure-aware chunking of parsed blocks into retrieval-sized drafts.

Conventions:
- headings are never chunks of their own; they live in `heading_path`. A heading of level
  <= 2 always starts a new chunk; a deeper heading met mid-chunk is kept inline (as a line
  before its first content) so the chunk still says which subsection its text came from.
- tables and code blocks stay whole up to `max_chars`; beyond that they are split by lines,
  and a table's first line (its header row) is repeated in every piece.
- paragraphs/list items longer than `target_chars` are split at sentence ends (then words).
- overlap: a chunk that continues the same section after a size-based split starts with the
  last ~`overlap_chars` of the previous chunk's prose, cut at a sentence or word boundary.
  Nothing overlaps across headings, and tables/code never receive or donate overlap.
- `char_start` is the offset in `ParsedDocument.text` of the chunk's first own content (the
  overlap prefix is not counted, it belongs to the previous chunk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lockgate.ingest.types import Block, ChunkDraft

_SENT_END = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n+")
_WORD = re.compile(r"\S+\s*")
_LINE = re.compile(r"[^\n]*\n?")
_PROSE = ("paragraph", "list_item", "overlap")
_BLOCK_SEP = len("\n\n")  # how ParsedDocument.text joins blocks


@dataclass
class _Open:
    """The chunk being filled."""

    path: tuple[str, ...]
    page: int | None
    char_start: int
    parts: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, sep, text)
    length: int = 0

    def add(self, kind: str, text: str, continuation: bool = False) -> None:
        sep = _separator(self.parts[-1][0] if self.parts else None, kind, continuation)
        self.parts.append((kind, sep, text))
        self.length += len(sep) + len(text)

    def text(self) -> str:
        return "".join(sep + text for _, sep, text in self.parts)

    def prose_tail(self) -> str:
        """Text of the trailing run of prose parts (what overlap may be taken from)."""
        run: list[tuple[str, str, str]] = []
        for part in reversed(self.parts):
            if part[0] not in _PROSE:
                break
            run.insert(0, part)
        return "".join(sep + text for _, sep, text in run).strip()


def _separator(prev: str | None, kind: str, continuation: bool) -> str:
    if prev is None:
        return ""
    if continuation:
        return " "
    if prev == "heading" or (prev == kind == "list_item"):
        return "\n"
    return "\n\n"


def _spans(text: str, pattern: re.Pattern[str], start: int = 0) -> list[tuple[int, int]]:
    """Contiguous spans ending at each match of `pattern`, covering text[start:]."""
    out, pos = [], start
    for m in pattern.finditer(text, start):
        if m.end() > pos:
            out.append((pos, m.end()))
            pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def _pack(text: str, units: list[tuple[int, int]], limit: int) -> list[tuple[int, int]]:
    """Greedily merge adjacent units into ranges no longer than `limit` once stripped.

    Units longer than `limit` are first broken at words, and words at `limit` characters.
    """
    fine: list[tuple[int, int]] = []
    for a, b in units:
        if b - a <= limit:
            fine.append((a, b))
            continue
        for c, d in _spans(text[:b], _WORD, a):
            fine.extend((k, min(k + limit, d)) for k in range(c, d, limit))
    ranges: list[tuple[int, int]] = []
    for a, b in fine:
        if ranges and len(text[ranges[-1][0] : b].strip()) <= limit:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((a, b))
    stripped = []
    for a, b in ranges:
        piece = text[a:b]
        lead = len(piece) - len(piece.lstrip())
        if piece.strip():
            stripped.append((a + lead, a + lead + len(piece.strip())))
    return stripped


def _tail(text: str, n: int) -> str:
    """The last ~n characters of `text`, cut at a nearby sentence start, else at a word."""
    if n <= 0 or not text:
        return ""
    if len(text) <= n:
        return text
    want = len(text) - n
    starts = [b for _, b in _spans(text, _SENT_END)[:-1]]
    near = [s for s in starts if abs(s - want) <= n // 2]
    if near:
        start = min(near, key=lambda s: (abs(s - want), s))
    else:
        space = text.find(" ", want)
        start = space + 1 if 0 < space < len(text) - 1 else want
    return text[start:].strip()


class _Chunker:
    def __init__(self, target: int, overlap: int, max_chars: int) -> None:
        self.target, self.overlap, self.max_chars = target, overlap, max_chars
        self.drafts: list[ChunkDraft] = []
        self.path: list[tuple[int, str]] = []
        self.open: _Open | None = None
        self.carry = ""  # overlap for the next chunk; cleared by any heading
        self.pending: list[str] = []  # deep headings waiting for their first content

    def flush(self, allow_carry: bool) -> None:
        chunk, self.open = self.open, None
        self.pending = []
        self.carry = ""
        if chunk is None or not chunk.text().strip():
            return
        self.drafts.append(
            ChunkDraft(
                position=len(self.drafts),
                text=chunk.text().rstrip(),
                heading_path=chunk.path,
                page=chunk.page,
                char_start=chunk.char_start,
            )
        )
        if allow_carry and chunk.parts[-1][0] in _PROSE:
            self.carry = _tail(chunk.prose_tail(), self.overlap)

    def heading(self, block: Block) -> None:
        level = max(1, block.level)
        text = block.text.strip()
        self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, text)]
        if level <= 2 or self.open is None:
            self.flush(allow_carry=False)
        else:
            self.pending.append(text)
            self.carry = ""

    def add(self, kind: str, text: str, page: int | None, start: int, cont: bool = False) -> None:
        if self.open is not None:
            extra = sum(len(h) + 2 for h in self.pending) + len(text) + 2
            if self.open.length + extra > self.target:
                self.flush(allow_carry=not self.pending)
        if self.open is None:
            self.open = _Open(tuple(t for _, t in self.path), page, start)
            carry, self.carry = self.carry, ""
            if carry and kind in _PROSE and len(carry) + 2 + len(text) <= self.max_chars:
                self.open.add("overlap", carry)
            else:
                cont = False
        elif self.pending:
            for heading in self.pending:
                self.open.add("heading", heading)
            cont = False
        self.pending = []
        self.open.add(kind, text, continuation=cont)

    def block(self, block: Block, offset: int) -> None:
        raw = block.text.rstrip()
        # Indentation means something in code and nested list items: trim blank lines only.
        text = raw.lstrip() if block.kind == "paragraph" else raw.lstrip("\n")
        if not text.strip():
            return
        offset += len(raw) - len(text)
        if block.kind in ("table", "code") and len(text) > self.max_chars:
            self.split_lines(block, text, offset)
        elif block.kind in ("paragraph", "list_item") and len(text) > self.target:
            limit = max(self.target - self.overlap, self.target // 2)
            for i, (a, b) in enumerate(_pack(text, _spans(text, _SENT_END), limit)):
                self.add(block.kind, text[a:b], block.page, offset + a, cont=i > 0)
        else:
            self.add(block.kind, text, block.page, offset)

    def split_lines(self, block: Block, text: str, offset: int) -> None:
        header = ""
        body_start = 0
        if block.kind == "table" and "\n" in text:
            header = text[: text.index("\n")]
            if len(header) > self.target // 2:
                header = ""  # repeating a huge header would leave no room for rows
            else:
                body_start = len(header) + 1
        limit = self.target - (len(header) + 1 if header else 0)
        for a, b in _pack(text, _spans(text, _LINE, body_start), limit):
            piece = f"{header}\n{text[a:b]}" if header else text[a:b]
            self.flush(allow_carry=False)
            self.add(block.kind, piece, block.page, offset + a)
        self.flush(allow_carry=False)


def chunk_blocks(
    blocks: list[Block],
    target_chars: int = 1000,
    overlap_chars: int = 150,
    max_chars: int | None = None,
) -> list[ChunkDraft]:
    """Group blocks into chunks of about `target_chars`; see the module docstring."""
    target = max(1, target_chars)
    max_chars = max(max_chars if max_chars is not None else 2 * target, target)
    overlap = max(0, min(overlap_chars, target // 2))
    chunker = _Chunker(target, overlap, max_chars)
    offset = 0
    for block in blocks:
        if block.kind == "heading":
            chunker.heading(block)
        else:
            chunker.block(block, offset)
        offset += len(block.text) + _BLOCK_SEP
    chunker.flush(allow_carry=False)
    if not chunker.drafts:
        # A document made only of headings still has text worth finding.
        headings = [b.text.strip() for b in blocks if b.text.strip()]
        if headings:
            return [ChunkDraft(position=0, text="\n".join(headings)[:max_chars])]
    return chunker.drafts
