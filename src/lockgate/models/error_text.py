"""The words of an upstream failure, for the trace and the log only.

What an upstream or the HTTP stack says when a call fails can name internal hosts, carry a
password from a database error, or quote the request URL with its `?api-key=` and userinfo.
Callers get a generic message (`UpstreamError`'s text); these helpers build its `detail`,
with every URL cut down to scheme, host and path so a credential in it is not kept even
there.
"""

from __future__ import annotations

import codecs
import json
import re
from urllib.parse import urlsplit, urlunsplit

import httpx

_MAX_DETAIL = 500
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,15}://[^\s'\"<>]+")


def _bare(match: re.Match[str]) -> str:
    try:
        parts = urlsplit(match.group(0))
    except ValueError:
        return "<url>"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def without_url_secrets(text: str) -> str:
    """`text` with each URL's userinfo, query and fragment removed."""
    return _URL.sub(_bare, text)


def transport_detail(exc: BaseException) -> str:
    """What a failed request's exception said, URLs cut down."""
    return f"{type(exc).__name__}: {without_url_secrets(str(exc))}"[:_MAX_DETAIL]


def body_detail(resp: httpx.Response) -> str:
    """The error message of an upstream's error response (OpenAI's `error.message`, else
    the start of the body)."""
    try:
        content = resp.content
    except httpx.ResponseNotRead:
        content = b""
    return content_detail(content, resp.headers.get("content-type"))


def content_detail(content: bytes, content_type: str | None = None) -> str:
    """`body_detail` of an error body already read, `content_type` naming its charset."""
    text = ""
    try:
        body = json.loads(content)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            text = str(body["error"].get("message", ""))
    except ValueError:
        pass
    if not text:
        text = content.decode(_charset(content_type), errors="replace")
    return without_url_secrets(text[:_MAX_DETAIL])


def _charset(content_type: str | None) -> str:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip("\"' ")
            try:
                return codecs.lookup(name).name
            except LookupError:
                break
    return "utf-8"
