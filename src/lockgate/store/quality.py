"""Queries for near-duplicate groups, freshness and lineage (m0003 columns)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, bindparam, or_, select, update

from lockgate.store import tables as tb
from lockgate.store.db import transaction

d, v, c = tb.documents, tb.document_versions, tb.chunks


@dataclass(frozen=True)
class SignedDocument:
    """What near-duplicate grouping needs of a document: its current version's MinHash
    signature (as stored) and what decides which member of a group is the newest."""

    id: int
    minhash: bytes
    effective_date: str | None
    mtime: float


class QualityStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- near-duplicates -----------------------------------------------------------------
    def signed_documents(self) -> list[SignedDocument]:
        """Active documents whose current version has a MinHash signature."""
        stmt = (
            select(d.c.id, v.c.minhash, v.c.effective_date, v.c.mtime)
            .select_from(d.join(v, v.c.id == d.c.current_version_id))
            .where(d.c.status == "active", v.c.minhash.is_not(None))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            SignedDocument(r.id, r.minhash, r.effective_date, float(r.mtime or 0)) for r in rows
        ]

    def replace_groups(self, assign: Mapping[int, tuple[int, int | None]]) -> None:
        """Set document id -> (near-duplicate group, superseded by) and clear both on every
        other document, in one transaction."""
        with transaction(self.engine) as conn:
            conn.execute(
                update(d)
                .where(or_(d.c.near_dup_group.is_not(None), d.c.superseded_by.is_not(None)))
                .values(near_dup_group=None, superseded_by=None)
            )
            for doc_id, (group, by) in assign.items():
                conn.execute(
                    update(d).where(d.c.id == doc_id).values(near_dup_group=group, superseded_by=by)
                )

    def group_members(self, group: int) -> list[dict[str, Any]]:
        stmt = (
            select(d.c.id, d.c.source, d.c.superseded_by, v.c.version, v.c.effective_date)
            .select_from(d.outerjoin(v, v.c.id == d.c.current_version_id))
            .where(d.c.near_dup_group == group)
            .order_by(d.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # -- freshness -----------------------------------------------------------------------
    def stale(self, today: date | None = None) -> list[dict[str, Any]]:
        """Active documents past their review-by date or superseded by a newer version."""
        now = (today or date.today()).isoformat()
        stmt = (
            select(
                d.c.id,
                d.c.source,
                d.c.superseded_by,
                d.c.last_seen_at,
                d.c.updated_at,
                v.c.version,
                v.c.owner,
                v.c.review_by,
                v.c.effective_date,
                v.c.created_at.label("indexed_at"),
            )
            .select_from(d.join(v, v.c.id == d.c.current_version_id))
            .where(
                d.c.status == "active",
                or_(d.c.superseded_by.is_not(None), v.c.review_by < now),
            )
            .order_by(d.c.source)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for r in rows:
            reasons = []
            if r["review_by"] and r["review_by"] < now:
                reasons.append(f"review overdue since {r['review_by']}")
            if r["superseded_by"]:
                reasons.append(f"superseded by #{r['superseded_by']}")
            r["reasons"] = reasons
        return rows

    # -- lineage -------------------------------------------------------------------------
    def find_document(self, ref: str) -> dict[str, Any] | None:
        """A document by id, exact source, or a unique source suffix ("faq.txt")."""
        cols = (d.c.id, d.c.source, d.c.status, d.c.current_version_id)
        with self.engine.connect() as conn:
            if ref.isdigit():
                row = conn.execute(select(*cols).where(d.c.id == int(ref))).first()
                if row:
                    return dict(row._mapping)
            row = conn.execute(select(*cols).where(d.c.source == ref)).first()
            if row:
                return dict(row._mapping)
            like = conn.execute(select(*cols).where(d.c.source.like(f"%{ref}"))).all()
        return dict(like[0]._mapping) if len(like) == 1 else None

    def version(self, version_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(v).where(v.c.id == version_id)).first()
        out = dict(row._mapping) if row else {}
        out.pop("minhash", None)
        for key in ("dates", "normalize"):
            if isinstance(out.get(key), str):
                out[key] = json.loads(out[key])
        return out

    def version_chunks(self, version_id: int) -> list[dict[str, Any]]:
        stmt = (
            select(
                c.c.id,
                c.c.position,
                c.c.page,
                c.c.heading_path,
                c.c.char_start,
                c.c.text,
                c.c.text_hash,
                c.c.simhash,
                c.c.active,
            )
            .where(c.c.version_id == version_id)
            .order_by(c.c.position)
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for r in rows:
            r["heading_path"] = json.loads(r["heading_path"] or "[]")
        return rows

    def set_source(self, sources: list[str], source_id: int) -> None:
        if not sources:
            return
        with transaction(self.engine) as conn:
            conn.execute(
                update(d)
                .where(d.c.source.in_(bindparam("srcs", expanding=True)))
                .values(source_id=source_id),
                {"srcs": sources},
            )
            conn.execute(
                update(tb.quarantine)
                .where(tb.quarantine.c.source.in_(bindparam("srcs", expanding=True)))
                .values(source_id=source_id),
                {"srcs": sources},
            )
