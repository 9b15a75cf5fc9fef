"""On traces: the tool calls a model answered with (JSON, sealed like the output)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    conn.execute(text("ALTER TABLE traces ADD COLUMN tool_calls TEXT"))
