"""HTTP(S) documents: single URLs and sitemaps (nested sitemap indexes, gzip, lastmod).

The Last-Modified header is passed on as the document's declared date; a URL without a
file extension gets one from its Content-Type so the right parser is chosen. A document is
keyed by its URL without userinfo, query or fragment (`source_names.url_key`): credentials in
a URL are used for the fetch and never stored. Bodies and sitemaps are read with a ceiling
(`max_bytes`, decoded), a gzipped sitemap included.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urlparse

import httpx
from lxml import etree

from lockgate.ingest.bounded import LimitExceeded, gunzip
from lockgate.ingest.egress import EgressPolicy, same_host
from lockgate.ingest.quality import Declared
from lockgate.ingest.source_names import url_key
from lockgate.ingest.sources import FetchError, Item, SourceError
from lockgate.ingest.sources.pinned import Fetched, Resolver, client, fetch, resolve

log = logging.getLogger(__name__)

_EXT = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
    "application/json": ".json",
}
_USER_AGENT = "lockgate-ingest/0.1"
_DEFAULT_MAX_BYTES = 100 * 1024 * 1024


def _name(url: str) -> str:
    last = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]
    return last or "index"


class UrlConnector:
    kind = "url"

    def __init__(
        self,
        urls: Iterable[str],
        timeout_s: float = 30.0,
        uri: str = "",
        policy: EgressPolicy | None = None,
        resolver: Resolver = resolve,
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> None:
        self.urls = list(urls)
        self.uri = uri or (self.urls[0] if self.urls else "")
        self.policy = policy or EgressPolicy()
        self.max_bytes = max_bytes
        self.client: httpx.Client = client(self.policy, timeout_s, _USER_AGENT, resolver)

    def get(self, url: str) -> Fetched:
        return fetch(self.client, self.policy, url, self.max_bytes)

    def prefix(self) -> str:
        return url_key(self.uri)

    def _item(self, url: str, lastmod: float | None = None) -> Item:
        cache: dict[str, Declared] = {}

        def get() -> bytes:
            resp = self.get(url)
            name = _name(url)
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if "." not in name and ctype in _EXT:
                item.name = name + _EXT[ctype]
            raw = {}
            if modified := resp.headers.get("last-modified"):
                with contextlib.suppress(TypeError, ValueError):
                    raw["last_modified"] = parsedate_to_datetime(modified).date().isoformat()
            cache["d"] = Declared(raw=raw)
            return resp.content

        item = Item(
            key=url_key(url),
            name=_name(url),
            fetch=get,
            mtime=lastmod or time.time(),
            declared=lambda: cache.get("d", Declared()),
        )
        return item

    def items(self) -> Iterator[Item]:
        yield from _unique(self._item(url) for url in self.urls)


class SitemapConnector(UrlConnector):
    kind = "sitemap"

    def __init__(
        self,
        sitemap_url: str,
        timeout_s: float = 30.0,
        max_urls: int = 10000,
        policy: EgressPolicy | None = None,
        resolver: Resolver = resolve,
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__(
            [], timeout_s, uri=sitemap_url, policy=policy, resolver=resolver, max_bytes=max_bytes
        )
        self.sitemap_url = sitemap_url
        self.max_urls = max_urls

    def prefix(self) -> str:
        # A sitemap owns the pages under its own folder.
        return url_key(self.sitemap_url).rsplit("/", 1)[0] + "/"

    def entries(self) -> list[tuple[str, float | None]]:
        out: list[tuple[str, float | None]] = []
        queue: list[tuple[str, int]] = [(self.sitemap_url, 0)]
        seen: set[str] = set()
        while queue and len(out) < self.max_urls:
            url, depth = queue.pop(0)
            if url in seen or depth > 3:
                continue
            if len(seen) >= self.policy.max_sitemaps:
                log.warning(
                    "%s: more than %d sitemaps, the rest skipped",
                    url_key(self.sitemap_url),
                    self.policy.max_sitemaps,
                )
                break
            seen.add(url)
            try:
                body = self.get(url).content
            except FetchError as exc:
                raise SourceError(str(exc)) from exc
            if body[:2] == b"\x1f\x8b":
                try:
                    body = gunzip(body, self.max_bytes)
                except LimitExceeded as exc:
                    raise SourceError(f"{url_key(url)}: sitemap inflates to {exc}") from exc
                except zlib.error as exc:
                    raise SourceError(f"{url_key(url)}: not a sitemap: bad gzip") from exc
            try:
                root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False))
            except etree.XMLSyntaxError as exc:
                raise SourceError(f"{url_key(url)}: not a sitemap: {exc}") from exc
            tag = etree.QName(root).localname
            for node in root:
                if not isinstance(node.tag, str):
                    continue
                loc = node.findtext("{*}loc") or node.findtext("loc")
                if not loc:
                    continue
                if not self._own(loc.strip()):
                    continue
                if tag == "sitemapindex":
                    queue.append((loc.strip(), depth + 1))
                else:
                    out.append((loc.strip(), _lastmod(node.findtext("{*}lastmod"))))
        return out[: self.max_urls]

    def _own(self, loc: str) -> bool:
        """The sitemap protocol allows only URLs on the sitemap's own host; others are
        skipped unless the host is in the fetch policy's allow_hosts."""
        host = urlparse(loc).hostname or ""
        if same_host(loc, self.sitemap_url) or (host and self.policy.host_allowed(host)):
            return True
        log.info(
            "%s: <loc> %s is on another host, skipped", url_key(self.sitemap_url), url_key(loc)
        )
        return False

    def items(self) -> Iterator[Item]:
        yield from _unique(self._item(url, lastmod) for url, lastmod in self.entries())


def _unique(items: Iterable[Item]) -> Iterator[Item]:
    """URLs that differ only in their query share one key: the first one is ingested."""
    seen: set[str] = set()
    for item in items:
        if item.key in seen:
            log.warning("%s: listed again with another query; the first one is kept", item.key)
            continue
        seen.add(item.key)
        yield item


def _lastmod(value: str | None) -> float | None:
    from datetime import datetime

    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
