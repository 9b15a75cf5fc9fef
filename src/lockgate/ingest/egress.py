"""The egress policy of URL and sitemap ingest: which schemes, hosts and addresses may be
fetched.

A page or sitemap an attacker can influence must not be able to point ingest at the
host's own services, the private network or a cloud metadata endpoint. `EgressPolicy`
decides per URL (scheme) and per resolved address; `lockgate.ingest.sources.pinned` applies
it to every connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from lockgate.config import FetchConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never reachable from ingest unless allowed by name or network. Python's is_private and
# is_reserved flags cover most, but CGNAT (100.64/10) is not "private" there, and the list
# says explicitly what is refused.
_DENIED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. 169.254.169.254 metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments (incl. 192.0.0.192 metadata)
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
        "64:ff9b::/96",  # NAT64: maps onto IPv4, checked as IPv4 below too
        "100::/64",  # discard
    )
)


class EgressDenied(Exception):
    """A fetch the policy refuses; the message is safe to show, details go to the log."""


def _mapped_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address, else `ip`."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in ipaddress.ip_network("64:ff9b::/96"):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


@dataclass(frozen=True)
class EgressPolicy:
    schemes: frozenset[str] = frozenset({"http", "https"})
    hosts: frozenset[str] = frozenset()
    allowed: tuple[IPNetwork, ...] = ()
    denied: tuple[IPNetwork, ...] = ()
    deny_private: bool = True
    max_redirects: int = 5
    max_sitemaps: int = 100

    @classmethod
    def from_config(cls, cfg: FetchConfig) -> EgressPolicy:
        return cls(
            schemes=frozenset(cfg.allow_schemes),
            hosts=frozenset(cfg.allow_hosts),
            allowed=tuple(ipaddress.ip_network(n, strict=False) for n in cfg.allow_networks),
            denied=tuple(ipaddress.ip_network(n, strict=False) for n in cfg.deny_networks),
            deny_private=cfg.deny_private,
            max_redirects=cfg.max_redirects,
            max_sitemaps=cfg.max_sitemaps,
        )

    def host_allowed(self, host: str) -> bool:
        """Named in allow_hosts: exempt from the address check and the same-host rule."""
        return host.lower().strip("[]").rstrip(".") in self.hosts

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in self.schemes:
            raise EgressDenied(f"scheme '{parts.scheme}' is not allowed")
        if not parts.hostname:
            raise EgressDenied("the URL has no host")

    def address_allowed(self, host: str, address: str) -> bool:
        """May ingest connect to `address`, one of the resolved addresses of `host`?"""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        candidates = {ip, _mapped_v4(ip)}
        if any(c in net for c in candidates for net in self.denied if c.version == net.version):
            return False
        if self.host_allowed(host):
            return True
        if any(c in net for c in candidates for net in self.allowed if c.version == net.version):
            return True
        if not self.deny_private:
            return True
        return not any(c in net for c in candidates for net in _DENIED if c.version == net.version)


def _port(parts: SplitResult) -> int | None:
    try:
        explicit = parts.port
    except ValueError:
        return -1
    if explicit is not None:
        return explicit
    return {"http": 80, "https": 443}.get(parts.scheme.lower())


def same_host(a: str, b: str) -> bool:
    """Same host and port (a different port on one host is a different service)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname or "").lower() == (pb.hostname or "").lower() and _port(pa) == _port(pb)
