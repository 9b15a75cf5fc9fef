"""Normalisation, near-duplicates, freshness, lineage and sources.

- document_versions: what normalisation found (language, encoding, dates), what the document
  declared (owner, review-by, effective date), how it was chunked, its MinHash signature.
- documents: the near-duplicate group, which newer document supersedes it, its source.
- chunks: a SimHash of the text (near-duplicate chunks are collapsed at query time) and a
  hash of the chunk text, so a citation can be checked against the exact bytes used.
- sources: one row per configured or ad-hoc source with its own sync state.
- quarantine remembers its source, so a retry knows how to fetch again.
"""

from __future__ import annotations

from sqlalchemy import Connection, text


def _ddl(dialect: str) -> list[str]:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    ref = "INTEGER" if dialect == "sqlite" else "BIGINT"
    big = "INTEGER" if dialect == "sqlite" else "BIGINT"
    add = "ALTER TABLE {} ADD COLUMN {}"
    return [
        add.format("document_versions", "language TEXT"),
        add.format("document_versions", "language_score REAL"),
        add.format("document_versions", "encoding TEXT"),
        add.format("document_versions", "dates TEXT NOT NULL DEFAULT '[]'"),
        add.format("document_versions", "owner TEXT"),
        add.format("document_versions", "review_by TEXT"),
        add.format("document_versions", "effective_date TEXT"),
        add.format("document_versions", "meta_hash TEXT"),
        add.format("document_versions", "chunker TEXT"),
        add.format("document_versions", "normalize TEXT NOT NULL DEFAULT '{}'"),
        add.format("document_versions", f"minhash {blob}"),
        add.format("documents", f"near_dup_group {ref}"),
        add.format("documents", f"superseded_by {ref}"),
        add.format("documents", f"source_id {ref}"),
        add.format("chunks", f"simhash {big}"),
        add.format("chunks", "text_hash TEXT"),
        add.format("quarantine", f"source_id {ref}"),
        "CREATE INDEX ix_documents_group ON documents (near_dup_group)",
        f"""CREATE TABLE sources (
            id {pk},
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            uri TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT '{{}}',
            state TEXT NOT NULL DEFAULT '{{}}',
            created_at REAL NOT NULL,
            last_seen_at REAL,
            last_changed_at REAL,
            last_indexed_at REAL,
            last_error TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0
        )""",
    ]


def upgrade(conn: Connection, dialect: str) -> None:
    for stmt in _ddl(dialect):
        conn.execute(text(stmt))
