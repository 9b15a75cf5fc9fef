"""Wrapped data keys, one per tenant (see lockgate.crypto.envelope)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from lockgate.crypto.envelope import WrappedKey
from lockgate.store import tables as tb
from lockgate.store.db import transaction


def _key(row: object) -> WrappedKey:
    return WrappedKey(row.id, row.tenant, bytes(row.wrapped), row.master_id)  # type: ignore[attr-defined]


class SqlDataKeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def for_tenant(self, tenant: str) -> WrappedKey | None:
        t = tb.data_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.tenant == tenant)).first()
        return _key(row) if row else None

    def by_id(self, key_id: str) -> WrappedKey | None:
        t = tb.data_keys
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == key_id)).first()
        return _key(row) if row else None

    def add(self, key: WrappedKey) -> WrappedKey:
        values = {
            "id": key.id,
            "tenant": key.tenant,
            "wrapped": key.wrapped,
            "master_id": key.master_id,
            "created_at": time.time(),
        }
        try:
            with transaction(self.engine) as conn:
                conn.execute(insert(tb.data_keys).values(**values))
        except IntegrityError:
            # Another process made this tenant's key first: everyone must use that one.
            found = self.for_tenant(key.tenant)
            if found is None:
                raise
            return found
        return key

    def all(self) -> list[WrappedKey]:
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(select(tb.data_keys))]

    def rewrap(self, keys: list[WrappedKey]) -> None:
        t = tb.data_keys
        now = time.time()
        with transaction(self.engine) as conn:
            for k in keys:
                conn.execute(
                    update(t)
                    .where(t.c.id == k.id)
                    .values(wrapped=k.wrapped, master_id=k.master_id, rewrapped_at=now)
                )
