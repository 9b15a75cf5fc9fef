"""Trace access lists: a trace keeps the texts of the chunks its retrieval used, so it is
readable only by who could see every one of them. One `req` per distinct non-empty group
list of those chunks, one row per group of it: a reader must be in at least one group of
every req (store/traces.py filters on it in the query). A trace with no rows is visible to
its whole tenant."""

from __future__ import annotations

from sqlalchemy import Connection, text


def upgrade(conn: Connection, dialect: str) -> None:
    conn.execute(
        text(
            "CREATE TABLE trace_acl ("
            "trace_id TEXT NOT NULL, req INTEGER NOT NULL, grp TEXT NOT NULL)"
        )
    )
    conn.execute(text("CREATE INDEX ix_trace_acl_trace ON trace_acl (trace_id)"))
