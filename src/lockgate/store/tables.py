"""Every table the store has, as SQLAlchemy `Table` handles on one `MetaData`.

The DDL itself lives in `migrations/` (the source of truth for the database); these
declarations are what queries are built from, and `tests/store/test_schema_matches.py` checks
that they agree with a freshly migrated database column by column."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

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
    # m0003: near-duplicates, freshness, sources
    Column("near_dup_group", Integer),
    Column("superseded_by", Integer),
    Column("source_id", Integer),
    Column("parent_document_id", Integer),  # m0002: attachment / archive member of
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
    # m0003: normalisation, declared freshness, lineage
    Column("language", String),
    Column("language_score", Float),
    Column("encoding", String),
    Column("dates", Text),
    Column("owner", Text),
    Column("review_by", String),
    Column("effective_date", String),
    Column("meta_hash", String),
    Column("chunker", String),
    Column("normalize", Text),
    Column("minhash", LargeBinary),
    # m0002: parser-reported facts (mail headers, OCR pages)
    Column("parse_metadata", Text),
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
    # m0003: near-duplicate chunks and lineage
    Column("simhash", Integer),
    Column("text_hash", String),
    Column("ocr_confidence", Float),  # m0002: NULL unless the text was read by OCR
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
    Column("source_id", Integer),  # m0003
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("summary", Text),
    Column("owner", Text),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("kind", String),
    Column("uri", Text),
    Column("config", Text),
    Column("state", Text),
    Column("created_at", Float),
    Column("last_seen_at", Float),
    Column("last_changed_at", Float),
    Column("last_indexed_at", Float),
    Column("last_error", Text),
    Column("consecutive_failures", Integer),
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
    Column("app", Text),
    Column("guardrails", Text),
    Column("guard_action", String),
    Column("groundedness", Float),
    # m0005: extractive answer while the models were down; attempts/fallback of the call (JSON)
    Column("degraded", Integer),
    Column("upstream", Text),
    # m0006: cache outcome and routing decision (JSON)
    Column("cache", Text),
    Column("route", Text),
)

guard_escalations = Table(
    "guard_escalations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", Float),
    Column("trace_id", String),
    Column("principal", Text),
    Column("tenant", Text),
    Column("direction", String),
    Column("scanners", Text),
    Column("excerpt", Text),
    Column("status", String),
    Column("owner", Text),
)

# m0006: the response cache
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String),
    Column("scope", String),
    Column("tenant", Text),
    Column("model", Text),
    Column("request_text", Text),
    Column("answer", Text),
    Column("documents", Text),
    Column("embedding", LargeBinary),
    Column("created_at", Float),
    Column("expires_at", Float),
    Column("last_hit_at", Float),
    Column("hits", Integer),
    Column("trace_id", String),
)

# m0007: shared rate-limit buckets (budget/limits.py)
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String, primary_key=True),
    Column("level", Float),
    Column("updated_at", Float),
)

# m0007: the budget ledger (budget/ledger.py): settled spend and holds per (scope, period),
# the holds of requests in flight, and soft-limit alerts
budget_usage = Table(
    "budget_usage",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("spent", Float),
    Column("reserved", Float),
    Column("requests", Integer),
    Column("soft_alerted", Integer),
    Column("updated_at", Float),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float),
    Column("expires_at", Float),
    Column("amount", Float),
    Column("entries", Text),
)

budget_events = Table(
    "budget_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", Float),
    Column("kind", String),
    Column("scope", Text),
    Column("period", Text),
    Column("spent", Float),
    Column("threshold", Float),
    Column("trace_id", String),
)

# m0007: uploaded files (batch/files.py); the bytes live on disk, not here
files = Table(
    "files",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float),
    Column("filename", Text),
    Column("purpose", String),
    Column("bytes", Integer),
    Column("path", Text),
    Column("principal", Text),
    Column("deleted", Integer),
)

# m0007: batches and their items (batch/batches.py)
batches = Table(
    "batches",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float),
    Column("status", String),
    Column("endpoint", Text),
    Column("input_file_id", String),
    Column("completion_window", String),
    Column("principal", Text),
    Column("tenant", Text),
    Column("metadata", Text),
    Column("errors", Text),
    Column("output_file_id", String),
    Column("error_file_id", String),
    Column("in_progress_at", Float),
    Column("finalizing_at", Float),
    Column("completed_at", Float),
    Column("failed_at", Float),
    Column("cancelling_at", Float),
    Column("cancelled_at", Float),
    Column("expires_at", Float),
    Column("worker", String),
    Column("lease_until", Float),
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("custom_id", Text),
    Column("body", Text),
    Column("status", String),
    Column("attempts", Integer),
    Column("status_code", Integer),
    Column("response", Text),
    Column("error", Text),
    Column("trace_id", String),
    Column("finished_at", Float),
)
