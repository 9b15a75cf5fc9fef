"""PDF text layer via pypdf, page by page, with light paragraph/heading reconstruction."""

from __future__ import annotations

import io
import re
from collections.abc import Set

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from lockgate.ingest.ocr import finish_ocr, ocr_metadata
from lockgate.ingest.parsers._common import LIST_MARKER, finish
from lockgate.ingest.parsers.pdf_ocr import ocr_pages, scanned_pages
from lockgate.ingest.types import Block, BlockKind, ParsedDocument, ParseError, ParseOptions

_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,4})\.?\s+([A-Z].{0,80})$")
_PAGE_NUMBER = re.compile(r"^(page\s+)?\d{1,4}(\s*(/|of)\s*\d{1,4})?$", re.I)
_SENTENCE_END = (".", "!", "?", ":", '"', "”", ")", ";")


def _check_complete(data: bytes) -> None:
    # pypdf happily reads the first half of a truncated file; a PDF cut in the middle must be
    # quarantined rather than indexed partially, and every complete PDF ends with %%EOF.
    if b"%%EOF" not in data.rstrip(b"\x00 \t\r\n")[-2048:]:
        raise ParseError("corrupted", "truncated PDF (no %%EOF marker at end of file)")


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("") != PasswordType.NOT_DECRYPTED
            except DependencyError as exc:  # AES without a crypto backend: can't read it
                raise ParseError("encrypted", str(exc)[:200]) from exc
            if not unlocked:
                raise ParseError("encrypted", "password required")
        if len(reader.pages) == 0:
            raise ParseError("corrupted", "no pages")
    except ParseError:
        raise
    except Exception as exc:  # pypdf raises a wide variety of errors on damaged files
        raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
    return reader


def _heading_level(line: str, full_width: int) -> int:
    """0 if `line` does not look like a heading, else a guessed level.

    The text layer has no font sizes, so this relies on shape: a short standalone line that
    starts with a capital (or a section number) and does not end like a sentence.
    """
    if len(line) > 80 or line.endswith((".", ",", ";", ":", "?", "!")):
        return 0
    if m := _NUMBERED_HEADING.match(line):
        return m.group(1).count(".") + 1
    words = re.findall(r"[A-Za-z][\w'-]*", line)
    if not words or len(words) > 10 or not line[0].isupper():
        return 0
    if full_width and len(line) > 0.7 * full_width:
        return 0  # a full-width line is wrapped body text
    return 1 if line.isupper() and len(line) > 3 else 2


def _boilerplate(page_texts: list[str]) -> set[str]:
    """Running headers/footers: edge lines repeated (digits aside) on most pages."""
    if len(page_texts) < 2:
        return set()
    seen: dict[str, int] = {}
    for text in page_texts:
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        for key in {_digitless(ln) for ln in lines[:2] + lines[-2:]}:
            seen[key] = seen.get(key, 0) + 1
    return {k for k, n in seen.items() if n >= max(2, len(page_texts) * 0.5)}


def _digitless(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


# A definition list's term with its description on the same line, as a manual lays out a
# short option name ("     Port    Specifies the port number ... The default is 22."): the
# description starts at the page's body column, where the longer terms' descriptions do on
# the lines under them.
_TERM_LINE = re.compile(r"^( *)([A-Z][A-Za-z0-9_.-]{1,23})( {2,})([A-Z(\"'].*)$")
_TERM_MIN_WORDS = 4


def _body_column(lines: list[str]) -> int:
    """The indentation most of a page's lines have (0: none, or too few lines to tell)."""
    counts: dict[int, int] = {}
    for ln in lines:
        if ln.strip():
            indent = len(ln) - len(ln.lstrip(" "))
            counts[indent] = counts.get(indent, 0) + 1
    if not counts:
        return 0
    # Of equally common ones, the deeper: a definition list's descriptions are indented
    # under its terms.
    column, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return column if column and n >= 3 else 0


def _term(raw: str, body: int) -> tuple[str, str] | None:
    """(term, description) of a definition-list line, else None."""
    m = _TERM_LINE.match(raw.rstrip())
    if m is None or not body:
        return None
    indent, term, gap, rest = m.groups()
    if len(indent) >= body or len(indent) + len(term) + len(gap) != body:
        return None
    return (term, rest) if len(rest.split()) >= _TERM_MIN_WORDS else None


def page_blocks(text: str, page: int, drop: Set[str] = frozenset()) -> list[Block]:
    """Rebuild paragraphs from the text layer's visual lines.

    A paragraph ends at a blank line, or at a line that ends a sentence while being clearly
    shorter than the page's full line width (the ragged last line of a paragraph).
    """
    raw_lines = text.split("\n")
    body = _body_column(raw_lines)
    lines = [ln.strip() for ln in raw_lines]
    full = max((len(ln) for ln in lines), default=0)
    blocks: list[Block] = []
    buf: list[str] = []
    kind: BlockKind = "paragraph"

    def flush() -> None:
        nonlocal kind
        if buf:
            blocks.append(Block(kind, " ".join(buf), page=page))
            buf.clear()
        kind = "paragraph"

    for raw, line in zip(raw_lines, lines, strict=True):
        if not line or _PAGE_NUMBER.match(line) or _digitless(line) in drop:
            flush()
            continue
        starts_para = not buf or buf[-1].endswith(_SENTENCE_END)
        if starts_para and (level := _heading_level(line, full)):
            flush()
            blocks.append(Block("heading", line, level=level, page=page))
            continue
        if term := _term(raw, body):
            flush()
            blocks.append(Block("heading", term[0], level=2, page=page))
            line = term[1]
        if LIST_MARKER.match(line):
            flush()
            kind = "list_item"
        if buf and buf[-1].endswith("-") and line[:1].islower():
            buf[-1] = buf[-1][:-1] + line  # re-join a word hyphenated across lines
        else:
            buf.append(line)
        if line.endswith(_SENTENCE_END) and len(line) < 0.75 * full:
            flush()
    flush()
    return blocks


class PdfParser:
    name = "pdf"
    version = "3"  # 2: image-only pages read by OCR; 3: a term on its description's line

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        options = options or ParseOptions()
        _check_complete(data)
        reader = _open(data)
        try:
            texts = [page.extract_text() or "" for page in reader.pages]
            meta_title = reader.metadata.title if reader.metadata else None
            # Page by page: pages with a text layer use it, image-only pages go to OCR.
            scans = scanned_pages(reader, texts) if options.ocr.enabled else []
        except Exception as exc:
            raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
        try:
            ocr_blocks, ocr_records, skipped = ocr_pages(data, scans, options.ocr)
        except ParseError:
            raise
        except Exception as exc:  # pdfium refusing a page pypdf could open
            raise ParseError("corrupted", f"rendering for OCR: {str(exc)[:180]}") from exc
        drop = _boilerplate([t for n, t in enumerate(texts, 1) if n not in ocr_blocks])
        blocks = [
            b
            for n, text in enumerate(texts, 1)
            for b in (ocr_blocks[n] if n in ocr_blocks else page_blocks(text, n, drop))
        ]
        finish_ocr(blocks, ocr_records, options.ocr)
        if not any(b.text.strip() for b in blocks):
            hint = "" if options.ocr.enabled else "; OCR disabled"
            raise ParseError("no_text", f"no text layer (scanned?){hint}")
        title = meta_title.strip() if isinstance(meta_title, str) and meta_title.strip() else None
        meta = ocr_metadata(ocr_records, skipped) if scans else {}
        doc = finish(
            blocks, self.name, self.version, title=title, pages=len(reader.pages), metadata=meta
        )
        doc.ocr_pages = ocr_records
        return doc
