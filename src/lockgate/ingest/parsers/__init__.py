"""Parser registry: detect a file's format, then turn it into blocks."""

from __future__ import annotations

from typing import Protocol

from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers.archive import ArchiveParser
from lockgate.ingest.parsers.csv_table import CsvParser
from lockgate.ingest.parsers.docx import DocxParser
from lockgate.ingest.parsers.epub import EpubParser
from lockgate.ingest.parsers.html import HtmlParser
from lockgate.ingest.parsers.image import ImageParser
from lockgate.ingest.parsers.json_doc import JsonParser
from lockgate.ingest.parsers.mail import EmlParser, MboxParser
from lockgate.ingest.parsers.markdown import MarkdownParser
from lockgate.ingest.parsers.odt import OdtParser
from lockgate.ingest.parsers.pdf import PdfParser
from lockgate.ingest.parsers.pptx import PptxParser
from lockgate.ingest.parsers.rtf import RtfParser
from lockgate.ingest.parsers.sheets import OdsParser, XlsParser, XlsxParser
from lockgate.ingest.parsers.text import TextParser
from lockgate.ingest.parsers.xml_doc import XmlParser
from lockgate.ingest.types import ParsedDocument, ParseError, ParseOptions


class Parser(Protocol):
    name: str
    version: str

    def parse(self, data: bytes, filename: str) -> ParsedDocument: ...


class OptionsParser(Parser, Protocol):
    """A parser that needs settings (OCR, archive limits): parse_bytes calls `parse_with`."""

    def parse_with(
        self, data: bytes, filename: str, options: ParseOptions
    ) -> ParsedDocument: ...


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
    ("image", ImageParser()),
    ("xlsx", XlsxParser()),
    ("xls", XlsParser()),
    ("ods", OdsParser()),
    ("pptx", PptxParser()),
    ("odt", OdtParser()),
    ("epub", EpubParser()),
    ("rtf", RtfParser()),
    ("xml", XmlParser()),
    ("eml", EmlParser()),
    ("mbox", MboxParser()),
    ("zip", ArchiveParser()),
):
    register(_fmt, _parser)


def parse_bytes(
    data: bytes, filename: str, options: ParseOptions | None = None
) -> ParsedDocument:
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
        if hasattr(parser, "parse_with"):
            doc = parser.parse_with(data, filename, options or ParseOptions())
        else:
            doc = parser.parse(data, filename)
    except ParseError:
        raise
    except RecursionError as exc:
        raise ParseError("corrupted", "structure nested too deeply") from exc
    except Exception as exc:  # library errors (pypdf, lxml, zip...) mean an unreadable file
        raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
    # A container (zip, mail with only attachments) may have no text of its own.
    if not any(b.text.strip() for b in doc.blocks) and not doc.attachments:
        raise ParseError("no_text")
    doc.parser = parser.name
    doc.parser_version = parser.version
    return doc


__all__ = ["REGISTRY", "Parser", "parse_bytes", "register"]
