"""Timestamps and amounts as 8-byte floats on PostgreSQL.

Earlier migrations declared them `REAL`, which SQLite stores as an 8-byte float but
PostgreSQL as a 4-byte one: an epoch timestamp then keeps about 7 digits, so times are
rounded to minutes and ordering, expiry and retention go wrong. SQLite needs nothing.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    if dialect != "postgresql":
        return
    rows = conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'real' "
            "ORDER BY table_name, column_name"
        )
    ).all()
    for table, column in rows:
        conn.execute(
            text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE DOUBLE PRECISION')
        )
