"""HTTP/1.1 to one OpenAI-compatible upstream: POST a JSON body, read the answer whole or as
SSE lines. Failures come out as two exceptions only, `TransportTimeout` and
`TransportFailure`, each with the transport's words (URLs cut down) for the trace.

The default exchange is aiohttp's: its connection pool hands out a kept-alive connection in
constant time, where httpx's (httpcore 1.0) scans, and probes the socket of, every pooled
connection on each request and response: at 64 concurrent upstream requests that scan took
about 30 % of a gateway process (BENCHMARKS.md, "The upstream HTTP client"). An
`httpx.AsyncClient` can still be handed in (`HttpxExchange`), with the same behaviour.

What httpx did implicitly is kept: the request URL is the base URL's raw path, a `/`, then
the endpoint (httpx's joining, a query in the base URL included), credentials in the URL
become Basic authentication (over any bearer key, as with httpx), proxies come from the
environment (`HTTP(S)_PROXY`, `ALL_PROXY`, `NO_PROXY`, resolved once), and TLS verifies
against httpx's default certificates (certifi, or `SSL_CERT_FILE`/`SSL_CERT_DIR`). Timeouts:
`connect_s` to open a connection, `read_s` between two reads of the answer and to wait for
a free pooled connection."""

from __future__ import annotations

import asyncio
import base64
import codecs
import ssl
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import aiohttp
import httpx
from yarl import URL

from lockgate.models.error_text import transport_detail

# As many connections as requests may be in flight (a deployment's own limit, 64 by default,
# sits below this), kept alive for as long as httpx kept them.
POOL_CONNECTIONS = 128
KEEPALIVE_S = 30.0


class TransportTimeout(Exception):
    """No connection, or no answer bytes, within the configured time."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TransportFailure(Exception):
    """The connection could not be made, or broke: refused, reset, closed early, garbled."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    content: bytes


class StreamReply(ABC):
    status: int
    headers: Mapping[str, str]

    @abstractmethod
    async def read(self) -> bytes:
        """The rest of the body (an error answer's)."""

    @abstractmethod
    def lines(self) -> AsyncIterator[str]:
        """The body as text lines, without their line ends."""


class Exchange(ABC):
    @abstractmethod
    async def post(self, body: bytes) -> Reply: ...

    @abstractmethod
    def stream(self, body: bytes) -> AbstractAsyncContextManager[StreamReply]:
        """POST, entered once the answer's status and headers are in; leaving the block
        (also by cancellation) closes a connection whose answer was not read to its end."""

    @abstractmethod
    async def aclose(self) -> None: ...


def endpoint_url(base_url: str, path: str) -> httpx.URL:
    """`path` under `base_url`, joined as httpx joins a relative URL onto its base_url."""
    base = httpx.URL(base_url)
    raw = base.raw_path if base.raw_path.endswith(b"/") else base.raw_path + b"/"
    return base.copy_with(raw_path=raw + path.lstrip("/").encode("ascii"))


def split_credentials(url: httpx.URL) -> tuple[httpx.URL, str | None]:
    """The URL without its userinfo, and the Basic `authorization` value it stood for."""
    if not (url.username or url.password):
        return url, None
    token = base64.b64encode(f"{url.username}:{url.password}".encode()).decode("ascii")
    return url.copy_with(userinfo=b""), f"Basic {token}"


@cache
def _tls_context() -> ssl.SSLContext:
    # httpx's defaults, so that an https upstream verifies against the same certificates.
    return httpx.create_ssl_context()


