"""Parser registry: detect a file's format, then turn it into blocks."""

from __future__ import annotations

from typing import Protocol

from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers.csv_table import CsvParser
from lockgate.ingest.parsers.docx import DocxParser
from lockgate.ingest.parsers.html import HtmlParser
from lockgate.ingest.parsers.json_doc import JsonParser
from lockgate.ingest.parsers.markdown import MarkdownParser
from lockgate.ingest.parsers.pdf import PdfParser
from lockgate.ingest.parsers.text import TextParser
from lockgate.ingest.types import ParsedDocument, ParseError


class Parser(Protocol):
    name: str
    version: str

    def parse(self, data: bytes, filename: str) -> ParsedDocument: ...


REGISTRY: dict[str, Parser] = {}


def register(fmt: str, parser: Parser) -> None:
    REGISTRY[fmt] = parser


for _fmt, _parser in (
    ("text", TextParser()),
    ("markdown", MarkdownParser()),
    ("html", HtmlParser()),
    ("pdf", PdfParser()),
    ("docx", DocxParser()),
    ("csv", CsvParser()),
    ("json", JsonParser()),
):
    register(_fmt, _parser)


def parse_bytes(data: bytes, filename: str) -> ParsedDocument:
    """Detect and parse. Every failure surfaces as ParseError with a machine-friendly reason."""
    try:
        fmt = detect_format(data, filename)
    except ParseError:
        raise
    except Exception as exc:  # detection must never take the ingest worker down
        raise ParseError("corrupted", str(exc)[:200]) from exc
    parser = REGISTRY.get(fmt)
    if parser is None:
        raise ParseError("unsupported", f"no parser registered for {fmt}")
    try:
        doc = parser.parse(data, filename)
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError("corrupted", "structure nested too deeply") from exc
    except Exception as exc:  # library errors (pypdf, lxml, zip...) mean an unreadable file
        raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
    if not any(b.text.strip() for b in doc.blocks):
        raise ParseError("no_text")
    doc.parser = parser.name
    doc.parser_version = parser.version
    return doc


__all__ = ["REGISTRY", "Parser", "parse_bytes", "register"]
