"""Exact cosine search over active chunk embeddings held in memory.

Brute force on a float32 matrix is ~10 ms for 100k × 384 on two cores and needs no extra
engine; the index refreshes incrementally when the store's index generation moves."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lockgate.store.documents import DocumentStore


@dataclass(frozen=True)
class VectorHit:
    chunk_id: int
    score: float  # cosine similarity


class NumpyVectorIndex:
    def __init__(self, store: DocumentStore, dimensions: int = 384) -> None:
        self.store = store
        self.dimensions = dimensions
        self._generation = -1
        self._ids = np.zeros(0, dtype=np.int64)
        self._docs = np.zeros(0, dtype=np.int64)
        self._sources: list[str] = []
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._ids.size)

    def refresh(self) -> None:
        generation = self.store.index_generation()
        if generation == self._generation:
            return
        with self._lock:
            if generation == self._generation:
                return
            active = np.asarray(self.store.active_chunk_ids(), dtype=np.int64)
            keep = np.isin(self._ids, active)
            missing = np.setdiff1d(active, self._ids[keep], assume_unique=True)
            rows = self.store.embeddings(missing.tolist()) if missing.size else []
            rows = [r for r in rows if r[3] is not None]
            if rows:
                dim = len(rows[0][3]) // 4
                new_matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype=np.float32)
                new_matrix = new_matrix.reshape(len(rows), dim)
                if self._matrix.shape[1] != dim:
                    self._matrix = np.zeros((0, dim), dtype=np.float32)
                    keep = np.zeros(0, dtype=bool)
                    self._ids = self._ids[:0]
                    self._docs = self._docs[:0]
                    self._sources = []
            else:
                new_matrix = np.zeros((0, self._matrix.shape[1]), dtype=np.float32)
            self._matrix = np.vstack([self._matrix[keep], new_matrix])
            self._ids = np.concatenate([self._ids[keep], [r[0] for r in rows]]).astype(np.int64)
            self._docs = np.concatenate([self._docs[keep], [r[1] for r in rows]]).astype(np.int64)
            kept_sources = [src for src, k in zip(self._sources, keep, strict=True) if k]
            self._sources = kept_sources + [r[2] for r in rows]
            self._generation = generation

    def search(
        self,
        query_vec: np.ndarray,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
    ) -> list[VectorHit]:
        self.refresh()
        ids, matrix = self._ids, self._matrix
        if ids.size == 0 or matrix.shape[1] != query_vec.shape[-1]:
            return []
        scores = matrix @ query_vec.astype(np.float32).reshape(-1)
        if source_prefix or document_ids:
            mask = np.ones(ids.size, dtype=bool)
            if document_ids:
                mask &= np.isin(self._docs, np.asarray(list(document_ids), dtype=np.int64))
            if source_prefix:
                mask &= np.fromiter(
                    (s.startswith(source_prefix) for s in self._sources), bool, ids.size
                )
            scores = np.where(mask, scores, -np.inf)
        n = min(limit, ids.size)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [VectorHit(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
