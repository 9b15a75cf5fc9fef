"""Config sections for OCR and archive limits (issue 5, part a).

Kept apart from config.py so the shared file only gains the fields that hang them in place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OcrConfig(_Strict):
    """OCR of image-only PDF pages and image files (rapidocr; its models ship in the wheel)."""

    enabled: bool = True
    dpi: int = Field(150, ge=50, le=600)  # PDF pages are rendered at this resolution
    # A page whose mean recognition confidence (weighted by characters) is below this is
    # flagged as low quality.
    min_confidence: float = Field(0.8, ge=0, le=1)
    # exclude: flagged pages are recorded and reported but not indexed (the default: garbage
    # in the index is worse than a gap the run report shows). mark: indexed anyway, with the
    # low confidence kept on each chunk for the reader to judge.
    low_confidence: Literal["exclude", "mark"] = "exclude"
    max_pages: int = Field(50, ge=1)  # per document; further image-only pages are skipped
    threads: int | None = Field(None, ge=1)  # onnxruntime intra-op threads; None = its default
    # Otsu binarisation before OCR: keeps word spaces on JPEG scans (see ingest/ocr.py).
    binarize: bool = True


class ArchiveConfig(_Strict):
    """Limits for zip archives (and zips inside them) against zip bombs."""

    max_members: int = Field(1000, ge=1)
    max_total_mb: float = Field(200.0, gt=0)  # uncompressed, for one archive
    max_ratio: float = Field(100.0, gt=1)  # uncompressed / compressed size of one member
    max_depth: int = Field(3, ge=1)  # archives inside archives
