"""The data-quality steps of ingestion between parsing and storing: declared metadata,
normalisation, the chosen chunking strategy, near-duplicate signatures and lineage hashes.

Declared metadata (owner, review-by, effective date) is read, later sources winning, from:
the parser's metadata (markdown front matter, office document properties), the source
(HTTP Last-Modified, S3 object metadata), and a sidecar file `<name>.meta.yaml` next to the
document. Accepted keys: owner; review_by / review-by / review_date / next_review;
effective / effective_date / date / updated / last_updated / last_modified.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.config import IngestConfig
from lockgate.ingest import neardup, strategies
from lockgate.ingest.bounded import LimitExceeded, read_file
from lockgate.ingest.dates import to_iso
from lockgate.ingest.normalize import Normalized, normalize
from lockgate.ingest.sidecar import MAX_SIDECAR_BYTES, SidecarError, read_sidecar, sidecar_path
from lockgate.ingest.text_decode import detect_encoding
from lockgate.ingest.types import ChunkDraft, ParsedDocument
from lockgate.models.base import EmbeddingModel

log = logging.getLogger(__name__)

_TEXT_FORMATS = {"text", "markdown", "csv", "json", "html", "xml"}
_OWNER_KEYS = ("owner", "maintainer", "author")
_REVIEW_KEYS = ("review_by", "review-by", "reviewby", "review_date", "next_review", "expires")
_EFFECTIVE_KEYS = (
    "effective",
    "effective_date",
    "date",
    "updated",
    "last_updated",
    "last_modified",
    "modified",
    "revised",
)


@dataclass
class Declared:
    owner: str | None = None
    review_by: str | None = None
    effective_date: str | None = None
    raw: dict[str, str] = field(default_factory=dict)
    meta_hash: str | None = None  # of the sidecar, so editing it alone re-indexes


def declared(name: str, body: bytes, extra: dict[str, str] | None = None) -> Declared:
    """What a sidecar's bytes declare; a sidecar that cannot be read is recorded as
    `sidecar_error` and the document is indexed without it."""
    raw = dict(extra or {})
    try:
        raw.update(read_sidecar(body))
    except SidecarError as exc:
        raw["sidecar_error"] = f"{name}: {exc}"
        log.warning("sidecar %s not used: %s", name, exc)
    return Declared(raw=raw, meta_hash=hashlib.sha256(body).hexdigest())


def declared_for(path: Path | None, extra: dict[str, str] | None = None) -> Declared:
    """What the source and a sidecar say about a document (the parser's part comes later)."""
    side = sidecar_path(path) if path is not None else None
    if side is None:
        return Declared(raw=dict(extra or {}))
    try:
        # Bounded, and never waiting on a FIFO dressed up as a sidecar.
        body = read_file(side, MAX_SIDECAR_BYTES)
    except (LimitExceeded, OSError) as exc:
        raw = {**(extra or {}), "sidecar_error": f"{side.name}: {exc}"}
        log.warning("sidecar %s not used: %s", side.name, exc)
        return Declared(raw=raw, meta_hash=_stat_hash(side))
    return declared(side.name, body, extra)


def _stat_hash(path: Path) -> str | None:
    """Stands in for the content hash of a sidecar too large to read: it changes when the
    file does, so fixing the sidecar re-indexes the document."""
    try:
        st = path.stat()
    except OSError:
        return None
    return hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()


def _pick(meta: dict[str, str], keys: tuple[str, ...]) -> str | None:
    lowered = {k.lower().strip(): v for k, v in meta.items()}
    return next((lowered[k] for k in keys if lowered.get(k)), None)


def resolve_declared(parsed: dict[str, str], declared: Declared, day_first: bool) -> Declared:
    merged = {**parsed, **declared.raw}
    return Declared(
        owner=_pick(merged, _OWNER_KEYS),
        review_by=to_iso(_pick(merged, _REVIEW_KEYS), day_first),
        effective_date=to_iso(_pick(merged, _EFFECTIVE_KEYS), day_first),
        raw=merged,
        meta_hash=declared.meta_hash,
    )


@dataclass
class Prepared:
    doc: ParsedDocument
    drafts: list[ChunkDraft]
    version_extra: dict[str, Any]
    chunk_extra: list[dict[str, Any]]
    norm: Normalized
    strategy: str


def prepare(
    parsed: ParsedDocument,
    data: bytes,
    fmt: str,
    config: IngestConfig,
    embedder: EmbeddingModel | None,
    declared: Declared,
    stages: dict[str, float],
) -> Prepared:
    t0 = time.perf_counter()
    nc = config.normalize
    encoding = detect_encoding(data) if fmt in _TEXT_FORMATS else None
    norm = normalize(
        parsed,
        boilerplate=nc.boilerplate,
        hyphenation=nc.hyphenation,
        language=nc.language,
        day_first=nc.day_first,
        annotate_dates=nc.annotate_dates,
        encoding=encoding,
    )
    decl = resolve_declared(parsed.metadata, declared, nc.day_first)
    t1 = time.perf_counter()
    strategy = strategies.pick(fmt, config.strategies, config.default_strategy)
    drafts = strategies.chunk_document(
        norm.doc, strategy, config.chunk_target_chars, config.chunk_overlap_chars, embedder
    )
    t2 = time.perf_counter()
    text = norm.doc.text
    signature = neardup.to_bytes(neardup.minhash(text)) if config.near_duplicates.enabled else None
    chunk_extra = [
        {
            "simhash": neardup.simhash(d.text),
            "text_hash": hashlib.sha256(d.text.encode("utf-8")).hexdigest(),
        }
        for d in drafts
    ]
    t3 = time.perf_counter()
    for key, secs in (("normalize", t1 - t0), ("chunk", t2 - t1), ("signatures", t3 - t2)):
        stages[key] = stages.get(key, 0.0) + secs * 1000
    version_extra = {
        "language": norm.language,
        "language_score": norm.language_score,
        "encoding": norm.encoding,
        "dates": json.dumps(norm.dates[:100]),
        "owner": decl.owner,
        "review_by": decl.review_by or norm.review_by,
        # A declared date wins; else the latest date the text labels as effective/updated.
        "effective_date": decl.effective_date or norm.effective_date,
        "meta_hash": decl.meta_hash,
        "chunker": f"{strategy}/{strategies.VERSION}",
        "normalize": json.dumps(norm.stats),
        "minhash": signature,
    }
    return Prepared(norm.doc, drafts, version_extra, chunk_extra, norm, strategy)


def count(summary: Any, prep: Prepared, parsed: ParsedDocument) -> None:
    """Add one indexed document's normalisation facts to the run report."""
    lang = prep.norm.language or "unknown"
    summary.languages[lang] = summary.languages.get(lang, 0) + 1
    summary.strategies[prep.strategy] = summary.strategies.get(prep.strategy, 0) + 1
    for key, n in prep.norm.stats.items():
        summary.normalize[key] = summary.normalize.get(key, 0) + n
    # OCR parsers report how many pages they read from images (metadata "ocr_pages").
    with contextlib.suppress(TypeError, ValueError):
        summary.ocr_pages += int(parsed.metadata.get("ocr_pages", 0) or 0)
