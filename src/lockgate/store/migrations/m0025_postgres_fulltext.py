"""The full-text index on PostgreSQL: each active chunk's heading and text as a `tsvector`
(heading weighted A, text B) in `chunks_tsv`, with a GIN index for `@@`. SQLite has had
FTS5's `chunks_fts` since m0001 and needs nothing.

Chunks already in the store are indexed here, with the heading field the writer builds (the
version's title, then the chunk's headings), so an upgraded store searches what it holds.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, text

# The text search configuration of store/fulltext.py's PG_CONFIG at the time of writing;
# a migration must not change when that constant later does.
CONFIG = "english"


def upgrade(conn: Connection, dialect: str) -> None:
    if dialect != "postgresql":
        return
    conn.execute(
        text(
            "CREATE TABLE chunks_tsv ("
            "chunk_id BIGINT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE, "
            "tsv TSVECTOR NOT NULL)"
        )
    )
    conn.execute(text("CREATE INDEX ix_chunks_tsv ON chunks_tsv USING GIN (tsv)"))
    rows = conn.execute(
        text(
            "SELECT c.id, v.title, c.heading_path, c.text FROM chunks c "
            "JOIN document_versions v ON v.id = c.version_id WHERE c.active = 1"
        )
    ).all()
    if not rows:
        return
    conn.execute(
        text(
            "INSERT INTO chunks_tsv (chunk_id, tsv) VALUES (:id, "
            "setweight(to_tsvector(CAST(:cfg AS regconfig), :h), 'A') || "
            "setweight(to_tsvector(CAST(:cfg AS regconfig), :t), 'B'))"
        ),
        [
            {"id": r.id, "h": _heading(r.title, r.heading_path), "t": r.text, "cfg": CONFIG}
            for r in rows
        ],
    )


def _heading(title: str | None, heading_path: str | None) -> str:
    # store.documents.heading_field as it stands: title, then headings, repeats dropped.
    parts = (title, *json.loads(heading_path or "[]"))
    return " > ".join(dict.fromkeys(p for p in parts if p))
