"""Hybrid retrieval: BM25 and vector candidates fused (`fusion.py`), ranked by document."""

from __future__ import annotations

import copy
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lockgate.config import FreshnessConfig, RetrievalConfig
from lockgate.ingest.source_names import root_of, shown_source
from lockgate.models.base import EmbeddingFallback, EmbeddingModel
from lockgate.retrieval import freshness as fresh
from lockgate.retrieval.fusion import document_scores, fuse, order_by_document, rrf
from lockgate.retrieval.index import VectorIndex
from lockgate.store.access import Access
from lockgate.store.documents import ChunkRecord, DocumentStore
from lockgate.store.fulltext import TextHit, TextIndex


@dataclass
class SearchFilters:
    source_prefix: str | None = None
    document_ids: list[int] | None = None
    # Whose search this is: only chunks of this tenant, with no groups or one of these,
    # are ever candidates. None (no caller: evaluations, admin tools) searches everything;
    # every request path sets it from its principal.
    tenant: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def access(self) -> Access | None:
        return None if self.tenant is None else Access.of(self.tenant, self.groups)


@dataclass
class RetrievedChunk:
    rank: int
    score: float
    chunk_id: int
    document_id: int
    version: int
    source: str
    page: int | None
    heading_path: list[str]
    text: str
    vector_score: float | None = None
    bm25_score: float | None = None
    # The score its document is ranked by (results by document): what orders the results,
    # where `score` is the chunk's own.
    document_score: float | None = None
    title: str | None = None
    # Where the chunk came from exactly, its freshness state, and the chunk ids of
    # near-duplicates (usually older versions) collapsed into it.
    lineage: dict[str, Any] = field(default_factory=dict)
    freshness: dict[str, Any] = field(default_factory=dict)
    near_duplicates: list[int] = field(default_factory=list)
    # The ingested folder `source` lies under, when it came from a folder source.
    root: str | None = None
    # The groups of its document's access list (empty: the whole tenant). Not shown in
    # search results; the trace keeps it so the trace is as restricted as its chunks.
    groups: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str | None:
        return self.lineage.get("content_hash")

    @property
    def shown_source(self) -> str:
        """The source as callers see it: no absolute path, no credentials in a URL."""
        return shown_source(self.source, self.root)

    def as_dict(self, full_source: bool = False) -> dict[str, object]:
        """The chunk as a search result; `full_source` (the operator's CLI) keeps the
        stored source, absolute path and all."""
        source = self.source if full_source else self.shown_source
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "source": source,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "version": self.version,
            "heading_path": self.heading_path,
            "vector_score": None if self.vector_score is None else round(self.vector_score, 4),
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 4),
            "document_score": None
            if self.document_score is None
            else round(self.document_score, 6),
            "text": self.text,
            "lineage": {**self.lineage, "source": source} if self.lineage else {},
            "freshness": self.freshness,
            "near_duplicates": self.near_duplicates,
        }


@dataclass
class SearchResult:
    chunks: list[RetrievedChunk]
    # Best cosine similarity among candidates: an absolute relevance signal, unlike RRF.
    max_similarity: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Set when the query was embedded by `embeddings.fallback` (the remote had failed).
    embedding_fallback: EmbeddingFallback | None = None


__all__ = ["HybridRetriever", "RetrievedChunk", "SearchFilters", "SearchResult", "rrf"]


def _dominant(
    top_docs: list[int], scores: dict[int, float], ratio: float | None, chunks: int
) -> int:
    """The chunks the first document gives in its turn when it is `ratio` times ahead of
    the second (0: no document is)."""
    if ratio is None or not top_docs:
        return 0
    best = scores[top_docs[0]]
    second = scores[top_docs[1]] if len(top_docs) > 1 else 0.0
    return chunks if best > 0 and best >= ratio * max(second, 0.0) else 0


