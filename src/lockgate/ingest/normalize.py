"""Normalisation between parsing and chunking: boilerplate, hyphenation, dates, encoding,
language. Parsers stay format-specific; what every format needs lives here once.

Boilerplate is found per document: for paginated formats (blocks carrying a page), lines at
a page's edges that repeat (digits aside) on at least half the pages are running headers or
footers, and lone page numbers at an edge are dropped. The PDF parser already does this for
its text layer; OCR'd pages, slides and other paginated formats get it here.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field, replace

from lockgate.ingest.dates import find_dates
from lockgate.ingest.types import Block, ParsedDocument

_PAGE_NO = re.compile(
    r"^(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?(?:\s*[-–—])?$", re.I
)
_PAGE_WORD = re.compile(r"^page\s+\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.I)
# A word broken at a line end: "implemen-\ntation". Only joined when the next part is lower
# case, so "Jean-\nPierre" and list dashes stay as they are.
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-\n[ \t]*(?=[a-zäöüéèàçñ]{2})")


@dataclass
class Normalized:
    doc: ParsedDocument
    language: str | None = None
    language_score: float | None = None
    encoding: str | None = None
    dates: list[str] = field(default_factory=list)
    effective_date: str | None = None  # latest date labelled "effective/updated/…" in the text
    review_by: str | None = None  # a date labelled "review by/next review" in the text
    stats: dict[str, int] = field(default_factory=dict)


def _digitless(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def strip_boilerplate(blocks: list[Block], min_share: float = 0.5) -> tuple[list[Block], int]:
    """Drop running headers/footers and page numbers at page edges; returns (blocks, lines)."""
    pages: dict[int, list[tuple[int, int, str]]] = {}
    split = [b.text.split("\n") for b in blocks]
    for bi, b in enumerate(blocks):
        if b.page is None:
            continue
        for li, line in enumerate(split[bi]):
            if line.strip():
                pages.setdefault(b.page, []).append((bi, li, line))
    if not pages:
        return blocks, 0
    edges = {p: lines[:2] + lines[-2:] if len(lines) > 4 else lines for p, lines in pages.items()}
    counts: Counter[str] = Counter()
    for lines in edges.values():
        counts.update({_digitless(line) for _, _, line in lines})
    needed = max(2, math.ceil(len(pages) * min_share))
    repeated = {k for k, n in counts.items() if n >= needed and len(k) <= 120}
    drop: set[tuple[int, int]] = set()
    for lines in edges.values():
        for bi, li, line in lines:
            key = _digitless(line)
            if (len(pages) >= 2 and key in repeated) or _PAGE_NO.match(line.strip()):
                drop.add((bi, li))
    if not drop:
        return blocks, 0
    out = []
    for bi, b in enumerate(blocks):
        kept = [ln for li, ln in enumerate(split[bi]) if (bi, li) not in drop]
        if (bi, 0) in drop or len(kept) != len(split[bi]):
            if not "\n".join(kept).strip():
                continue
            b = replace(b, text="\n".join(kept).strip("\n"))
        out.append(b)
    return out, len(drop)


def join_hyphenation(text: str) -> tuple[str, int]:
    joined, n = _HYPHEN_BREAK.subn("", text)
    return joined, n


def drop_page_lines(text: str) -> tuple[str, int]:
    """'Page 3 of 10' on a line of its own carries no meaning in any format."""
    lines = text.split("\n")
    kept = [ln for ln in lines if not _PAGE_WORD.match(ln.strip())]
    return "\n".join(kept), len(lines) - len(kept)


_DETECTOR_READY = False


def detect_language(text: str) -> tuple[str | None, float | None]:
    """ISO 639-1 code and probability; None for text too short to tell."""
    global _DETECTOR_READY
    sample = " ".join(text.split())[:4000]
    if sum(ch.isalpha() for ch in sample) < 20:
        return None, None
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    if not _DETECTOR_READY:
        DetectorFactory.seed = 0  # langdetect samples randomly; fixed seed, same answer
        _DETECTOR_READY = True
    try:
        best = detect_langs(sample)[0]
    except LangDetectException:
        return None, None
    return str(best.lang), round(float(best.prob), 4)


def normalize(
    doc: ParsedDocument,
    *,
    boilerplate: bool = True,
    hyphenation: bool = True,
    language: bool = True,
    day_first: bool = True,
    annotate_dates: bool = False,
    encoding: str | None = None,
) -> Normalized:
    stats = {"boilerplate_lines": 0, "hyphen_joins": 0, "page_number_lines": 0}
    blocks = list(doc.blocks)
    if boilerplate:
        blocks, stats["boilerplate_lines"] = strip_boilerplate(blocks)
    cleaned: list[Block] = []
    for b in blocks:
        text = b.text
        if hyphenation and b.kind not in ("code", "table"):
            text, n = join_hyphenation(text)
            stats["hyphen_joins"] += n
        if boilerplate and b.kind != "code":
            text, n = drop_page_lines(text)
            stats["page_number_lines"] += n
        if text.strip():
            cleaned.append(replace(b, text=text) if text != b.text else b)
    found = find_dates("\n\n".join(b.text for b in cleaned), day_first)
    if annotate_dates:
        cleaned = [_annotate(b, day_first) for b in cleaned]
    out = replace(doc, blocks=cleaned or doc.blocks, metadata=dict(doc.metadata))
    lang, score = detect_language(out.text) if language else (None, None)
    effective = [f.iso for f in found if f.label == "effective" and len(f.iso) == 10]
    review = [f.iso for f in found if f.label == "review" and len(f.iso) == 10]
    return Normalized(
        doc=out,
        language=lang,
        language_score=score,
        encoding=encoding,
        dates=list(dict.fromkeys(f.iso for f in found)),
        effective_date=max(effective) if effective else None,
        review_by=min(review) if review else None,
        stats=stats,
    )


def _annotate(block: Block, day_first: bool) -> Block:
    """'1 March 2024' becomes '1 March 2024 (2024-03-01)': both spellings stay searchable."""
    dates = [d for d in find_dates(block.text, day_first) if d.text != d.iso]
    if not dates:
        return block
    text = block.text
    for d in sorted(dates, key=lambda d: d.start, reverse=True):
        end = d.start + len(d.text)
        text = f"{text[:end]} ({d.iso}){text[end:]}"
    return replace(block, text=text)
