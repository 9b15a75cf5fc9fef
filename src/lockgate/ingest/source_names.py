"""What a document source is called where others can read it.

A URL source keeps the URL it was fetched from, and that URL may carry credentials: userinfo
(`https://bob:pw@host/`), a signed query (`?sig=…&X-Amz-Credential=…`), an `?api-key=`. Those
are kept out of the document key (`url_key`), so they are never stored with the document nor
sent back in search results and citations; the fetch itself still uses the full URL.

A folder source's documents are keyed by absolute path, which says how the host's disk is
laid out. Callers are shown the path relative to the folder that was ingested
(`shown_source`); with no known root, only the file's own name.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

# A container member is keyed `<container>#<member>` (see ingest/containers.py).
_MEMBER = "#"


def _is_url(source: str) -> bool:
    scheme, sep, _ = source.partition("://")
    # An S3 key may hold '?' and '#' as plain characters: it is a key, not a URL to parse.
    return bool(sep) and scheme.isalpha() and scheme.lower() != "s3"


def url_key(url: str) -> str:
    """`url` without userinfo, query and fragment: the key a fetched document is stored
    under. The query goes whole: which of its values are secrets cannot be told apart."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _shown_url(source: str) -> str:
    parts = urlsplit(source)
    host = parts.netloc.rpartition("@")[2]
    # A fragment here is a container member's name (a URL key never has one of its own).
    return urlunsplit((parts.scheme, host, parts.path, "", parts.fragment))


def root_of(source: str, roots: Iterable[str]) -> str | None:
    """The longest of `roots` (ingested folders or files) that `source` lies under."""
    best: str | None = None
    for root in roots:
        r = root.rstrip("/") or "/"
        under = source == r or source.startswith((r.rstrip("/") + "/", r + _MEMBER))
        if under and (best is None or len(r) > len(best)):
            best = r
    return best


def shown_source(source: str, root: str | None = None) -> str:
    """`source` as a caller may see it: a URL without credentials, a path relative to the
    ingested `root` (a single ingested file: its name), an S3 URI as it is."""
    if _is_url(source):
        return _shown_url(source)
    if "://" in source or not source.startswith("/"):
        return source
    if root:
        r = root.rstrip("/") or "/"
        if source == r or source.startswith(r + _MEMBER):
            return PurePosixPath(r).name + source[len(r) :]
        if source.startswith(r.rstrip("/") + "/"):
            return source[len(r.rstrip("/")) + 1 :]
    # No known root: the file's own name (and member), never the folders above it.
    cut = source.find(_MEMBER)
    path = source if cut == -1 else source[:cut]
    return PurePosixPath(path).name + source[len(path) :]
