"""Images (png, jpeg, tiff; every frame of a multi-page tiff) read by OCR."""

from __future__ import annotations

import io

from PIL import Image

from lockgate.ingest.ocr import finish_ocr, ocr_metadata, ocr_page
from lockgate.ingest.parsers._common import finish
from lockgate.ingest.types import Block, OcrPage, ParsedDocument, ParseError, ParseOptions


def _too_large(image: Image.Image, frame: int, limit: int) -> ParseError | None:
    if image.width * image.height <= limit:
        return None
    where = f"frame {frame}: " if frame > 1 else ""
    return ParseError("too_large", f"{where}image of {image.width}x{image.height} pixels")


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
        # Frames are decoded one at a time, each checked against the pixel budget first
        # (the size is in the frame's header), and only the first `max_pages` at all: a
        # small TIFF can declare many huge frames.
        try:
            image = Image.open(io.BytesIO(data))
            count = int(getattr(image, "n_frames", 1))
        except Exception as exc:  # truncated or malformed image data
            raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
        blocks: list[Block] = []
        pages: list[OcrPage] = []
        for n in range(1, min(count, cfg.max_pages) + 1):
            try:
                image.seek(n - 1)
                if err := _too_large(image, n, cfg.max_pixels):
                    raise err
                frame = image.copy()
            except ParseError:
                raise
            except Exception as exc:
                raise ParseError("corrupted", str(exc)[:200] or type(exc).__name__) from exc
            page_blocks, record = ocr_page(frame, n, cfg)
            del frame
            blocks.extend(page_blocks)
            pages.append(record)
        skipped = list(range(cfg.max_pages + 1, count + 1))
        finish_ocr(blocks, pages, cfg)
        if not blocks:
            raise ParseError("no_text", "OCR found no text in the image")
        doc = finish(
            blocks,
            self.name,
            self.version,
            pages=count,
            metadata=ocr_metadata(pages, skipped),
            title_from_heading=False,
        )
        doc.ocr_pages = pages
        return doc
