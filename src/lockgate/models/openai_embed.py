"""Embeddings from an OpenAI-compatible `/embeddings` endpoint."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import numpy as np

from lockgate.config import EmbeddingSpec
from lockgate.models.base import EmbeddingBackend, UpstreamError
from lockgate.models.error_text import body_detail, transport_detail
from lockgate.models.openai_compat import api_key


class OpenAIEmbedder(EmbeddingBackend):
    local_compute = False  # the work happens upstream

    def __init__(self, spec: EmbeddingSpec) -> None:
        if not spec.base_url or not spec.upstream_model:
            raise ValueError("embeddings: base_url and upstream_model are required for 'openai'")
        self.spec = spec
        self.name = spec.upstream_model
        self.dimensions = 0  # learnt from the first answer
        headers = {}
        key = api_key(spec.api_key_env)
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            base_url=spec.base_url.rstrip("/"), headers=headers, timeout=spec.timeout_s
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.spec.batch_size):
            batch = list(texts[start : start + self.spec.batch_size])
            try:
                resp = self._client.post("/embeddings", json={"model": self.name, "input": batch})
            except httpx.HTTPError as exc:
                # The exception text holds the upstream URL (and any credentials in it).
                raise UpstreamError(
                    f"embedding upstream failed ({type(exc).__name__})",
                    detail=transport_detail(exc),
                ) from exc
            if resp.status_code >= 400:
                raise UpstreamError(
                    f"embedding upstream failed (HTTP {resp.status_code})",
                    upstream_status=resp.status_code,
                    detail=body_detail(resp),
                )
            try:
                data = sorted(resp.json()["data"], key=lambda d: d["index"])
            except (ValueError, KeyError, TypeError) as exc:
                raise UpstreamError(
                    "embedding upstream sent a malformed response", detail=type(exc).__name__
                ) from exc
            rows.extend(d["embedding"] for d in data)
        vecs = np.asarray(rows, dtype=np.float32)
        if vecs.size:
            self.dimensions = vecs.shape[1]
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs
