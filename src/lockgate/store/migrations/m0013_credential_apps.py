"""Apps bound to credentials: an API key lists the apps it may run as, and a batch keeps the
app it was created under, so its items run with that app's guardrail policy and no other."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    conn.execute(text("ALTER TABLE api_keys ADD COLUMN apps TEXT"))
    conn.execute(text("ALTER TABLE batches ADD COLUMN app TEXT"))
