"""Every table the store has, as SQLAlchemy `Table` handles on one `MetaData`.

The DDL itself lives in `migrations/` (the source of truth for the database); these
declarations are what queries are built from, and `tests/store/test_schema_matches.py` checks
that they agree with a freshly migrated database column by column."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    Column("id", BigInteger, primary_key=True),
    Column("source", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("acl", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("current_version_id", BigInteger),
    Column("duplicate_of", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
    # m0003: near-duplicates, freshness, sources
    Column("near_dup_group", BigInteger),
    Column("superseded_by", BigInteger),
    Column("source_id", BigInteger),
    Column("parent_document_id", BigInteger),  # m0002: attachment / archive member of
)

document_versions = Table(
    "document_versions",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("document_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String, nullable=False),
    Column("size", Integer, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("format", String, nullable=False),
    Column("parser", String, nullable=False),
    Column("parser_version", String, nullable=False),
    Column("title", Text),
    Column("pages", Integer),
    Column("chunk_count", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),
    # m0003: normalisation, declared freshness, lineage
    Column("language", String),
    Column("language_score", Float),
    Column("encoding", String),
    Column("dates", Text, nullable=False),
    Column("owner", Text),
    Column("review_by", String),
    Column("effective_date", String),
    Column("meta_hash", String),
    Column("chunker", String),
    Column("normalize", Text, nullable=False),
    Column("minhash", LargeBinary),
    # m0002: parser-reported facts (mail headers, OCR pages)
    Column("parse_metadata", Text, nullable=False),
)

chunks = Table(
    "chunks",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("document_id", BigInteger, nullable=False),
    Column("version_id", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("heading_path", Text, nullable=False),
    Column("page", Integer),
    Column("char_start", Integer, nullable=False),
    Column("embedding", LargeBinary),
    Column("active", Integer, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("acl", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # m0003: near-duplicate chunks and lineage
    Column("simhash", BigInteger),
    Column("text_hash", String),
    Column("ocr_confidence", Float),  # m0002: NULL unless the text was read by OCR
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("source", Text, nullable=False),
    Column("reason", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("content_hash", String),
    Column("size", Integer),
    Column("attempts", Integer, nullable=False),
    Column("first_seen_at", Float, nullable=False),
    Column("last_attempt_at", Float, nullable=False),
    Column("source_id", BigInteger),  # m0003
)

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("summary", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("kind", String, nullable=False),  # m0026: local | queued
)

# m0026: one row per file of a queued run (store/ingest_jobs.py).
ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("run_id", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_id", BigInteger),
    Column("tenant", Text, nullable=False),
    Column("acl", Text, nullable=False),  # the groups, as documents.acl
    Column("enqueued_hash", String),
    Column("content_hash", String),
    Column("state", String, nullable=False),
    Column("outcome", String),
    Column("chunks", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("worker", String),
    Column("error", Text),
    Column("enqueued_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
)

sources = Table(
    "sources",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String, nullable=False),
    Column("uri", Text, nullable=False),
    Column("config", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float),
    Column("last_changed_at", Float),
    Column("last_indexed_at", Float),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False),
)

traces = Table(
    "traces",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("principal", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("model", Text),
    Column("backend", Text),
    Column("prompt_template", Text),
    Column("prompt_version", Integer),
    Column("stream", Integer, nullable=False),
    Column("status", String, nullable=False),
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
    Column("degraded", Integer, nullable=False),
    Column("upstream", Text),
    # m0006: cache outcome and routing decision (JSON)
    Column("cache", Text),
    Column("route", Text),
    # m0016: the tool calls of the answer (JSON, encrypted at rest)
    Column("tool_calls", Text),
    # m0019: the registry prompt's content hash and the label it was resolved through
    Column("prompt_hash", String),
    Column("prompt_label", Text),
    Column("release", Text),  # m0021: the release that served the turn
)

# m0017: who may read a trace, from the access lists of the chunks it retrieved: one `req` per
# distinct non-empty group list, one row per group of it (store/traces.py).
trace_acl = Table(
    "trace_acl",
    metadata,
    Column("trace_id", Text, nullable=False),
    Column("req", Integer, nullable=False),
    Column("grp", Text, nullable=False),
)

# m0014: the human review queue (store/reviews.py). Texts are sealed by the tenant's data key;
# `reasons` (why the item was queued: kinds, scanners, scores) is metadata, kept readable.
review_items = Table(
    "review_items",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("app", Text),
    Column("model", Text),
    Column("trace_id", String),
    Column("kind", String, nullable=False),
    Column("mode", String, nullable=False),
    Column("status", String, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("groundedness", Float),
    Column("question", Text),
    Column("answer", Text),
    Column("final_answer", Text),
    Column("excerpt", Text),
    Column("context", Text),
    Column("citations", Text),
    Column("payload", Text),
    Column("claimed_by", Text),
    Column("claimed_at", Float),
    Column("claim_expires_at", Float),
    Column("decided_by", Text),
    Column("decided_at", Float),
    Column("note", Text),
    Column("callback_status", Text),
    Column("callback_attempts", Integer, nullable=False),
)

# m0014: answers a reviewer edited, kept as evaluation cases (question, original, corrected
# are sealed)
review_corrections = Table(
    "review_corrections",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("review_id", String, nullable=False),
    Column("trace_id", String),
    Column("app", Text),
    Column("model", Text),
    Column("reviewer", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("original", Text, nullable=False),
    Column("corrected", Text, nullable=False),
)

# m0006: the response cache
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("key", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("request_text", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("documents", Text, nullable=False),
    Column("embedding", LargeBinary),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("last_hit_at", Float),
    Column("hits", Integer, nullable=False),
    Column("trace_id", String),
)

# m0007: shared rate-limit buckets (budget/limits.py)
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String, primary_key=True),
    Column("level", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# m0007: the budget ledger (budget/ledger.py): settled spend and holds per (scope, period),
# the holds of requests in flight, and soft-limit alerts
budget_usage = Table(
    "budget_usage",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("period", Text, primary_key=True),
    Column("spent", Float, nullable=False),
    Column("reserved", Float, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("soft_alerted", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("amount", Float, nullable=False),
    Column("entries", Text, nullable=False),
)

budget_events = Table(
    "budget_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("kind", String, nullable=False),
    Column("scope", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("spent", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("trace_id", String),
)

# m0007: uploaded files (batch/files.py); the bytes live on disk, not here
files = Table(
    "files",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", String, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("principal", Text),
    Column("deleted", Integer, nullable=False),
)

# m0007: batches and their items (batch/batches.py)
batches = Table(
    "batches",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("status", String, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("input_file_id", String, nullable=False),
    Column("completion_window", String, nullable=False),
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
    Column("app", Text),  # the app its items run as, fixed when it is created (m0013)
)

batch_items = Table(
    "batch_items",
    metadata,
    Column("batch_id", String, primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("custom_id", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("status_code", Integer),
    Column("response", Text),
    Column("error", Text),
    Column("trace_id", String),
    Column("finished_at", Float),
)

# m0009: the hash-chained audit log (store/audit.py) and its head
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("created_at", Float, nullable=False),
    Column("kind", String, nullable=False),
    Column("actor", Text),
    Column("tenant", Text),
    Column("ref", Text),
    Column("data", Text, nullable=False),
    Column("prev_hash", String, nullable=False, unique=True),
    Column("hash", String, nullable=False),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("signature", String),
)

# m0010: per-tenant data keys (store/data_keys.py), wrapped by the master key
data_keys = Table(
    "data_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant", Text, nullable=False, unique=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("master_id", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("rewrapped_at", Float),
)

# m0008: API keys. Only a hash of the secret is kept; `prefix` is the visible, unique part of
# the key that finds the row, `roles` and `groups` are JSON lists.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text, nullable=False),
    Column("prefix", String, nullable=False),
    Column("secret_hash", String, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("roles", Text, nullable=False),
    Column("groups", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", Text),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    Column("rotated_at", Float),
    Column("apps", Text),  # JSON list; NULL: no app (m0013)
)

# m0018: user feedback on answers; comment and correction sealed by the tenant's data key.
feedback = Table(
    "feedback",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("trace_id", String, nullable=False),
    Column("rating", Integer, nullable=False),
    Column("thumb", String),
    Column("comment", Text),
    Column("correction", Text),
    Column("prompt_version", Integer),
    Column("model", Text),
    Column("app", Text),
)

# m0020: evaluation runs (store/experiments.py); `content` is sealed JSON.
experiments = Table(
    "experiments",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("principal", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("dataset", Text, nullable=False),
    Column("dataset_hash", String, nullable=False),
    Column("options", Text, nullable=False),
    Column("pass_rate", Float, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("case_count", Integer, nullable=False),
)

experiment_cases = Table(
    "experiment_cases",
    metadata,
    Column("experiment_id", String, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("case_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("refused", Integer, nullable=False),
    Column("tags", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("citations", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("cost_usd", Float),
    Column("trace_id", String),
    Column("content", Text, nullable=False),
)

experiment_labels = Table(
    "experiment_labels",
    metadata,
    Column("tenant", Text, primary_key=True),
    Column("label", Text, primary_key=True),
    Column("experiment_id", String, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# m0019: the prompt registry (store/prompts.py). A version is immutable: `seq` counts 1, 2, 3
# per name, `hash` is the SHA-256 of the canonical `content` (JSON of the spec).
prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String, nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("created_by", Text),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("name", Text, primary_key=True),
    Column("label", Text, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", Text),
)

# Every move of a label (seed, label, rollback), oldest first: what rollback walks back.
prompt_label_history = Table(
    "prompt_label_history",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False),
    Column("label", Text, nullable=False),
    Column("action", String, nullable=False),
    Column("from_seq", Integer),
    Column("to_seq", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("actor", Text),
)

# m0021: staged releases (store/releases.py). `pilot`, `prompts`, `models`, `params` and a
# history entry's `detail` are JSON.
releases = Table(
    "releases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("stage", Text, nullable=False),
    Column("percent", Float),
    Column("pilot", Text, nullable=False),
    Column("prompts", Text, nullable=False),
    Column("model", Text),
    Column("models", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("rollout_since", Float),
    Column("previous", Text),
    Column("reason", Text),
    Column("slot", Text),  # 'current' / 'rollout' / NULL, unique: one of each at most
)

release_history = Table(
    "release_history",
    metadata,
    Column("release", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("from_stage", Text),
    Column("to_stage", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

# m0024: load test runs (store/loadtests.py); latencies in milliseconds, `report` the JSON
loadtest_runs = Table(
    "loadtest_runs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("url", Text, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("rps_target", Float, nullable=False),
    Column("rps_achieved", Float, nullable=False),
    Column("duration", Float, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("p50", Float),
    Column("p95", Float),
    Column("p99", Float),
    Column("ttft_p50", Float),
    Column("error_rate", Float, nullable=False),
    Column("cost", Float),
    Column("generator_cpu", Float, nullable=False),
    Column("projected_peak_rps", Float),
    Column("projected_load_multiple", Float),
    Column("report", Text, nullable=False),
)

# m0023: alert history (store/alerts.py); `detail` and `deliveries` are JSON.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String, primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("rule", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("state", Text, nullable=False),  # 'firing' or 'resolved'
    Column("severity", Text, nullable=False),
    Column("value", Float),
    Column("threshold", Float),
    Column("message", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("deliveries", Text, nullable=False),
)
