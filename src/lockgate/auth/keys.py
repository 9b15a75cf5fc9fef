"""Making, rotating and checking API keys.

A key reads `lg_<prefix>_<secret>`: the prefix (8 characters) is visible in listings and logs
and finds the row; the secret is 32 random bytes and only its SHA-256 is stored. A salted slow
hash (scrypt, PBKDF2) protects secrets people choose; a 256-bit random secret cannot be
guessed from its hash anyway, and a fast hash keeps the check off the request's latency. The
hash is compared with `hmac.compare_digest`, in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from lockgate.auth.roles import check_roles
from lockgate.engine.turn import Principal
from lockgate.store.keys import KeyRecord, KeyStore

KEY_MARK = "lg"
PREFIX_LEN = 8
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX = re.compile(rf"[a-z0-9]{{{PREFIX_LEN}}}")
# Names, tenants and groups end up in traces, budgets and filters: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}")


class AuthFailure(Exception):
    """A credential that does not prove anything. `reason` is for the audit log and says
    more than the message the caller sees."""

    def __init__(
        self, message: str, reason: str, code: str = "invalid_api_key", key_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.code = code
        self.key_id = key_id


class KeyNotFound(LookupError):
    pass


class KeyInputError(ValueError):
    """A bad field for a new key; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_prefix() -> str:
    return f"{KEY_MARK}_" + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LEN))


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def split_key(key: str) -> tuple[str, str] | None:
    """(visible prefix `lg_xxxxxxxx`, secret) of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARK or not _PREFIX.fullmatch(parts[1]) or not parts[2]:
        return None
    return f"{KEY_MARK}_{parts[1]}", parts[2]


def looks_like_key(token: str) -> bool:
    return token.startswith(f"{KEY_MARK}_")


def _plain(field: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise KeyInputError(
            field,
            f"{field} must be 1-100 characters of letters, digits and . _ @ : - "
            f"(starting with a letter or digit), got {value!r}",
        )
    return value


class ApiKeys:
    def __init__(self, store: KeyStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def create(
        self,
        name: str,
        tenant: str,
        roles: list[str] | tuple[str, ...],
        groups: list[str] | tuple[str, ...] = (),
        expires_in_s: float | None = None,
        created_by: str | None = None,
        apps: list[str] | tuple[str, ...] = (),
    ) -> tuple[KeyRecord, str]:
        """A new key: its record and the full key, which is never available again."""
        try:
            checked_roles = check_roles(list(roles))
        except ValueError as exc:
            raise KeyInputError("roles", str(exc)) from None
        if expires_in_s is not None and expires_in_s <= 0:
            raise KeyInputError("expires", "expiry must be in the future")
        now = self.clock()
        prefix, secret = _new_prefix(), _new_secret()
        rec = KeyRecord(
            id=f"key_{uuid.uuid4().hex[:16]}",
            name=_plain("name", name),
            prefix=prefix,
            secret_hash=hash_secret(secret),
            tenant=_plain("tenant", tenant),
            roles=checked_roles,
            groups=tuple(dict.fromkeys(_plain("groups", g) for g in groups)),
            created_at=now,
            created_by=created_by,
            expires_at=now + expires_in_s if expires_in_s is not None else None,
            apps=tuple(dict.fromkeys(_plain("app", a) for a in apps)),
        )
        self.store.add(rec)
        return rec, f"{prefix}_{secret}"

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        return self.store.list(tenant)

    def get(self, key_id: str) -> KeyRecord:
        rec = self.store.get(key_id)
        if rec is None:
            raise KeyNotFound(f"no API key with id '{key_id}'")
        return rec

    def revoke(self, key_id: str) -> KeyRecord:
        if not self.store.revoke(key_id, self.clock()):
            raise KeyNotFound(f"no API key with id '{key_id}'")
        return self.get(key_id)

    def rotate(self, key_id: str) -> tuple[KeyRecord, str]:
        """A new secret (and prefix) for the same identity; the old key stops working."""
        rec = self.get(key_id)
        if rec.revoked_at is not None:
            raise KeyNotFound(f"API key '{key_id}' is revoked; create a new one")
        prefix, secret = _new_prefix(), _new_secret()
        now = self.clock()
        if not self.store.replace_secret(key_id, prefix, hash_secret(secret), now):
            raise KeyNotFound(f"API key '{key_id}' is revoked; create a new one")
        rotated = replace(rec, prefix=prefix, secret_hash=hash_secret(secret), rotated_at=now)
        return rotated, f"{prefix}_{secret}"

    def verify(self, key: str) -> Principal:
        """The principal a key proves; AuthFailure when it proves nothing."""
        invalid = "invalid API key"
        parts = split_key(key)
        if parts is None:
            raise AuthFailure(invalid, "malformed key")
        prefix, secret = parts
        rec = self.store.by_prefix(prefix)
        # An unknown prefix still costs one comparison, so the two failures take alike.
        want = rec.secret_hash if rec is not None else hash_secret("")
        matches = hmac.compare_digest(hash_secret(secret), want)
        if rec is None:
            raise AuthFailure(invalid, f"unknown key prefix {prefix}")
        if not matches:
            raise AuthFailure(invalid, "wrong secret", key_id=rec.id)
        # Only a caller who holds the secret learns why a real key no longer works.
        if rec.revoked_at is not None:
            raise AuthFailure("API key has been revoked", "revoked", key_id=rec.id)
        if rec.expires_at is not None and rec.expires_at <= self.clock():
            raise AuthFailure("API key has expired", "expired", key_id=rec.id)
        return Principal(
            id=rec.name,
            tenant=rec.tenant,
            roles=rec.roles,
            groups=rec.groups,
            authenticated=True,
            auth_method="api_key",
            key_id=rec.id,
            apps=rec.apps,
        )
