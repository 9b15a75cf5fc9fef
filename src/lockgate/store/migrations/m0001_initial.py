"""Documents, versions, chunks, full-text index, quarantine, traces, ingest runs."""

from __future__ import annotations

from sqlalchemy import Connection, text


def _ddl(dialect: str) -> list[str]:
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if dialect == "sqlite" else "BIGSERIAL PRIMARY KEY"
    blob = "BLOB" if dialect == "sqlite" else "BYTEA"
    ref = "INTEGER" if dialect == "sqlite" else "BIGINT"
    stmts = [
        f"""CREATE TABLE documents (
            id {pk},
            source TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL DEFAULT 'default',
            acl TEXT NOT NULL DEFAULT '[]',
            owner TEXT NOT NULL DEFAULT 'system',
            status TEXT NOT NULL,
            current_version_id {ref},
            duplicate_of {ref},
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            last_seen_at REAL NOT NULL
        )""",
        f"""CREATE TABLE document_versions (
            id {pk},
            document_id {ref} NOT NULL REFERENCES documents(id),
            version INTEGER NOT NULL,
            content_hash TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            format TEXT NOT NULL,
            parser TEXT NOT NULL,
            parser_version TEXT NOT NULL,
            title TEXT,
            pages INTEGER,
            chunk_count INTEGER NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            retired_at REAL,
            UNIQUE (document_id, version)
        )""",
        "CREATE INDEX ix_versions_hash ON document_versions (content_hash, status)",
        f"""CREATE TABLE chunks (
            id {pk},
            document_id {ref} NOT NULL REFERENCES documents(id),
            version_id {ref} NOT NULL REFERENCES document_versions(id),
            position INTEGER NOT NULL,
            text TEXT NOT NULL,
            heading_path TEXT NOT NULL DEFAULT '[]',
            page INTEGER,
            char_start INTEGER NOT NULL DEFAULT 0,
            embedding {blob},
            active INTEGER NOT NULL DEFAULT 1,
            tenant TEXT NOT NULL DEFAULT 'default',
            acl TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX ix_chunks_active ON chunks (active, document_id)",
        "CREATE INDEX ix_chunks_version ON chunks (version_id)",
        f"""CREATE TABLE quarantine (
            id {pk},
            source TEXT NOT NULL UNIQUE,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            content_hash TEXT,
            size INTEGER,
            attempts INTEGER NOT NULL DEFAULT 1,
            first_seen_at REAL NOT NULL,
            last_attempt_at REAL NOT NULL
        )""",
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        f"""CREATE TABLE ingest_runs (
            id {pk},
            started_at REAL NOT NULL,
            finished_at REAL,
            summary TEXT NOT NULL DEFAULT '{{}}',
            owner TEXT NOT NULL DEFAULT 'system'
        )""",
        """CREATE TABLE traces (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            principal TEXT NOT NULL DEFAULT 'anonymous',
            tenant TEXT NOT NULL DEFAULT 'default',
            endpoint TEXT NOT NULL,
            model TEXT,
            backend TEXT,
            prompt_template TEXT,
            prompt_version INTEGER,
            stream INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            http_status INTEGER,
            error TEXT,
            request TEXT,
            retrieved TEXT,
            prompt TEXT,
            raw_output TEXT,
            output TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost REAL,
            latency_ms REAL,
            ttft_ms REAL,
            refused INTEGER,
            grounded INTEGER,
            stages TEXT
        )""",
        "CREATE INDEX ix_traces_created ON traces (created_at)",
        "INSERT INTO meta (key, value) VALUES ('index_generation', '0')",
    ]
    if dialect == "sqlite":
        # Retired chunks leave the full-text index; rowid is the chunk id.
        stmts.append(
            "CREATE VIRTUAL TABLE chunks_fts USING fts5("
            "heading, text, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    return stmts


def upgrade(conn: Connection, dialect: str) -> None:
    for stmt in _ddl(dialect):
        conn.execute(text(stmt))
