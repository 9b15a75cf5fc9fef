"""OCR of page images with rapidocr (PP-OCRv4 ONNX models shipped inside the wheel, so it
runs offline), and the layout step that turns recognised lines back into paragraphs.

Confidence: rapidocr scores each line (mean character probability). A block's confidence is
the character-weighted mean of its lines; a page's is the same over all its lines, including
lines too unsure to keep, so a page of noise scores low instead of looking clean because
its worst lines were dropped.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from lockgate.ingest.types import Block, ChunkDraft, OcrPage, ParsedDocument, ParseError

if TYPE_CHECKING:
    from PIL import Image

    from lockgate.config import OcrConfig

# Lines the recogniser is less sure of than this are counted in the page score but not kept.
_KEEP_LINE = 0.5
# A vertical gap larger than this many median line heights starts a new paragraph.
_PARA_GAP = 0.9
_lock = threading.Lock()


@dataclass(frozen=True)
class Line:
    text: str
    score: float
    x: float  # left edge
    y: float  # vertical centre
    height: float
    width: float


@lru_cache(maxsize=4)
def _engine(threads: int | None) -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ParseError("ocr_unavailable", str(exc)) from exc
    kwargs: dict[str, Any] = {
        # Keep every line: we score pages ourselves and decide what to keep (_KEEP_LINE).
        "text_score": 0.0,
        # The 0/180-degree classifier flips some upright English lines and wrecks them;
        # scans come in upright (few-degree skew is absorbed by the rotated text boxes).
        "use_cls": False,
        "inter_op_num_threads": 1,
        # Detection sees the page scaled so its longer side is at most 1600 px; the lines
        # it finds are cropped from the full-resolution image for recognition.
        "det_limit_type": "max",
        "det_limit_side_len": 1600,
    }
    if threads:
        kwargs["intra_op_num_threads"] = threads
    return RapidOCR(**kwargs)


def binarize(image: Image.Image) -> np.ndarray:
    """Black text on white, threshold by Otsu's method. The recogniser drops the spaces
    between words on JPEG-compressed scans (the grey ringing around glyphs fills the gaps);
    a clean two-level image gets them back."""
    import cv2

    gray = np.asarray(image.convert("L"))
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.ascontiguousarray(np.stack([bw, bw, bw], axis=-1))


def recognise(image: Image.Image, threads: int | None = None, clean: bool = True) -> list[Line]:
    """Recognised lines of one page image, in no particular order."""
    rgb = binarize(image) if clean else np.asarray(image.convert("RGB"))
    with _lock:  # one onnxruntime session is not meant to be driven from two threads
        result, _ = _engine(threads)(rgb)
    lines: list[Line] = []
    for box, text, score in result or []:
        pts = np.asarray(box, dtype=np.float32)
        xs, ys = pts[:, 0], pts[:, 1]
        # The box may be rotated (skewed scan): height is the mean of its two short sides.
        height = float((np.linalg.norm(pts[3] - pts[0]) + np.linalg.norm(pts[2] - pts[1])) / 2)
        text = str(text).strip()
        if text:
            lines.append(
                Line(
                    text,
                    float(score),
                    float(xs.min()),
                    float(ys.mean()),
                    max(height, 1.0),
                    float(xs.max() - xs.min()),
                )
            )
    return lines


def _weighted(lines: list[Line]) -> float:
    chars = sum(len(ln.text) for ln in lines)
    return sum(ln.score * len(ln.text) for ln in lines) / chars if chars else 0.0


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Group boxes into visual rows (one text line may come back as several boxes)."""
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda item: item.y):
        if rows and abs(ln.y - rows[-1][0].y) < 0.5 * min(ln.height, rows[-1][0].height):
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [sorted(r, key=lambda item: item.x) for r in rows]


