"""Every source reads with a ceiling: a gzip bomb served by a real loopback HTTP server, an
endless chunked body, a bombed sitemap.xml.gz, an S3 object larger than declared, a FIFO and
an oversized file in a folder. Each is refused (quarantined `too_large` or `not_a_file`, or
the listing fails) while memory stays near the limit, and the run goes on."""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lockgate.ingest.sources import FetchError
from lockgate.ingest.sources.s3 import S3Connector
from lockgate.ingest.sync import spec_for
from tests.ingest.test_sources import LOOPBACK, make_sync
from tests.support.server import serve

MB = 1 << 20
BOMB_MB = 256  # what the bomb inflates to; about 250 KB on the wire


def gzip_bomb(decoded_mb: int = BOMB_MB) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MB
    return b"".join([*(c.compress(block) for _ in range(decoded_mb)), c.flush()])


def _site(bomb: bytes, sent: list[int]) -> Starlette:
    def bombed(request: Request) -> Response:
        # A page whose body inflates a thousandfold (Content-Encoding: gzip).
        return Response(bomb, headers={"content-encoding": "gzip", "content-type": "text/plain"})

    def endless(request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(16_000):  # 1 GB at most, so the test ends by itself regardless
                sent[0] += 1
                yield b"x" * 65536

        return StreamingResponse(body(), media_type="text/plain")

    def page(request: Request) -> Response:
        return Response("The bike shed is painted green.", media_type="text/plain")

    def sitemap_gz(request: Request) -> Response:
        # Served as a file, so its gzip is ours to open (no Content-Encoding).
        return Response(bomb, media_type="application/gzip")

    return Starlette(
        routes=[
            Route("/bomb.txt", bombed),
            Route("/endless.txt", endless),
            Route("/page.txt", page),
            Route("/sitemap.xml.gz", sitemap_gz),
        ]
    )


def _peak(fn: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_page_is_quarantined_without_inflating_it(tmp_path: Path, embedder) -> None:
    bomb = gzip_bomb()
    with serve(_site(bomb, [0])) as base:
        sync, services = make_sync(tmp_path, embedder, fetch=LOOPBACK, max_file_mb=1)
        summary, peak = _peak(lambda: sync.run([spec_for(f"{base}/bomb.txt")]))
    assert peak < 24 * MB, f"peak {peak / MB:.0f} MB while refusing a {BOMB_MB} MB bomb"
    assert (summary.new, summary.quarantined) == (0, 1)
    assert summary.reasons == {"too_large": 1}
    (q,) = services.documents.list_quarantine()
    assert q["reason"] == "too_large" and "limit" in q["detail"]


def test_endless_body_is_cut_off_at_the_limit(tmp_path: Path, embedder) -> None:
    sent = [0]
    with serve(_site(b"", sent)) as base:
        sync, services = make_sync(tmp_path, embedder, fetch=LOOPBACK, max_file_mb=1)
        t0 = time.monotonic()
        summary = sync.run([spec_for(f"{base}/endless.txt"), spec_for(f"{base}/page.txt")])
        elapsed = time.monotonic() - t0
    assert summary.reasons == {"too_large": 1} and summary.new == 1  # the run went on
    assert elapsed < 30 and sent[0] < 1000  # stopped reading, far from the 1 GB on offer


def test_bombed_sitemap_gz_fails_the_listing_not_the_memory(tmp_path: Path, embedder) -> None:
    bomb = gzip_bomb()
    with serve(_site(bomb, [0])) as base:
        sync, _ = make_sync(tmp_path, embedder, fetch=LOOPBACK, max_file_mb=1)
        spec = spec_for(f"{base}/sitemap.xml.gz")
        assert spec.kind == "sitemap"
        summary, peak = _peak(lambda: sync.run([spec]))
    assert peak < 24 * MB, f"peak {peak / MB:.0f} MB while refusing a {BOMB_MB} MB sitemap"
    assert "limit" in summary.sources[0]["error"]


# -- S3 -------------------------------------------------------------------------------------


class _Body:
    """A botocore StreamingBody stand-in that would hand out `size` bytes, and records how
    much it was asked for."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.asked: list[int | None] = []
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        self.asked.append(amt)
        n = self.size if amt is None else min(amt, self.size)
        self.size -= n
        return b"y" * n

    def close(self) -> None:
        self.closed = True


class _Client:
    def __init__(self, declared: int, actual: int) -> None:
        self.body = _Body(actual)
        self.declared = declared

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3 names
        return {"ContentLength": self.declared, "Body": self.body}


def _connector(client: _Client, max_bytes: int) -> S3Connector:
    conn = S3Connector("s3://bucket/docs/", max_bytes=max_bytes)
    conn.client = client
    return conn


def test_s3_object_over_its_declared_length_is_read_only_to_the_limit() -> None:
    client = _Client(declared=10, actual=64 * MB)  # a server that lies about the length
    with pytest.raises(FetchError, match="limit") as err:
        _connector(client, max_bytes=MB).fetch_object("docs/big.md")
    assert not err.value.transient
    assert None not in client.body.asked and sum(a or 0 for a in client.body.asked) <= MB + 1
    assert client.body.closed


def test_s3_object_declared_too_large_is_not_read() -> None:
    client = _Client(declared=64 * MB, actual=64 * MB)
    with pytest.raises(FetchError, match="limit"):
        _connector(client, max_bytes=MB).fetch_object("docs/big.md")
    assert client.body.asked == [] and client.body.closed


def test_s3_object_within_the_limit_is_read_whole() -> None:
    client = _Client(declared=1000, actual=1000)
    assert _connector(client, max_bytes=MB).fetch_object("docs/ok.md") == b"y" * 1000


# -- folders --------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_in_a_folder_is_skipped_and_the_run_finishes(tmp_path: Path, embedder) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.md").write_text("# A\n\nThe first-aid kit is in the kitchen.\n")
    os.mkfifo(root / "pipe.md")
    sync, services = make_sync(tmp_path, embedder)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(sync.run([spec_for(str(root))])))
    worker.daemon = True
    worker.start()
    worker.join(20)
    if worker.is_alive():  # unblock the reader so the thread can end, then fail
        with open(root / "pipe.md", "wb"):
            pass
        pytest.fail("ingest blocked on a FIFO")
    (summary,) = result
    assert (summary.new, summary.quarantined) == (1, 1)
    assert summary.reasons == {"not_a_file": 1}
    (q,) = services.documents.list_quarantine()
    assert q["source"].endswith("pipe.md") and q["reason"] == "not_a_file"


def test_oversized_file_is_refused_before_it_is_read(tmp_path: Path, embedder) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    with open(root / "sparse.txt", "wb") as f:  # 300 MB on paper, no disk used
        f.truncate(300 * MB)
    (root / "b.md").write_text("# B\n\nVisitors sign in at the front desk.\n")
    sync, _ = make_sync(tmp_path, embedder, max_file_mb=1)
    summary, peak = _peak(lambda: sync.run([spec_for(str(root))]))
    assert summary.reasons == {"too_large": 1} and summary.new == 1
    assert peak < 64 * MB, f"peak {peak / MB:.0f} MB: the file was read before its size check"
