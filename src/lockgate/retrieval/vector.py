"""Cosine search over active chunk embeddings held in memory.

Brute force on a float32 matrix needs no extra engine and is exact; from `ivf_min_rows`
rows on, the rows are grouped into k-means lists (see `ivf.py`) and a query scans only the
nearest lists (opt-in: approximate, see BENCHMARKS.md). The index refreshes incrementally
when the store's index generation moves."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from lockgate.retrieval.index import VectorHit
from lockgate.retrieval.ivf import IvfLayout, assign, train_centroids
from lockgate.store.access import Access
from lockgate.store.documents import DocumentStore

__all__ = ["NumpyVectorIndex", "VectorHit"]


class NumpyVectorIndex:
    """The embedded default of the `VectorIndex` interface (index.py)."""

    def __init__(
        self,
        store: DocumentStore,
        dimensions: int = 384,
        ivf_min_rows: int | None = None,
        ivf_probe: int = 32,
    ) -> None:
        self.store = store
        self.dimensions = dimensions
        self.ivf_min_rows = ivf_min_rows
        self.ivf_probe = ivf_probe
        self._labels: np.ndarray | None = None
        self._layout: IvfLayout | None = None
        self._trained_rows = 0
        self._generation = -1
        self._ids = np.zeros(0, dtype=np.int64)
        self._docs = np.zeros(0, dtype=np.int64)
        self._sources: list[str] = []
        # Per row: who may see it, as codes into `_access_keys` (one per distinct
        # (tenant, acl) pair), so a caller's mask is one np.isin over the rows.
        self._access = np.zeros(0, dtype=np.int64)
        self._access_keys: list[tuple[str, str]] = []
        self._access_codes: dict[tuple[str, str], int] = {}
        self._matrix = np.zeros((0, dimensions), dtype=np.float32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._ids.size)

    def close(self) -> None:
        """Nothing to release: the rows are this process's memory."""

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
                    self._access = self._access[:0]
                    self._sources = []
            else:
                new_matrix = np.zeros((0, self._matrix.shape[1]), dtype=np.float32)
            self._matrix = np.vstack([self._matrix[keep], new_matrix])
            self._ids = np.concatenate([self._ids[keep], [r[0] for r in rows]]).astype(np.int64)
            self._docs = np.concatenate([self._docs[keep], [r[1] for r in rows]]).astype(np.int64)
            codes = [self._access_code(r[4], r[5]) for r in rows]
            self._access = np.concatenate([self._access[keep], codes]).astype(np.int64)
            kept_sources = [src for src, k in zip(self._sources, keep, strict=True) if k]
            self._sources = kept_sources + [r[2] for r in rows]
            self._partition(keep, new_matrix)
            self._generation = generation

    def _access_code(self, tenant: str, acl: str) -> int:
        key = (tenant, acl or "[]")
        code = self._access_codes.get(key)
        if code is None:
            code = self._access_codes[key] = len(self._access_keys)
            self._access_keys.append(key)
        return code

    def _visible_codes(self, access: Access) -> np.ndarray:
        keys = list(self._access_keys)
        return np.asarray(
            [i for i, (tenant, acl) in enumerate(keys) if access.allows(tenant, acl)],
            dtype=np.int64,
        )

    @property
    def partitioned(self) -> bool:
        return self._layout is not None

    def _partition(self, keep: np.ndarray, new_matrix: np.ndarray) -> None:
        """Keep rows sorted by IVF list once the index is big enough to need it."""
        rows = self._ids.size
        if self.ivf_min_rows is None or rows < self.ivf_min_rows:
            self._labels, self._layout, self._trained_rows = None, None, 0
            return
        layout = self._layout
        stale = self._labels is None or self._labels.size != keep.size
        if layout is None or stale or rows >= 2 * self._trained_rows:
            # Retrain as the index doubles: old centroids would leave lists unbalanced.
            n_lists = max(1, min(rows // 16, int(np.sqrt(rows))))
            centroids = train_centroids(self._matrix, n_lists)
            labels = assign(self._matrix, centroids)
            self._trained_rows = rows
        else:
            centroids = layout.centroids
            assert self._labels is not None
            labels = np.concatenate([self._labels[keep], assign(new_matrix, centroids)])
        layout = IvfLayout.build(centroids, labels)
        order = layout.order
        self._matrix = np.ascontiguousarray(self._matrix[order])
        self._ids, self._docs, self._labels = self._ids[order], self._docs[order], labels[order]
        self._access = self._access[order]
        self._sources = [self._sources[i] for i in order.tolist()]
        self._layout = layout

    def search(
        self,
        query_vec: np.ndarray,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
        access: Access | None = None,
    ) -> list[VectorHit]:
        """Top `limit` rows by cosine; with `access`, rows that caller may not see are masked
        before the top is taken, so they never compete for a place in it."""
        self.refresh()
        with self._lock:  # one consistent snapshot: refresh swaps these together
            ids, docs, sources = self._ids, self._docs, self._sources
            matrix, layout, row_access = self._matrix, self._layout, self._access
            visible = None if access is None else self._visible_codes(access)
        if ids.size == 0 or matrix.shape[1] != query_vec.shape[-1]:
            return []
        query = query_vec.astype(np.float32).reshape(-1)
        allowed = None if visible is None else np.isin(row_access, visible)
        if allowed is not None and allowed.all():
            allowed = None  # every row is visible: the unfiltered (IVF) path is exact too
        if allowed is not None and not allowed.any():
            return []
        if layout is not None and not source_prefix and not document_ids and allowed is None:
            positions, part = layout.search(matrix, query, limit, self.ivf_probe)
            n = min(limit, part.size)
            if n == 0:
                return []
            top = np.argpartition(-part, n - 1)[:n]
            top = top[np.argsort(-part[top])]
            return [VectorHit(int(ids[positions[i]]), float(part[i])) for i in top]
        scores = matrix @ query
        if source_prefix or document_ids or allowed is not None:
            mask = np.ones(ids.size, dtype=bool) if allowed is None else allowed
            if document_ids:
                mask &= np.isin(docs, np.asarray(list(document_ids), dtype=np.int64))
            if source_prefix:
                mask &= np.fromiter((s.startswith(source_prefix) for s in sources), bool, ids.size)
            scores = np.where(mask, scores, -np.inf)
        n = min(limit, ids.size)
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [VectorHit(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
