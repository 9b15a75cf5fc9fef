"""MiniLM run modes: int8 matmuls for questions only, and the per-text memo. The int8
vectors must stay close to the fp32 ones (same model, same space); everything else that
embeds (ingest, guardrail scanners, /v1/embeddings) stays exact fp32."""

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
    model = MiniLMEmbedder(int8="queries")
    questions = model.for_queries()
    single = np.stack([questions.embed([t])[0] for t in TEXTS])
    reference = embedder.embed(TEXTS)
    cos = np.sum(single * reference, axis=1)
    assert np.all(cos > 0.97) and not np.allclose(single, reference, atol=1e-6)
    # The nearest text is still the right one under int8.
    assert list(np.argmax(single @ reference.T, axis=1)) == [0, 1, 2]
    # The model itself stays fp32, for single texts and batches alike.
    assert np.allclose(model.embed([TEXTS[0]])[0], reference[0], atol=1e-5)
    assert np.allclose(model.embed(TEXTS), reference, atol=1e-5)
    # "off" has no int8 path at all; "all" uses it everywhere.
    off = MiniLMEmbedder(int8="off")
    assert off.for_queries() is off
    everything = MiniLMEmbedder(int8="all")
    assert np.allclose(everything.embed([TEXTS[0]])[0], single[0], atol=1e-5)


def test_memo_returns_the_same_vector_for_texts_that_tokenise_alike(
    embedder: MiniLMEmbedder,
) -> None:
    a = embedder.embed(["  What is the REFUND window?"])[0]
    b = embedder.embed(["what is the refund   window?"])[0]  # uncased model: same pieces
    assert np.array_equal(a, b)
    c = embedder.embed(["what is the refund window for monthly plans?"])[0]
    assert not np.array_equal(a, c)
