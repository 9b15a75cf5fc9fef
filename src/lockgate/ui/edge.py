"""The dashboard's side of the HTTP edge, around the auth middleware: security headers on
every /ui response, and the refusals a browser gets as pages. Without a credential the edge
answers 401; a browser is sent to the login page instead. Other JSON errors (403 for a page
the roles do not grant, 404, ...) become an HTML page with the same status and message. A
caller presenting a bearer credential gets the API's JSON refusals unchanged."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lockgate.ui.render import render_error
from lockgate.ui.session import PREFIX

# No script runs on these pages; styles come only from the vendored stylesheet; charts are
# inline SVG (markup, not an image source), so nothing else needs allowing.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
_MAX_ERROR_BODY = 64 * 1024


def _in_ui(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class UiEdge:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _in_ui(scope["path"]):
            await self.app(scope, receive, send)
            return
        browser = "authorization" not in Headers(scope=scope)
        state: dict[str, Any] = {"rewrite": None, "body": b""}

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                ctype = Headers(raw=message.get("headers", [])).get("content-type", "")
                if browser and status >= 400 and ctype.startswith("application/json"):
                    state["rewrite"] = status
                    return
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if not scope["path"].startswith(PREFIX + "/static/"):
                    headers.setdefault("cache-control", "no-store")
                await send(message)
                return
            if state["rewrite"] is None:
                await send(message)
                return
            if len(state["body"]) < _MAX_ERROR_BODY:
                state["body"] += message.get("body", b"")
            if not message.get("more_body", False):
                await self._replace(scope, send, state["rewrite"], state["body"])

        await self.app(scope, receive, wrapped)

    async def _replace(self, scope: Scope, send: Send, status: int, body: bytes) -> None:
        if status == 401:
            target = scope["path"]
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            location = f"{PREFIX}/login?next={quote(target, safe='')}"
            headers = [(b"location", location.encode("latin-1"))]
            page, status = b"", 303
        else:
            try:
                message = str(json.loads(body)["error"]["message"])
            except (ValueError, KeyError, TypeError):
                message = "the request was refused"
            page = render_error(status, message).encode()
            headers = [(b"content-type", b"text/html; charset=utf-8")]
        headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        headers += [(b"cache-control", b"no-store"), (b"content-length", str(len(page)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": page})
