"""Citation handling for grounded answers: keep markers that point at chunks really given to
the model, drop invented ones, and attribute an uncited answer to the chunk that supports it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

from lockgate.retrieval.hybrid import RetrievedChunk

MARKER = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[a-z0-9]+")
_IDK = re.compile(
    r"\b(i (do not|don't|cannot|can't) (know|answer)|not (mentioned|contained|stated) in the "
    r"sources|the sources do not)\b",
    re.IGNORECASE,
)
# Echoes of the prompt a base model produces once its answer is over.
_RUNOFF = ("\nQuestion:", "\nSources:", "\nAnswer:", "\nUser:", "\nInstructions:")
_COMMON = frozenset(
    "the a an and or of to in on for is are was were be by with as at it this that from "
    "you your we our can may will not no if".split()
)


@dataclass
class CitedAnswer:
    text: str
    cited: list[int]
    suffix: str  # what was appended after the model's own text
    refused: bool


# A base model often starts by echoing a source header such as "[2] (faq.txt, page 1)".
_ECHOED_HEADER = re.compile(r"^\s*\[(\d{1,3})\]\s*\((?:[^()\n]|\([^()\n]*\))*\)\s*\n")


def clean(raw: str) -> str:
    text = raw
    for marker in _RUNOFF:
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    header = _ECHOED_HEADER.match(text)
    if header:
        text = f"{text[header.end() :].strip()} [{header.group(1)}]"
    return text.strip()


def says_unknown(text: str) -> bool:
    """The model said it cannot answer from the sources."""
    return _IDK.search(text) is not None


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _COMMON and len(w) > 1}


def support(answer: str, chunk_text: str) -> float:
    """Share of the answer's content words found in the chunk."""
    words = _content_words(MARKER.sub("", answer))
    if not words:
        return 0.0
    return len(words & _content_words(chunk_text)) / len(words)


def resolve(text: str, chunks: list[RetrievedChunk], min_support: float = 0.5) -> CitedAnswer:
    valid = range(1, len(chunks) + 1)
    kept = MARKER.sub(lambda m: m.group(0) if int(m.group(1)) in valid else "", text)
    kept = re.sub(r"[ \t]{2,}", " ", kept)
    cited = list(dict.fromkeys(int(n) for n in MARKER.findall(kept)))
    if not cited and _IDK.search(kept):
        return CitedAnswer(kept, [], "", refused=True)
    suffix = ""
    if not cited and kept.strip():
        scored = sorted(
            ((support(kept, c.text), i) for i, c in enumerate(chunks, start=1)), reverse=True
        )
        best = [i for score, i in scored[:2] if score >= min_support]
        if best:
            suffix = " " + "".join(f"[{i}]" for i in sorted(best))
            cited = sorted(best)
    return CitedAnswer(kept + suffix, cited, suffix, refused=False)


class Citation(TypedDict):
    """One citation as the caller receives it under `lockgate.citations`."""

    index: int
    source: str
    page: int | None
    chunk_id: int
    document_id: int
    version: int
    content_hash: str | None
    heading_path: list[str]
    score: float


def citation_objects(cited: list[int], chunks: list[RetrievedChunk]) -> list[Citation]:
    out: list[Citation] = []
    for index in cited:
        c = chunks[index - 1]
        out.append(
            {
                "index": index,
                "source": c.shown_source,
                "page": c.page,
                "chunk_id": c.chunk_id,
                "document_id": c.document_id,
                "version": c.version,
                # Follows the citation to the exact bytes used (lineage).
                "content_hash": c.content_hash,
                "heading_path": c.heading_path,
                "score": round(c.score, 6),
            }
        )
    return out
