"""End to end: the sample corpus ingested into a gateway whose vector side is Milvus answers
POST /v1/search with the same documents, in the same order, as the embedded exact scan;
with Milvus gone the route answers 503 with an OpenAI-style error, not a 500 or results
missing their vector side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.retrieval.milvus import MilvusVectorIndex
from lockgate.retrieval.milvus_local import LocalMilvus
from lockgate.services import Services
from tests.conftest import SAMPLES, make_services, make_settings
from tests.support.milvus import collection_name, start
from tests.support.server import serve

QUERIES = (
    "hotel limit tier 1",
    "how do I get a refund for an annual plan",
    "password rotation rules",
    "what is the uptime commitment",
    "first week onboarding checklist",
    "price of the team plan",
)


def _gateway(home: Path, embedder: Any, vector: dict[str, Any] | None) -> Services:
    overrides: dict[str, Any] = {}
    if vector is not None:
        overrides["retrieval"] = {"vector": vector}
    services = make_services(make_settings(home, **overrides), embedder)
    ingest = services.settings.ingest
    Ingestor(services.documents, services.runs, services.embedder, ingest).run([str(SAMPLES)])
    return services


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMilvus]:
    server = start(tmp_path_factory.mktemp("milvus-e2e") / "e2e.db")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateways(
    tmp_path_factory: pytest.TempPathFactory, embedder: Any, engine: LocalMilvus
) -> Iterator[tuple[str, str, Services]]:
    default = _gateway(tmp_path_factory.mktemp("exact-home"), embedder, None)
    vector = {"engine": "milvus", "uri": engine.uri, "collection": collection_name()}
    milvus = _gateway(tmp_path_factory.mktemp("milvus-home"), embedder, vector)
    assert isinstance(milvus.vectors, MilvusVectorIndex)
    with (
        serve(create_app(default, preload_models=False), ready_path="/healthz") as a,
        serve(create_app(milvus, preload_models=False), ready_path="/healthz") as b,
    ):
        yield a, b, milvus


def _search(base: str, query: str) -> dict[str, Any]:
    resp = httpx.post(base + "/v1/search", json={"query": query, "k": 5}, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_search_returns_the_documents_of_the_exact_scan(gateways) -> None:
    exact, milvus, services = gateways
    for query in QUERIES:
        want, got = _search(exact, query), _search(milvus, query)
        assert [r["source"] for r in got["results"]] == [r["source"] for r in want["results"]]
        assert got["results"][0]["vector_score"] == pytest.approx(
            want["results"][0]["vector_score"], abs=1e-3
        )
        assert got["max_similarity"] == pytest.approx(want["max_similarity"], abs=1e-3)
    assert len(services.vectors) == services.documents.counts()["chunks"] > 0


def test_an_engine_gone_is_a_503(gateways, engine: LocalMilvus) -> None:
    _, milvus, services = gateways
    _search(milvus, QUERIES[0])
    engine.stop()
    try:
        services.vectors.close()  # the next search reconnects, and finds no engine
        services.vectors.config = services.vectors.config.model_copy(update={"timeout_s": 1.0})
        resp = httpx.post(milvus + "/v1/search", json={"query": QUERIES[0]}, timeout=60)
        assert resp.status_code == 503, resp.text
        error = resp.json()["error"]
        assert error["code"] == "vector_index_unavailable"
        assert error["type"] == "service_unavailable"
        assert "127.0.0.1" not in error["message"]  # the engine's address stays inside
        assert resp.headers["retry-after"] == "5"
    finally:
        engine.start()
    assert _search(milvus, QUERIES[0])["results"]