def layout(lines: list[Line], page: int) -> list[Block]:
    """Paragraph blocks from recognised lines: a new paragraph at a wide vertical gap, or
    after a line that ends a sentence well short of the page's text width."""
    kept = [ln for ln in lines if ln.score >= _KEEP_LINE]
    if not kept:
        return []
    rows = _rows(kept)
    med_h = statistics.median(ln.height for ln in kept)
    left = min(ln.x for ln in kept)
    full = max(r[-1].x + r[-1].width for r in rows) - left
    paras: list[list[list[Line]]] = [[rows[0]]]
    for prev, row in zip(rows, rows[1:], strict=False):
        gap = row[0].y - prev[0].y - med_h
        prev_text = " ".join(ln.text for ln in prev)
        prev_right = prev[-1].x + prev[-1].width - left
        ended = prev_text.endswith((".", "!", "?", ":")) and prev_right < 0.8 * full
        if gap > _PARA_GAP * med_h or ended:
            paras.append([row])
        else:
            paras[-1].append(row)
    blocks = []
    for para in paras:
        members = [ln for row in para for ln in row]
        text = " ".join(" ".join(ln.text for ln in row) for row in para)
        blocks.append(
            Block("paragraph", text, page=page, ocr_confidence=round(_weighted(members), 4))
        )
    return blocks


def ocr_page(image: Image.Image, page: int, cfg: OcrConfig) -> tuple[list[Block], OcrPage]:
    """Blocks and the page record for one image. Flagged pages keep their blocks only when
    the policy is `mark`; under `exclude` they are recorded but contribute no text."""
    lines = recognise(image, cfg.threads, cfg.binarize)
    confidence = round(_weighted(lines), 4)
    flagged = bool(lines) and confidence < cfg.min_confidence
    record = OcrPage(page=page, confidence=confidence, lines=len(lines), flagged=flagged)
    if flagged and cfg.low_confidence == "exclude":
        return [], record
    return layout(lines, page), record


def ocr_metadata(pages: list[OcrPage], skipped: list[int]) -> dict[str, str]:
    """Parser metadata (string values) the run report and the version row read back."""
    meta = {"ocr_pages": str(len(pages))}
    flagged = [p for p in pages if p.flagged]
    if flagged:
        meta["ocr_low_confidence_pages"] = ",".join(str(p.page) for p in flagged)
    scored = [p.confidence for p in pages if p.lines]
    if scored:
        meta["ocr_confidence"] = f"{min(scored):.4f}"  # the weakest page
    if skipped:
        meta["ocr_skipped_pages"] = ",".join(map(str, skipped))
    return meta


def finish_ocr(blocks: list[Block], pages: list[OcrPage], cfg: OcrConfig) -> None:
    """Refuse a document whose only text would have come from pages judged as garbage."""
    if not any(b.text.strip() for b in blocks) and any(p.flagged for p in pages):
        worst = min(p.confidence for p in pages if p.flagged)
        raise ParseError(
            "low_ocr_confidence",
            f"every OCR page below {cfg.min_confidence} (lowest {worst:.2f})",
        )


def chunk_confidences(doc: ParsedDocument, drafts: Sequence[ChunkDraft]) -> list[float | None]:
    """Each chunk's OCR confidence: the lowest of the OCR blocks its text span overlaps in
    `doc.text` (None when it holds no OCR text). Works for any chunking strategy, since
    every strategy records `char_start` against `doc.text`."""
    spans: list[tuple[int, int, float]] = []
    offset = 0
    for b in doc.blocks:
        if b.ocr_confidence is not None:
            spans.append((offset, offset + len(b.text), b.ocr_confidence))
        offset += len(b.text) + 2  # ParsedDocument.text joins blocks with a blank line
    out: list[float | None] = []
    for i, d in enumerate(drafts):
        end = d.char_start + max(1, len(d.text))
        if i + 1 < len(drafts) and drafts[i + 1].char_start > d.char_start:
            end = min(end, drafts[i + 1].char_start)
        hits = [c for a, b, c in spans if a < end and b > d.char_start]
        out.append(min(hits) if hits else None)
    return out
