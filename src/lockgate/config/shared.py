"""Redis, for the state several gateway processes share: rate limit buckets, budget holds,
circuit breakers and exact cache entries. Off by default (the embedded deployment has one
process and needs none); each mechanism opts in with its own `store: redis`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from lockgate.config._base import Strict

# What a mechanism does while Redis does not answer: serve without it (rate limits: admit;
# cache: a miss; budgets: the SQL ledger holds instead) or refuse with a 503.
OnRedisError = Literal["fail_open", "fail_closed"]


class RedisConfig(Strict):
    # None: no Redis; a mechanism with `store: redis` then fails config validation.
    url: str | None = None
    # Every key Lockgate writes starts with this, so one Redis can serve several gateways
    # (and `{lockgate}:` puts them all in one Redis Cluster slot, which the scripts need).
    prefix: str = "lockgate:"
    # Per command: a Redis that stops answering costs a request at most this (plus one
    # reconnect), never a stuck gateway.
    timeout_s: float = Field(0.25, gt=0)
    connect_timeout_s: float = Field(0.25, gt=0)
    # Retry-After on the 503 a fail-closed mechanism answers while Redis is away.
    retry_after_s: int = Field(5, ge=1)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v


class BreakersConfig(Strict):
    """Where circuit breaker state lives. `local`: each process keeps its own (a dead
    upstream costs every process its own `failures` timeouts). `redis`: failures are counted
    and an opening is published in Redis, so one process's verdict holds for all; each
    process still keeps its local breaker, which takes over while Redis is away."""

    store: Literal["local", "redis"] = "local"
    # How often a process reads the shared breaker states (in a background thread, never on
    # a request's path): an opening elsewhere is seen here within this long.
    sync_interval_s: float = Field(0.5, gt=0)
