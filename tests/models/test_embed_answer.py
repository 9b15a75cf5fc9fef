"""Reading an `/embeddings` answer: every shape OpenAI-compatible servers send, and every
answer that would put a wrong row into the index refused with a clear error."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pytest

from lockgate.models.base import UpstreamError
from lockgate.models.embed_answer import vectors_of


def answer(*items: dict[str, Any]) -> bytes:
    return json.dumps({"object": "list", "data": list(items)}).encode()


def b64(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def test_rows_are_put_in_index_order_and_normalised() -> None:
    body = answer({"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 4.0]})
    vecs = vectors_of(body, 2, None)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)


def test_items_without_index_keep_their_order() -> None:
    vecs = vectors_of(answer({"embedding": [1, 0]}, {"embedding": [0, 1]}), 2, 2)
    np.testing.assert_allclose(vecs, [[1, 0], [0, 1]])


def test_base64_rows_are_little_endian_float32() -> None:
    vecs = vectors_of(answer({"index": 0, "embedding": b64(3.0, 4.0)}), 1, 2)
    np.testing.assert_allclose(vecs, [[0.6, 0.8]], atol=1e-6)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed response (not JSON)"),
        (b'{"data": [1.0, NaN]}', "malformed response (not JSON)"),
        (b'{"error": {"message": "x"}}', "malformed response (no 'data' list)"),
        (answer({"index": 0}), "malformed response (an item without 'embedding')"),
        (answer({"index": 0, "embedding": "%%%"}), "malformed response (invalid base64"),
        (answer({"index": 0, "embedding": "AAA="}), "base64 embedding is not float32"),
        (answer({"index": 0, "embedding": [1, "a"]}), "not a list of numbers"),
        (answer({"index": 0, "embedding": [1, None]}), "non-finite values"),
        (answer({"index": 0, "embedding": [[1], [2]]}), "not a list of numbers"),
        (answer({"index": 0, "embedding": []}), "empty embeddings"),
        (answer({"index": 0, "embedding": [1e39, 1]}), "non-finite values"),
        (
            answer({"index": 0, "embedding": [1, 0]}, {"embedding": [0, 1]}),
            "'index' missing on some items",
        ),
        (
            answer({"index": 0, "embedding": [1, 0]}, {"index": 0, "embedding": [0, 1]}),
            "'index' values are not 0..n-1",
        ),
        (
            answer({"index": 0, "embedding": [1, 0]}, {"index": 0, "embedding": [0, 1, 0]}),
            "'index' values are not 0..n-1",
        ),
    ],
)
def test_malformed_answers(body: bytes, message: str) -> None:
    try:
        n = len(json.loads(body)["data"])
    except (ValueError, KeyError):
        n = 1
    with pytest.raises(UpstreamError) as err:
        vectors_of(body, n, None)
    assert message in str(err.value)
    assert err.value.retryable is False


def test_count_and_length_are_checked() -> None:
    with pytest.raises(UpstreamError, match="returned 1 vectors for 2 inputs"):
        vectors_of(answer({"index": 0, "embedding": [1, 0]}), 2, None)
    with pytest.raises(UpstreamError, match="vectors of length 3, expected 2"):
        vectors_of(answer({"index": 0, "embedding": [1, 0, 0]}), 1, 2)
    ragged = answer({"index": 0, "embedding": [1, 0]}, {"index": 1, "embedding": [1, 0, 0]})
    with pytest.raises(UpstreamError, match="vectors of length 3, expected 2"):
        vectors_of(ragged, 2, None)
