"""An HTTP client whose every connection obeys the egress policy, with manual redirects.

The check and the connect use the same resolution: the network backend resolves the host
itself, refuses the connection if ANY resolved address is denied, then connects to one of
the addresses it checked (never to the name again). A DNS answer that changes between a
check and a connect (rebinding) therefore cannot reach a denied address. TLS still uses the
URL's host name for SNI and certificate checks, because httpcore passes that to
`start_tls`, not the address.

Redirects are followed here, hop by hop, so each new URL is checked (scheme and, through the
backend, its addresses) before anything is sent to it. The final body is streamed and read
with a ceiling on its decoded size (`http_body.read_body`).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from lockgate.ingest.bounded import LimitExceeded
from lockgate.ingest.egress import EgressDenied, EgressPolicy
from lockgate.ingest.source_names import url_key
from lockgate.ingest.sources import FetchError, Refused
from lockgate.ingest.sources.http_body import ACCEPT_ENCODING, UnsupportedEncoding, read_body

log = logging.getLogger(__name__)

# (host, port) -> the addresses it resolves to; tests swap in a fixed answer.
Resolver = Callable[[str, int], list[str]]
_REDIRECTS = {301, 302, 303, 307, 308}


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver = resolve) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.resolver(host.strip("[]"), port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        denied = [a for a in addresses if not self.policy.address_allowed(host, a)]
        if denied:
            log.debug("egress refused: %s:%s resolves to denied %s", host, port, denied)
            raise EgressDenied("the address is not allowed")
        last: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise EgressDenied("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    def __init__(self, policy: EgressPolicy, resolver: Resolver = resolve) -> None:
        super().__init__(trust_env=False)
        # The stock pool, with the guarded backend: no proxies (a proxy would resolve and
        # connect on our behalf, out of the policy's sight).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy, resolver),
        )


def client(
    policy: EgressPolicy, timeout_s: float, user_agent: str, resolver: Resolver = resolve
) -> httpx.Client:
    return httpx.Client(
        transport=PinnedTransport(policy, resolver),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        # Only encodings with a bounded decoder (httpx would also ask for br and zstd when
        # their packages are installed, and inflate them without a limit).
        headers={"user-agent": user_agent, "accept-encoding": ACCEPT_ENCODING},
    )


@dataclass(frozen=True)
class Fetched:
    """A fetched document: the final URL, status, headers and the decoded body."""

    url: str
    status_code: int
    headers: httpx.Headers
    content: bytes
    request: httpx.Request


def fetch(client: httpx.Client, policy: EgressPolicy, url: str, max_bytes: int) -> Fetched:
    """GET `url`, following up to `policy.max_redirects` redirects, each hop checked, and
    read at most `max_bytes` of decoded body (a larger one is `Refused` as too_large).

    Errors carry a coarse reason only (refused by policy, could not fetch, HTTP status):
    the transport's own message would tell an attacker which internal ports are open. They
    name the URL without its credentials or query.
    """
    shown = url_key(url)
    current = url
    for _hop in range(policy.max_redirects + 1):
        try:
            policy.check_url(current)
            resp = client.send(client.build_request("GET", current), stream=True)
        except EgressDenied as exc:
            log.debug("egress refused for %s: %s", url_key(current), exc)
            raise FetchError(f"{shown}: refused by the fetch policy", transient=False) from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{shown}: refused by the fetch policy", transient=False) from exc
        except httpx.TransportError as exc:
            log.debug("fetch of %s failed: %s: %s", url_key(current), type(exc).__name__, exc)
            raise FetchError(f"{shown}: could not be fetched", transient=True) from exc
        try:
            if resp.status_code in _REDIRECTS and "location" in resp.headers:
                current = str(resp.url.join(resp.headers["location"]))
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                raise FetchError(f"{shown}: HTTP {resp.status_code}", transient=True)
            if resp.status_code >= 400:
                raise FetchError(f"{shown}: HTTP {resp.status_code}", transient=False)
            return Fetched(
                str(resp.url), resp.status_code, resp.headers, _body(resp, shown, max_bytes),
                resp.request,
            )
        finally:
            resp.close()
    raise FetchError(f"{shown}: too many redirects", transient=False)


def _body(resp: httpx.Response, shown: str, max_bytes: int) -> bytes:
    try:
        return read_body(resp, max_bytes)
    except LimitExceeded as exc:
        raise Refused(f"{shown}: {exc}", "too_large") from exc
    except UnsupportedEncoding as exc:
        raise FetchError(f"{shown}: unsupported {exc}", transient=False) from exc
    except httpx.TransportError as exc:
        log.debug("read of %s failed: %s: %s", shown, type(exc).__name__, exc)
        raise FetchError(f"{shown}: could not be fetched", transient=True) from exc
