"""Hybrid retrieval, freshness weighting, and the grounded (`lockgate`) answer model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockgate.config._base import Strict
from lockgate.config.resilience import DegradeConfig


class RetrievalConfig(Strict):
    top_k: int = Field(5, ge=1, le=100)
    # Chunks each side proposes. Documents are scored from all of them, so more candidates
    # find a document's second and third good chunk (200: best on the manual-page KB's dev
    # split, BENCHMARKS.md, for ~2 ms more than 50).
    candidates: int = Field(200, ge=1, le=1000)
    # How BM25 and vector candidates combine (retrieval/fusion.py): "rrf" (reciprocal-rank
    # fusion, `rrf_k`) weighs ranks; "minmax" and "zscore" normalise each side's scores per
    # query and mix them convexly with the same weights. On the KB's dev split the weights
    # mattered, not the method: the vector side at 3x BM25 (the tuned default) beat equal
    # weights by ~5 points of recall@10 with each method, rank fusion ~0.5 ahead.
    fusion: Literal["rrf", "minmax", "zscore"] = "rrf"
    rrf_k: int = Field(60, ge=1)
    bm25_weight: float = Field(1.0, ge=0)
    vector_weight: float = Field(3.0, ge=0)
    # Results are ranked by document (its best chunk, or the mean of its best 2 or 3, so a
    # document that matches in several places beats one lucky chunk), each document giving
    # `chunks_per_document` chunks before the next one's; None: chunks ranked on their own,
    # several of one long document possibly crowding every other document out.
    doc_score: Literal["max", "top2", "top3"] = "top2"
    chunks_per_document: int | None = Field(1, ge=1)
    # From this many chunks on, vector search scans only the `ivf_probe` nearest k-means
    # lists. Off by default: on real MiniLM vectors of similar texts, probing 10 % of the
    # lists kept under half of the exact top 10 (BENCHMARKS.md), while the exact scan of
    # 100k chunks is ~10 ms. For millions of chunks, with a high probe, or a vector DB.
    ivf_min_rows: int | None = Field(None, ge=1)
    ivf_probe: int = Field(32, ge=1)
    # Query terms found in more than this share of chunks are left out of the BM25 query
    # when rarer terms remain: they barely move BM25 scores but make FTS5 score most rows.
    bm25_max_df: float = Field(0.05, gt=0, le=1)


class FreshnessConfig(Strict):
    """What retrieval does with stale (past review-by) and superseded documents."""

    stale: Literal["downweight", "exclude", "ignore"] = "downweight"
    superseded: Literal["downweight", "exclude", "ignore"] = "downweight"
    stale_weight: float = Field(0.5, ge=0, le=1)
    superseded_weight: float = Field(0.25, ge=0, le=1)


class GroundedConfig(Strict):
    """The `lockgate` model: retrieval-augmented answers with citations."""

    model: str = "gemma-3-270m"
    prompt: str = "grounded_answer"
    prompt_version: int | None = None  # None: the newest version shipped
    context_chunks: int = Field(3, ge=1, le=20)
    context_chars: int = Field(3000, ge=200)
    # Cosine similarity of the best chunk under which the assistant refuses instead of guessing.
    min_relevance: float = Field(0.3, ge=-1, le=1)
    max_tokens: int = Field(192, ge=1)
    refusal_message: str = "I can't answer that from the available documents."
    degrade: DegradeConfig = DegradeConfig()  # extractive answer when models are down
