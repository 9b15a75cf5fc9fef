"""Score fusion and document ranking (pure functions), and the retriever's document order
on a real store: distinct documents first, each with its best chunk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockgate.ingest.pipeline import Ingestor
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.retrieval.fusion import document_scores, fuse, normalise, order_by_document, rrf
from tests.conftest import make_services, make_settings


def test_rrf_counts_ranks_only() -> None:
    fused = rrf([([1, 2, 3], 1.0), ([3, 2], 2.0)], k=60)
    assert fused[3] == pytest.approx(1 / 63 + 2 / 61)
    assert fused[1] == pytest.approx(1 / 61)
    assert max(fused, key=fused.__getitem__) == 3


def test_normalise_maps_into_unit_range_keeping_order() -> None:
    scores = {1: 0.9, 2: 0.5, 3: 0.1}
    for method in ("minmax", "zscore"):
        out = normalise(scores, method)  # type: ignore[arg-type]
        assert out[1] > out[2] > out[3]
        assert all(0.0 <= v <= 1.0 for v in out.values())
    assert normalise(scores, "minmax") == {1: 1.0, 2: pytest.approx(0.5), 3: 0.0}
    assert normalise({7: 3.0, 8: 3.0}, "minmax") == {7: 1.0, 8: 1.0}
    assert normalise({}, "zscore") == {}


def test_score_fusion_keeps_a_confident_side_confident() -> None:
    # BM25 has one standout (chunk 10, far above the rest); the vector side is flat.
    # Rank fusion cannot see the gap: chunk 20, second on both sides, beats it there.
    text = {10: 30.0, 20: 6.0, 30: 5.9, 40: 5.8}
    vector = {50: 0.52, 20: 0.51, 30: 0.505, 10: 0.50, 60: 0.40}
    by_rank = rrf([(list(vector), 1.0), (list(text), 1.0)], 60)
    assert max(by_rank, key=by_rank.__getitem__) == 20
    for method in ("minmax", "zscore"):
        fused = fuse(vector, text, method, 1.0, 1.0)  # type: ignore[arg-type]
        assert max(fused, key=fused.__getitem__) == 10
        assert all(v > 0 for v in fused.values())
        assert set(fused) == {10, 20, 30, 40, 50, 60}


def test_weights_choose_the_side() -> None:
    text = {1: 9.0, 2: 5.0, 3: 1.0}
    vector = {3: 0.9, 2: 0.5, 1: 0.1}
    only_vector = fuse(vector, text, "zscore", 1.0, 0.0)
    only_text = fuse(vector, text, "zscore", 0.0, 1.0)
    assert sorted(only_vector, key=lambda c: -only_vector[c]) == [3, 2, 1]
    assert sorted(only_text, key=lambda c: -only_text[c]) == [1, 2, 3]
    # A chunk one side missed gets that side's weakest value, not nothing.
    partial = fuse({1: 0.9, 2: 0.1}, {3: 4.0, 2: 1.0}, "minmax", 1.0, 1.0)
    assert partial[1] == pytest.approx(partial[3])


def test_document_scores_max_and_top_k_mean() -> None:
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.2)]
    doc = {1: 100, 2: 200, 3: 200, 4: 100}
    assert document_scores(ranked, doc, "max") == {100: 0.9, 200: 0.8}
    top2 = document_scores(ranked, doc, "top2")
    assert top2[200] == pytest.approx(0.75) and top2[100] == pytest.approx(0.55)
    assert document_scores([(1, 0.9)], doc, "top3") == {100: pytest.approx(0.3)}


def test_order_by_document_interleaves_documents() -> None:
    ranked = [(1, 0.9), (2, 0.85), (3, 0.8), (4, 0.7), (5, 0.6)]
    doc = {1: 10, 2: 10, 3: 10, 4: 20, 5: 30}
    assert order_by_document(ranked, doc, "max", 1) == [1, 4, 5, 2, 3]
    assert order_by_document(ranked, doc, "max", 2) == [1, 2, 4, 5, 3]
    # With the mean of the best two, document 10's many good chunks keep it first, and 20
    # and 30 (one chunk each) are halved.
    assert order_by_document(ranked, doc, "top2", 1)[:3] == [1, 4, 5]

    # A first document far ahead gives more chunks in its turn; the others keep theirs.
    assert order_by_document(ranked, doc, "max", 1, first=3) == [1, 2, 3, 4, 5]
    assert order_by_document(ranked, doc, "max", 1, first=2) == [1, 2, 4, 5, 3]
    # Less than a turn's worth changes nothing.
    assert order_by_document(ranked, doc, "max", 2, first=1) == [1, 2, 4, 5, 3]


def test_only_a_document_far_ahead_of_the_second_gives_more_chunks() -> None:
    from lockgate.retrieval.hybrid import _dominant

    assert _dominant([1, 2], {1: 0.9, 2: 0.2}, 3.0, 4) == 4
    assert _dominant([1, 2], {1: 0.9, 2: 0.4}, 3.0, 4) == 0
    assert _dominant([1], {1: 0.9}, 3.0, 4) == 4  # no second document at all
    assert _dominant([1, 2], {1: 0.9, 2: 0.1}, None, 4) == 0  # off
    assert _dominant([1, 2], {1: -0.1, 2: -0.5}, 3.0, 4) == 0


VPN_PARTS = [
    "Install the corporate VPN client on your laptop before you work from home.",
    "Connect to the VPN with your badge number and the code from the token app.",
    "If the VPN connection drops at home, restart the client and reconnect to the office.",
    "Working from home, internal systems only open once the VPN tunnel is connected.",
]
TOPICS = {
    "vpn.md": "# Remote access\n\n"
    + "\n\n".join(f"## Step {i}\n\n{text}" for i, text in enumerate(VPN_PARTS)),
    "laptops.md": "# Laptop loans\n\nBorrow a laptop from the IT desk to work from home; "
    "return it within two weeks. Remote work needs a VPN connection.",
    "canteen.md": "# Canteen\n\nThe canteen serves lunch from noon to two; vegetarian dishes "
    "are marked green.",
}


@pytest.mark.parametrize("per_document", [1, None])
def test_retriever_lists_distinct_documents_first(
    tmp_path: Path, embedder: MiniLMEmbedder, per_document: int | None
) -> None:
    root = tmp_path / "kb"
    root.mkdir()
    for name, body in TOPICS.items():
        (root / name).write_text(body)
    settings = make_settings(tmp_path / "home")
    settings.retrieval.chunks_per_document = per_document
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(root)])
    chunks = services.retriever.search("how do I connect to the VPN when working from home", 3)
    names = [Path(c.source).name for c in chunks.chunks]
    assert names[0] == "vpn.md"
    if per_document == 1:
        assert len(set(names)) == 3  # each document once before any second chunk
        assert [c.rank for c in chunks.chunks] == [1, 2, 3]
    else:
        assert names.count("vpn.md") >= 2  # chunk order: the VPN manual's parts crowd in


def test_decay_counts_further_chunks_less() -> None:
    ranked = [(1, 0.8), (2, 0.9), (3, 0.6), (4, 0.6), (5, 0.6)]
    doc = {1: 10, 2: 20, 3: 10, 4: 10, 5: 10}
    scores = document_scores(ranked, doc, "decay")
    # Only the best three chunks count: 0.8 + 0.6 / 4 + 0.6 / 16.
    assert scores[10] == pytest.approx(0.9875)
    assert scores[20] == pytest.approx(0.9)  # one chunk keeps its full score


def test_default_keeps_an_exact_name_match_first(
    tmp_path: Path, embedder: MiniLMEmbedder, corpus: Path
) -> None:
    # The price table is one short chunk that BM25 is sure of and MiniLM is not; rank
    # fusion with the vector side weighted up, or a mean over several chunks, loses it.
    settings = make_settings(tmp_path / "home")
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(corpus)])
    for question in (
        "How many seats are included in the Business plan?",
        "What is the monthly price of the Team plan when billed monthly?",
    ):
        top = services.retriever.search(question, 5).chunks
        assert top[0].source.endswith("product/pricing.csv"), [c.source for c in top]
        assert len({c.document_id for c in top}) == len(top)


def _topics(tmp_path: Path, embedder: MiniLMEmbedder) -> Any:
    """Services over the three topic documents, ingested."""
    root = tmp_path / "kb"
    root.mkdir()
    for name, body in TOPICS.items():
        (root / name).write_text(body)
    settings = make_settings(tmp_path / "home")
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, embedder, settings.ingest).run([str(root)])
    return services


def test_a_caller_may_ask_for_more_chunks_of_each_document(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    services = _topics(tmp_path, embedder)
    q = "how do I connect to the VPN when working from home"
    one = [Path(c.source).name for c in services.retriever.search(q, 3).chunks]
    two = [Path(c.source).name for c in services.retriever.search(q, 3, per_document=2).chunks]
    assert one.count("vpn.md") == 1
    assert two[:2] == ["vpn.md", "vpn.md"] and len(set(two)) == 2  # then the next document
    # A retriever of its own for that (the grounded answer's), the shared one unchanged.
    answers = services.retriever.per_document(2)
    assert [Path(c.source).name for c in answers.search(q, 3).chunks] == two
    assert [Path(c.source).name for c in services.retriever.search(q, 3).chunks] == one


def test_the_grounded_retriever_takes_more_of_a_document_far_ahead(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    services = _topics(tmp_path, embedder)
    q = "how do I connect to the VPN when working from home"
    plain = services.retriever.per_document(1)
    ahead = services.retriever.per_document(1, dominant_ratio=1.01, dominant_chunks=3)
    names = [Path(c.source).name for c in ahead.search(q, 4).chunks]
    assert names[:3] == ["vpn.md"] * 3 and len(set(names)) == 2
    assert [Path(c.source).name for c in plain.search(q, 4).chunks].count("vpn.md") == 2
    # Not far enough ahead: the documents take turns as before.
    never = services.retriever.per_document(1, dominant_ratio=1000.0, dominant_chunks=3)
    assert [c.chunk_id for c in never.search(q, 4).chunks] == [
        c.chunk_id for c in plain.search(q, 4).chunks
    ]
