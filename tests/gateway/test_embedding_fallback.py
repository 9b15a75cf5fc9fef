"""`embeddings.fallback` through the gateway: a remote embedder serving all-MiniLM-L6-v2 (the
fake server on loopback, with the real model behind it) and the local MiniLM as fallback.
When the remote fails, questions (POST /v1/search, grounded chat) are embedded locally and
the response and the trace say so, with the same results the remote gave; ingest meanwhile
fails its documents clearly (quarantine), never embeds them locally, and keeps what was
indexed. Without a fallback a failed remote is a clear 502/503, not a 500."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bench.fake_embed_server import FakeEmbedServer, Fault
from lockgate.config import MINILM_MODEL_ID, BreakerConfig, EmbeddingRetry, EmbeddingSpec
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.models.embed_fallback import WithQueryFallback
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.models.openai_embed import OpenAIEmbedder
from lockgate.services import Services
from lockgate.upstreams.registry import build_embedder
from tests.conftest import make_settings
from tests.support.server import serve

DOCS = {
    "refunds.md": "# Refunds\n\nCustomers may ask for a refund within 30 days of purchase. "
    "Refunds are paid back to the original card within five working days.",
    "shipping.md": "# Shipping\n\nParcels ship from the Rotterdam warehouse every weekday. "
    "Express delivery reaches most of Europe in two days.",
    "security.md": "# Security\n\nAll staff use hardware keys to sign in. Passwords alone "
    "never grant access to production systems.",
}
QUESTION = "How long do customers have to ask for their money back?"


@dataclass
class Gateway:
    base: str
    services: Services
    remote: FakeEmbedServer
    docs: Path
    last_quarantined: list[tuple[str, str, str]] = field(default_factory=list)

    def search(self, query: str = QUESTION) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/search", json={"query": query, "k": 3}, timeout=30)

    def ingest(self) -> dict[str, int]:
        s = self.services
        summary = Ingestor(s.documents, s.runs, s.embedder, s.settings.ingest).run([str(self.docs)])
        self.last_quarantined = [(q.source, q.reason, q.detail) for q in summary.quarantined_files]
        return {"new": summary.new, "updated": summary.updated, **summary.reasons}


def _spec(base_url: str, fallback: bool, cooldown_s: float) -> EmbeddingSpec:
    return EmbeddingSpec(
        backend="openai",
        base_url=base_url,
        upstream_model=MINILM_MODEL_ID,  # what TEI calls the model it serves
        dimensions=384,
        batch_size=4,
        fallback="minilm" if fallback else None,
        retry=EmbeddingRetry(
            retries=1,
            query_retries=0,
            backoff_base_ms=1,
            backoff_max_ms=5,
            breaker=BreakerConfig(failures=3, cooldown_s=cooldown_s),
        ),
    )


def _gateway(
    tmp_path: Path,
    embedder: MiniLMEmbedder,
    fake_upstream: str,
    fallback: bool = True,
    cooldown_s: float = 120,
) -> Iterator[Gateway]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    with FakeEmbedServer(dim=384, model=embedder.embed) as remote:
        spec = _spec(remote.base_url, fallback, cooldown_s)
        settings = make_settings(
            tmp_path / "home", fake_upstream, embeddings=spec, grounded={"model": "echo"}
        )
        # The remote as build_embedder makes it (breaker attached); the session's loaded
        # MiniLM stands in for the fallback it would build (tests/upstreams/test_registry.py).
        primary = build_embedder(spec.model_copy(update={"fallback": None}))
        assert isinstance(primary, OpenAIEmbedder)
        built = WithQueryFallback(primary, embedder) if fallback else primary
        services = Services(settings, preloaded_embedder=built)
        gw = Gateway("", services, remote, docs)
        outcome = gw.ingest()
        assert outcome["new"] == 3, (outcome, gw.last_quarantined)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            gw.base = base
            yield gw
        primary.close()


@pytest.fixture
def gateway(tmp_path: Path, embedder: MiniLMEmbedder, fake_upstream: str) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, embedder, fake_upstream)


@pytest.fixture
def quick_breaker(
    tmp_path: Path, embedder: MiniLMEmbedder, fake_upstream: str
) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, embedder, fake_upstream, cooldown_s=0.5)


@pytest.fixture
def no_fallback(tmp_path: Path, embedder: MiniLMEmbedder, fake_upstream: str) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, embedder, fake_upstream, fallback=False)


def _ids(resp: httpx.Response) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [r["chunk_id"] for r in resp.json()["results"]]


def _stages(gw: Gateway, resp: httpx.Response) -> dict[str, str]:
    trace = gw.services.traces.get(resp.headers["x-lockgate-trace-id"])
    assert trace is not None
    return {s["stage"]: s["note"] for s in trace["stages"]}


def test_search_falls_back_to_the_local_model_and_says_so(gateway: Gateway) -> None:
    healthy = gateway.search()
    before = _ids(healthy)
    assert "embedding_fallback" not in healthy.json()
    assert "x-lockgate-embedding-fallback" not in healthy.headers
    assert "retrieve.embedding_fallback" not in _stages(gateway, healthy)
    sent = gateway.remote.stats.requests

    gateway.remote.default_fault = Fault.http(503)
    down = gateway.search()
    # The same model locally: the same chunks, in the same order.
    assert _ids(down) == before
    assert down.json()["embedding_fallback"] == {
        "model": "all-MiniLM-L6-v2",
        "reason": "embedding upstream failed (HTTP 503)",
    }
    assert down.headers["x-lockgate-embedding-fallback"] == "all-MiniLM-L6-v2"
    note = _stages(gateway, down)["retrieve.embedding_fallback"]
    assert note == "all-MiniLM-L6-v2: embedding upstream failed (HTTP 503)"
    assert gateway.remote.stats.requests == sent + 1  # query_retries 0: one attempt

    # Two more failures open the breaker: questions then go local without trying the remote.
    gateway.search()
    gateway.search()
    sent = gateway.remote.stats.requests
    open_ = gateway.search()
    assert _ids(open_) == before
    assert open_.json()["embedding_fallback"]["reason"] == (
        "embedding upstream unavailable (circuit open)"
    )
    assert gateway.remote.stats.requests == sent


def test_grounded_chat_falls_back_too(gateway: Gateway) -> None:
    gateway.remote.default_fault = Fault.drop()
    body = {"model": "lockgate", "messages": [{"role": "user", "content": QUESTION}]}
    resp = httpx.post(f"{gateway.base}/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-lockgate-embedding-fallback"] == "all-MiniLM-L6-v2"
    note = _stages(gateway, resp)["retrieve.embedding_fallback"]
    assert note.startswith("all-MiniLM-L6-v2: embedding upstream failed (")


def test_ingest_never_falls_back_and_keeps_what_was_indexed(quick_breaker: Gateway) -> None:
    gateway = quick_breaker
    old_hit = _ids(gateway.search())[0]
    gateway.remote.default_fault = Fault.http(503)
    (gateway.docs / "refunds.md").write_text(
        "# Refunds\n\nRefunds are no longer offered; store credit is given instead.",
        encoding="utf-8",
    )
    (gateway.docs / "returns.md").write_text(
        "# Returns\n\nReturned goods are inspected at the Rotterdam warehouse.",
        encoding="utf-8",
    )
    sent = gateway.remote.stats.requests
    outcome = gateway.ingest()
    assert outcome["embedding_failed"] == 2 and outcome["new"] == 0 and outcome["updated"] == 0
    # Tried remotely (with its retry) and nowhere else: nothing new in the index.
    assert gateway.remote.stats.requests > sent
    quarantined = {q["source"]: q for q in gateway.services.documents.list_quarantine()}
    refunds = quarantined[str((gateway.docs / "refunds.md").resolve())]
    assert refunds["reason"] == "embedding_failed"
    assert "HTTP 503" in refunds["detail"]
    # The accepted version is still what search finds (its question falls back meanwhile).
    assert _ids(gateway.search())[0] == old_hit

    gateway.remote.default_fault = None
    time.sleep(0.6)  # the failures opened the breaker; after its cool-down a probe goes out
    assert gateway.ingest() == {"new": 1, "updated": 1}
    assert not gateway.services.documents.list_quarantine()
    assert "store credit" in gateway.search("Is store credit given instead of refunds?").text


def test_without_a_fallback_a_failed_remote_is_a_clear_error(no_fallback: Gateway) -> None:
    no_fallback.remote.default_fault = Fault.http(503)
    resp = no_fallback.search()
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["type"] == "upstream_error"
    # A question is tried once (query_retries 0), a document twice.
    assert error["message"] == "embedding upstream failed (HTTP 503)"
    for _ in range(2):
        no_fallback.search()  # the breaker opens after three failed attempts
    resp = no_fallback.search()
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["message"] == "embedding upstream unavailable (circuit open)"
    assert int(resp.headers["retry-after"]) >= 1
