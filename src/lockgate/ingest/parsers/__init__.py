"""Parsing: detect a file's format, then turn it into blocks with the parser registered for
that format (`register_parsers`; the built-ins are in `lockgate.ingest.builtin`)."""

from __future__ import annotations

from typing import Protocol

from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers.zipguard import ZIP_FORMATS, check_container
from lockgate.ingest.types import ParsedDocument, ParseError, ParseOptions
from lockgate.plugins import Registry


class Parser(Protocol):
    name: str
    version: str

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        """`options` carries the ingest settings (OCR, archive limits) for parsers that read
        them; None means the defaults."""
        ...


# Format (as `detect_format` names it) -> parser.
REGISTRY: Registry[Parser] = Registry("register_parsers", "parser")


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
    if fmt in ZIP_FORMATS:
        check_container(data, (options or ParseOptions()).archives)
    try:
        if options is None:
            doc = parser.parse(data, filename)
        else:
            doc = parser.parse(data, filename, options)
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


__all__ = ["REGISTRY", "Parser", "parse_bytes"]