class HybridRetriever:
    def __init__(
        self,
        store: DocumentStore,
        text_index: TextIndex,
        vectors: VectorIndex,
        embedder: EmbeddingModel,
        config: RetrievalConfig,
        freshness: FreshnessConfig | None = None,
        near_dup_bits: int = 10,
    ) -> None:
        self.freshness = freshness or FreshnessConfig()
        self.near_dup_bits = near_dup_bits
        self.store = store
        self.text_index = text_index
        self.vectors = vectors
        self.embedder = embedder
        self.config = config
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lockgate-bm25")

    def per_document(
        self, n: int, dominant_ratio: float | None = None, dominant_chunks: int = 4
    ) -> HybridRetriever:
        """This retriever (the same indexes and store) giving `n` chunks of each document
        in turn instead of `chunks_per_document` (and `dominant_chunks` of a first document
        `dominant_ratio` times ahead of the second)."""
        clone = copy.copy(self)
        clone.config = self.config.model_copy(
            update={
                "chunks_per_document": n,
                "dominant_ratio": dominant_ratio,
                "dominant_chunks": dominant_chunks,
            }
        )
        return clone

    def _text_search(
        self, query: str, n: int, filters: SearchFilters
    ) -> tuple[list[TextHit], float]:
        start = time.perf_counter()
        hits = self.text_index.search(
            query, n, filters.source_prefix, filters.document_ids, filters.access
        )
        return hits, (time.perf_counter() - start) * 1000

    def _by_document(
        self, pool: list[tuple[int, float]], k: int, wide: int, per_document: int
    ) -> tuple[list[fresh.Ranked], dict[int, ChunkRecord], dict[int, float]]:
        """The best `k` chunks in document order (fusion.py). Every candidate counts
        towards its document's score; only the best few chunks of the first `wide`
        documents are read in full and go through freshness and near-duplicate collapsing
        (a document whose best chunk repeats another document's keeps its next ones)."""
        cfg = self.config
        document_of = self.store.document_of([cid for cid, _ in pool])
        pool = [(cid, s) for cid, s in pool if cid in document_of]  # retired meanwhile
        scores = document_scores(pool, document_of, cfg.doc_score)
        per_doc: dict[int, list[int]] = {}
        for cid, _ in pool:
            per_doc.setdefault(document_of[cid], []).append(cid)
        depth = max(per_document, 2)
        top_docs = sorted(scores, key=lambda d: (-scores[d], d))[:wide]
        first = _dominant(top_docs, scores, cfg.dominant_ratio, cfg.dominant_chunks)
        fused = dict(pool)
        head = [
            (c, fused[c])
            for i, d in enumerate(top_docs)
            for c in per_doc[d][: max(depth, first) if i == 0 else depth]
        ]
        records = self.store.chunks([c for c, _ in head])
        kept = fresh.apply(head, records, self.freshness, self.near_dup_bits)
        # A stale or superseded document keeps its weight at the document level too.
        weight: dict[int, float] = {}
        for r in kept:
            weight.setdefault(document_of[r.chunk_id], float(r.freshness.get("weight", 1.0)))
        by_id = {r.chunk_id: r for r in kept}
        weighted = {d: scores[d] * w for d, w in weight.items()}
        final = order_by_document(
            [(r.chunk_id, r.score) for r in kept],
            document_of,
            cfg.doc_score,
            per_document,
            weighted,
            first=first,
        )
        return [by_id[c] for c in final[:k]], records, weighted

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: SearchFilters | None = None,
        per_document: int | None = None,
    ) -> SearchResult:
        """The best `k` chunks for `query`. `per_document` overrides the configured
        `chunks_per_document` (the grounded answer wants more of its top documents)."""
        filters = filters or SearchFilters()
        k = k or self.config.top_k
        n = max(self.config.candidates, k)
        t0 = time.perf_counter()
        # BM25 runs in SQLite (GIL released) while the query is embedded and scanned.
        text_job = self._pool.submit(self._text_search, query, n, filters)
        qvecs, fallback = self.embedder.embed_noting([query])
        qvec = qvecs[0]
        t1 = time.perf_counter()
        vhits = self.vectors.search(
            qvec, n, filters.source_prefix, filters.document_ids, filters.access
        )
        t2 = time.perf_counter()
        thits, bm25_ms = text_job.result()
        t3 = time.perf_counter()
        cfg = self.config
        vmap = {h.chunk_id: h.score for h in vhits}
        tmap = {h.chunk_id: h.score for h in thits}
        fused = fuse(vmap, tmap, cfg.fusion, cfg.vector_weight, cfg.bm25_weight, cfg.rrf_k)
        pool = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        # A wider pool than k: freshness policies and near-duplicate collapsing drop some.
        wide = max(3 * k, k + 20)
        per_document = per_document or cfg.chunks_per_document
        doc_scores: dict[int, float] = {}
        if per_document is None:
            pool = pool[:wide]
            records = self.store.chunks([cid for cid, _ in pool])
            ranked = fresh.apply(pool, records, self.freshness, self.near_dup_bits)[:k]
        else:
            # Documents, not chunks: twice as many as shown leave room for the excluded.
            ranked, records, doc_scores = self._by_document(
                pool, k, max(2 * k, k + 10), per_document
            )
        paths = any(records[r.chunk_id].source.startswith("/") for r in ranked)
        roots = self.store.folder_roots() if paths else []
        out: list[RetrievedChunk] = []
        for r in ranked:
            cid, score, rec = r.chunk_id, r.score, records[r.chunk_id]
            out.append(
                RetrievedChunk(
                    rank=len(out) + 1,
                    score=score,
                    chunk_id=cid,
                    document_id=rec.document_id,
                    version=rec.version,
                    source=rec.source,
                    page=rec.page,
                    heading_path=rec.heading_path,
                    text=rec.text,
                    vector_score=vmap.get(cid),
                    bm25_score=tmap.get(cid),
                    document_score=doc_scores.get(rec.document_id),
                    title=rec.title,
                    lineage=fresh.lineage(rec),
                    freshness=r.freshness,
                    near_duplicates=r.near_duplicates,
                    root=root_of(rec.source, roots) if roots else None,
                    groups=rec.groups,
                )
            )
        t4 = time.perf_counter()
        return SearchResult(
            chunks=out,
            max_similarity=max((h.score for h in vhits), default=-1.0),
            timings_ms={
                "embed": (t1 - t0) * 1000,
                "vector": (t2 - t1) * 1000,
                "bm25": bm25_ms,
                "bm25_wait": (t3 - t2) * 1000,
                "fuse_fetch": (t4 - t3) * 1000,
            },
            embedding_fallback=fallback,
        )
