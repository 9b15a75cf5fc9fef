"""What the page handlers share: whose data a principal sees, form checks, query parsing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse

from lockgate.auth.durations import parse_duration
from lockgate.auth.roles import ADMIN
from lockgate.engine.turn import Principal
from lockgate.ui.csrf import check_session
from lockgate.ui.render import principal_of, services_of
from lockgate.ui.session import sealer, session_of

WINDOWS = ("1h", "6h", "24h", "7d", "30d")
_MAX_FORM_FIELDS = 20


def visible_tenant(principal: Principal, services: Any) -> str | None:
    """The tenant whose data `principal` may read; None: all (the operator tenant). The same
    rule as the traces API (gateway/routes/traces.py)."""
    operator = services.settings.auth.operator_tenant
    return None if operator is not None and principal.tenant == operator else principal.tenant


def visible_groups(principal: Principal, tenant: str | None) -> tuple[str, ...] | None:
    if tenant is None or ADMIN in principal.roles:
        return None
    return tuple(principal.groups)


def window_of(request: Request, default_s: float) -> tuple[str, float]:
    """The chosen window (`?window=24h`), as its label and seconds; 400 for a bad one."""
    label = request.query_params.get("window") or ""
    if not label:
        return "", default_s
    try:
        seconds = parse_duration(label)
    except ValueError as exc:
        raise HTTPException(400, f"window: {exc}") from None
    if seconds <= 0 or seconds > 366 * 86400:
        raise HTTPException(400, "window: between 1s and 366d")
    return label, seconds


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPException(400, f"{name}: a whole number is expected") from None
    if not lo <= value <= hi:
        raise HTTPException(400, f"{name}: between {lo} and {hi}")
    return value


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token is checked (403 when missing or wrong)."""
    services = services_of(request)
    session = session_of(request, services)
    form = await request.form(max_files=0, max_fields=_MAX_FORM_FIELDS)
    if session is None and "authorization" in request.headers:
        # A bearer credential is never sent by a browser on its own, so a forged
        # cross-site form cannot carry one: only the session cookie needs the token.
        return form
    if session is None or not check_session(sealer(services), session, form):
        raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")
    return form


def back_to(path: str, **query: str) -> RedirectResponse:
    """303 after a POST, so a reload does not post again."""
    target = path + ("?" + urlencode(query) if query else "")
    return RedirectResponse(target, status_code=303)


def field(form: FormData, name: str, max_len: int = 10_000) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    if len(value) > max_len:
        raise HTTPException(400, f"{name}: at most {max_len} characters")
    return value


__all__ = ["principal_of", "services_of"]
