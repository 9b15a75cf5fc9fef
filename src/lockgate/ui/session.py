"""Browser sessions: an API key (or an OIDC token) is exchanged once, at login, for a cookie
sealed with AES-GCM under a server-side secret. The cookie holds the principal, so no
session table is needed; it cannot be read or forged without the secret. Each page checks
the key again (revoked, expired or rotated since login ends the session)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lockgate.auth.keys import KeyNotFound
from lockgate.config import ConfigError
from lockgate.engine.turn import Principal
from lockgate.plugins.hookspecs import hookimpl

COOKIE = "lockgate_ui"
PREFIX = "/ui"
_AAD = b"lockgate-ui-session-v1"
_MIN_SECRET = 32


@dataclass(frozen=True)
class Session:
    principal: Principal
    issued_at: float
    expires_at: float
    # Random per login: the CSRF tokens of this session are derived from it.
    sid: str


class Sealer:
    """Seals and opens session cookies with one key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        # The AEAD key is never used for two purposes: the CSRF digests get their own.
        self._mac_key = hashlib.sha256(b"lockgate-ui-mac\0" + key).digest()

    def seal(self, session: Session) -> str:
        p = session.principal
        body = {
            "id": p.id,
            "tenant": p.tenant,
            "roles": list(p.roles),
            "groups": list(p.groups),
            "method": p.auth_method,
            "key_id": p.key_id,
            "apps": list(p.apps),
            "iat": session.issued_at,
            "exp": session.expires_at,
            "sid": session.sid,
        }
        nonce = os.urandom(12)
        data = self._aead.encrypt(nonce, json.dumps(body).encode(), _AAD)
        return base64.urlsafe_b64encode(nonce + data).decode().rstrip("=")

    def open(self, cookie: str, now: float | None = None) -> Session | None:
        """The session, or None when the cookie is not one of ours or has expired."""
        try:
            raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
            body = json.loads(self._aead.decrypt(raw[:12], raw[12:], _AAD))
        except (ValueError, InvalidTag, TypeError):
            return None
        if not isinstance(body, dict) or float(body.get("exp", 0)) <= (now or time.time()):
            return None
        principal = Principal(
            id=str(body["id"]),
            tenant=str(body["tenant"]),
            roles=tuple(body["roles"]),
            groups=tuple(body["groups"]),
            authenticated=True,
            auth_method=body.get("method"),
            key_id=body.get("key_id"),
            apps=tuple(body["apps"]),
        )
        return Session(principal, float(body["iat"]), float(body["exp"]), str(body["sid"]))

    def mac(self, *parts: str) -> str:
        """A keyed digest of `parts` (the CSRF tokens)."""
        data = "\n".join(parts).encode()
        return hashlib.blake2b(data, key=self._mac_key, digest_size=24).hexdigest()


_UNSET = object()
_lock = threading.Lock()


def sealer(services: Any) -> Sealer:
    """The services' sealer: from the configured secret, else one random key per process."""
    with _lock:
        found = getattr(services, "_ui_sealer", None)
        if not isinstance(found, Sealer):
            env = services.settings.ui.session_secret_env
            secret = os.environ.get(env, "") if env else ""
            if secret and len(secret) < _MIN_SECRET:
                raise ConfigError(
                    f"invalid config key 'ui.session_secret_env': ${env} must hold at least "
                    f"{_MIN_SECRET} characters"
                )
            key = hashlib.sha256(secret.encode()).digest() if secret else secrets.token_bytes(32)
            found = Sealer(key)
            services._ui_sealer = found  # one per composition root, built on first use
        return found


def new_session(principal: Principal, ttl_s: float) -> Session:
    now = time.time()
    return Session(principal, now, now + ttl_s, secrets.token_urlsafe(16))


def still_valid(session: Session, services: Any) -> bool:
    """Whether the key behind the session still stands: not revoked, expired or rotated."""
    key_id = session.principal.key_id
    if session.principal.auth_method != "api_key" or not key_id:
        return True  # an OIDC token's own expiry bounds the session (see views/login.py)
    try:
        rec = services.api_keys.get(key_id)
    except KeyNotFound:
        return False
    if rec.revoked_at is not None:
        return False
    if rec.expires_at is not None and rec.expires_at <= time.time():
        return False
    return rec.rotated_at is None or rec.rotated_at <= session.issued_at


def session_of(request: Any, services: Any) -> Session | None:
    """The request's valid session, looked up once per request."""
    cached = getattr(request.state, "ui_session", _UNSET)
    if cached is not _UNSET:
        return cached if isinstance(cached, Session) else None
    cookie = request.cookies.get(COOKIE)
    found = sealer(services).open(cookie) if cookie else None
    if found is not None and not still_valid(found, services):
        found = None
    request.state.ui_session = found
    return found


@hookimpl
def principal_from_request(request: Any, services: Any) -> Principal | None:
    # The cookie speaks only for the dashboard's pages: the API takes bearer credentials,
    # so a page another site gets a browser to load can never call it with the session.
    if request.headers.get("authorization") or not request.url.path.startswith(PREFIX):
        return None
    found = session_of(request, services)
    return found.principal if found is not None else None
