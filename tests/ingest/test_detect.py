"""Format detection goes by content; the extension only breaks ties."""

from __future__ import annotations

import io
import random
import zipfile

import docx
import pytest
from fpdf import FPDF

from lockgate.ingest.detect import detect_format
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.text_decode import decode_bytes
from lockgate.ingest.types import ParseError


def _pdf_bytes() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text="Hello from a PDF that pretends to be text.")
    return bytes(pdf.output())


def _docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("Hello from Word.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def _reason(data: bytes, name: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        detect_format(data, name)
    return info.value


def test_pdf_named_txt_is_pdf() -> None:
    assert detect_format(_pdf_bytes(), "notes.txt") == "pdf"


def test_docx_detected_without_extension() -> None:
    assert detect_format(_docx_bytes(), "upload.bin") == "docx"


def test_random_bytes_named_docx_are_unsupported() -> None:
    data = random.Random(1234).randbytes(4096)
    err = _reason(data, "report.docx")
    assert err.reason == "unsupported"
    with pytest.raises(ParseError) as info:
        parse_bytes(data, "report.docx")
    assert info.value.reason in {"unsupported", "corrupted"}


def test_truncated_docx_zip_is_corrupted_not_indexed() -> None:
    data = _docx_bytes()
    with pytest.raises(ParseError) as info:
        parse_bytes(data[: len(data) // 2], "report.docx")
    assert info.value.reason == "corrupted"


def test_zip_without_word_document_is_an_archive() -> None:
    # A plain zip is an archive whose members are ingested, whatever its name.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hi")
    assert detect_format(buf.getvalue(), "archive.docx") == "zip"


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n  "])
def test_empty_input(data: bytes) -> None:
    assert _reason(data, "empty.txt").reason == "empty"


def test_image_goes_to_ocr_gif_is_unsupported() -> None:
    # png/jpeg/tiff are read by OCR; other image types stay unsupported.
    assert detect_format(b"\x89PNG\r\n\x1a\n" + bytes(200), "scan.pdf") == "image"
    err = _reason(b"GIF89a" + bytes(200), "scan.pdf")
    assert err.reason == "unsupported"
    assert "image" in err.detail


def test_binary_with_nul_bytes_is_unsupported() -> None:
    err = _reason(b"abc\x00\x01\x02def" * 50, "data.txt")
    assert (err.reason, err.detail) == ("unsupported", "binary data")


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "page.txt", "html"),
        (b"<div><p>fragment</p></div>", "frag.dat", "html"),
        (b"# Title\n\nSome text.\n", "readme.txt", "markdown"),
        (b"Intro\n\n```\ncode\n```\n", "notes", "markdown"),
        (b"Just a plain paragraph.\n\nAnother one.\n", "readme.md", "markdown"),
        (b"Just a plain paragraph.\n\nAnother one.\n", "notes.txt", "text"),
        (b"name,age,city\nAda,36,London\nAlan,41,Wilmslow\n", "people.txt", "csv"),
        (b"a;b\n1;2\n", "x.csv", "csv"),
        (b'{"a": {"b": [1, 2]}}', "config.txt", "json"),
        (b"[1, 2, 3]", "list", "json"),
        (b"{not json", "broken.json", "json"),
        (b"{not json", "braces.txt", "text"),
    ],
)
def test_content_based_detection(data: bytes, name: str, expected: str) -> None:
    assert detect_format(data, name) == expected


def test_prose_with_commas_is_not_csv() -> None:
    prose = (
        b"Well, this is prose.\nIt has commas, some here, some there, and more.\n"
        b"A line without any.\nAnd one, two.\n"
    )
    assert detect_format(prose, "letter.txt") == "text"


def test_legacy_encodings_are_text_not_binary() -> None:
    latin = "Café crème, déjà vu.\n".encode("cp1252")
    assert detect_format(latin, "fr.txt") == "text"
    utf16 = "Hello wide world\n".encode("utf-16")  # with BOM, full of NULs
    assert detect_format(utf16, "wide.txt") == "text"


def test_decode_bytes_cleans_text() -> None:
    assert decode_bytes(b"\xef\xbb\xbfa\r\nb\rc\x00d\x07e\tf") == "a\nb\ncd" + "e\tf"
    assert decode_bytes("naïve".encode("latin-1")) == "naïve"
    assert decode_bytes(b"\x81\x8d ok").endswith("ok")  # undefined in cp1252: latin-1 wins
