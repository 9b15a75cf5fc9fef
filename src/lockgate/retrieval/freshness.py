"""Freshness policies and near-duplicate collapsing applied to fused retrieval candidates.

A chunk from a superseded document (an older near-duplicate version) or a stale one (past
its review-by date) is down-weighted, excluded, or left alone, per `freshness` config. Then
near-duplicate chunks (SimHash within `chunk_max_bits`) collapse into the best-ranked one,
which lists the others under `near_duplicates` so every version stays traceable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lockgate.config import FreshnessConfig
from lockgate.ingest import neardup
from lockgate.store.documents import ChunkRecord


@dataclass
class Ranked:
    chunk_id: int
    score: float
    freshness: dict[str, Any] = field(default_factory=dict)
    near_duplicates: list[int] = field(default_factory=list)


def apply(
    fused: list[tuple[int, float]],
    records: dict[int, ChunkRecord],
    policy: FreshnessConfig,
    chunk_max_bits: int,
    today: date | None = None,
) -> list[Ranked]:
    now = (today or date.today()).isoformat()
    ranked: list[Ranked] = []
    for cid, score in fused:
        rec = records.get(cid)
        if rec is None or not rec.active:
            continue  # retired between the index read and now
        extra = rec.extra
        state: dict[str, Any] = {}
        weight = 1.0
        if extra.get("superseded_by"):
            state["superseded_by"] = extra["superseded_by"]
            if policy.superseded == "exclude":
                continue
            if policy.superseded == "downweight":
                weight *= policy.superseded_weight
        review_by = extra.get("review_by")
        if review_by and review_by < now:
            state["stale"] = f"review overdue since {review_by}"
            if policy.stale == "exclude":
                continue
            if policy.stale == "downweight":
                weight *= policy.stale_weight
        if weight != 1.0:
            state["weight"] = weight
        ranked.append(Ranked(cid, score * weight, state))
    ranked.sort(key=lambda r: (-r.score, r.chunk_id))
    kept = neardup.collapse(
        [
            (
                r.chunk_id,
                records[r.chunk_id].extra.get("simhash"),
                records[r.chunk_id].extra.get("near_dup_group"),
            )
            for r in ranked
        ],
        chunk_max_bits,
    )
    out = []
    for r in ranked:
        if r.chunk_id in kept:
            r.near_duplicates = kept[r.chunk_id]
            out.append(r)
    return out


def lineage(rec: ChunkRecord) -> dict[str, Any]:
    """Everything needed to find the exact bytes a chunk came from."""
    e = rec.extra
    return {
        "source": rec.source,
        "document_id": rec.document_id,
        "version": rec.version,
        "version_id": rec.version_id,
        "content_hash": e.get("content_hash"),
        "chunk_text_hash": e.get("text_hash"),
        "parser": e.get("parser"),
        "parser_version": e.get("parser_version"),
        "format": e.get("format"),
        "chunker": e.get("chunker"),
        "effective_date": e.get("effective_date"),
        "near_dup_group": e.get("near_dup_group"),
    }
