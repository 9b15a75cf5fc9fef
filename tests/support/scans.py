"""Scanned-document fixtures made from known text, so OCR output can be scored.

Text is typeset by fpdf2 with its built-in Helvetica (no system fonts needed), rendered to a
bitmap by pdfium at a given dpi (what a scanner produces), optionally rotated a few degrees
(a skewed feed), and wrapped back into a PDF that has no text layer.
"""

from __future__ import annotations

import difflib
import io
import re
from collections.abc import Sequence

import pypdfium2 as pdfium
from fpdf import FPDF
from PIL import Image, ImageOps


def text_pdf(pages: Sequence[Sequence[str]], font_size: float = 11) -> bytes:
    """A normal PDF with a text layer: one page per entry, one paragraph per string."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_font("Helvetica", size=font_size)
    for paragraphs in pages:
        pdf.add_page()
        for para in paragraphs:
            pdf.multi_cell(0, font_size * 0.55, para)
            pdf.ln(font_size * 0.4)
    return bytes(pdf.output())


def render_pages(pdf_bytes: bytes, dpi: int = 150) -> list[Image.Image]:
    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("L") for page in doc]
    finally:
        doc.close()


def skew(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def crop_to_text(image: Image.Image, margin: int = 30) -> Image.Image:
    """The text area plus a margin: a small image keeps OCR in tests fast."""
    box = ImageOps.invert(image.convert("L")).getbbox()
    if box is None:
        return image
    left, top, right, bottom = box
    return image.crop((max(0, left - margin), max(0, top - margin),
                       min(image.width, right + margin), min(image.height, bottom + margin)))


def scan_image(
    paragraphs: Sequence[str], dpi: int = 150, rotate: float = 0.0, crop: bool = False
) -> Image.Image:
    image = render_pages(text_pdf([paragraphs]), dpi)[0]
    if crop:
        image = crop_to_text(image)
    return skew(image, rotate) if rotate else image


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[.:'][a-z0-9]+)*", text.lower())


def word_accuracy(expected: str, got: str) -> float:
    """Share of the expected words that OCR reproduced exactly, in order (the matched words
    of a longest-common-subsequence alignment over word lists)."""
    want, have = words(expected), words(got)
    if not want:
        return 1.0
    matcher = difflib.SequenceMatcher(a=want, b=have, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(want)


def image_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def scanned_pdf(pages: Sequence[Sequence[str]], dpi: int = 150, rotate: float = 0.0) -> bytes:
    """An image-only PDF: every page is a bitmap of the typeset text, no text layer."""
    images = [skew(im, rotate) if rotate else im for im in render_pages(text_pdf(pages), dpi)]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", resolution=dpi, save_all=True, append_images=images[1:])
    return buf.getvalue()


def mixed_pdf(text_page: Sequence[str], scanned_page: Sequence[str], dpi: int = 150) -> bytes:
    """Page 1 has a text layer, page 2 is only a bitmap (a scan stapled to a typed letter)."""
    scan = render_pages(text_pdf([scanned_page]), dpi)[0]
    pdf = FPDF(format="A4")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for para in text_page:
        pdf.multi_cell(0, 6, para)
        pdf.ln(4)
    pdf.add_page()
    pdf.image(scan, x=0, y=0, w=pdf.w, h=pdf.h)
    return bytes(pdf.output())
