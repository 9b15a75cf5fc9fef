"""Reading bytes with a ceiling: files, streams and gzip/deflate data never grow past a limit.

A size check after the read comes too late: a sparse file, an endless HTTP body or a small
compressed one that inflates a thousandfold has already been held in memory by then. Every
reader here counts what it produces as it goes and stops one byte past the limit, and the
inflater hands out at most `_PIECE` bytes per step, so memory stays near the limit whatever
the input claims or contains.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_PIECE = 64 * 1024
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class LimitExceeded(ValueError):
    """The data is larger than the limit; nothing past the limit was read or inflated."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        what = f"{size} bytes" if size is not None else "more"
        super().__init__(f"{what}, over the limit of {limit} bytes")
        self.limit = limit
        self.size = size


class NotRegularFile(OSError):
    """A FIFO, socket or device node: reading one can block forever or never end."""


def collect(pieces: Iterable[bytes], limit: int) -> bytes:
    """Join `pieces`, raising LimitExceeded as soon as they add up to more than `limit`."""
    out = bytearray()
    for piece in pieces:
        out += piece
        if len(out) > limit:
            raise LimitExceeded(limit)
    return bytes(out)


def read_capped(read: Callable[[int], bytes], limit: int) -> bytes:
    """Call `read(n)` until it returns b"", never asking for more than one byte past
    `limit` in all; LimitExceeded if that byte came."""
    out = bytearray()
    while True:
        piece = read(min(_PIECE, limit + 1 - len(out)))
        if not piece:
            return bytes(out)
        out += piece
        if len(out) > limit:
            raise LimitExceeded(limit)


def inflate(chunks: Iterable[bytes], wbits: int = GZIP_WBITS) -> Iterator[bytes]:
    """Decompress a zlib/gzip/raw-deflate stream piece by piece (`zlib.decompressobj` with
    `max_length`), so a bomb is never inflated further than its consumer reads. Stops at the
    end of the first compressed stream; anything after it is ignored."""
    d = zlib.decompressobj(wbits)
    for chunk in chunks:
        data = chunk
        while data and not d.eof:
            out = d.decompress(data, _PIECE)
            if out:
                yield out
            data = d.unconsumed_tail
        if d.eof:
            return
    # Truncated input: what the decompressor still holds is less than one window.
    tail = d.flush()
    if tail:
        yield tail


def gunzip(data: bytes, limit: int) -> bytes:
    """`gzip.decompress` with a ceiling on the output."""
    return collect(inflate([data], GZIP_WBITS), limit)


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    The file is opened without blocking (a FIFO swapped in after a listing cannot hang the
    run) and checked on the open descriptor, so what is read is what was checked."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb", buffering=0) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path.name}: not a regular file")
        if info.st_size > limit:
            raise LimitExceeded(limit, info.st_size)
        # A file growing while it is read still stops one byte past the limit.
        return read_capped(f.read, limit)


def is_regular(path: Path) -> bool:
    """Regular file (after symlinks), without opening it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
