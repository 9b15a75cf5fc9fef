"""The torch-direct MiniLM must give the vectors sentence-transformers gives for the same model."""

from __future__ import annotations

import os

import numpy as np

from lockgate.models.minilm import MiniLMEmbedder


def test_matches_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    texts = [
        "Annual plans can be refunded within 30 days.",
        "How many vacation days do employees get?",
        "x",
        "A much longer passage " * 80,  # past the 256-token limit: truncation must agree
    ]
    reference = SentenceTransformer(str(embedder.path), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    ours = embedder.embed(texts)
    assert ours.shape == (4, 384)
    cosines = (ours * reference).sum(axis=1)
    assert np.all(cosines > 0.9999), cosines


def test_vectors_are_unit_and_semantic(embedder: MiniLMEmbedder) -> None:
    v = embedder.embed(["refund policy", "getting my money back", "kernel compile flags"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert embedder.embed([]).shape == (0, 384)
