"""Where a URL written in markdown or HTML would take a browser, read the way a browser
reads it: entities decoded, tabs and line breaks dropped, backslashes taken as slashes, the
host percent-decoded. A looser reading than the browser's would let a URL through that the
browser then fetches."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]{0,31}):")
_DROPPED = re.compile(r"[\t\n\r]")
_HOST_END = re.compile(r"[/?#]")
# A markdown backslash escape: "\)" is ")" in a link destination.
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")

Kind = Literal["relative", "web", "other"]


@dataclass(frozen=True)
class Target:
    # relative: the page's own origin (nothing leaves it); web: http(s) or protocol-relative,
    # to `host`; other: any other scheme (javascript:, data:, mailto:, ...).
    kind: Kind
    host: str = ""


def target(url: str, markdown: bool = False) -> Target:
    u = html.unescape(url)
    if markdown:
        u = _MD_ESCAPE.sub(r"\1", u)
    u = _DROPPED.sub("", u).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f"
                                 "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d"
                                 "\x1e\x1f <>").replace("\\", "/")
    scheme = _SCHEME.match(u.lower())
    if scheme:
        if scheme.group(1) not in ("http", "https"):
            return Target("other")
        rest = u[scheme.end() :]
    elif u.startswith("//"):
        rest = u
    else:
        return Target("relative")
    return Target("web", host_of(rest.lstrip("/")))


def host_of(authority_and_path: str) -> str:
    authority = _HOST_END.split(authority_and_path, maxsplit=1)[0]
    host = unquote(authority.rpartition("@")[2]).lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0].rstrip(".")


def allowed(host: str, hosts: Sequence[str]) -> bool:
    """A configured host allows itself and its subdomains."""
    return bool(host) and any(host == h or host.endswith("." + h) for h in hosts)


def defanged(url: str) -> str:
    """The URL as plain text no renderer turns back into a link: hxxps://host[.]example/..."""
    out = re.sub(r"(?i)^(h)tt(ps?)", r"\1xx\2", url.strip())
    head, sep, rest = out.partition("//")
    if not sep:
        head, rest = "", out
    authority, slash, path = rest.partition("/")
    return head + sep + authority.replace(".", "[.]") + slash + path
