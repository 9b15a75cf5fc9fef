"""Where cache entries live, behind a narrow interface.

`CacheStore` is all the rest of the cache needs; `SqliteCacheStore` implements it on the
gateway's own database (the m0006 table). A Redis implementation later only has to provide
the same handful of calls: an exact get, a put, the vectors of one scope, and deletes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Engine, Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import tables as tb
from lockgate.store.db import inserted_id, transaction


@dataclass
class CacheEntry:
    key: str  # digest of scope + normalised request text: the exact-match key
    scope: str
    tenant: str
    model: str
    text: str  # the normalised request text (kept for the lexical near-miss check)
    answer: dict[str, Any]
    # (document id, version) pairs the answer was grounded on; empty for pass-through.
    documents: list[tuple[int, int]] = field(default_factory=list)
    embedding: np.ndarray | None = None
    created_at: float = 0.0
    expires_at: float = 0.0
    trace_id: str | None = None
    hits: int = 0
    id: int | None = None


class CacheStore(Protocol):
    def get(self, key: str, now: float) -> CacheEntry | None: ...

    def get_by_id(self, entry_id: int, now: float) -> CacheEntry | None: ...

    def put(self, entry: CacheEntry) -> int: ...

    def vectors(self, scope: str, now: float) -> list[tuple[int, str, np.ndarray]]:
        """Id, text and embedding of every live entry of one scope that has an embedding."""
        ...

    def add_hits(self, counts: dict[int, int], now: float) -> None: ...

    def delete(self, entry_ids: Sequence[int]) -> int: ...

    def clear(self, tenant: str | None = None) -> int: ...

    def purge(self, now: float, max_entries: int) -> int: ...

    def stats(self, now: float) -> dict[str, Any]: ...

    def document_versions(self, document_ids: Sequence[int]) -> dict[int, int]:
        """Current active version of each document; a retired document is absent."""
        ...


def _to_blob(vec: np.ndarray | None) -> bytes | None:
    return None if vec is None else np.asarray(vec, dtype=np.float32).tobytes()


_t = tb.cache_entries
# The statements of every miss (a get, then a delete and an insert), built once with bound
# parameters: building them per call cost more CPU than SQLite's work on them.
_GET = select(_t).where(_t.c.key == bindparam("k"), _t.c.expires_at > bindparam("now"))
_GET_BY_ID = select(_t).where(_t.c.id == bindparam("i"), _t.c.expires_at > bindparam("now"))
_DELETE_KEY = delete(_t).where(_t.c.key == bindparam("k"))
_INSERT = insert(_t)
# PostgreSQL's writers run side by side: two processes storing one key at once both found
# nothing to delete, and the second insert failed on the unique key. One upsert instead,
# under a new id as the delete-and-insert gives (a semantic index still holding the old id
# then finds nothing rather than this other answer).
_pg = pg_insert(_t)
_UPSERT = _pg.on_conflict_do_update(
    index_elements=[_t.c.key],
    set_={
        **{c.name: _pg.excluded[c.name] for c in _t.columns if c.name not in ("id", "key")},
        "id": func.nextval(func.pg_get_serial_sequence("cache_entries", "id")),
    },
).returning(_t.c.id)


class SqliteCacheStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        # Questions and answers are sealed at rest; keys, scopes and vectors stay plain.
        self.cipher: FieldCipher = cipher or NoEncryption()

    def _entry(self, row: Any) -> CacheEntry:
        return CacheEntry(
            id=row.id,
            key=row.key,
            scope=row.scope,
            tenant=row.tenant,
            model=row.model,
            text=self.cipher.decrypt(row.request_text),
            answer=json.loads(self.cipher.decrypt(row.answer)),
            documents=[(int(d), int(v)) for d, v in json.loads(row.documents or "[]")],
            embedding=None
            if row.embedding is None
            else np.frombuffer(row.embedding, dtype=np.float32),
            created_at=row.created_at,
            expires_at=row.expires_at,
            trace_id=row.trace_id,
            hits=row.hits,
        )

    def get(self, key: str, now: float) -> CacheEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET, {"k": key, "now": now}).first()
        return self._entry(row) if row else None

    def get_by_id(self, entry_id: int, now: float) -> CacheEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(_GET_BY_ID, {"i": entry_id, "now": now}).first()
        return self._entry(row) if row else None

    def put(self, entry: CacheEntry) -> int:
        values = {
            "key": entry.key,
            "scope": entry.scope,
            "tenant": entry.tenant,
            "model": entry.model,
            "request_text": self.cipher.encrypt(entry.text, entry.tenant),
            "answer": self.cipher.encrypt(json.dumps(entry.answer), entry.tenant),
            "documents": json.dumps(entry.documents),
            "embedding": _to_blob(entry.embedding),
            "created_at": entry.created_at,
            "expires_at": entry.expires_at,
            "trace_id": entry.trace_id,
            "hits": 0,
        }
        entry.id = self._replace(entry.key, values)
        return entry.id

    def _replace(self, key: str, values: dict[str, Any]) -> int:
        """One entry per key: a fresher answer replaces the old one."""
        with transaction(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                return int(conn.execute(_UPSERT, values).scalar_one())
            # SQLite's writers take turns: nothing can come between these two.
            conn.execute(_DELETE_KEY, {"k": key})
            return inserted_id(conn.execute(_INSERT, values))

    def vectors(self, scope: str, now: float) -> list[tuple[int, str, np.ndarray]]:
        t = tb.cache_entries
        stmt = select(t.c.id, t.c.request_text, t.c.embedding).where(
            t.c.scope == scope, t.c.expires_at > now, t.c.embedding.is_not(None)
        )
        with self.engine.connect() as conn:
            return [
                (r.id, self.cipher.decrypt(r.request_text), np.frombuffer(r.embedding, np.float32))
                for r in conn.execute(stmt)
            ]

    def add_hits(self, counts: dict[int, int], now: float) -> None:
        t = tb.cache_entries
        with transaction(self.engine) as conn:
            for entry_id, n in counts.items():
                conn.execute(
                    update(t).where(t.c.id == entry_id).values(hits=t.c.hits + n, last_hit_at=now)
                )

    def delete(self, entry_ids: Sequence[int]) -> int:
        if not entry_ids:
            return 0
        t = tb.cache_entries
        with transaction(self.engine) as conn:
            return conn.execute(delete(t).where(t.c.id.in_(list(entry_ids)))).rowcount or 0

    def clear(self, tenant: str | None = None) -> int:
        t = tb.cache_entries
        stmt = delete(t) if tenant is None else delete(t).where(t.c.tenant == tenant)
        with transaction(self.engine) as conn:
            return conn.execute(stmt).rowcount or 0

    def purge(self, now: float, max_entries: int) -> int:
        t = tb.cache_entries
        with transaction(self.engine) as conn:
            removed = conn.execute(delete(t).where(t.c.expires_at <= now)).rowcount or 0
            count = conn.execute(select(func.count()).select_from(t)).scalar_one()
            if count > max_entries:
                # Least recently useful first: never hit, then oldest.
                oldest = (
                    select(t.c.id)
                    .order_by(func.coalesce(t.c.last_hit_at, t.c.created_at))
                    .limit(count - max_entries)
                )
                removed += conn.execute(delete(t).where(t.c.id.in_(oldest))).rowcount or 0
        return removed

    def stats(self, now: float) -> dict[str, Any]:
        t = tb.cache_entries
        with self.engine.connect() as conn:
            total, live, hits = conn.execute(
                select(
                    func.count(),
                    func.sum((t.c.expires_at > now).cast(Integer)),
                    func.sum(t.c.hits),
                ).select_from(t)
            ).one()
        return {"entries": total or 0, "live": live or 0, "hits": hits or 0}

    def document_versions(self, document_ids: Sequence[int]) -> dict[int, int]:
        if not document_ids:
            return {}
        d, v = tb.documents, tb.document_versions
        stmt = (
            select(d.c.id, v.c.version)
            .select_from(d.join(v, v.c.id == d.c.current_version_id))
            .where(d.c.id.in_(list(document_ids)), d.c.status == "active")
        )
        with self.engine.connect() as conn:
            return {int(r.id): int(r.version) for r in conn.execute(stmt)}
