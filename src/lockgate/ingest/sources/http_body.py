"""An HTTP response body read with a ceiling on its decoded size.

httpx inflates `Content-Encoding: gzip` transparently and without a limit: a body of a few
hundred kilobytes can decode to gigabytes before any size check runs. Here the raw bytes are
read as they arrive and decoded by `lockgate.ingest.bounded.inflate`, which counts decoded
bytes, and the read stops one byte past the limit. Only the encodings we can bound are asked
for (`ACCEPT_ENCODING`); a server that answers with another one is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

from lockgate.ingest.bounded import (
    GZIP_WBITS,
    RAW_DEFLATE_WBITS,
    ZLIB_WBITS,
    LimitExceeded,
    collect,
    inflate,
)

ACCEPT_ENCODING = "gzip, deflate"


class UnsupportedEncoding(ValueError):
    """A Content-Encoding this reader cannot decode with a bounded decoder."""


def _encodings(resp: httpx.Response) -> list[str]:
    named = (e.strip().lower() for e in resp.headers.get("content-encoding", "").split(","))
    return [e for e in named if e not in ("", "identity")]


def _deflate(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`deflate` is zlib-wrapped by the standard and raw in some servers: try both."""
    first = next(chunks, b"")
    try:
        zlib.decompressobj(ZLIB_WBITS).decompress(first[:64], 1)
        wbits = ZLIB_WBITS
    except zlib.error:
        wbits = RAW_DEFLATE_WBITS

    def again() -> Iterator[bytes]:
        yield first
        yield from chunks

    yield from inflate(again(), wbits)


def read_body(resp: httpx.Response, limit: int) -> bytes:
    """The decoded body of a streamed response, at most `limit` bytes (LimitExceeded past it).

    A declared Content-Length over the limit is refused before anything is read."""
    encodings = _encodings(resp)
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(limit, int(declared))
    raw = resp.iter_raw()
    if not encodings:
        return collect(raw, limit)
    if len(encodings) > 1:
        raise UnsupportedEncoding(f"content-encoding {', '.join(encodings)}")
    if encodings[0] in ("gzip", "x-gzip"):
        return collect(inflate(raw, GZIP_WBITS), limit)
    if encodings[0] == "deflate":
        return collect(_deflate(iter(raw)), limit)
    raise UnsupportedEncoding(f"content-encoding {encodings[0]}")
