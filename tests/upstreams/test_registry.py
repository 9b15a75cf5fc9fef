"""Building the configured embedder: a fallback wraps the remote for the query path, and a
fallback backend that is unknown, or whose vectors turn out another length, is a config
error naming the key."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lockgate.config import MINILM_MODEL_ID, ConfigError, EmbeddingSpec, Settings
from lockgate.models.base import EmbeddingBackend
from lockgate.models.embed_fallback import QueryFallback, WithQueryFallback
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.models.openai_embed import OpenAIEmbedder
from lockgate.upstreams.registry import EMBEDDING_BACKENDS, build_embedder, check_backends


def remote(**kw: object) -> EmbeddingSpec:
    fields: dict[str, object] = {
        "backend": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "upstream_model": MINILM_MODEL_ID,
        "dimensions": 384,
        **kw,
    }
    return EmbeddingSpec(**fields)  # type: ignore[arg-type]


class Wide(EmbeddingBackend):
    name = "wide"
    dimensions = 768

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.zeros((len(texts), 768), dtype=np.float32)


def test_no_fallback_is_the_remote_itself() -> None:
    emb = build_embedder(remote())
    assert isinstance(emb, OpenAIEmbedder)
    emb.close()


def test_a_fallback_serves_questions_only() -> None:
    emb = build_embedder(remote(fallback="minilm"))
    assert isinstance(emb, WithQueryFallback)
    assert isinstance(emb.primary, OpenAIEmbedder) and isinstance(emb.fallback, MiniLMEmbedder)
    assert not emb.fallback.ready()  # built, not loaded: loading is the warm-up's job
    query = emb.for_queries()
    assert isinstance(query, QueryFallback) and query.dimensions == 384
    emb.primary.close()


def test_an_unknown_fallback_backend_names_its_key(tmp_path) -> None:
    spec = remote(fallback={"backend": "nope", "model_id": MINILM_MODEL_ID})
    with pytest.raises(ConfigError, match=r"'embeddings.fallback.backend': unknown embedding"):
        check_backends(Settings(home=tmp_path, embeddings=spec))
    with pytest.raises(ConfigError, match=r"'embeddings.fallback.backend'"):
        build_embedder(spec)


def test_a_plugin_fallback_of_another_length_is_refused(monkeypatch) -> None:
    monkeypatch.setitem(EMBEDDING_BACKENDS, "wide", lambda spec: Wide())
    spec = remote(fallback={"backend": "wide", "model_id": MINILM_MODEL_ID})
    with pytest.raises(ConfigError, match="its vectors have 768 dimensions"):
        build_embedder(spec)
