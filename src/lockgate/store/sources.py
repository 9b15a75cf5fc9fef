"""Sources and their own sync state: last seen / changed / indexed, errors, opaque state
(ETags, S3 listing marks) that a connector keeps between runs."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.store import tables as tb
from lockgate.store.db import inserted_id, transaction

t = tb.sources


class SourceStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ensure(self, name: str, kind: str, uri: str, config: dict[str, Any]) -> int:
        with transaction(self.engine) as conn:
            row = conn.execute(select(t.c.id).where(t.c.name == name)).first()
            if row:
                conn.execute(
                    update(t)
                    .where(t.c.id == row.id)
                    .values(kind=kind, uri=uri, config=json.dumps(config))
                )
                return int(row.id)
            stmt = insert(t).values(
                name=name,
                kind=kind,
                uri=uri,
                config=json.dumps(config),
                state="{}",
                created_at=time.time(),
                consecutive_failures=0,
            )
            return inserted_id(conn.execute(stmt))

    def get(self, source_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == source_id)).first()
        return _row(row) if row else None

    def by_name(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).first()
        return _row(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(select(t).order_by(t.c.name))]

    def record_sync(
        self,
        source_id: int,
        *,
        changed: bool,
        indexed: bool,
        state: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        now = time.time()
        values: dict[str, Any] = {}
        if error is None:
            values.update(last_seen_at=now, last_error=None, consecutive_failures=0)
            if changed:
                values["last_changed_at"] = now
            if indexed:
                values["last_indexed_at"] = now
        else:
            values.update(
                last_error=error[:1000], consecutive_failures=t.c.consecutive_failures + 1
            )
        if state is not None:
            values["state"] = json.dumps(state)
        with transaction(self.engine) as conn:
            conn.execute(update(t).where(t.c.id == source_id).values(**values))


def _row(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["config"] = json.loads(out.get("config") or "{}")
    out["state"] = json.loads(out.get("state") or "{}")
    return out
