"""The human review queue and reviewers' corrections. Guardrail escalations, which had a table
of their own and no workflow, become open review items of kind `guardrail`, and that table
goes.

Texts (question, answers, excerpt, context, tool call payload, note) are stored sealed by the
tenant's data key; the escalations' excerpts were sealed the same way, so they are copied as
they are (the key id travels inside the value)."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    # DOUBLE PRECISION on both: PostgreSQL's REAL is 4 bytes, which would round a timestamp.
    real = "DOUBLE PRECISION"
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    for stmt in (
        f"""CREATE TABLE review_items (
            id TEXT PRIMARY KEY,
            created_at {real} NOT NULL,
            updated_at {real} NOT NULL,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            app TEXT,
            model TEXT,
            trace_id TEXT,
            kind TEXT NOT NULL,
            mode TEXT NOT NULL,
            status TEXT NOT NULL,
            reasons TEXT NOT NULL,
            groundedness {real},
            question TEXT,
            answer TEXT,
            final_answer TEXT,
            excerpt TEXT,
            context TEXT,
            citations TEXT,
            payload TEXT,
            claimed_by TEXT,
            claimed_at {real},
            claim_expires_at {real},
            decided_by TEXT,
            decided_at {real},
            note TEXT,
            callback_status TEXT,
            callback_attempts INTEGER NOT NULL DEFAULT 0
        )""",
        # The reviewers' listing: one tenant's items by status, oldest first.
        "CREATE INDEX ix_review_items_queue ON review_items (tenant, status, created_at)",
        "CREATE INDEX ix_review_items_principal ON review_items (principal)",
        "CREATE INDEX ix_review_items_created ON review_items (created_at)",
        f"""CREATE TABLE review_corrections (
            id {pk},
            created_at {real} NOT NULL,
            tenant TEXT NOT NULL,
            principal TEXT NOT NULL,
            review_id TEXT NOT NULL,
            trace_id TEXT,
            app TEXT,
            model TEXT,
            reviewer TEXT NOT NULL,
            question TEXT NOT NULL,
            original TEXT NOT NULL,
            corrected TEXT NOT NULL
        )""",
        "CREATE INDEX ix_review_corrections_tenant ON review_corrections (tenant, created_at)",
    ):
        conn.execute(text(stmt))
    _move_escalations(conn)
    conn.execute(text("DROP TABLE guard_escalations"))


def _move_escalations(conn: Connection) -> None:
    rows = conn.execute(
        text(
            "SELECT created_at, trace_id, principal, tenant, direction, scanners, excerpt "
            "FROM guard_escalations ORDER BY id"
        )
    ).all()
    for r in rows:
        try:
            scanners = json.loads(r.scanners)
        except ValueError:
            scanners = []
        reasons = [
            {"kind": "guardrail", "direction": r.direction, "scanners": scanners, "target": ""}
        ]
        conn.execute(
            text(
                "INSERT INTO review_items (id, created_at, updated_at, tenant, principal, "
                "trace_id, kind, mode, status, reasons, excerpt, callback_attempts) VALUES "
                "(:id, :t, :t, :tenant, :principal, :trace, 'guardrail', 'deliver', 'pending', "
                ":reasons, :excerpt, 0)"
            ),
            {
                "id": f"rev_{uuid.uuid4().hex[:24]}",
                "t": float(r.created_at),
                "tenant": r.tenant,
                "principal": r.principal,
                "trace": r.trace_id,
                "reasons": json.dumps(reasons),
                "excerpt": r.excerpt,
            },
        )
