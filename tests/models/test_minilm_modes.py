"""MiniLM run modes: int8 matmuls for short texts only, and the per-text memo. The vectors
must stay close to the fp32 ones (same model, same space) and batches stay exact fp32."""

from __future__ import annotations

import numpy as np

from lockgate.models.minilm import MiniLMEmbedder

TEXTS = [
    "What is the refund window for annual plans?",
    "Critical vulnerabilities are patched within 72 hours of disclosure.",
    "Employees may carry over up to five unused days of leave.",
]


def test_int8_for_queries_is_close_to_fp32_and_batches_stay_fp32(
    embedder: MiniLMEmbedder,
) -> None:
    q8 = MiniLMEmbedder(int8="queries")
    single = np.stack([q8.embed([t])[0] for t in TEXTS])
    reference = embedder.embed(TEXTS)
    cos = np.sum(single * reference, axis=1)
    assert np.all(cos > 0.97) and not np.allclose(single, reference, atol=1e-6)
    # Several long texts are a batch: fp32 weights, the reference vectors exactly.
    batch = q8.embed([t * 20 for t in TEXTS])
    assert np.allclose(batch, embedder.embed([t * 20 for t in TEXTS]), atol=1e-5)
    # The nearest text is still the right one under int8.
    assert list(np.argmax(single @ reference.T, axis=1)) == [0, 1, 2]


def test_memo_returns_the_same_vector_for_texts_that_tokenise_alike(
    embedder: MiniLMEmbedder,
) -> None:
    a = embedder.embed(["  What is the REFUND window?"])[0]
    b = embedder.embed(["what is the refund   window?"])[0]  # uncased model: same pieces
    assert np.array_equal(a, b)
    c = embedder.embed(["what is the refund window for monthly plans?"])[0]
    assert not np.array_equal(a, c)
