"""Decompression and amplification bombs, made small in each test: zip-based documents with
a highly compressible member, spreadsheets whose repeats, spans or merged ranges describe
millions of cells, a TIFF with huge frames behind a tiny first one, and a PDF page of
200 x 200 inches. Each is refused with a quarantine reason, or cut to the cell budget,
instead of being inflated or rendered."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from PIL import Image

from lockgate.config import ArchiveConfig, OcrConfig
from lockgate.ingest.parsers import parse_bytes
from lockgate.ingest.parsers.sheets import _MAX_CELLS
from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.types import ParseError, ParseOptions
from lockgate.services import Services

_ODF = "urn:oasis:names:tc:opendocument:xmlns"


def _deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _zeros_member(zf: zipfile.ZipFile, name: str, mb: int) -> None:
    with zf.open(_deflated(name), "w", force_zip64=True) as fh:
        chunk = b" " * (1 << 20)
        for _ in range(mb):
            fh.write(chunk)


def _docx(extra_mb: int = 0) -> bytes:
    d = docx.Document()
    d.add_paragraph("The fire drill is on the first Monday of every month.")
    buf = io.BytesIO()
    d.save(buf)
    if extra_mb:
        with zipfile.ZipFile(buf, "a", zipfile.ZIP_DEFLATED) as zf:
            _zeros_member(zf, "word/media/pad.bin", extra_mb)
    return buf.getvalue()


def _odf(mimetype: str, body: bytes, pad_mb: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        head = (
            f'<?xml version="1.0"?><office:document-content xmlns:office="{_ODF}:office:1.0" '
            f'xmlns:text="{_ODF}:text:1.0" xmlns:table="{_ODF}:table:1.0"><office:body>'
        ).encode()
        with zf.open(_deflated("content.xml"), "w", force_zip64=True) as fh:
            fh.write(head + body)
            for _ in range(pad_mb):
                fh.write(b" " * (1 << 20))
            fh.write(b"</office:body></office:document-content>")
    return buf.getvalue()


def _reason(data: bytes, name: str, options: ParseOptions | None = None) -> ParseError:
    with pytest.raises(ParseError) as err:
        parse_bytes(data, name, options)
    return err.value


def test_docx_with_a_compressible_member_is_a_zip_bomb() -> None:
    assert "fire drill" in parse_bytes(_docx(), "ok.docx").blocks[0].text
    data = _docx(extra_mb=20)
    assert len(data) < 200_000
    err = _reason(data, "bomb.docx")
    assert err.reason == "zip_bomb" and "word/media/pad.bin" in err.detail


def test_zip_based_formats_obey_the_total_and_member_limits() -> None:
    small = ParseOptions(archives=ArchiveConfig(max_total_mb=0.001))
    assert _reason(_docx(), "a.docx", small).reason == "archive_limit"
    few = ParseOptions(archives=ArchiveConfig(max_members=2))
    assert _reason(_docx(), "a.docx", few).reason == "archive_limit"


def test_odt_content_full_of_whitespace_is_refused_before_inflating() -> None:
    body = b"<office:text><text:p>Hello</text:p>"
    data = _odf("application/vnd.oasis.opendocument.text", body, pad_mb=20)
    assert len(data) < 200_000
    err = _reason(data, "bomb.odt")
    assert err.reason == "zip_bomb" and "content.xml" in err.detail


def _ods(cells: str) -> bytes:
    body = (
        f'<office:spreadsheet><table:table table:name="S"><table:table-row '
        f'table:number-rows-repeated="200">{cells}</table:table-row></table:table>'
        f"</office:spreadsheet>"
    ).encode()
    return _odf("application/vnd.oasis.opendocument.spreadsheet", body)


def _cells(text: str) -> int:
    return sum(line.count("|") - 1 for line in text.splitlines() if line.startswith("|"))


def test_ods_repeats_stop_at_the_cell_budget() -> None:
    cell = (
        '<table:table-cell table:number-columns-repeated="1000"><text:p>x</text:p>'
        "</table:table-cell>"
    )
    doc = parse_bytes(_ods(cell * 10), "rep.ods")  # 10 x 1000 x 200 = 2,000,000 cells
    text = "\n".join(b.text for b in doc.blocks)
    assert _cells(text) <= _MAX_CELLS + 10
    assert "sheet cut" in text


def test_ods_huge_span_is_capped() -> None:
    cell = (
        '<table:table-cell table:number-columns-spanned="20000000"><text:p>y</text:p>'
        "</table:table-cell>"
    )
    doc = parse_bytes(_ods(cell), "span.ods")
    text = "\n".join(b.text for b in doc.blocks)
    assert _cells(text) <= _MAX_CELLS + 10


def test_xlsx_merged_range_over_the_budget_is_refused() -> None:
    book = openpyxl.Workbook()
    book.active["A1"] = "Quarterly totals"
    buf = io.BytesIO()
    book.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                merge = b'<mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>'
                raw = raw.replace(b"</sheetData>", b"</sheetData>" + merge)
                assert merge in raw
            dst.writestr(info, raw)
    err = _reason(out.getvalue(), "merged.xlsx")
    assert err.reason == "too_large" and "merged cells" in err.detail


def test_tiff_frames_are_each_checked_against_the_pixel_budget() -> None:
    first = Image.new("L", (1, 1), 255)
    big = [Image.new("L", (1200, 1000), 255) for _ in range(3)]
    buf = io.BytesIO()
    first.save(buf, "TIFF", save_all=True, append_images=big, compression="tiff_deflate")
    options = ParseOptions(ocr=OcrConfig(max_pixels=1_000_000))
    err = _reason(buf.getvalue(), "scan.tiff", options)
    assert err.reason == "too_large" and err.detail.startswith("frame 2: image of 1200x1000")


def test_pdf_page_with_a_gigantic_mediabox_is_not_rendered() -> None:
    buf = io.BytesIO()
    # 1 pixel at 1/200 dpi: a page of 14400 x 14400 points with one image, picked for OCR.
    Image.new("L", (1, 1), 255).save(buf, "PDF", resolution=1 / 200)
    data = buf.getvalue()
    assert b"14400" in data and len(data) < 2000
    err = _reason(data, "huge.pdf")
    assert err.reason == "too_large" and "page 1 would render at 900 Mpx" in err.detail


def test_nested_archives_share_one_uncompressed_budget(tmp_path: Path, services: Services) -> None:
    # Four inner zips of 20 kB of text each: every level alone is inside a 50 kB budget,
    # together they are not. The ratio limit is lifted to test the total alone.
    def inner(i: int) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"part{i}.txt", f"Chapter {i} of the handbook. " * 700)
        return buf.getvalue()

    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as zf:
        for i in range(4):
            zf.writestr(f"inner{i}.zip", inner(i))
    root = tmp_path / "nested"
    root.mkdir()
    (root / "outer.zip").write_bytes(outer.getvalue())
    cfg = services.settings.ingest.model_copy(
        update={"archives": ArchiveConfig(max_total_mb=0.05, max_ratio=10_000)}
    )
    summary = Ingestor(services.documents, services.runs, services.embedder, cfg).run([str(root)])
    reasons = {q.source.rsplit("#", 1)[-1]: q.reason for q in summary.quarantined_files}
    assert reasons == {"inner2.zip": "archive_limit", "inner3.zip": "archive_limit"}
    detail = next(q.detail for q in summary.quarantined_files)
    assert "with the archives around it" in detail
