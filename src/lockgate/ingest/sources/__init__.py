"""Where documents come from: folders, HTTP(S) URLs and sitemaps, S3-compatible storage.

A connector lists `Item`s (a stable key, a name for format detection, a way to fetch the
bytes, a modification time, declared metadata); `lockgate.ingest.sync` does the rest. Each
source `kind` is a connector factory registered through `register_sources` (the built-ins in
`lockgate.ingest.builtin`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lockgate.ingest.quality import Declared
from lockgate.plugins import Registry

if TYPE_CHECKING:
    from lockgate.config import IngestConfig, SourceSpec


class SourceError(Exception):
    """A source as a whole could not be listed (host down, bucket missing)."""

    attempts: int = 1  # tries made before giving up (ingest.retry sets it)


class FetchError(Exception):
    """One item could not be fetched. `transient` failures are retried with backoff."""

    attempts: int = 1  # tries made before giving up (ingest.retry sets it)

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Refused(FetchError):
    """An item not read on purpose (too large, not a regular file): quarantined at once
    under `reason`, never retried."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, transient=False)
        self.reason = reason


@dataclass
class Item:
    key: str  # the document's source: absolute path, URL, or s3://bucket/key
    name: str  # file name used for format detection
    fetch: Callable[[], bytes]
    mtime: float
    declared: Callable[[], Declared] = field(default=lambda: Declared())


class Connector(Protocol):
    kind: str

    def items(self) -> Iterator[Item]: ...

    def prefix(self) -> str:
        """Every key this source owns starts with this (what --prune may retire)."""
        ...


# (the source's spec, the ingest settings, paths never to list) -> a connector.
ConnectorFactory = Callable[["SourceSpec", "IngestConfig", tuple[Path, ...]], Connector]

SOURCES: Registry[ConnectorFactory] = Registry("register_sources", "source kind")
