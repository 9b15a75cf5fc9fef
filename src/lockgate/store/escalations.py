"""Requests a guardrail escalated to human review (the review workflow itself comes later)."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Engine, insert, select

from lockgate.crypto.envelope import FieldCipher, NoEncryption
from lockgate.store import tables as tb
from lockgate.store.db import transaction


class EscalationStore:
    def __init__(self, engine: Engine, cipher: FieldCipher | None = None) -> None:
        self.engine = engine
        self.cipher: FieldCipher = cipher or NoEncryption()

    def add(
        self,
        trace_id: str,
        principal: str,
        direction: str,
        scanners: list[str],
        excerpt: str,
        tenant: str = "default",
    ) -> None:
        with transaction(self.engine) as conn:
            conn.execute(
                insert(tb.guard_escalations).values(
                    created_at=time.time(),
                    trace_id=trace_id,
                    principal=principal,
                    direction=direction,
                    scanners=json.dumps(scanners),
                    excerpt=self.cipher.encrypt(excerpt[:2000], tenant),
                    status="open",
                )
            )

    def list(self, status: str | None = "open", limit: int = 100) -> list[dict[str, Any]]:
        e = tb.guard_escalations
        stmt = select(e).order_by(e.c.created_at.desc()).limit(limit)
        if status:
            stmt = stmt.where(e.c.status == status)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for r in rows:
            r["scanners"] = json.loads(r["scanners"])
            r["excerpt"] = self.cipher.decrypt(r["excerpt"])
        return rows
