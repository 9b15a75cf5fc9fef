"""Jinja rendering of the dashboard's pages (autoescaped; templates/ in the package)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from lockgate.engine.turn import Principal
from lockgate.ui.csrf import FIELD, session_token
from lockgate.ui.nav import NAV, NavItem
from lockgate.ui.session import sealer, session_of

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _ts(value: Any) -> str:
    if value is None or value == "":
        return "-"
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
    # A template naming a field that is not there fails the test that renders it.
    undefined=StrictUndefined,
)
ENV.filters.update(ts=_ts, num=_num, pretty=_pretty)


def services_of(request: Request) -> Any:
    return request.app.state.services


def principal_of(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else Principal()


def nav_for(request: Request) -> list[NavItem]:
    roles = principal_of(request).roles
    scopes = services_of(request).scopes
    return [item for item in NAV if scopes.allows(roles, item.scope)]


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    services = services_of(request)
    session = session_of(request, services)
    csrf = session_token(sealer(services), session) if session is not None else ""
    html = ENV.get_template(template).render(
        request=request,
        principal=principal_of(request),
        nav=nav_for(request),
        here=request.url.path,
        csrf_field=FIELD,
        csrf=csrf,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def render_error(status: int, message: str) -> str:
    return ENV.get_template("error.html").render(
        status=status, message=message, nav=[], principal=None, here="", csrf=""
    )
