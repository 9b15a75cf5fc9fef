"""Rate limits, spending budgets and the batch API."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict
from lockgate.config.shared import OnRedisError

Dimension = Literal["key", "tenant", "model", "caller"]


def _per_key() -> list[Dimension]:
    return ["key"]


class RateLimitRule(Strict):
    """One limit. `per` says what gets its own counter (`[key]`: every caller separately;
    `[key, model]`: every caller per model; `[]`: one counter shared by all matching
    requests). `key` / `tenant` / `model` narrow which requests the rule applies to.

    The key is what the caller cannot choose: the API key (or token subject) that
    authenticated it, else the address its connection comes from. `caller` is the
    `x-lockgate-caller` header, which the client does choose: it can only divide a key's
    allowance (with `key` in `per`, next to a rule that bounds the key as a whole)."""

    per: list[Dimension] = Field(default_factory=_per_key)
    key: str | None = None
    tenant: str | None = None
    model: str | None = None
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitRule:
        if self.rpm is None and self.tpm is None:
            raise ValueError("a rate limit rule needs rpm or tpm")
        if "caller" in self.per and "key" not in self.per:
            raise ValueError("a rule per caller must also be per key: per: [key, caller]")
        return self

    def covers(self, other: RateLimitRule) -> bool:
        """Whether this rule applies to every request `other` applies to."""
        return (
            self.key in (None, other.key)
            and self.tenant in (None, other.tenant)
            and self.model in (None, other.model)
        )


DEFAULT_RPM = 600


def _default_rules() -> list[RateLimitRule]:
    # Every caller (each key, each anonymous address) gets 600 requests a minute, with
    # bursts up to that: generous for people and tools, a bound for a loop or a flood.
    return [RateLimitRule(per=["key"], rpm=DEFAULT_RPM)]


class LimitsConfig(Strict):
    enabled: bool = True
    # memory: one gateway process (the default deployment); sqlite: shared by every process
    # on the store (SQLite or PostgreSQL, one write transaction a request); redis: shared
    # through `redis.url`, one script call a request.
    store: Literal["memory", "sqlite", "redis"] = "memory"
    # While Redis does not answer: admit (logged, counted in
    # lockgate_shared_state_errors_total) or refuse with a 503.
    on_redis_error: OnRedisError = "fail_open"
    # Setting rules replaces the default one; `rules: []` turns rate limits off.
    rules: list[RateLimitRule] = Field(default_factory=_default_rules)
    # The memory store forgets a bucket once it has refilled (a minute idle, which changes
    # no answer) and keeps at most this many, the least recently used going first.
    max_buckets: int = Field(100_000, ge=100)

    @model_validator(mode="after")
    def _callers_stay_within_keys(self) -> LimitsConfig:
        for rule in self.rules:
            if "caller" not in rule.per:
                continue
            for kind in ("rpm", "tpm"):
                if getattr(rule, kind) is None:
                    continue
                if not any(
                    "caller" not in other.per
                    and getattr(other, kind) is not None
                    and other.covers(rule)
                    for other in self.rules
                ):
                    raise ValueError(
                        f"a rule per caller ({kind}) needs a rule with {kind} that is not per "
                        "caller and applies to the same requests: the caller header is the "
                        "client's to choose, so only such a rule bounds the key as a whole"
                    )
        return self


class BudgetRule(Strict):
    """A spending cap in the models' price unit (USD) for one scope and period. `id: "*"`
    gives every key / tenant / project its own cap of this size."""

    scope: Literal["key", "tenant", "project"]
    id: str = "*"
    period: Literal["day", "month"]
    hard: float | None = Field(None, ge=0)
    soft: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _order(self) -> BudgetRule:
        if self.hard is None and self.soft is None:
            raise ValueError("a budget rule needs hard or soft")
        if self.hard is not None and self.soft is not None and self.soft > self.hard:
            raise ValueError("soft threshold above the hard ceiling")
        return self


class BudgetsConfig(Strict):
    enabled: bool = True
    # sql: holds and spend in the store. redis: holds are taken and released atomically in
    # Redis (one script call), the store stays the record of spend (docs/costs.md).
    store: Literal["sql", "redis"] = "sql"
    # While Redis does not answer: refuse with a 503 (never spend unchecked), or let the SQL
    # ledger take the holds (fail_open: holds already in Redis are not seen by it, so the
    # ceiling can be passed by what the requests in flight at that moment cost).
    on_redis_error: OnRedisError = "fail_closed"
    rules: list[BudgetRule] = Field(default_factory=list)
    # A reservation whose request never settled (its process died) stops counting after this.
    reservation_ttl_s: float = Field(900.0, gt=0)
    # Characters per token for the prompt part of a reservation; 3 overestimates English
    # (about 4), so the reserved maximum stays a maximum for ordinary text.
    chars_per_token: float = Field(3.0, gt=0)
    # A request refused only because requests in flight hold the room waits this long for
    # them to settle before it is refused (0: refuse at once).
    wait_for_holds_s: float = Field(5.0, ge=0)


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class BatchConfig(Strict):
    enabled: bool = True
    # Live requests in flight above which the worker waits before its next item, and for
    # at most how long (so a busy gateway still drains batches, slowly).
    yield_above_in_flight: int = Field(0, ge=0)
    max_yield_s: float = Field(5.0, ge=0)
    # Pause between items: batch work never takes more than a trickle of capacity.
    item_interval_s: float = Field(0.0, ge=0)
    poll_interval_s: float = Field(1.0, gt=0)
    # Optional off-peak window in UTC, "HH:MM-HH:MM" (may wrap midnight); None: any time.
    window: str | None = None
    # A worker that stops renewing its lease (killed) hands its batch over after this.
    lease_s: float = Field(30.0, gt=0)
    # The item that was at the upstream when the process died: send it again (the upstream
    # may then see it twice) or record it as failed (never paid twice).
    resume_in_flight: Literal["retry", "fail"] = "retry"
    max_file_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    max_items: int = Field(50_000, ge=1)
    # 429 from the gateway's own limits: wait and try the item again, at most this often.
    max_rate_limit_retries: int = Field(100, ge=0)

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None and not _WINDOW.match(v):
            raise ValueError('window must look like "22:00-06:00"')
        return v
