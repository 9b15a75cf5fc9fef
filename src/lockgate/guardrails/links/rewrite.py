"""Take the fetching and the navigation out of a text: markdown images and links, reference
definitions, autolinks and bare URLs outside the allowed hosts, and raw HTML that can fetch,
run or navigate.

One left-to-right pass of one regex (an alternative per construct), so the cost is linear,
and a text without any trigger substring costs a few substring checks. Code spans and fences
get no exemption: a stream is rewritten piece by piece, and which backticks pair up is only
known once the whole answer is there, so an exemption could be steered from an earlier
piece. Every absolute URL that is not allowed is neutralised wherever it sits, also inside a
construct not recognised here: that keeps the text safe where this parse and the renderer's
disagree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lockgate.config import LinkPolicy
from lockgate.guardrails.links.urls import Target, allowed, defanged, target

# Link text: one level of nested brackets, backslash escapes, single line breaks.
# Possessive: neither can end inside what it matched (link text holds no "]" but nested
# pairs, a destination no ")" but nested pairs), so giving back characters only costs time.
_TEXT = r"(?:[^\[\]\n\\]|\\.|\n(?![ \t]*\n)|\[[^\[\]\n]{0,300}\]){0,1000}+"
_DEST = r"(?:<[^<>\n]{0,2000}>|(?:[^\s()\\]|\\.|\((?:[^\s()\\]|\\.){0,500}\)){0,2000}+)"
_TITLE = r"""(?:[ \t]{1,3}\n?[ \t]*(?:"[^"]{0,500}"|'[^']{0,500}'|\([^()]{0,500}\)))?"""


def _inline(prefix: str) -> str:
    return (rf"\[(?P<{prefix}_label>{_TEXT})\]\([ \t]*\n?[ \t]*(?P<{prefix}_dest>{_DEST})"
            rf"{_TITLE}[ \t]*\n?[ \t]*\)")


# Scheme separators as a browser or a markdown renderer may decode them.
_COLON = r"(?::|&#0*58;?|&#x0*3a;?|&colon;)"
_SLASH = r"(?:/|\\|&#0*47;?|&#x0*2f;?|&sol;)"
_PATTERN = re.compile(
    # Every alternative starts with one of these (spaces only before "[", "/" or "\"): the
    # look-ahead fails fast on ordinary letters, ~2.5x faster on a text that has a link.
    r"(?=[<!\[hfw/\\]|[ \t]{1,3}[\[/\\])(?:"
    + "|".join(
        [
            r"(?P<comment><!--[\s\S]{0,20000}?-->)",
            rf"(?P<image>!{_inline('img')})",
            rf"(?P<link>{_inline('a')})",
            rf"(?P<refdef>(?m:^[ ]{{0,3}}\[[^\[\]\n]{{1,300}}\]:[ \t]*\n?[ \t]*"
            rf"(?P<ref_dest>{_DEST}){_TITLE}[ \t]*$))",
            r"(?P<autolink><(?P<auto_url>[a-z][a-z0-9+.\-]{1,31}:[^\s<>]{1,2000})>)",
            r"(?P<tag></?(?P<tag_name>[a-z][a-z0-9:\-]{0,30})(?P<tag_attrs>[\s/][^<>]{0,2000})?>)",
            # Bare URLs; and protocol-relative ones right after ( " ' = (a destination or an
            # attribute that was not parsed above).
            rf"(?P<bare>(?<![\w@.\-])(?:(?:https?|ftp){_COLON}{_SLASH}{{2}}|www\.)"
            r"[^\s<>\"'`]{1,2000}"
            r"|(?<=[(\"'=])[ \t]{0,3}[/\\]{2}[^\s<>\"'`()]{1,2000})",
        ]
    )
    + ")",
    re.IGNORECASE,
)
# What none of the constructs can do without (substring checks run at C speed, so plain
# prose costs a few microseconds): "\\" and "&" stand for backslashed and entity-encoded
# separators, "//" for every scheme and protocol-relative URL.
_TRIGGERS = ("](", "]:", "<", "//", "\\", "www.", "WWW.", "&")
# Elements that fetch, run, navigate or take input. A tag with an attribute value goes too
# (style="background:url(...)", onerror=...); plain formatting tags (<b>, <br>) stay, and so
# does prose such as List<String>.
_ACTIVE = frozenset(
    "a applet area audio base basefont bgsound body button embed form frame frameset head "
    "html iframe image img input isindex keygen link math meta noembed noframes noscript "
    "object param picture plaintext portal script select source style svg template textarea "
    "track use video xmp".split()
)


@dataclass(frozen=True)
class Change:
    kind: str  # image | link | refdef | autolink | bare | tag | comment
    start: int
    end: int
    replacement: str
    host: str = ""


@dataclass
class Rewrite:
    text: str
    changes: list[Change] = field(default_factory=list)


def defang(text: str, policy: LinkPolicy) -> Rewrite:
    if not policy.enabled or not any(t in text for t in _TRIGGERS):
        return Rewrite(text)
    changes: list[Change] = []

    def replace(m: re.Match[str]) -> str:
        kind = m.lastgroup or ""
        new, host = _rewritten(kind, m, policy)
        if new != m.group(0):
            changes.append(Change(kind, m.start(), m.end(), new, host))
        return new

    return Rewrite(_PATTERN.sub(replace, text), changes)


def _rewritten(kind: str, m: re.Match[str], policy: LinkPolicy) -> tuple[str, str]:
    """The construct's new text, and the host it pointed to."""
    whole = m.group(0)
    if kind == "comment":
        return "", ""
    if kind == "tag":
        name = m.group("tag_name").lower().rpartition(":")[2]
        active = name in _ACTIVE or "=" in (m.group("tag_attrs") or "")
        return ("", "") if active else (whole, "")
    if kind in ("image", "link"):
        prefix = "img" if kind == "image" else "a"
        label, dest = m.group(f"{prefix}_label"), m.group(f"{prefix}_dest")
        where = target(dest, markdown=True)
        if _kept(where, policy.image_hosts if kind == "image" else policy.link_hosts):
            if kind == "image":
                return whole, where.host
            # The link stays, but what it shows may still hold an image or a URL.
            shown = defang(label, policy).text
            start = m.start(f"{prefix}_label") - m.start()
            return whole[:start] + shown + whole[start + len(label) :], where.host
        return _plain(label, policy), where.host
    if kind == "refdef":
        where = target(m.group("ref_dest"), markdown=True)
        # A definition may serve an image or a link: it stays if either may go there.
        if _kept(where, policy.image_hosts) or _kept(where, policy.link_hosts):
            return whole, where.host
        return "", where.host
    if kind == "autolink":
        url = m.group("auto_url")
        where = target(url)
        if _kept(where, policy.link_hosts):
            return whole, where.host
        return defanged(url), where.host
    url = whole.strip(" \t")
    where = target("//" + url if url.lower().startswith("www.") else url)
    if where.kind == "web" and allowed(where.host, policy.link_hosts):
        return whole, where.host
    return whole[: len(whole) - len(whole.lstrip(" \t"))] + defanged(url), where.host


def _kept(where: Target, hosts: list[str]) -> bool:
    return where.kind == "relative" or (where.kind == "web" and allowed(where.host, hosts))


def _plain(label: str, policy: LinkPolicy) -> str:
    # What a link or image showed, as plain text: nested images and URLs are rewritten too,
    # and brackets are dropped so that no reference link can form from it.
    inner = defang(label, policy).text
    return re.sub(r"\s+", " ", inner.replace("[", "").replace("]", "")).strip()
