"""Decide a file's format from its bytes; the filename only breaks ties."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import PurePath

from lockgate.ingest.text_decode import bom_encoding, decode_bytes
from lockgate.ingest.types import ParseError

FORMATS = (
    "pdf", "docx", "html", "markdown", "text", "csv", "json",
    # read by OCR (image) or from office, e-book, mail and archive containers
    "image", "xlsx", "xls", "ods", "pptx", "odt", "epub", "rtf", "xml", "eml", "mbox", "zip",
)
# Images that the OCR parser reads; other image types stay unsupported.
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
# The OLE directory stores stream names in UTF-16LE: an Excel 97-2003 file has "Workbook"
# (or "Book" for Excel 5), Word and PowerPoint files do not.
_XLS_STREAMS = ("Workbook".encode("utf-16-le"), "Book\x00".encode("utf-16-le"))
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# ODF and EPUB containers name their type in a first, stored member called "mimetype".
_ZIP_MIMETYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/epub+zip": "epub",
}
_ZIP_EXTS = {"docx", "xlsx", "pptx", "odt", "ods", "epub", "zip"}
# A mail message starts with RFC 5322 header fields; these are the ones that tell.
_MAIL_HEADER = re.compile(
    r"^(from|to|cc|subject|date|message-id|received|return-path|mime-version|delivered-to"
    r"|x-[\w-]+|reply-to|in-reply-to|references|content-type):[ \t]", re.I
)

# Binary signatures we refuse outright, with a human description for the quarantine log.
# Anything else binary is caught by the NUL/control-byte check with a generic description.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image (png)"),
    (b"\xff\xd8\xff", "image (jpeg)"),
    (b"GIF87a", "image (gif)"),
    (b"GIF89a", "image (gif)"),
    (b"II*\x00", "image (tiff)"),
    (b"MM\x00*", "image (tiff)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy office document (doc/xls/ppt)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"Rar!\x1a\x07", "rar archive"),
    (b"\x7fELF", "executable (elf)"),
    (b"{\\rtf", "rich text format (rtf)"),
)
_SAMPLE = 64 * 1024
_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
_FENCE = re.compile(r"^ {0,3}(```|~~~)", re.M)
_SETEXT_UNDERLINE = re.compile(r" {0,3}(=+|-{2,})[ \t]*")
_SEP_CELL = re.compile(r":?-{3,}:?")
# Bounded repeats: unbounded ones backtrack quadratically on e.g. a line of 60k "[".
_MD_INLINE = re.compile(
    r"\[[^\]\n]{1,200}\]\([^)\s]{1,500}\)|\*\*[^*\n]{1,200}\*\*|`[^`\n]{1,200}`"
)
_HTML_DOC = re.compile(r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.I)
_HTML_TAGS = re.compile(r"<(p|div|h[1-6]|table|ul|ol|span|a\s|br|section|article)[\s>/]", re.I)


def _ext(filename: str) -> str:
    return PurePath(filename).suffix.lower().lstrip(".")


def detect_format(data: bytes, filename: str) -> str:
    """Return one of FORMATS, or raise ParseError("empty"|"unsupported", detail)."""
    ext = _ext(filename)
    if not data.strip(b" \t\r\n\x0b\x0c\x00"):
        raise ParseError("empty")
    # Some generators put junk before the header; readers accept it within the first 1 KiB.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _detect_zip(data, ext)
    head = data[:16]
    if head.startswith(_IMAGE_MAGIC):
        return "image"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(_OLE_MAGIC) and any(n in data[:1 << 20] for n in _XLS_STREAMS):
        return "xls"
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise ParseError("unsupported", what)
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise ParseError("unsupported", "image (webp)")
    if _looks_binary(data[:_SAMPLE]):
        raise ParseError("unsupported", "binary data")
    text = decode_bytes(data[:_SAMPLE])
    if not text.strip():
        raise ParseError("empty")
    return _detect_text(text, data, ext)


def _detect_zip(data: bytes, ext: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            mimetype = b""
            # Only a short declared member is read: the size is the most zipfile inflates.
            if "mimetype" in names and zf.getinfo("mimetype").file_size <= 200:
                mimetype = zf.read("mimetype").strip()[:100]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        # A damaged .docx (.xlsx, .zip…) should be quarantined as corrupted by its parser.
        if ext in _ZIP_EXTS:
            return ext
        raise ParseError("unsupported", "zip archive (unreadable)") from None
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if mimetype in _ZIP_MIMETYPES:
        return _ZIP_MIMETYPES[mimetype]
    return "zip"


def _looks_binary(sample: bytes) -> bool:
    if bom_encoding(sample) is not None:
        return False
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample boundary is not evidence of binary.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return False
    # Legacy 8-bit text has few C0 controls; binary data has plenty.
    controls = sum(1 for b in sample if b < 0x20 and b not in (9, 10, 12, 13))
    return controls > max(2, len(sample) // 100)


def _detect_text(text: str, data: bytes, ext: str) -> str:
    stripped = text.lstrip()
    if stripped[:1] in ("{", "[") and (ext == "json" or _is_json(data)):
        return "json"
    head = stripped[:4096]
    if head.lower().startswith("<svg") or (head.startswith("<?xml") and "<svg" in head[:2048]):
        raise ParseError("unsupported", "image (svg)")
    if _HTML_DOC.search(head) or (head.startswith("<") and _HTML_TAGS.search(head)):
        return "html"
    if head.startswith("<?xml") or (ext == "xml" and head.startswith("<")):
        return "xml"
    if mail := _detect_mail(text):
        return mail
    if _looks_markdown(text):
        return "markdown"
    if _looks_csv(text, ext):
        return "csv"
    if ext in ("md", "markdown", "mdown", "mkd"):
        return "markdown"
    if ext in ("html", "htm", "xhtml") and "<" in text:
        return "html"
    if ext in ("csv", "tsv"):
        return "csv"
    return "text"


def _is_json(data: bytes) -> bool:
    try:
        json.loads(decode_bytes(data))
    except (ValueError, RecursionError):
        return False
    return True


def _looks_markdown(text: str) -> bool:
    if _ATX.search(text) or _FENCE.search(text):
        return True
    lines = text.split("\n")
    if any(_is_table_separator(line) for line in lines if "|" in line and "-" in line):
        return True
    # Line-pair scan: a regex spanning two lines backtracks quadratically on huge lines.
    for prev, line in zip(lines, lines[1:], strict=False):
        if (
            prev.strip()
            and _SETEXT_UNDERLINE.fullmatch(line)
            and not _SETEXT_UNDERLINE.fullmatch(prev)
        ):
            return True
    return len(_MD_INLINE.findall(text)) >= 3


def _is_table_separator(line: str) -> bool:
    # Split instead of one regex: adjacent optional runs of spaces backtrack quadratically.
    cells = line.strip().strip("|").split("|")
    return len(cells) >= 2 and all(_SEP_CELL.fullmatch(c.strip()) for c in cells)


def _looks_csv(text: str, ext: str) -> bool:
    lines = [ln for ln in text.split("\n")[:50] if ln.strip()]
    # The sample may end mid-row.
    if len(text) >= _SAMPLE and len(lines) > 2:
        lines = lines[:-1]
    min_rows = 2 if ext in ("csv", "tsv") else 3
    if len(lines) < min_rows:
        return False
    for delim in (",", "\t", ";", "|"):
        counts = [len(row) for row in csv.reader(lines, delimiter=delim)]
        if counts[0] < 2:
            continue
        same = sum(1 for c in counts if c == counts[0])
        if same >= 0.9 * len(counts):
            return True
    return False


def _detect_mail(text: str) -> str | None:
    """eml: the file opens with a block of header fields, at least two of them known ones;
    mbox: the same after a `From ` separator line."""
    lines = text.lstrip("\r\n").split("\n", 40)
    kind = "eml"
    if lines and lines[0].startswith("From ") and len(lines) > 1:
        kind, lines = "mbox", lines[1:]
    known = 0
    for line in lines[:40]:
        line = line.rstrip("\r")
        if not line:
            break
        if line[:1] in (" ", "\t"):
            continue  # a folded continuation of the previous field
        if _MAIL_HEADER.match(line):
            known += 1
        elif not re.match(r"^[!-9;-~]+:", line):
            return None  # not a header field: this is not a message
    return kind if known >= 2 else None
