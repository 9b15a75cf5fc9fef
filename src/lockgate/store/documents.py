"""Documents, their versions and chunks. Every write that changes what retrieval can see is
one transaction, so a crash leaves either the old version or the new one, never a mix."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, text, update

from lockgate.store import tables as tb
from lockgate.store.access import Access, TenantConflict
from lockgate.store.db import insert_missing, inserted_id, transaction
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
    tenant: str = "default"
    acl: str = "[]"


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
    # The groups of the chunk's access list (`chunks.acl`); empty: the whole tenant.
    groups: tuple[str, ...] = ()


# Where a chunk came from, exactly (m0003): returned in ChunkRecord.extra for citations,
# near-duplicate collapsing and freshness policies.
_LINEAGE_COLUMNS = (
    tb.chunks.c.simhash,
    tb.chunks.c.text_hash,
    tb.document_versions.c.content_hash,
    tb.document_versions.c.parser,
    tb.document_versions.c.parser_version,
    tb.document_versions.c.format,
    tb.document_versions.c.chunker,
    tb.document_versions.c.mtime,
    tb.document_versions.c.effective_date,
    tb.document_versions.c.review_by,
    tb.document_versions.c.language,
    tb.documents.c.near_dup_group,
    tb.documents.c.superseded_by,
    tb.chunks.c.ocr_confidence,  # m0002
    tb.documents.c.parent_document_id,  # m0002
)


# Called inside the transaction that writes a document, with the outcome ("new", "updated"
# or "unchanged"), the chunks written and the content hash: a queued job's row is marked
# done in the same commit, so a redelivered job finds it done (store/ingest_jobs.py).
CommitHook = Callable[[Connection, str, int, str], None]


class AlreadyIndexed(Exception):  # noqa: N818 - an outcome, not a failure
    """The document's current version already has this content, access list and metadata:
    another worker (a redelivered job, or another run's job for the same file) committed it
    first. Nothing was written but the hook's row and the source's quarantine entry."""

    def __init__(self, document_id: int, version: int) -> None:
        super().__init__(f"document {document_id} version {version} already has this content")
        self.document_id = document_id
        self.version = version


@dataclass(frozen=True)
class _Locked:
    """A document row as `_upsert_document` found it, locked until the transaction ends."""

    id: int
    current_version_id: int | None
    last_version: int
    status: str
    acl: str


def _now() -> float:
    return time.time()


class DocumentStore:
    def __init__(self, engine: Engine, text_index: TextIndex) -> None:
        self.engine = engine
        self.text_index = text_index

    # -- reads -------------------------------------------------------------------------
    def known_sources(self) -> dict[str, KnownSource]:
        stmt = select(
            tb.documents.c.source,
            tb.documents.c.id,
            tb.documents.c.status,
            tb.document_versions.c.content_hash,
            tb.document_versions.c.version,
            tb.document_versions.c.meta_hash,
            tb.documents.c.tenant,
            tb.documents.c.acl,
        ).select_from(
            tb.documents.outerjoin(
                tb.document_versions,
                tb.document_versions.c.id == tb.documents.c.current_version_id,
            )
        )
        with self.engine.connect() as conn:
            return {
                r.source: KnownSource(
                    r.id, r.status, r.content_hash, r.version or 0, r.meta_hash, r.tenant, r.acl
                )
                for r in conn.execute(stmt)
            }

    def known_source(self, source: str) -> KnownSource | None:
        """`known_sources()` for one source: what a queue worker reads per job instead of
        the whole table."""
        d, v = tb.documents, tb.document_versions
        stmt = (
            select(
                d.c.id,
                d.c.status,
                v.c.content_hash,
                v.c.version,
                v.c.meta_hash,
                d.c.tenant,
                d.c.acl,
            )
            .select_from(d.outerjoin(v, v.c.id == d.c.current_version_id))
            .where(d.c.source == source)
        )
        with self.engine.connect() as conn:
            r = conn.execute(stmt).first()
        if r is None:
            return None
        return KnownSource(
            r.id, r.status, r.content_hash, r.version or 0, r.meta_hash, r.tenant, r.acl
        )

    def folder_roots(self) -> list[str]:
        """The folders (or single files) ingested as folder sources: what their documents'
        paths are shown relative to."""
        stmt = select(tb.sources.c.uri).where(tb.sources.c.kind == "folder").distinct()
        with self.engine.connect() as conn:
            return [r.uri for r in conn.execute(stmt)]

    def active_by_hash(
        self, content_hash: str, exclude_source: str, access: Access | None = None
    ) -> tuple[int, str] | None:
        """An active document with this content. Only within one access list: a copy under
        another tenant or other groups is a document of its own, not a duplicate, or one
        tenant's upload would hide (and reveal) another's."""
        access = access or Access()
        stmt = (
            select(tb.documents.c.id, tb.documents.c.source)
            .select_from(
                tb.documents.join(
                    tb.document_versions,
                    tb.document_versions.c.id == tb.documents.c.current_version_id,
                )
            )
            .where(
                tb.document_versions.c.content_hash == content_hash,
                tb.documents.c.status == "active",
                tb.documents.c.source != exclude_source,
                tb.documents.c.tenant == access.tenant,
                tb.documents.c.acl == access.acl(),
            )
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return (row.id, row.source) if row else None

    def index_generation(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(tb.meta.c.value).where(tb.meta.c.key == "index_generation")
            ).scalar()
        return int(value or 0)

    def active_chunk_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tb.chunks.c.id).where(tb.chunks.c.active == 1))
            return list(rows.scalars())

    def max_chunk_id(self) -> int:
        """The highest chunk id ever given, active or not (0: none): an index derived from
        the store holds no row above it."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(tb.chunks.c.id))).scalar() or 0)

    def embeddings(self, chunk_ids: Sequence[int]) -> list[tuple[int, int, str, bytes, str, str]]:
        """(chunk id, document id, source, embedding, tenant, acl) for the given chunks."""
        out: list[tuple[int, int, str, bytes, str, str]] = []
        c, d = tb.chunks, tb.documents
        stmt = (
            select(c.c.id, c.c.document_id, d.c.source, c.c.embedding, c.c.tenant, c.c.acl)
            .select_from(c.join(d, d.c.id == c.c.document_id))
            .where(c.c.id.in_(bindparam("ids", expanding=True)))
        )
        with self.engine.connect() as conn:
            for start in range(0, len(chunk_ids), 20000):
                batch = list(chunk_ids[start : start + 20000])
                out.extend(tuple(r) for r in conn.execute(stmt, {"ids": batch}))
        return out

    def document_of(self, chunk_ids: Sequence[int]) -> dict[int, int]:
        """Chunk id -> document id for those of `chunk_ids` still active (a cheap read:
        retrieval groups hundreds of candidates by document before reading any in full)."""
        if not chunk_ids:
            return {}
        stmt = select(tb.chunks.c.id, tb.chunks.c.document_id).where(
            tb.chunks.c.id.in_(bindparam("ids", expanding=True)), tb.chunks.c.active == 1
        )
        with self.engine.connect() as conn:
            return {int(r[0]): int(r[1]) for r in conn.execute(stmt, {"ids": list(chunk_ids)})}

    def chunks(self, chunk_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        if not chunk_ids:
            return {}
        stmt = (
            select(
                tb.chunks.c.id,
                tb.chunks.c.document_id,
                tb.chunks.c.version_id,
                tb.document_versions.c.version,
                tb.document_versions.c.title,
                tb.documents.c.source,
                tb.chunks.c.text,
                tb.chunks.c.heading_path,
                tb.chunks.c.page,
                tb.chunks.c.position,
                tb.chunks.c.active,
                tb.chunks.c.acl,
                *_LINEAGE_COLUMNS,
            )
            .select_from(
                tb.chunks.join(tb.documents, tb.documents.c.id == tb.chunks.c.document_id).join(
                    tb.document_versions, tb.document_versions.c.id == tb.chunks.c.version_id
                )
            )
            .where(tb.chunks.c.id.in_(bindparam("ids", expanding=True)))
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
                groups=tuple(json.loads(r.acl or "[]")),
            )
            for r in rows
        }

    def list_documents(self) -> list[dict[str, Any]]:
        v = tb.document_versions
        d = tb.documents
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

    def versions(self, document_id: int) -> list[dict[str, Any]]:
        """Every version of one document, newest first (empty: no such document)."""
        v = tb.document_versions
        stmt = (
            select(
                v.c.version,
                v.c.content_hash,
                v.c.size,
                v.c.format,
                v.c.parser,
                v.c.title,
                v.c.pages,
                v.c.chunk_count,
                v.c.status,
                v.c.created_at,
                v.c.retired_at,
                v.c.language,
                v.c.review_by,
            )
            .where(v.c.document_id == document_id)
            .order_by(v.c.version.desc())
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def list_quarantine(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tb.quarantine).order_by(tb.quarantine.c.source))
            return [dict(r._mapping) for r in rows]

    def quarantined_under(self, source: str, sep: str = "#") -> set[str]:
        """`source` and the members inside it (`source#...`) that are in quarantine."""
        q = tb.quarantine
        prefix = source + sep
        stmt = select(q.c.source).where(
            (q.c.source == source) | (func.substr(q.c.source, 1, len(prefix)) == prefix)
        )
        with self.engine.connect() as conn:
            return set(conn.execute(stmt).scalars())

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            docs = conn.execute(
                select(func.count()).where(tb.documents.c.status == "active")
            ).scalar_one()
            chunks = conn.execute(select(func.count()).where(tb.chunks.c.active == 1)).scalar_one()
            quarantined = conn.execute(select(func.count()).select_from(tb.quarantine)).scalar_one()
        return {"documents": docs, "chunks": chunks, "quarantined": quarantined}

    # -- writes ------------------------------------------------------------------------
    def commit_version(
        self,
        source: str,
        info: VersionInfo,
        new_chunks: Sequence[NewChunk],
        access: Access | None = None,
        hook: CommitHook | None = None,
    ) -> tuple[int, int]:
        """Store a new version of `source` with its chunks and retire the previous one,
        atomically. Returns (document id, version number). Raises TenantConflict when the
        source belongs to another tenant, and AlreadyIndexed when its current version has
        this content already (checked under the document's row lock, so of two workers
        committing the same file at once the second writes nothing)."""
        access = access or Access()
        now = _now()
        already: tuple[int, int] | None = None
        with transaction(self.engine) as conn:
            doc = self._upsert_document(conn, source, access, now)
            doc_id = doc.id
            current = self._same_content(conn, doc, info, access)
            if current is not None:
                conn.execute(tb.quarantine.delete().where(tb.quarantine.c.source == source))
                if hook is not None:
                    hook(conn, "unchanged", 0, info.content_hash)
                already = (doc_id, current)
            else:
                version_no = self._write_version(conn, source, doc, info, new_chunks, access, now)
                if hook is not None:
                    outcome = "new" if version_no == 1 else "updated"
                    hook(conn, outcome, len(new_chunks), info.content_hash)
        if already is not None:
            raise AlreadyIndexed(*already)
        return doc_id, version_no

    def _same_content(
        self, conn: Connection, doc: _Locked, info: VersionInfo, access: Access
    ) -> int | None:
        """The current version's number when it already holds exactly this content."""
        if doc.current_version_id is None or doc.status != "active" or doc.acl != access.acl():
            return None
        v = tb.document_versions
        row = conn.execute(
            select(v.c.version, v.c.content_hash, v.c.meta_hash).where(
                v.c.id == doc.current_version_id
            )
        ).first()
        if row is None or row.content_hash != info.content_hash:
            return None
        if row.meta_hash != info.extra.get("meta_hash"):
            return None
        return int(row.version)

    def _write_version(
        self,
        conn: Connection,
        source: str,
        doc: _Locked,
        info: VersionInfo,
        new_chunks: Sequence[NewChunk],
        access: Access,
        now: float,
    ) -> int:
        doc_id, prev_version_id = doc.id, doc.current_version_id
        if prev_version_id is not None:
            self._retire_version(conn, prev_version_id, now)
        version_no = doc.last_version + 1
        version_id = inserted_id(
            conn.execute(
                insert(tb.document_versions).values(
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
            )
        )
        fts_rows = []
        for ch in new_chunks:
            chunk_id = inserted_id(
                conn.execute(
                    insert(tb.chunks).values(
                        document_id=doc_id,
                        version_id=version_id,
                        position=ch.position,
                        text=ch.text,
                        heading_path=json.dumps(list(ch.heading_path)),
                        page=ch.page,
                        char_start=ch.char_start,
                        embedding=ch.embedding,
                        active=1,
                        tenant=access.tenant,
                        acl=access.acl(),
                        created_at=now,
                        **ch.extra,
                    )
                )
            )
            fts_rows.append((chunk_id, heading_field(info.title, ch.heading_path), ch.text))
        self.text_index.add(conn, fts_rows)
        conn.execute(
            update(tb.documents)
            .where(tb.documents.c.id == doc_id)
            .values(status="active", current_version_id=version_id, duplicate_of=None)
        )
        conn.execute(tb.quarantine.delete().where(tb.quarantine.c.source == source))
        self._bump_generation(conn)
        return version_no

    def set_parent(self, document_id: int, parent_id: int | None) -> None:
        """Link an attachment or archive member to the document it was found in (m0002)."""
        with transaction(self.engine) as conn:
            conn.execute(
                update(tb.documents)
                .where(tb.documents.c.id == document_id)
                .values(parent_document_id=parent_id)
            )

    def mark_duplicate(self, source: str, of_document_id: int, access: Access | None = None) -> int:
        now = _now()
        with transaction(self.engine) as conn:
            doc = self._upsert_document(conn, source, access or Access(), now)
            doc_id, prev_version_id = doc.id, doc.current_version_id
            if prev_version_id is not None:
                self._retire_version(conn, prev_version_id, now)
                self._bump_generation(conn)
            conn.execute(
                update(tb.documents)
                .where(tb.documents.c.id == doc_id)
                .values(status="duplicate", duplicate_of=of_document_id, current_version_id=None)
            )
            conn.execute(tb.quarantine.delete().where(tb.quarantine.c.source == source))
        return doc_id

    def touch(self, sources: Sequence[str]) -> None:
        if not sources:
            return
        with transaction(self.engine) as conn:
            conn.execute(
                update(tb.documents)
                .where(tb.documents.c.source.in_(bindparam("srcs", expanding=True)))
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
                    select(tb.documents.c.id, tb.documents.c.current_version_id).where(
                        tb.documents.c.source == source, tb.documents.c.status != "retired"
                    )
                ).first()
                if row is None:
                    continue
                if row.current_version_id is not None:
                    self._retire_version(conn, row.current_version_id, now)
                conn.execute(
                    update(tb.documents)
                    .where(tb.documents.c.id == row.id)
                    .values(status="retired", updated_at=now)
                )
                retired += 1
            conn.execute(tb.quarantine.delete().where(tb.quarantine.c.source.in_(list(sources))))
            if retired:
                self._bump_generation(conn)
        return retired

    def quarantine(
        self, source: str, reason: str, detail: str, content_hash: str | None, size: int | None
    ) -> None:
        now = _now()
        q = tb.quarantine
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
        self, conn: Connection, source: str, access: Access, now: float
    ) -> _Locked:
        """The document row of `source`, made if missing, locked (FOR UPDATE on PostgreSQL;
        SQLite's writer holds the database) until the transaction ends."""
        d = tb.documents
        locked = select(d.c.id, d.c.current_version_id, d.c.tenant, d.c.status, d.c.acl).where(
            d.c.source == source
        )
        row = conn.execute(locked.with_for_update()).first()
        if row is None:
            # ON CONFLICT DO NOTHING: a concurrent commit of the same new source waits for the
            # other to end, then finds its row below instead of failing on the unique key.
            conn.execute(
                insert_missing(conn, d).values(
                    source=source,
                    tenant=access.tenant,
                    acl=access.acl(),
                    status="pending",
                    created_at=now,
                    updated_at=now,
                    last_seen_at=now,
                )
            )
            row = conn.execute(locked.with_for_update()).one()
        if row.tenant != access.tenant:
            # Sources are unique store-wide: the first tenant to ingest one owns it.
            raise TenantConflict(f"{source}: belongs to another tenant")
        conn.execute(
            update(tb.documents)
            .where(tb.documents.c.id == row.id)
            .values(updated_at=now, last_seen_at=now, acl=access.acl())
        )
        last = conn.execute(
            select(func.max(tb.document_versions.c.version)).where(
                tb.document_versions.c.document_id == row.id
            )
        ).scalar()
        return _Locked(row.id, row.current_version_id, int(last or 0), row.status, row.acl)

    def _retire_version(self, conn: Connection, version_id: int, now: float) -> None:
        ids = list(
            conn.execute(
                select(tb.chunks.c.id).where(
                    and_(tb.chunks.c.version_id == version_id, tb.chunks.c.active == 1)
                )
            ).scalars()
        )
        self.text_index.remove(conn, ids)
        conn.execute(update(tb.chunks).where(tb.chunks.c.version_id == version_id).values(active=0))
        conn.execute(
            update(tb.document_versions)
            .where(tb.document_versions.c.id == version_id)
            .values(status="retired", retired_at=now)
        )

    def _bump_generation(self, conn: Connection) -> None:
        conn.execute(
            text(
                "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "
                "WHERE key = 'index_generation'"
            )
        )


def heading_field(title: str | None, heading_path: Sequence[str]) -> str:
    """The text of a chunk's BM25 heading field: the document title, then its headings.

    Formats whose title is not also their first heading (PDF and Office metadata) would
    otherwise leave the title out of the weighted field; it is the words a user most often
    names a policy by. Repeats are dropped, as in the embedded text."""
    return " > ".join(dict.fromkeys(p for p in (title, *heading_path) if p))
