"""CSRF tokens for the dashboard's forms. Session cookies are SameSite=Strict already; the
token is the second lock, for browsers or proxies that do not honour it. A session's token is
a keyed digest of its random id; the login form, before any session, pairs a random cookie
with its digest (double submit)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from lockgate.ui.session import Sealer, Session

FIELD = "csrf"
LOGIN_COOKIE = "lockgate_ui_login"


def session_token(sealer: Sealer, session: Session) -> str:
    return sealer.mac("csrf", session.sid)


def login_nonce() -> str:
    return secrets.token_urlsafe(18)


def login_token(sealer: Sealer, nonce: str) -> str:
    return sealer.mac("login", nonce)


def check_session(sealer: Sealer, session: Session, form: Any) -> bool:
    sent = form.get(FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, session_token(sealer, session))


def check_login(sealer: Sealer, nonce: str | None, form: Any) -> bool:
    sent = form.get(FIELD)
    if not nonce or not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent, login_token(sealer, nonce))
