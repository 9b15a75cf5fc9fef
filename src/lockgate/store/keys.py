"""API key rows. This module stores and finds them; making and checking keys is
`lockgate.auth.keys`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.store import tables as tb
from lockgate.store.db import transaction


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    prefix: str
    secret_hash: str
    tenant: str
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    created_at: float
    created_by: str | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_at: float | None = None
    # The apps the key may run as; the first is its default (see engine/apps.py).
    apps: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """Everything about the key except its hash: what `keys list` and the admin API show."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "tenant": self.tenant,
            "roles": list(self.roles),
            "groups": list(self.groups),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "rotated_at": self.rotated_at,
            "app": self.apps[0] if self.apps else None,
            "apps": list(self.apps),
        }


def _record(row: Any) -> KeyRecord:
    m = row._mapping
    return KeyRecord(
        id=m["id"],
        name=m["name"],
        prefix=m["prefix"],
        secret_hash=m["secret_hash"],
        tenant=m["tenant"],
        roles=tuple(json.loads(m["roles"])),
        groups=tuple(json.loads(m["groups"])),
        created_at=m["created_at"],
        created_by=m["created_by"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        rotated_at=m["rotated_at"],
        apps=tuple(json.loads(m["apps"])) if m["apps"] else (),
    )


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rec: KeyRecord) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                insert(tb.api_keys).values(
                    id=rec.id,
                    name=rec.name,
                    prefix=rec.prefix,
                    secret_hash=rec.secret_hash,
                    tenant=rec.tenant,
                    roles=json.dumps(list(rec.roles)),
                    groups=json.dumps(list(rec.groups)),
                    created_at=rec.created_at,
                    created_by=rec.created_by,
                    expires_at=rec.expires_at,
                    revoked_at=rec.revoked_at,
                    rotated_at=rec.rotated_at,
                    apps=json.dumps(list(rec.apps)) if rec.apps else None,
                )
            )

    def by_prefix(self, prefix: str) -> KeyRecord | None:
        k = tb.api_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(k).where(k.c.prefix == prefix)).first()
        return _record(row) if row is not None else None

    def get(self, key_id: str) -> KeyRecord | None:
        k = tb.api_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(k).where(k.c.id == key_id)).first()
        return _record(row) if row is not None else None

    def list(self, tenant: str | None = None) -> list[KeyRecord]:
        k = tb.api_keys
        stmt = select(k).order_by(k.c.created_at, k.c.id)
        if tenant is not None:
            stmt = stmt.where(k.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(stmt)]

    def revoke(self, key_id: str, when: float) -> bool:
        """Mark a key revoked; False when there is no such key. Revoking twice keeps the
        first time."""
        k = tb.api_keys
        with transaction(self.engine) as conn:
            found = conn.execute(select(k.c.revoked_at).where(k.c.id == key_id)).first()
            if found is None:
                return False
            if found[0] is None:
                conn.execute(update(k).where(k.c.id == key_id).values(revoked_at=when))
        return True

    def replace_secret(self, key_id: str, prefix: str, secret_hash: str, when: float) -> bool:
        """Give a live key a new prefix and secret; the old secret stops matching at once.
        False when the key does not exist or is revoked."""
        k = tb.api_keys
        with transaction(self.engine) as conn:
            result = conn.execute(
                update(k)
                .where(k.c.id == key_id, k.c.revoked_at.is_(None))
                .values(prefix=prefix, secret_hash=secret_hash, rotated_at=when)
            )
        return bool(result.rowcount)
