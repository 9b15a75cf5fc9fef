"""A remote embedder with a local stand-in for questions (`embeddings.fallback`).

Only the query path falls back: when the remote fails a question (after its retries, or at
once with its breaker open) the question is embedded by the fallback and the caller learns
so (`embed_noting`). Documents never are: `embed` is the remote's alone, so an ingest fails
its document rather than store vectors of another model next to the remote's. The config
refuses a fallback that is not the same model (EmbeddingSpec's check), since a question's
vector from another model would not match the indexed ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from lockgate.models.base import EmbeddingBackend, EmbeddingFallback, UpstreamError
from lockgate.observability.metrics import METRICS

log = logging.getLogger("lockgate.models")


class _Pair(EmbeddingBackend):
    """An embedder with a fallback beside it; its length is always the primary's."""

    def __init__(self, primary: EmbeddingBackend, fallback: EmbeddingBackend) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = primary.name
        self.local_compute = primary.local_compute

    @property
    def dimensions(self) -> int:
        return self.primary.dimensions

    @dimensions.setter
    def dimensions(self, value: int) -> None:
        raise AttributeError("the length is the wrapped embedder's")


class WithQueryFallback(_Pair):
    """`primary` for everything; its query variant falls back to `fallback`."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.primary.embed(texts)

    def for_queries(self) -> EmbeddingBackend:
        return QueryFallback(self.primary.for_queries(), self.fallback.for_queries())

    def ready(self) -> bool:
        return self.primary.ready()


class QueryFallback(_Pair):
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_noting(texts)[0]

    def embed_noting(self, texts: Sequence[str]) -> tuple[np.ndarray, EmbeddingFallback | None]:
        try:
            return self.primary.embed(texts), None
        except UpstreamError as exc:
            METRICS.inc("lockgate_embedding_fallbacks_total")
            log.warning("query embedded by the fallback %s: %s", self.fallback.name, exc)
            return self.fallback.embed(texts), EmbeddingFallback(self.fallback.name, str(exc))

    def ready(self) -> bool:
        return self.primary.ready()
