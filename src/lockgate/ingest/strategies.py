"""Chunking strategies, chosen per detected format in `ingest.strategies`. The built-ins below
are registered by `lockgate.ingest.builtin`; a plugin adds more through `register_chunkers`.

- structure: the structure-aware chunker (headings, tables, sentences) - the default.
- fixed: windows of `chunk_target_chars` over the whole text with overlap, cut at words;
  blind to structure, the baseline every other strategy should beat.
- page / sheet / slide: the structure-aware chunker run on each page (sheet, slide) alone,
  so no chunk spans two of them; the heading in force carries over for context.
- semantic: sentences embedded, and a chunk ends where the next sentence drifts away from the
  current one (similarity below mean - 1 std of the document's neighbour similarities), or
  when it is full; a top-level heading always starts a new chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import groupby

import numpy as np

from lockgate.config import ConfigError
from lockgate.ingest.chunker import chunk_blocks
from lockgate.ingest.types import Block, ChunkDraft, ParsedDocument
from lockgate.models.base import EmbeddingBackend
from lockgate.plugins import Registry

VERSION = "1"
_BLOCK_SEP = 2
_SENTENCE = re.compile(r"[^.!?…\n]+(?:[.!?…]+[\"'”’)\]]*|\n|$)\s*")

Strategy = Callable[[ParsedDocument, int, int, EmbeddingBackend | None], list[ChunkDraft]]


def structure(
    doc: ParsedDocument, target: int, overlap: int, _e: EmbeddingBackend | None
) -> list[ChunkDraft]:
    return chunk_blocks(doc.blocks, target_chars=target, overlap_chars=overlap)


def fixed(
    doc: ParsedDocument, target: int, overlap: int, _e: EmbeddingBackend | None
) -> list[ChunkDraft]:
    text = doc.text
    starts, pos = [], 0
    for b in doc.blocks:  # page of each character offset, for citations
        starts.append((pos, b.page))
        pos += len(b.text) + _BLOCK_SEP
    out: list[ChunkDraft] = []
    start = 0
    step = max(1, target - min(overlap, target // 2))
    while start < len(text):
        end = min(len(text), start + target)
        if end < len(text):
            space = text.rfind(" ", start + step // 2, end)
            end = space if space > start else end
        piece = text[start:end].strip()
        if piece:
            page = next((p for off, p in reversed(starts) if off <= start), None)
            out.append(ChunkDraft(len(out), piece, (), page, start))
        if end >= len(text):
            break
        nxt = max(end - overlap, start + 1)
        space = text.find(" ", nxt)
        start = space + 1 if 0 < space < end else nxt
    return out


def per_page(
    doc: ParsedDocument, target: int, overlap: int, _e: EmbeddingBackend | None
) -> list[ChunkDraft]:
    if all(b.page is None for b in doc.blocks):
        return structure(doc, target, overlap, None)
    out: list[ChunkDraft] = []
    offset = 0
    heads: list[Block] = []  # headings in force at the start of the next page
    for _page, group_iter in groupby(doc.blocks, key=lambda b: b.page):
        group = list(group_iter)
        size = sum(len(b.text) + _BLOCK_SEP for b in group)
        prefix = [Block("heading", h.text, level=h.level) for h in heads]
        shift = sum(len(h.text) + _BLOCK_SEP for h in prefix)
        for d in chunk_blocks(prefix + group, target_chars=target, overlap_chars=overlap):
            page = d.page if d.page is not None else group[0].page
            out.append(
                ChunkDraft(
                    len(out), d.text, d.heading_path, page, offset + max(0, d.char_start - shift)
                )
            )
        for b in group:
            if b.kind == "heading":
                heads = [h for h in heads if h.level < b.level] + [b]
        offset += size
    return out


def semantic(
    doc: ParsedDocument, target: int, overlap: int, embedder: EmbeddingBackend | None
) -> list[ChunkDraft]:
    if embedder is None:
        return structure(doc, target, overlap, None)
    units: list[
        tuple[str, tuple[str, ...], int | None, int, bool]
    ] = []  # text, path, page, at, hard
    path: list[tuple[int, str]] = []
    offset, hard = 0, False
    for b in doc.blocks:
        if b.kind == "heading":
            path = [(lvl, t) for lvl, t in path if lvl < b.level] + [(b.level, b.text.strip())]
            hard = hard or b.level <= 2
        elif b.kind in ("table", "code"):
            units.append((b.text.strip(), tuple(t for _, t in path), b.page, offset, True))
            hard = True
        else:
            for m in _SENTENCE.finditer(b.text):
                if m.group(0).strip():
                    units.append(
                        (
                            m.group(0).strip(),
                            tuple(t for _, t in path),
                            b.page,
                            offset + m.start(),
                            hard,
                        )
                    )
                    hard = False
        offset += len(b.text) + _BLOCK_SEP
    if not units:
        return structure(doc, target, overlap, None)
    vecs = np.asarray(embedder.embed([u[0] for u in units]), dtype=np.float32)
    sims = (vecs[:-1] * vecs[1:]).sum(axis=1) if len(units) > 1 else np.zeros(0)
    cut = float(sims.mean() - sims.std()) if sims.size > 2 else -1.0
    out: list[ChunkDraft] = []
    cur: list[int] = []

    def flush() -> None:
        if cur:
            first = units[cur[0]]
            text = " ".join(units[i][0] for i in cur)
            out.append(ChunkDraft(len(out), text, first[1], first[2], first[3]))
            cur.clear()

    for i, unit in enumerate(units):
        length = sum(len(units[j][0]) + 1 for j in cur)
        drift = i > 0 and sims[i - 1] < cut
        if cur and (
            unit[4]
            or unit[1] != units[cur[-1]][1]
            or length + len(unit[0]) > target
            or (drift and length > target // 8)
        ):
            flush()
        cur.append(i)
    flush()
    return out


# Strategy name (as `ingest.strategies` and `ingest.default_strategy` name it) -> function.
REGISTRY: Registry[Strategy] = Registry("register_chunkers", "chunking strategy")


def check(strategies: dict[str, str], default: str) -> None:
    """Every strategy the ingest config names is registered: a ConfigError naming the keys
    otherwise, when the ingestor is built rather than on the first document."""
    named = {f"ingest.strategies.{fmt}": name for fmt, name in strategies.items()}
    named["ingest.default_strategy"] = default
    errors = [
        f"invalid config key '{key}': unknown chunking strategy '{name}' "
        f"(known: {REGISTRY.known()})"
        for key, name in named.items()
        if name not in REGISTRY
    ]
    if errors:
        raise ConfigError("\n".join(errors))


def pick(fmt: str, strategies: dict[str, str], default: str) -> str:
    return strategies.get(fmt, default)


def chunk_document(
    doc: ParsedDocument,
    strategy: str,
    target_chars: int,
    overlap_chars: int,
    embedder: EmbeddingBackend | None = None,
) -> list[ChunkDraft]:
    return REGISTRY[strategy](doc, target_chars, overlap_chars, embedder)
