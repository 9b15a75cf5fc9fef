"""In-memory nearest-neighbour lookup over cached question embeddings, one matrix per scope.

A scope holds the entries one caller may be served (tenant, model, prompt version, ...), so a
search is a single matrix-vector product over a few hundred or thousand rows: brute force is
faster than any index at that size and exact. Scopes load lazily from the store and reload
after `refresh_s` so entries written by other gateway processes become visible."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from lockgate.cache.keys import Terms, terms
from lockgate.cache.store import CacheStore


@dataclass
class _Scope:
    ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    terms: list[Terms] = field(default_factory=list)
    matrix: np.ndarray | None = None
    loaded_at: float = 0.0


@dataclass(frozen=True)
class Candidate:
    entry_id: int
    text: str
    terms: Terms
    similarity: float


class SemanticIndex:
    def __init__(
        self, store: CacheStore, refresh_s: float = 30.0, max_scopes: int = 10_000
    ) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.max_scopes = max_scopes
        self._scopes: dict[str, _Scope] = {}
        self._lock = threading.Lock()

    def _scope(self, scope: str) -> _Scope:
        now = time.time()
        with self._lock:
            cached = self._scopes.get(scope)
        if cached is not None and now - cached.loaded_at < self.refresh_s:
            return cached
        rows = self.store.vectors(scope, now)
        loaded = _Scope(loaded_at=now)
        for entry_id, text, _vec in rows:
            loaded.ids.append(entry_id)
            loaded.texts.append(text)
            loaded.terms.append(terms(text))
        if rows:
            loaded.matrix = np.vstack([vec for _, _, vec in rows]).astype(np.float32)
        with self._lock:
            if len(self._scopes) >= self.max_scopes and scope not in self._scopes:
                # Bounded memory: drop the stalest scope; it reloads from the store if needed.
                stalest = min(self._scopes, key=lambda k: self._scopes[k].loaded_at)
                del self._scopes[stalest]
            self._scopes[scope] = loaded
        return loaded

    def search(
        self, scope: str, vector: np.ndarray, threshold: float, limit: int = 5
    ) -> list[Candidate]:
        sc = self._scope(scope)
        if sc.matrix is None or not sc.ids:
            return []
        sims = sc.matrix @ vector.astype(np.float32)
        order = np.argsort(-sims)[:limit]
        return [
            Candidate(sc.ids[i], sc.texts[i], sc.terms[i], float(sims[i]))
            for i in order
            if sims[i] >= threshold
        ]

    def add(self, scope: str, entry_id: int, text: str, vector: np.ndarray) -> None:
        with self._lock:
            sc = self._scopes.get(scope)
            if sc is None:
                return  # not loaded here yet: the first search loads it with this entry
            if text in sc.texts:
                # Same question stored again (a replaced entry): drop the old row.
                i = sc.texts.index(text)
                del sc.ids[i], sc.texts[i], sc.terms[i]
                sc.matrix = None if sc.matrix is None else np.delete(sc.matrix, i, axis=0)
            sc.ids.append(entry_id)
            sc.texts.append(text)
            sc.terms.append(terms(text))
            row = vector.astype(np.float32)[None, :]
            sc.matrix = (
                row if sc.matrix is None or not len(sc.matrix) else np.vstack([sc.matrix, row])
            )

    def forget(self, entry_ids: set[int]) -> None:
        with self._lock:
            for sc in self._scopes.values():
                keep = [i for i, eid in enumerate(sc.ids) if eid not in entry_ids]
                if len(keep) == len(sc.ids):
                    continue
                sc.ids = [sc.ids[i] for i in keep]
                sc.texts = [sc.texts[i] for i in keep]
                sc.terms = [sc.terms[i] for i in keep]
                sc.matrix = sc.matrix[keep] if sc.matrix is not None and keep else None

    def clear(self) -> None:
        with self._lock:
            self._scopes.clear()
