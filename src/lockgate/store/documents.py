"""Documents, their versions and chunks. Every write that changes what retrieval can see is
one transaction, so a crash leaves either the old version or the new one, never a mix."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, text, update

from lockgate.store import schema as s
from lockgate.store.db import transaction
from lockgate.store.fulltext import TextIndex


@dataclass(frozen=True)
class NewChunk:
    position: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    embedding: bytes
    # Extra `chunks` columns from later migrations (m0003: simhash, text_hash).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    content_hash: str
    size: int
    mtime: float
    format: str
    parser: str
    parser_version: str
    title: str | None
    pages: int | None
    # Extra `document_versions` columns from later migrations (m0003: language, dates, …).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KnownSource:
    document_id: int
    status: str
    content_hash: str | None
    version: int
    meta_hash: str | None = None  # m0003: hash of the sidecar metadata, if any


@dataclass
class ChunkRecord:
    chunk_id: int
    document_id: int
    version_id: int
    version: int
    source: str
    text: str
    heading_path: list[str]
    page: int | None
    position: int
    active: bool
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# Where a chunk came from, exactly (m0003): returned in ChunkRecord.extra for citations,
# near-duplicate collapsing and freshness policies.
_LINEAGE_COLUMNS = (
    s.chunks.c.simhash,
    s.chunks.c.text_hash,
    s.document_versions.c.content_hash,
    s.document_versions.c.parser,
    s.document_versions.c.parser_version,
    s.document_versions.c.format,
    s.document_versions.c.chunker,
    s.document_versions.c.mtime,
    s.document_versions.c.effective_date,
    s.document_versions.c.review_by,
    s.document_versions.c.language,
    s.documents.c.near_dup_group,
    s.documents.c.superseded_by,
    s.chunks.c.ocr_confidence,  # m0002
    s.documents.c.parent_document_id,  # m0002
)


def _now() -> float:
    return time.time()


class DocumentStore:
    def __init__(self, engine: Engine, text_index: TextIndex) -> None:
        self.engine = engine
        self.text_index = text_index

    # -- reads -------------------------------------------------------------------------
    def known_sources(self) -> dict[str, KnownSource]:
        stmt = select(
            s.documents.c.source,
            s.documents.c.id,
            s.documents.c.status,
            s.document_versions.c.content_hash,
            s.document_versions.c.version,
            s.document_versions.c.meta_hash,
        ).select_from(
            s.documents.outerjoin(
                s.document_versions,
                s.document_versions.c.id == s.documents.c.current_version_id,
            )
        )
        with self.engine.connect() as conn:
            return {
                r.source: KnownSource(
                    r.id, r.status, r.content_hash, r.version or 0, r.meta_hash
                )
                for r in conn.execute(stmt)
            }

    def active_by_hash(self, content_hash: str, exclude_source: str) -> tuple[int, str] | None:
        stmt = (
            select(s.documents.c.id, s.documents.c.source)
            .select_from(
                s.documents.join(
                    s.document_versions,
                    s.document_versions.c.id == s.documents.c.current_version_id,
                )
            )
            .where(
                s.document_versions.c.content_hash == content_hash,
                s.documents.c.status == "active",
                s.documents.c.source != exclude_source,
            )
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (row.id, row.source) if row else None

    def index_generation(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(s.meta.c.value).where(s.meta.c.key == "index_generation")
            ).scalar()
        return int(value or 0)

    def active_chunk_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(s.chunks.c.id).where(s.chunks.c.active == 1)).scalars())

    def embeddings(self, chunk_ids: Sequence[int]) -> list[tuple[int, int, str, bytes]]:
        """(chunk id, document id, source, embedding) for the given chunks."""
        out: list[tuple[int, int, str, bytes]] = []
        stmt = (
            select(
                s.chunks.c.id, s.chunks.c.document_id, s.documents.c.source, s.chunks.c.embedding
            )
            .select_from(s.chunks.join(s.documents, s.documents.c.id == s.chunks.c.document_id))
            .where(s.chunks.c.id.in_(bindparam("ids", expanding=True)))
        )
        with self.engine.connect() as conn:
            for start in range(0, len(chunk_ids), 20000):
                batch = list(chunk_ids[start : start + 20000])
                out.extend(tuple(r) for r in conn.execute(stmt, {"ids": batch}))  # type: ignore[misc]
        return out

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        if not chunk_ids:
            return {}
        stmt = (
            select(
                s.chunks.c.id,
                s.chunks.c.document_id,
                s.chunks.c.version_id,
                s.document_versions.c.version,
                s.document_versions.c.title,
                s.documents.c.source,
                s.chunks.c.text,
                s.chunks.c.heading_path,
                s.chunks.c.page,
                s.chunks.c.position,
                s.chunks.c.active,
                *_LINEAGE_COLUMNS,
            )
            .select_from(
                s.chunks.join(s.documents, s.documents.c.id == s.chunks.c.document_id).join(
                    s.document_versions, s.document_versions.c.id == s.chunks.c.version_id
                )
            )
            .where(s.chunks.c.id.in_(bindparam("ids", expanding=True)))
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, {"ids": list(chunk_ids)}).all()
        return {
            r.id: ChunkRecord(
                chunk_id=r.id,
                document_id=r.document_id,
                version_id=r.version_id,
                version=r.version,
                source=r.source,
                text=r.text,
                heading_path=json.loads(r.heading_path or "[]"),
                page=r.page,
                position=r.position,
                active=bool(r.active),
                title=r.title,
                extra={c.key: r._mapping[c.key] for c in _LINEAGE_COLUMNS},
            )
            for r in rows
        }

    def list_documents(self) -> list[dict[str, Any]]:
        v = s.document_versions
        d = s.documents
        stmt = (
            select(
                d.c.id,
                d.c.source,
                d.c.status,
                d.c.duplicate_of,
                d.c.updated_at,
                d.c.last_seen_at,
                v.c.version,
                v.c.content_hash,
                v.c.size,
                v.c.mtime,
                v.c.format,
                v.c.parser,
                v.c.pages,
                v.c.chunk_count,
                v.c.title,
                d.c.near_dup_group,
                d.c.superseded_by,
                v.c.language,
                v.c.owner,
                v.c.review_by,
                v.c.effective_date,
            )
            .select_from(d.outerjoin(v, v.c.id == d.c.current_version_id))
            .order_by(d.c.source)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def list_quarantine(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.quarantine).order_by(s.quarantine.c.source))
            return [dict(r._mapping) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            docs = conn.execute(
                select(func.count()).where(s.documents.c.status == "active")
            ).scalar_one()
            chunks = conn.execute(select(func.count()).where(s.chunks.c.active == 1)).scalar_one()
            quarantined = conn.execute(select(func.count()).select_from(s.quarantine)).scalar_one()
        return {"documents": docs, "chunks": chunks, "quarantined": quarantined}

    # -- writes ------------------------------------------------------------------------
    def commit_version(
        self,
        source: str,
        info: VersionInfo,
        new_chunks: Sequence[NewChunk],
        tenant: str = "default",
    ) -> tuple[int, int]:
        """Store a new version of `source` with its chunks and retire the previous one,
        atomically. Returns (document id, version number)."""
        now = _now()
        with transaction(self.engine) as conn:
            doc_id, prev_version_id, prev_no = self._upsert_document(conn, source, tenant, now)
            if prev_version_id is not None:
                self._retire_version(conn, prev_version_id, now)
            version_no = prev_no + 1
            version_id = conn.execute(
                insert(s.document_versions).values(
                    document_id=doc_id,
                    version=version_no,
                    content_hash=info.content_hash,
                    size=info.size,
                    mtime=info.mtime,
                    format=info.format,
                    parser=info.parser,
                    parser_version=info.parser_version,
                    title=info.title,
                    pages=info.pages,
                    chunk_count=len(new_chunks),
                    status="active",
                    created_at=now,
                    **info.extra,
                )
            ).inserted_primary_key[0]
            fts_rows = []
            for ch in new_chunks:
                chunk_id = conn.execute(
                    insert(s.chunks).values(
                        document_id=doc_id,
                        version_id=version_id,
                        position=ch.position,
                        text=ch.text,
                        heading_path=json.dumps(list(ch.heading_path)),
                        page=ch.page,
                        char_start=ch.char_start,
                        embedding=ch.embedding,
                        active=1,
                        tenant=tenant,
                        created_at=now,
                        **ch.extra,
                    )
                ).inserted_primary_key[0]
                fts_rows.append((chunk_id, " > ".join(ch.heading_path), ch.text))
            self.text_index.add(conn, fts_rows)
            conn.execute(
                update(s.documents)
                .where(s.documents.c.id == doc_id)
                .values(status="active", current_version_id=version_id, duplicate_of=None)
            )
            conn.execute(s.quarantine.delete().where(s.quarantine.c.source == source))
            self._bump_generation(conn)
        return doc_id, version_no

    def set_parent(self, document_id: int, parent_id: int | None) -> None:
        """Link an attachment or archive member to the document it was found in (m0002)."""
        with transaction(self.engine) as conn:
            conn.execute(
                update(s.documents)
                .where(s.documents.c.id == document_id)
                .values(parent_document_id=parent_id)
            )

    def mark_duplicate(self, source: str, of_document_id: int, tenant: str = "default") -> int:
        now = _now()
        with transaction(self.engine) as conn:
            doc_id, prev_version_id, _ = self._upsert_document(conn, source, tenant, now)
            if prev_version_id is not None:
                self._retire_version(conn, prev_version_id, now)
                self._bump_generation(conn)
            conn.execute(
                update(s.documents)
                .where(s.documents.c.id == doc_id)
                .values(status="duplicate", duplicate_of=of_document_id, current_version_id=None)
            )
            conn.execute(s.quarantine.delete().where(s.quarantine.c.source == source))
        return doc_id

    def touch(self, sources: Sequence[str]) -> None:
        if not sources:
            return
        with transaction(self.engine) as conn:
            conn.execute(
                update(s.documents)
                .where(s.documents.c.source.in_(bindparam("srcs", expanding=True)))
                .values(last_seen_at=_now()),
                {"srcs": list(sources)},
            )

    def retire_documents(self, sources: Sequence[str]) -> int:
        """Retire documents whose files are gone; their chunks leave every index."""
        now = _now()
        retired = 0
        with transaction(self.engine) as conn:
            for source in sources:
                row = conn.execute(
                    select(s.documents.c.id, s.documents.c.current_version_id).where(
                        s.documents.c.source == source, s.documents.c.status != "retired"
                    )
                ).first()
                if row is None:
                    continue
                if row.current_version_id is not None:
                    self._retire_version(conn, row.current_version_id, now)
                conn.execute(
                    update(s.documents)
                    .where(s.documents.c.id == row.id)
                    .values(status="retired", updated_at=now)
                )
                retired += 1
            conn.execute(s.quarantine.delete().where(s.quarantine.c.source.in_(list(sources))))
            if retired:
                self._bump_generation(conn)
        return retired

    def quarantine(
        self, source: str, reason: str, detail: str, content_hash: str | None, size: int | None
    ) -> None:
        now = _now()
        q = s.quarantine
        with transaction(self.engine) as conn:
            existing = conn.execute(select(q.c.id).where(q.c.source == source)).first()
            if existing:
                conn.execute(
                    update(q)
                    .where(q.c.id == existing.id)
                    .values(
                        reason=reason,
                        detail=detail,
                        content_hash=content_hash,
                        size=size,
                        attempts=q.c.attempts + 1,
                        last_attempt_at=now,
                    )
                )
            else:
                conn.execute(
                    insert(q).values(
                        source=source,
                        reason=reason,
                        detail=detail,
                        content_hash=content_hash,
                        size=size,
                        attempts=1,
                        first_seen_at=now,
                        last_attempt_at=now,
                    )
                )

    # -- helpers -----------------------------------------------------------------------
    def _upsert_document(
        self, conn: Connection, source: str, tenant: str, now: float
    ) -> tuple[int, int | None, int]:
        row = conn.execute(
            select(s.documents.c.id, s.documents.c.current_version_id).where(
                s.documents.c.source == source
            )
        ).first()
        if row is None:
            doc_id = conn.execute(
                insert(s.documents).values(
                    source=source,
                    tenant=tenant,
                    status="pending",
                    created_at=now,
                    updated_at=now,
                    last_seen_at=now,
                )
            ).inserted_primary_key[0]
            return doc_id, None, 0
        conn.execute(
            update(s.documents)
            .where(s.documents.c.id == row.id)
            .values(updated_at=now, last_seen_at=now)
        )
        last = conn.execute(
            select(func.max(s.document_versions.c.version)).where(
                s.document_versions.c.document_id == row.id
            )
        ).scalar()
        return row.id, row.current_version_id, int(last or 0)

    def _retire_version(self, conn: Connection, version_id: int, now: float) -> None:
        ids = list(
            conn.execute(
                select(s.chunks.c.id).where(
                    and_(s.chunks.c.version_id == version_id, s.chunks.c.active == 1)
                )
            ).scalars()
        )
        self.text_index.remove(conn, ids)
        conn.execute(update(s.chunks).where(s.chunks.c.version_id == version_id).values(active=0))
        conn.execute(
            update(s.document_versions)
            .where(s.document_versions.c.id == version_id)
            .values(status="retired", retired_at=now)
        )

    def _bump_generation(self, conn: Connection) -> None:
        conn.execute(
            text(
                "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                "WHERE key = 'index_generation'"
            )
        )
