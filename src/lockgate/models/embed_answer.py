"""The vectors of an OpenAI-style `/embeddings` answer, checked before anything is indexed.

`{"data": [{"embedding": [...] | "<base64>", "index": i}, ...]}` as OpenAI, TEI, vLLM and
Ollama send it: `index` puts the rows back in input order (all items carry one, or none do);
a base64 embedding is little-endian float32. A wrong count, a missing or repeated index, a
vector of another length or a non-finite value is an error: a bad row stored in the index
would be found by no question, or by every one."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
import orjson

from lockgate.models.base import UpstreamError


def _bad(why: str) -> UpstreamError:
    # Not retryable: a server that answers like this will answer so again.
    return UpstreamError(f"embedding upstream sent a malformed response ({why})", retryable=False)


def _row(item: Any) -> np.ndarray:
    if not isinstance(item, dict) or "embedding" not in item:
        raise _bad("an item without 'embedding'")
    emb = item["embedding"]
    if isinstance(emb, str):
        try:
            raw = base64.b64decode(emb, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad("invalid base64 embedding") from exc
        if len(raw) % 4:
            raise _bad("base64 embedding is not float32")
        return np.frombuffer(raw, dtype="<f4")
    if not isinstance(emb, list) or not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in emb
    ):
        raise _bad("an embedding that is not a list of numbers")
    with np.errstate(over="ignore"):  # past float32's range: inf, refused below
        return np.asarray(emb, dtype=np.float32)


def _bulk(items: list[Any]) -> np.ndarray | None:
    """Float rows of equal length in one conversion (a Python-level check of every number
    cost more than the request on a loaded box); None when that is not what they are."""
    try:
        embs = [d["embedding"] for d in items]
    except (TypeError, KeyError):
        return None
    if not all(isinstance(e, list) for e in embs):
        return None
    try:
        with np.errstate(over="ignore"):  # past float32's range: inf, refused below
            vecs = np.asarray(embs, dtype=np.float32)
    except (ValueError, TypeError):
        return None
    return vecs if vecs.ndim == 2 else None


def _length(got: int, want: int) -> UpstreamError:
    return UpstreamError(
        f"embedding upstream returned vectors of length {got}, expected {want}", retryable=False
    )


def _order(data: list[Any], n: int) -> list[Any]:
    given = [d.get("index") if isinstance(d, dict) else None for d in data]
    if all(i is None for i in given):
        return data
    indexes = [i for i in given if isinstance(i, int) and not isinstance(i, bool)]
    if len(indexes) != len(given):
        raise _bad("'index' missing on some items")
    if sorted(indexes) != list(range(n)):
        raise _bad("'index' values are not 0..n-1, each once")
    out: list[Any] = [None] * n
    for i, d in zip(indexes, data, strict=True):
        out[i] = d
    return out


def vectors_of(content: bytes, n: int, dimensions: int | None) -> np.ndarray:
    """Unit-length float32 rows, one per input in input order, from an answer's bytes;
    `dimensions`: the length every row must have (None: any, but all equal)."""
    try:
        # orjson, not jsoncodec: a vector answer holds no big integers or deep nesting, and
        # a NaN literal is refused, as it should be.
        payload = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise _bad("not JSON") from exc
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list):
        raise _bad("no 'data' list")
    if len(data) != n:
        raise UpstreamError(
            f"embedding upstream returned {len(data)} vectors for {n} inputs", retryable=False
        )
    items = _order(data, n)
    vecs = _bulk(items)
    if vecs is None:  # base64, or something to name precisely: row by row
        rows = [_row(d) for d in items]
        want = dimensions if dimensions is not None else len(rows[0]) if rows else 0
        wrong = sorted({len(r) for r in rows} - {want})
        if wrong:
            raise _length(wrong[0], want)
        vecs = np.vstack(rows) if rows else np.zeros((0, want), dtype=np.float32)
    elif dimensions is not None and vecs.shape[1] != dimensions:
        raise _length(vecs.shape[1], dimensions)
    if n and vecs.shape[1] == 0:
        raise _bad("empty embeddings")
    if not np.isfinite(vecs).all():
        raise _bad("non-finite values")
    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return vecs
