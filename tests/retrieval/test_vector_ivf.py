"""IVF partitioning of the in-memory vector index: it agrees with the exact scan (fully when
every list is probed, mostly when a few are), follows the store as documents come and go,
and small indexes stay exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lockgate.retrieval.ivf import IvfLayout, assign, train_centroids
from lockgate.retrieval.vector import NumpyVectorIndex
from lockgate.services import Services
from lockgate.store.documents import NewChunk, VersionInfo
from tests.conftest import make_settings

DIM = 32


def clustered(n: int, centres: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((centres, DIM)).astype(np.float32)
    rows = base[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, DIM))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def exact_top(matrix: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-(matrix @ query))[:k].tolist())


def ivf_top(
    matrix: np.ndarray, layout: IvfLayout, query: np.ndarray, k: int, probe: int
) -> set[int]:
    sorted_matrix = matrix[layout.order]
    positions, scores = layout.search(sorted_matrix, query, k, probe)
    best = positions[np.argsort(-scores)[:k]]
    return set(layout.order[best].tolist())


def test_probing_every_list_is_exact_and_a_few_lists_recall_most() -> None:
    matrix = clustered(6000, 40)
    centroids = train_centroids(matrix, 64)
    layout = IvfLayout.build(centroids, assign(matrix, centroids))
    queries = clustered(50, 40, seed=1)
    for q in queries[:10]:
        assert ivf_top(matrix, layout, q, 10, probe=64) == exact_top(matrix, q, 10)
    recall = np.mean(
        [len(ivf_top(matrix, layout, q, 10, 8) & exact_top(matrix, q, 10)) / 10 for q in queries]
    )
    assert recall >= 0.9


def test_probe_widens_until_enough_rows() -> None:
    matrix = clustered(400, 8)
    centroids = train_centroids(matrix, 20)
    layout = IvfLayout.build(centroids, assign(matrix, centroids))
    positions, _ = layout.search(matrix[layout.order], matrix[0], 300, n_probe=1)
    assert positions.size >= 300


def _store_doc(services: Services, source: str, vectors: np.ndarray) -> None:
    info = VersionInfo("h-" + source + str(vectors[0, 0]), 1, 0.0, "text", "t", "1", None, None)
    chunks = [
        NewChunk(i, f"{source} chunk {i}", (), None, 0, v.astype(np.float32).tobytes())
        for i, v in enumerate(vectors)
    ]
    services.documents.commit_version(source, info, chunks)


def test_index_partitions_follows_the_store_and_small_stays_exact(tmp_path: Path) -> None:
    services = Services(make_settings(tmp_path))
    index = NumpyVectorIndex(services.documents, dimensions=DIM, ivf_min_rows=500, ivf_probe=1000)
    data = clustered(900, 12)
    _store_doc(services, "a.md", data[:300])
    index.refresh()
    assert len(index) == 300 and not index.partitioned  # under ivf_min_rows: exact

    _store_doc(services, "b.md", data[300:600])
    index.refresh()
    assert index.partitioned
    query = data[450]
    hits = index.search(query, 5)
    assert hits[0].score > 0.999  # the row itself, found through its list

    # A changed document retires its old chunks; new rows join the existing lists.
    before = set(services.documents.active_chunk_ids())
    _store_doc(services, "b.md", data[600:900])
    index.refresh()
    assert len(index) == 600 and index.partitioned
    retired = before - set(services.documents.active_chunk_ids())
    assert len(retired) == 300
    probe_all = index.search(query, 600)
    assert len(probe_all) == 600 and retired.isdisjoint({h.chunk_id for h in probe_all})
    assert index.search(data[700], 1)[0].score > 0.999

    # With every list probed the partitioned search equals a brute-force scan.
    exact = NumpyVectorIndex(services.documents, dimensions=DIM, ivf_min_rows=None)
    for q in clustered(5, 12, seed=3):
        assert [h.chunk_id for h in index.search(q, 10)] == [
            h.chunk_id for h in exact.search(q, 10)
        ]
