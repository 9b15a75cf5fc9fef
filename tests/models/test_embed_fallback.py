"""The query-path fallback in isolation: documents never fall back, questions do (and say
so), and only an upstream failure is a reason to; a bug in the remote's code is not."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from lockgate.models.base import EmbeddingBackend, EmbeddingFallback, UpstreamError
from lockgate.models.embed_fallback import QueryFallback, WithQueryFallback
from lockgate.observability.metrics import METRICS


class Scripted(EmbeddingBackend):
    """Answers with a constant vector, or raises what it was told to."""

    def __init__(self, name: str, value: float, fail: BaseException | None = None) -> None:
        self.name = name
        self.dimensions = 2
        self.value = value
        self.fail = fail
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return np.full((len(texts), 2), self.value, dtype=np.float32)


def test_documents_never_fall_back() -> None:
    remote = Scripted("remote", 1.0, UpstreamError("embedding upstream failed (HTTP 503)"))
    local = Scripted("local", 2.0)
    both = WithQueryFallback(remote, local)
    with pytest.raises(UpstreamError):
        both.embed(["a document"])
    with pytest.raises(UpstreamError):
        both.embed_noting(["a document"])
    assert local.calls == 0
    assert both.dimensions == 2 and both.name == "remote"


def test_questions_fall_back_and_say_why() -> None:
    remote = Scripted("remote", 1.0)
    local = Scripted("local", 2.0)
    query = WithQueryFallback(remote, local).for_queries()
    assert isinstance(query, QueryFallback)
    vecs, fallback = query.embed_noting(["q"])
    assert fallback is None and vecs[0, 0] == 1.0
    remote.fail = UpstreamError("embedding upstream timed out", 504)
    before = METRICS.counter("lockgate_embedding_fallbacks_total")
    vecs, fallback = query.embed_noting(["q"])
    assert vecs[0, 0] == 2.0
    assert fallback == EmbeddingFallback("local", "embedding upstream timed out")
    assert query.embed(["q"])[0, 0] == 2.0  # the plain call falls back as well
    assert METRICS.counter("lockgate_embedding_fallbacks_total") == before + 2


def test_a_bug_is_not_hidden_by_the_fallback() -> None:
    remote = Scripted("remote", 1.0, KeyError("oops"))
    local = Scripted("local", 2.0)
    with pytest.raises(KeyError):
        WithQueryFallback(remote, local).for_queries().embed(["q"])
    assert local.calls == 0


def test_the_fallback_failing_too_is_its_error() -> None:
    remote = Scripted("remote", 1.0, UpstreamError("embedding upstream failed (HTTP 503)"))
    local = Scripted("local", 2.0, UpstreamError("local is down too"))
    with pytest.raises(UpstreamError, match="local is down too"):
        WithQueryFallback(remote, local).for_queries().embed(["q"])
