"""The exact and semantic response cache."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockgate.config._base import Strict
from lockgate.config.shared import OnRedisError


class CacheConfig(Strict):
    enabled: bool = True
    # sql: entries in the store. redis: entries in Redis with a TTL (sealed the same way),
    # shared by every process; the document versions they depend on stay in the store.
    store: Literal["sql", "redis"] = "sql"
    # While Redis does not answer: a miss and no write (fail_open), or a 503 (fail_closed).
    on_redis_error: OnRedisError = "fail_open"
    # Seconds an entry lives; grounded answers also die as soon as a source document changes.
    ttl_s: float = Field(24 * 3600, gt=0)
    # Pass-through answers are not tied to documents, so they get their own (shorter) TTL.
    passthrough_ttl_s: float = Field(3600, gt=0)
    passthrough: bool = True
    semantic: bool = True
    # Cosine similarity of the question embeddings (MiniLM) at or above which a cached entry
    # is a candidate; a lexical check then rejects near-misses (see cache/keys.py). Chosen on
    # bench/data/paraphrases.jsonl (BENCHMARKS.md "Cache and router").
    similarity: float = Field(0.90, ge=0, le=1)
    # Semantic matching for pass-through requests compares the last user message among
    # entries with the same earlier conversation. It embeds every request (and every stored
    # answer) of the models it covers, so it is opt-in: `semantic_passthrough: true` for
    # every pass-through model, or the models named in `semantic_models`. Grounded answers
    # (model `lockgate`) are always matched semantically while `semantic` is on; the exact
    # cache covers every model either way.
    semantic_passthrough: bool = False
    semantic_models: list[str] = Field(default_factory=list)
    max_entries: int = Field(100_000, ge=1)
    # How often a gateway process reloads a scope's vectors to see entries other processes
    # wrote (to the store or Redis).
    semantic_refresh_s: float = Field(30.0, ge=0)
    # Characters per streamed piece when a hit is replayed as a stream.
    stream_chunk_chars: int = Field(24, ge=1)
