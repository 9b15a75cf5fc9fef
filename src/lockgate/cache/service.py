"""Look up and store answers: exact first, then semantic, each hit checked against the
current versions of the documents it was grounded on."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lockgate.cache.keys import digest, lexically_compatible, terms
from lockgate.cache.semantic import SemanticIndex
from lockgate.cache.store import CacheEntry, CacheStore
from lockgate.config import CacheConfig
from lockgate.models.base import EmbeddingModel

log = logging.getLogger("lockgate.cache")

_PURGE_EVERY = 256  # puts between sweeps of expired and surplus entries
# Hit counters are written in batches: a write per hit would put a lock-taking transaction
# on the fastest path the gateway has.
_FLUSH_HITS_EVERY = 64
_FLUSH_HITS_AFTER_S = 10.0


@dataclass
class Lookup:
    status: str  # "hit" | "miss"
    key: str
    scope: str
    text: str
    kind: str | None = None  # "exact" | "semantic"
    entry: CacheEntry | None = None
    similarity: float | None = None
    vector: np.ndarray | None = None
    rejected: list[dict[str, Any]] = field(default_factory=list)
    invalidated: int = 0

    def trace(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.kind:
            out["kind"] = self.kind
        if self.entry is not None:
            out["entry"] = self.entry.id
            out["source_trace"] = self.entry.trace_id
            out["age_s"] = round(time.time() - self.entry.created_at, 3)
            out["documents"] = self.entry.documents
        if self.similarity is not None:
            out["similarity"] = round(self.similarity, 4)
        if self.rejected:
            out["rejected"] = self.rejected
        if self.invalidated:
            out["invalidated"] = self.invalidated
        return out


class ResponseCache:
    def __init__(
        self, config: CacheConfig, store: CacheStore, embedder: EmbeddingModel | None
    ) -> None:
        self.config = config
        self.store = store
        self.embedder = embedder
        self.index = SemanticIndex(store, config.semantic_refresh_s)
        self._puts = 0
        self._hits: Counter[int] = Counter()
        self._hits_flushed = time.monotonic()
        self._hits_lock = threading.Lock()

    @staticmethod
    def key(scope: str, text: str) -> str:
        return digest("entry-v1", scope, text)

    def embed(self, text: str) -> np.ndarray:
        assert self.embedder is not None
        return np.asarray(self.embedder.embed([text])[0], dtype=np.float32)

    def lookup(self, scope: str, text: str, semantic: bool) -> Lookup:
        result = self.lookup_exact(scope, text)
        if result.status == "hit" or not semantic:
            return result
        return self.lookup_semantic(result)

    def lookup_exact(self, scope: str, text: str) -> Lookup:
        """One indexed read (plus the document-version check on a hit)."""
        now = time.time()
        result = Lookup("miss", self.key(scope, text), scope, text)
        entry = self.store.get(result.key, now)
        if entry is not None and self._still_valid(entry, result):
            result.status, result.kind, result.entry = "hit", "exact", entry
            self._count_hit(entry.id or 0, now)
        return result

    def lookup_semantic(self, result: Lookup) -> Lookup:
        """After an exact miss: embed the text and look for a close, compatible question."""
        now = time.time()
        text = result.text
        if not (self.config.semantic and self.embedder is not None and text):
            return result
        result.vector = self.embed(text)
        wanted = terms(text)
        for cand in self.index.search(result.scope, result.vector, self.config.similarity):
            ok, why = lexically_compatible(wanted, cand.terms)
            if not ok:
                result.rejected.append(
                    {"entry": cand.entry_id, "similarity": round(cand.similarity, 4), "why": why}
                )
                continue
            entry = self.store.get_by_id(cand.entry_id, now)
            if entry is None:
                self.index.forget({cand.entry_id})  # expired or deleted elsewhere
                continue
            if not self._still_valid(entry, result):
                continue
            result.status, result.kind, result.entry = "hit", "semantic", entry
            result.similarity = cand.similarity
            self._count_hit(entry.id or 0, now)
            return result
        return result

    def _count_hit(self, entry_id: int, now: float) -> None:
        with self._hits_lock:
            self._hits[entry_id] += 1
            due = (
                sum(self._hits.values()) >= _FLUSH_HITS_EVERY
                or time.monotonic() - self._hits_flushed > _FLUSH_HITS_AFTER_S
            )
            if not due:
                return
            counts, self._hits = dict(self._hits), Counter()
            self._hits_flushed = time.monotonic()
        try:
            self.store.add_hits(counts, now)
        except Exception:  # noqa: BLE001 - statistics must not fail a request
            log.exception("could not record cache hits")

    def flush_hits(self) -> None:
        with self._hits_lock:
            counts, self._hits = dict(self._hits), Counter()
        if counts:
            self.store.add_hits(counts, time.time())

    def _still_valid(self, entry: CacheEntry, result: Lookup) -> bool:
        """An answer grounded on a document version that is no longer current is dropped:
        that is how a re-ingested (changed) or retired document invalidates its answers."""
        if not entry.documents:
            return True
        current = self.store.document_versions(sorted({d for d, _ in entry.documents}))
        if all(current.get(doc) == version for doc, version in entry.documents):
            return True
        self.store.delete([entry.id or 0])
        self.index.forget({entry.id or 0})
        result.invalidated += 1
        return False

    def save(
        self,
        lookup: Lookup,
        *,
        tenant: str,
        model: str,
        answer: dict[str, Any],
        documents: Sequence[tuple[int, int]],
        ttl_s: float,
        trace_id: str | None,
        embed: bool,
    ) -> int:
        now = time.time()
        vector = lookup.vector
        if vector is None and embed and self.embedder is not None and lookup.text:
            vector = self.embed(lookup.text)
        entry = CacheEntry(
            key=lookup.key,
            scope=lookup.scope,
            tenant=tenant,
            model=model,
            text=lookup.text,
            answer=answer,
            documents=sorted(set(documents)),
            embedding=vector,
            created_at=now,
            expires_at=now + ttl_s,
            trace_id=trace_id,
        )
        entry_id = self.store.put(entry)
        if vector is not None:
            self.index.add(lookup.scope, entry_id, lookup.text, vector)
        self._puts += 1
        if self._puts % _PURGE_EVERY == 0:
            try:
                self.store.purge(now, self.config.max_entries)
            except Exception:  # noqa: BLE001 - housekeeping must not fail a request
                log.exception("cache purge failed")
        return entry_id

    def clear(self, tenant: str | None = None) -> int:
        self.index.clear()
        return self.store.clear(tenant)