def _env_proxy(url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    # Resolved once per upstream: aiohttp's own `trust_env` looks it up (and reads ~/.netrc)
    # in a worker thread on every request.
    try:
        return aiohttp.helpers.get_env_proxy_for_url(url)
    except LookupError:
        return None, None


def _lines_of(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Text lines split at CRLF, LF or CR (the SSE line ends), decoded as UTF-8 with
    replacement, a CRLF split across two chunks read as one line end."""

    async def lines() -> AsyncIterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        async for chunk in chunks:
            text = pending + decoder.decode(chunk)
            cr = text.endswith("\r")  # may be the first half of a CRLF
            if cr:
                text = text[:-1]
            parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            pending = parts.pop() + ("\r" if cr else "")
            for part in parts:
                yield part
        pending += decoder.decode(b"", final=True)
        if pending.endswith("\r"):
            pending = pending[:-1]
        for part in pending.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            if part:
                yield part

    return lines()


# ---- aiohttp -------------------------------------------------------------------------------


class _AiohttpStream(StreamReply):
    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers

    async def read(self) -> bytes:
        with _aiohttp_errors():
            return await self._resp.read()

    def lines(self) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                with _aiohttp_errors():
                    chunk = await self._resp.content.readany()
                if not chunk:
                    return
                yield chunk

        return _lines_of(chunks())


class _Errors:
    """aiohttp's (and the socket's) exceptions as the two transport exceptions."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or not isinstance(exc, Exception):
            return  # nothing, or a cancellation: not a transport failure
        # Timeouts first: aiohttp's are also ClientErrors, and TimeoutError is an OSError.
        if isinstance(exc, TimeoutError):
            raise TransportTimeout(transport_detail(exc)) from exc
        if isinstance(exc, aiohttp.ClientError | OSError):
            raise TransportFailure(transport_detail(exc)) from exc


def _aiohttp_errors() -> _Errors:
    return _Errors()


class AiohttpExchange(Exchange):
    """One pool per event loop: a session is bound to the loop it was made on, and a model
    may be called from several (the server's, a CLI's `asyncio.run`, a worker thread's)."""

    def __init__(
        self, url: str, headers: Mapping[str, str], connect_s: float, read_s: float
    ) -> None:
        target, basic = split_credentials(httpx.URL(url))
        self._url = URL(str(target), encoded=True)
        self._headers = dict(headers)
        if basic is not None:
            self._headers["authorization"] = basic
        self._proxy, self._proxy_auth = _env_proxy(self._url)
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=read_s + connect_s, sock_connect=connect_s, sock_read=read_s
        )
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        weakref.finalize(self, _abandon, self._sessions)

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                self._sessions.pop(old).detach()
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=POOL_CONNECTIONS,
                    keepalive_timeout=KEEPALIVE_S,
                    ssl=_tls_context() if self._url.scheme == "https" else True,
                ),
                headers=self._headers,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),  # an API upstream, not a browser
            )
            self._sessions[loop] = session
        return session

    def _request(self, body: bytes) -> Any:
        return self._session().post(
            self._url,
            data=body,
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
            allow_redirects=False,  # as httpx: a redirect is the upstream's answer
        )

    async def post(self, body: bytes) -> Reply:
        with _aiohttp_errors():
            async with self._request(body) as resp:
                return Reply(resp.status, resp.headers, await resp.read())

    @asynccontextmanager
    async def stream(self, body: bytes) -> AsyncIterator[StreamReply]:
        with _aiohttp_errors():
            resp = await self._request(body)
        # Leaving releases the connection; with answer bytes unread, aiohttp closes it.
        async with resp:
            yield _AiohttpStream(resp)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        sessions = dict(self._sessions)
        self._sessions.clear()
        for owner, session in sessions.items():
            if owner is loop:
                await session.close()
            elif owner.is_closed():
                session.detach()
            else:  # another live loop (a worker thread's): close it there
                asyncio.run_coroutine_threadsafe(session.close(), owner)


def _abandon(sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession]) -> None:
    """A session whose loop has closed (a finished `asyncio.run`) cannot be closed any more,
    closing needs its loop; detached, it is not reported as left open. A connection it kept
    alive is still reported by its connector: that one did leak."""
    for loop, session in sessions.items():
        if loop.is_closed():
            session.detach()


# ---- httpx ---------------------------------------------------------------------------------


class _HttpxStream(StreamReply):
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = resp.headers

    async def read(self) -> bytes:
        with _httpx_errors():
            return await self._resp.aread()

    def lines(self) -> AsyncIterator[str]:
        async def chunks() -> AsyncIterator[bytes]:
            it = self._resp.aiter_bytes().__aiter__()
            while True:
                with _httpx_errors():
                    try:
                        chunk = await it.__anext__()
                    except StopAsyncIteration:
                        return
                yield chunk

        return _lines_of(chunks())


class _HttpxErrors:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if isinstance(exc, httpx.TimeoutException):
            raise TransportTimeout(transport_detail(exc)) from exc
        if isinstance(exc, httpx.HTTPError):
            raise TransportFailure(transport_detail(exc)) from exc


def _httpx_errors() -> _HttpxErrors:
    return _HttpxErrors()


class HttpxExchange(Exchange):
    """Through a given `httpx.AsyncClient` (its base_url the upstream's): an application's
    own transport, or a test's mock."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client = client
        self._path = path
        self._headers = {"content-type": "application/json"}

    async def post(self, body: bytes) -> Reply:
        with _httpx_errors():
            resp = await self.client.post(self._path, content=body, headers=self._headers)
        return Reply(resp.status_code, resp.headers, resp.content)

    @asynccontextmanager
    async def stream(self, body: bytes) -> AsyncIterator[StreamReply]:
        with _httpx_errors():
            ctx = self.client.stream("POST", self._path, content=body, headers=self._headers)
            resp = await ctx.__aenter__()
        try:
            yield _HttpxStream(resp)
        finally:
            await ctx.__aexit__(None, None, None)

    async def aclose(self) -> None:
        await self.client.aclose()
