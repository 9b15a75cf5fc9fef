"""Table handles for queries. The DDL itself lives in migrations."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text),
    Column("tenant", Text),
    Column("acl", Text),
    Column("owner", Text),
    Column("status", String),
    Column("current_version_id", Integer),
    Column("duplicate_of", Integer),
    Column("created_at", Float),
    Column("updated_at", Float),
    Column("last_seen_at", Float),
)

document_versions = Table(
    "document_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("document_id", Integer),
    Column("version", Integer),
    Column("content_hash", String),
    Column("size", Integer),
    Column("mtime", Float),
    Column("format", String),
    Column("parser", String),
    Column("parser_version", String),
    Column("title", Text),
    Column("pages", Integer),
    Column("chunk_count", Integer),
    Column("status", String),
    Column("created_at", Float),
    Column("retired_at", Float),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("document_id", Integer),
    Column("version_id", Integer),
    Column("position", Integer),
    Column("text", Text),
    Column("heading_path", Text),
    Column("page", Integer),
    Column("char_start", Integer),
    Column("embedding", LargeBinary),
    Column("active", Integer),
    Column("tenant", Text),
    Column("acl", Text),
    Column("created_at", Float),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", Text),
    Column("reason", String),
    Column("detail", Text),
    Column("content_hash", String),
    Column("size", Integer),
    Column("attempts", Integer),
    Column("first_seen_at", Float),
    Column("last_attempt_at", Float),
)

meta = Table("meta", metadata, Column("key", String, primary_key=True), Column("value", Text))

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("summary", Text),
    Column("owner", Text),
)

traces = Table(
    "traces",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float),
    Column("principal", Text),
    Column("tenant", Text),
    Column("endpoint", Text),
    Column("model", Text),
    Column("backend", Text),
    Column("prompt_template", Text),
    Column("prompt_version", Integer),
    Column("stream", Integer),
    Column("status", String),
    Column("http_status", Integer),
    Column("error", Text),
    Column("request", Text),
    Column("retrieved", Text),
    Column("prompt", Text),
    Column("raw_output", Text),
    Column("output", Text),
    Column("tokens_in", Integer),
    Column("tokens_out", Integer),
    Column("cost", Float),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("refused", Integer),
    Column("grounded", Integer),
    Column("stages", Text),
)
