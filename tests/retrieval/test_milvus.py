"""The Milvus-backed vector index against a real Milvus (the engine binary of the
milvus-lite 2.5 wheel, served on a loopback port): the same hits as the exact scan, tenant
and group filters inside the engine's query, retirements and new versions synced from the
store, a restarted engine reused rather than refilled, and bad settings refused clearly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from lockgate.cli import main
from lockgate.config import ConfigError, Settings, VectorEngineConfig, load_settings
from lockgate.retrieval.index import VectorIndex, VectorIndexMisconfigured, VectorIndexUnavailable
from lockgate.retrieval.milvus import MilvusVectorIndex, hexed, search_filter
from lockgate.retrieval.milvus_local import LocalMilvus
from lockgate.retrieval.vector import NumpyVectorIndex
from lockgate.store.access import Access
from lockgate.store.db import make_engine
from lockgate.store.documents import DocumentStore, NewChunk, VersionInfo
from lockgate.store.fulltext import text_index_for
from lockgate.store.migrations import migrate
from tests.support.milvus import engine_config, start
from tests.support.server import free_port

DIM = 384
TENANTS = (
    Access.of("alpha"),
    Access.of("alpha", ["hr"]),
    Access.of("beta"),
    # Names a filter expression must not misread: quotes, a backslash, an injection try.
    Access.of('ga"mma\\', ['x" or tenant != "']),
)


def _store(home: Path) -> DocumentStore:
    settings = Settings(home=home)
    engine: Engine = make_engine(settings.store_url)
    migrate(engine)
    return DocumentStore(engine, text_index_for(engine))


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _commit(
    store: DocumentStore, source: str, vectors: np.ndarray, access: Access
) -> tuple[int, int]:
    info = VersionInfo(
        content_hash=f"{source}-{vectors.sum():.6f}",
        size=1,
        mtime=0.0,
        format="md",
        parser="test",
        parser_version="1",
        title=source,
        pages=None,
    )
    chunks = [
        NewChunk(i, f"{source} chunk {i}", (), None, 0, v.astype(np.float32).tobytes())
        for i, v in enumerate(vectors)
    ]
    return store.commit_version(source, info, chunks, access)


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """A store of 40 documents x 8 chunks spread over the tenants of TENANTS."""
    store = _store(tmp_path / "home")
    rng = np.random.default_rng(7)
    for d in range(40):
        access = TENANTS[d % len(TENANTS)]
        _commit(store, f"/kb/{'hr' if d % 2 else 'eng'}/doc{d}.md", _unit(rng, 8), access)
    return {"store": store, "rng": rng}


@pytest.fixture
def index(world: dict[str, Any], milvus_server: LocalMilvus) -> Iterator[MilvusVectorIndex]:
    idx = MilvusVectorIndex(world["store"], engine_config(milvus_server.uri))
    yield idx
    idx.close()


def _ids(hits: list[Any]) -> list[int]:
    return [h.chunk_id for h in hits]


def _chunk_ids(store: DocumentStore, source: str) -> set[int]:
    doc = store.known_sources()[source]
    rows = store.embeddings(store.active_chunk_ids())
    return {r[0] for r in rows if r[1] == doc.document_id}


def test_both_indexes_are_vector_indexes(world, index) -> None:
    assert isinstance(index, VectorIndex)
    assert isinstance(NumpyVectorIndex(world["store"]), VectorIndex)


def test_search_matches_the_exact_scan(world, index) -> None:
    store = world["store"]
    exact = NumpyVectorIndex(store)
    queries = _unit(world["rng"], 12)
    cases: list[dict[str, Any]] = [
        {},
        {"access": TENANTS[0]},
        {"access": TENANTS[1]},
        {"access": TENANTS[3]},
        {"source_prefix": "/kb/hr/"},
        {"document_ids": [1, 2, 3, 17]},
        {"access": TENANTS[1], "source_prefix": "/kb/eng/doc1"},
    ]
    for case in cases:
        for q in queries:
            want = exact.search(q, 10, **case)
            got = index.search(q, 10, **case)
            assert _ids(got) == _ids(want), case
            np.testing.assert_allclose(
                [h.score for h in got], [h.score for h in want], rtol=1e-4, atol=1e-5
            )
    assert len(index) == len(exact) == 320


def test_tenant_and_groups_are_part_of_the_engine_query(world, index) -> None:
    store = world["store"]
    sent: list[str] = []
    client = index._connect()
    real = client.search

    def recording(*args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs["filter"])
        return real(*args, **kwargs)

    client.search = recording  # type: ignore[method-assign]
    # A query equal to a beta chunk: beta's rows are the nearest, alpha's must still fill
    # the whole top 50 (post-filtering the engine's top 50 would leave alpha a few rows).
    beta_chunk = min(_chunk_ids(store, "/kb/eng/doc2.md"))
    query = np.frombuffer(store.embeddings([beta_chunk])[0][3], dtype=np.float32)
    hits = index.search(query, 50, access=TENANTS[0])
    assert len(hits) == 50
    visible = {
        r[0] for r in store.embeddings(store.active_chunk_ids()) if TENANTS[0].allows(r[4], r[5])
    }
    assert set(_ids(hits)) <= visible
    assert sent[-1] == search_filter(TENANTS[0], None, None)
    assert "tenant ==" in sent[-1] and "array_length(groups) == 0" in sent[-1]
    # Every name reaches the engine as hex digits: quotes and operators in a tenant or a
    # group name are data, never part of the expression.
    odd = index.search(query, 100, access=TENANTS[3])
    assert odd and all(TENANTS[3].allows(r[4], r[5]) for r in store.embeddings(_ids(odd)))
    assert 'ga"mma' not in sent[-1] and hexed('ga"mma\\') in sent[-1]
    assert index.search(query, 10, access=Access.of("nobody")) == []


def test_new_versions_and_retirements_reach_the_engine(world, index) -> None:
    store = world["store"]
    source = "/kb/eng/doc4.md"
    old = _chunk_ids(store, source)
    query = np.frombuffer(store.embeddings([min(old)])[0][3], dtype=np.float32)
    assert index.search(query, 1)[0].chunk_id == min(old)
    _commit(store, source, _unit(world["rng"], 3), TENANTS[0])  # a new version
    new = _chunk_ids(store, source)
    found = set(_ids(index.search(query, 400)))
    assert not found & old and new <= found
    assert len(index) == 320 - 8 + 3 == index._count(index._connect())
    assert store.retire_documents([source]) == 1
    assert not set(_ids(index.search(query, 400))) & (old | new)
    assert len(index) == 312 == index._count(index._connect())


def test_rows_left_by_another_writer_are_reconciled(world, index, milvus_server) -> None:
    store = world["store"]
    index.refresh()
    # A second process on the same collection, stopped half-way: it wrote a row for a
    # chunk that was retired since (and that this process never knew of).
    other = MilvusVectorIndex(store, index.config)
    stale = list(other._records(other._connect(), store.embeddings([1])))[0]
    stale["id"] = 999_999
    other._dimensions = DIM
    other._connect().upsert(index.config.collection, [stale])
    other.close()
    query = np.frombuffer(store.embeddings([1])[0][3], dtype=np.float32)
    _commit(store, "/kb/eng/new.md", _unit(world["rng"], 2), TENANTS[0])  # the store moves
    assert 999_999 not in _ids(index.search(query, 50))
    assert index.stats["reconciled"] == 1
    assert index._count(index._connect()) == len(store.active_chunk_ids())


def test_a_restarted_engine_keeps_its_collection(tmp_path: Path, world) -> None:
    store = world["store"]
    data, port = tmp_path / "milvus" / "restart.db", free_port()
    query = _unit(world["rng"], 1)[0]
    with start(data, port):
        first = MilvusVectorIndex(store, engine_config(f"http://127.0.0.1:{port}"))
        before = first.search(query, 10, access=TENANTS[1])
        assert first.stats["upserted"] == 320
        first.close()
    with start(data, port):  # the same data file, a new engine process
        again = MilvusVectorIndex(store, first.config)
        after = again.search(query, 10, access=TENANTS[1])
        assert _ids(after) == _ids(before) and len(again) == 320
        assert again.stats["upserted"] == 0  # read back, not re-inserted
        again.close()


def test_a_collection_of_another_dimension_is_refused(tmp_path: Path, world, milvus_server) -> None:
    store = world["store"]
    cfg = engine_config(milvus_server.uri)
    other = _store(tmp_path / "other")
    _commit(other, "/x.md", np.ones((1, 8), dtype=np.float32) / np.sqrt(8), TENANTS[0])
    MilvusVectorIndex(other, cfg).refresh()  # the collection now holds 8-d vectors
    with pytest.raises(VectorIndexMisconfigured, match="8-dimensional"):
        MilvusVectorIndex(store, cfg).refresh()


def test_an_unreachable_engine_is_a_503(world) -> None:
    cfg = engine_config(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    idx = MilvusVectorIndex(world["store"], cfg)
    with pytest.raises(VectorIndexUnavailable) as err:
        idx.search(_unit(world["rng"], 1)[0], 5)
    assert err.value.status == 503 and err.value.code == "vector_index_unavailable"
    assert "127.0.0.1" in (err.value.detail or "")


def test_engine_settings_are_checked(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="needs retrieval.vector.uri"):
        VectorEngineConfig(engine="milvus")
    with pytest.raises(ValueError, match="http:// or https://"):
        VectorEngineConfig(engine="milvus", uri="milvus:19530")
    cfg = tmp_path / "lockgate.yaml"
    cfg.write_text("retrieval:\n  vector:\n    engine: milvus\n    index: HNSWX\n")
    with pytest.raises(ConfigError, match="retrieval.vector.index"):
        load_settings(cfg)
    cfg.write_text("retrieval:\n  vector:\n    engine: milvus\n")
    with pytest.raises(ConfigError, match="needs retrieval.vector.uri"):
        load_settings(cfg)
    monkeypatch.setenv("LOCKGATE_RETRIEVAL__VECTOR__URI", "http://10.0.0.1:19530")
    monkeypatch.setenv("LOCKGATE_RETRIEVAL__VECTOR__COLLECTION", "kb_chunks")
    loaded = load_settings(cfg).retrieval.vector
    assert (loaded.engine, loaded.uri, loaded.collection) == (
        "milvus",
        "http://10.0.0.1:19530",
        "kb_chunks",
    )


def test_cli_search_with_the_engine_down_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "lockgate.yaml"
    port = free_port()
    cfg.write_text(
        json.dumps(
            {
                "home": str(tmp_path / "home"),
                "retrieval": {
                    "vector": {
                        "engine": "milvus",
                        "uri": f"http://127.0.0.1:{port}",
                        "timeout_s": 1.0,
                    }
                },
            }
        )
    )
    result = CliRunner().invoke(main, ["--config", str(cfg), "search", "refunds"])
    assert result.exit_code == 1, result.output
    assert "vector index is unavailable" in result.output
    assert f"127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
