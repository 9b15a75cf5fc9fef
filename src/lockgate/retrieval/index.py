"""What hybrid retrieval needs of a vector index, whichever engine holds the vectors: the
embedded exact scan (`vector.py`) or an external vector database (`milvus.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from lockgate.errors import GatewayError
from lockgate.store.access import Access


@dataclass(frozen=True)
class VectorHit:
    chunk_id: int
    score: float  # cosine similarity


@runtime_checkable
class VectorIndex(Protocol):
    """Active chunks' embeddings, searched by cosine. An index follows the document store:
    `refresh` brings it up to the store's index generation, and `search` refreshes first, so
    a chunk retired in the store is never a hit once the search starts."""

    def __len__(self) -> int: ...

    def refresh(self) -> None: ...

    def search(
        self,
        query_vec: np.ndarray,
        limit: int,
        source_prefix: str | None = None,
        document_ids: Sequence[int] | None = None,
        access: Access | None = None,
    ) -> list[VectorHit]:
        """The best `limit` chunks by cosine among those `access` may see (None: all), under
        `source_prefix` and in `document_ids` when given."""
        ...

    def close(self) -> None: ...


class VectorIndexUnavailable(GatewayError):
    """The vector engine did not answer: the request gets a 503 rather than results that
    silently lack the vector side."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            503,
            "The vector index is unavailable; try again shortly.",
            code="vector_index_unavailable",
            detail=detail,
            headers={"Retry-After": "5"},
        )

    def __str__(self) -> str:
        # Logs, /readyz and the CLI name the cause; the caller's error body does not.
        return f"{self.message} ({self.detail})"


class VectorIndexMisconfigured(VectorIndexUnavailable):
    """The engine cannot serve these settings or embeddings (no client library installed,
    a collection of another schema or dimension): a configuration problem, not an outage."""
