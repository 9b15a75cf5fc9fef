"""Images (png, jpeg, tiff; every frame of a multi-page tiff) read by OCR."""

from __future__ import annotations

import io

from PIL import Image, ImageSequence

from lockgate.ingest.ocr import finish_ocr, ocr_metadata, ocr_page
from lockgate.ingest.parsers._common import finish
from lockgate.ingest.types import Block, OcrPage, ParsedDocument, ParseError, ParseOptions

# Decompression-bomb guard: Pillow warns at ~89 Mpx; a 600-dpi A3 scan is ~70 Mpx.
_MAX_PIXELS = 100_000_000


class ImageParser:
    name = "image-ocr"
    version = "1"

    def parse(
        self, data: bytes, filename: str, options: ParseOptions | None = None
    ) -> ParsedDocument:
        options = options or ParseOptions()
        cfg = options.ocr
        if not cfg.enabled:
            raise ParseError("unsupported", "image (OCR disabled: ingest.ocr.enabled)")
        try:
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > _MAX_PIXELS:
                raise ParseError("too_large", f"image of {image.width}x{image.height} pixels")
            frames = [f.copy() for f in ImageSequence.Iterator(image)]
        except ParseError:
            raise
        except Exception as exc:  # truncated or malformed image data
            raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
        blocks: list[Block] = []
        pages: list[OcrPage] = []
        for n, frame in enumerate(frames[: cfg.max_pages], start=1):
            page_blocks, record = ocr_page(frame, n, cfg)
            blocks.extend(page_blocks)
            pages.append(record)
        skipped = list(range(cfg.max_pages + 1, len(frames) + 1))
        finish_ocr(blocks, pages, cfg)
        if not blocks:
            raise ParseError("no_text", "OCR found no text in the image")
        doc = finish(
            blocks,
            self.name,
            self.version,
            pages=len(frames),
            metadata=ocr_metadata(pages, skipped),
            title_from_heading=False,
        )
        doc.ocr_pages = pages
        return doc
