"""OIDC bearer tokens (JWTs) checked against the configured issuer's key set with joserfc:
the signature (by the key the token's `kid` names), `exp`, `nbf`, `iat`, `iss` and `aud`, with
a configured leeway. Claims named in config become the principal's tenant, roles and groups.

The key set is fetched once and kept for `jwks_cache_s`; a token signed by a `kid` not in it
refetches at once (an issuer that rotated its key), at most every `jwks_min_refresh_s`, so a
flood of made-up `kid`s cannot turn into a flood of fetches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lockgate.auth.keys import AuthFailure
from lockgate.auth.roles import ROLES
from lockgate.config.auth import OidcConfig
from lockgate.engine.turn import Principal


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated base64url parts: a compact JWS."""
    return token.count(".") == 2 and all(token.split("."))


def _fail(reason: str) -> AuthFailure:
    # The caller learns only that the token was refused; the reason goes to the audit log.
    return AuthFailure("invalid bearer token", reason)


def fetch_jwks(url: str, timeout_s: float) -> dict[str, Any]:
    resp = httpx.get(url, timeout=timeout_s, follow_redirects=False)
    resp.raise_for_status()
    data = resp.json()
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWK set (no 'keys' list)")
    return data


class JwksCache:
    def __init__(
        self,
        cfg: OidcConfig,
        fetch: Callable[[str, float], dict[str, Any]] = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.fetch = fetch
        self.clock = clock
        self._keys: KeySet | None = None
        self._kids: set[str] = set()
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0

    def _refresh(self) -> None:
        try:
            data = self.fetch(self.cfg.jwks_url, self.cfg.jwks_timeout_s)
            keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
        except (httpx.HTTPError, ValueError, JoseError, TypeError, KeyError) as exc:
            self._fetched_at = self.clock()  # a failing issuer is retried at the refresh pace
            raise _fail(f"issuer key set unavailable: {type(exc).__name__}") from None
        self.fetches += 1
        self._keys = keys
        self._kids = {k.kid for k in keys.keys if k.kid}
        self._fetched_at = self.clock()

    def key_set(self, kid: str | None) -> KeySet:
        """The key set, fresh enough to hold `kid` if the issuer publishes it."""
        with self._lock:
            age = self.clock() - self._fetched_at
            stale = self._keys is None or age >= self.cfg.jwks_cache_s
            unknown = kid is not None and kid not in self._kids
            if stale or (unknown and age >= self.cfg.jwks_min_refresh_s):
                self._refresh()
            if self._keys is None:
                raise _fail("issuer key set unavailable")
            if kid is not None and kid not in self._kids:
                raise _fail(f"no issuer key with kid {kid!r}")
            return self._keys


def _strings(value: Any, claim: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())  # the OAuth `scope` style: space-separated
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(f"claim {claim!r} is not a string or a list of strings")


class OidcVerifier:
    def __init__(self, cfg: OidcConfig, jwks: JwksCache | None = None) -> None:
        self.cfg = cfg
        self.jwks = jwks or JwksCache(cfg)

    def verify(self, token: str) -> Principal:
        cfg = self.cfg
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError):
            raise _fail("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in cfg.algorithms:
            raise _fail(f"algorithm {alg!r} not allowed")
        if kid is not None and not isinstance(kid, str):
            raise _fail("kid is not a string")
        keys = self.jwks.key_set(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=cfg.algorithms)
        except JoseError as exc:
            raise _fail(f"signature: {exc.error}") from None
        except ValueError:
            raise _fail("malformed token") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=int(cfg.leeway_s),
            iss={"essential": True, "value": cfg.issuer},
            aud={"essential": True, "value": cfg.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            claim = getattr(exc, "claim", None)
            raise _fail(f"claim {claim!r}: {exc.description or exc.error}") from None
        names = cfg.claims
        subject = claims.get(names.subject)
        if not isinstance(subject, str) or not subject:
            raise _fail(f"claim {names.subject!r} missing")
        tenant = claims.get(names.tenant, cfg.default_tenant)
        if not isinstance(tenant, str) or not tenant:
            raise _fail(f"claim {names.tenant!r} missing")
        # An identity provider names many roles; only Lockgate's own carry meaning here.
        roles = tuple(r for r in _strings(claims.get(names.roles), names.roles) if r in ROLES)
        groups = _strings(claims.get(names.groups), names.groups)
        apps = _strings(claims.get(names.app), names.app) if names.app else ()
        return Principal(
            id=subject,
            tenant=tenant,
            roles=tuple(dict.fromkeys(roles)),
            groups=tuple(dict.fromkeys(groups)),
            authenticated=True,
            auth_method="oidc",
            key_id=f"oidc:{subject}",
            apps=tuple(dict.fromkeys(apps)),
        )
