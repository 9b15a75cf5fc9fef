"""The OCR half of PDF parsing: which pages have no usable text layer, and reading those
from a pdfium render of the page. Pages with a text layer never go through OCR."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pypdfium2 as pdfium
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from lockgate.config import OcrConfig
from lockgate.ingest.ocr import ocr_page
from lockgate.ingest.types import Block, OcrPage, ParseError

# A page with fewer word characters than this in its text layer is treated as a scan: a stamp
# or a page number printed over an image is not the page's content.
_MIN_TEXT_CHARS = 20
_WORD_CHAR = re.compile(r"\w")


def _has_images(page: DictionaryObject) -> bool:
    """Whether a page draws any image XObject (directly or inside a form XObject)."""
    try:
        resources = page.get("/Resources")
        if resources is None:
            return False
        xobjects = resources.get_object().get("/XObject")
        if xobjects is None:
            return False
        for ref in xobjects.get_object().values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image" or (
                obj.get("/Subtype") == "/Form" and _has_images(obj)
            ):
                return True
    except Exception:  # odd resource dictionaries: let OCR decide
        return True
    return False


def scanned_pages(reader: PdfReader, texts: Sequence[str]) -> list[int]:
    """1-based numbers of the pages to OCR: little or no text layer, and some image."""
    out = []
    for n, (page, text) in enumerate(zip(reader.pages, texts, strict=True), start=1):
        if len(_WORD_CHAR.findall(text)) < _MIN_TEXT_CHARS and _has_images(page):
            out.append(n)
    return out


def ocr_pages(
    data: bytes, numbers: Sequence[int], cfg: OcrConfig
) -> tuple[dict[int, list[Block]], list[OcrPage], list[int]]:
    """(blocks by page, one record per page read, pages skipped over `max_pages`)."""
    todo, skipped = list(numbers[: cfg.max_pages]), list(numbers[cfg.max_pages :])
    blocks: dict[int, list[Block]] = {}
    records: list[OcrPage] = []
    if not todo:
        return blocks, records, skipped
    doc = pdfium.PdfDocument(data)
    try:
        for n in todo:
            page = doc[n - 1]
            # The render size follows from the page box alone: a page of a few hundred
            # bytes can declare 200 x 200 inches (900 Mpx at 150 dpi).
            width, height = page.get_size()
            pixels = (width * cfg.dpi / 72) * (height * cfg.dpi / 72)
            if pixels > cfg.max_pixels:
                page.close()
                raise ParseError(
                    "too_large",
                    f"page {n} would render at {pixels / 1e6:.0f} Mpx "
                    f"(max {cfg.max_pixels / 1e6:.0f})",
                )
            try:
                image = page.render(scale=cfg.dpi / 72, grayscale=True).to_pil()
            finally:
                page.close()
            blocks[n], record = ocr_page(image, n, cfg)
            records.append(record)
    finally:
        doc.close()
    return blocks, records, skipped
