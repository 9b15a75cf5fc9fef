"""Rate limits: requests and tokens per minute, per key / tenant / model.

Each limit is a token bucket holding up to `limit` units that refills at `limit / 60` per
second: a caller may burst up to a minute's allowance and then proceeds at the steady rate,
with no cliff at a window boundary. Tokens are taken at admission as an estimate (prompt +
max_tokens, as OpenAI does) and the unused part is given back once the real usage is known.

The bucket state sits behind `BucketStore`: in process memory (one gateway process), in
the SQL store or in Redis (redis_limits.py), both shared by several processes.

A token bucket, not a window: any 60 seconds admit at most `limit` (the full bucket) plus
what refills in them (`limit` again), and the sustained rate is exactly `limit` a minute.
What a sliding window fixes in a fixed-window counter, the double allowance at a window
boundary that every client can aim at, a bucket never had: its allowance is continuous."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine, select

from lockgate.config import LimitsConfig, RateLimitRule
from lockgate.store.db import insert_missing, transaction
from lockgate.store.tables import rate_buckets


@dataclass(frozen=True)
class LimitKey:
    """Whose buckets a request draws from. `key` is what the client cannot choose (its
    API key or token, else its address); `names` are other names a rule's `key` filter may
    use for it (the principal's id, when a credential proved it); `caller` is the caller id
    header, which only ever subdivides `key`."""

    key: str
    names: tuple[str, ...] = ()
    caller: str | None = None


@dataclass(frozen=True)
class Ask:
    key: str
    capacity: float
    need: float

    @property
    def rate(self) -> float:
        return self.capacity / 60.0


@dataclass(frozen=True)
class Outcome:
    ask: Ask
    level: float  # units left after this request (or now, if it was refused)
    ok: bool

    @property
    def wait_s(self) -> float:
        """Seconds until this bucket could serve the request (inf: never, it is too big)."""
        if self.ok:
            return 0.0
        if self.ask.need > self.ask.capacity:
            return math.inf
        return (self.ask.need - self.level) / self.ask.rate

    @property
    def reset_s(self) -> float:
        """Seconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`)."""
        return max(0.0, (self.ask.capacity - self.level) / self.ask.rate)


def _refill(level: float, updated: float, ask: Ask, now: float) -> float:
    return min(ask.capacity, level + max(0.0, now - updated) * ask.rate)


class BucketStore(Protocol):
    def take(self, asks: list[Ask], now: float) -> list[Outcome]:
        """Atomically: if every bucket has enough, take from all; otherwise take nothing.
        An empty list: the store could not answer and fails open (nothing was taken)."""
        ...

    def give_back(self, ask: Ask, amount: float, now: float) -> None: ...


# Every bucket refills from empty to full in a minute (rate = capacity / 60 s), so one left
# alone this long is full, the same as a bucket never seen: forgetting it changes nothing.
REFILL_S = 60.0


class MemoryBucketStore:
    """Buckets in a dict ordered by last write. Idle (refilled) ones are dropped from the
    front as later writes come in, so memory follows the callers of the last minute, and a
    hard cap evicts the least recently written beyond `max_buckets`."""

    def __init__(self, max_buckets: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_buckets = max_buckets

    def __len__(self) -> int:
        return len(self._state)

    def _write(self, key: str, level: float, now: float) -> None:
        self._state[key] = (level, now)
        self._state.move_to_end(key)
        state = self._state
        while state:
            _, (_, updated) = next(iter(state.items()))
            if now - updated < REFILL_S and len(state) <= self.max_buckets:
                break
            state.popitem(last=False)

    def take(self, asks: list[Ask], now: float) -> list[Outcome]:
        with self._lock:
            levels = []
            for ask in asks:
                level, updated = self._state.get(ask.key, (ask.capacity, now))
                levels.append(_refill(level, updated, ask, now))
            ok = all(lv >= a.need for lv, a in zip(levels, asks, strict=True))
            out = []
            for lv, ask in zip(levels, asks, strict=True):
                left = lv - ask.need if ok else lv
                if ok:
                    self._write(ask.key, left, now)
                out.append(Outcome(ask, left, ok and lv >= ask.need))
            return out

    def give_back(self, ask: Ask, amount: float, now: float) -> None:
        with self._lock:
            level, updated = self._state.get(ask.key, (ask.capacity, now))
            level = min(ask.capacity, _refill(level, updated, ask, now) + amount)
            self._write(ask.key, level, now)


class SqlBucketStore:
    """Shared by every gateway process on the store; one short write transaction a call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _locked(
        self, conn: Connection, asks: list[Ask], now: float
    ) -> dict[str, tuple[float, float]]:
        """(level, updated_at) of each ask's bucket, its row locked to the end of the
        transaction. SQLite's writers take turns (BEGIN IMMEDIATE); PostgreSQL's run side by
        side, so a missing bucket is created full (what a missing one means) and every row
        is locked FOR UPDATE, in key order so two callers never deadlock. Without the lock
        two requests read the same level and both took the last token."""
        t = rate_buckets
        capacity = {a.key: a.capacity for a in asks}
        out = {}
        for key in sorted(capacity):
            conn.execute(
                insert_missing(conn, t).values(key=key, level=capacity[key], updated_at=now)
            )
            row = conn.execute(select(t).where(t.c.key == key).with_for_update()).one()
            out[key] = (float(row.level), float(row.updated_at))
        return out

    def _write(self, conn: Connection, key: str, level: float, now: float) -> None:
        t = rate_buckets
        conn.execute(t.update().where(t.c.key == key).values(level=level, updated_at=now))

    def take(self, asks: list[Ask], now: float) -> list[Outcome]:
        with transaction(self.engine) as conn:
            rows = self._locked(conn, asks, now)
            levels = [_refill(*rows[a.key], a, now) for a in asks]
            ok = all(lv >= a.need for lv, a in zip(levels, asks, strict=True))
            out = []
            for lv, ask in zip(levels, asks, strict=True):
                left = lv - ask.need if ok else lv
                if ok:
                    self._write(conn, ask.key, left, now)
                out.append(Outcome(ask, left, ok and lv >= ask.need))
            return out

    def give_back(self, ask: Ask, amount: float, now: float) -> None:
        with transaction(self.engine) as conn:
            level, updated = self._locked(conn, [ask], now)[ask.key]
            left = min(ask.capacity, _refill(level, updated, ask, now) + amount)
            self._write(conn, ask.key, left, now)


@dataclass
class Admission:
    ok: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after_s: float = 0.0
    message: str = ""
    # What was taken, to give back the unused token estimate later.
    token_asks: list[Ask] = field(default_factory=list)
    tokens_taken: int = 0


def fmt_duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1s", "6m0s"."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{math.ceil(seconds * 10) / 10:g}s"
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs}s"


def _matches(rule: RateLimitRule, who: LimitKey, tenant: str, model: str) -> bool:
    return (
        (rule.key is None or rule.key == who.key or rule.key in who.names)
        and (rule.tenant is None or rule.tenant == tenant)
        and (rule.model is None or rule.model == model)
    )


class RateLimiter:
    def __init__(self, config: LimitsConfig, store: BucketStore) -> None:
        self.config = config
        self.store = store

    def active(self) -> bool:
        return self.config.enabled and bool(self.config.rules)

    def asks(
        self, key: str | LimitKey, tenant: str, model: str, tokens: int
    ) -> tuple[list[Ask], list[Ask]]:
        who = key if isinstance(key, LimitKey) else LimitKey(key)
        # A rule per caller is also per key (config checks it), so the caller's bucket is a
        # part of the key's and a new caller id never opens a bucket of its own.
        values = {"key": who.key, "tenant": tenant, "model": model, "caller": who.caller or "-"}
        req: list[Ask] = []
        tok: list[Ask] = []
        for i, rule in enumerate(self.config.rules):
            if not _matches(rule, who, tenant, model):
                continue
            # The rule's position is part of the key so that two rules never share a bucket.
            base = f"rl{i}|" + "|".join(f"{d}={values[d]}" for d in rule.per)
            if rule.rpm is not None:
                req.append(Ask(base + "|req", float(rule.rpm), 1.0))
            if rule.tpm is not None:
                tok.append(Ask(base + "|tok", float(rule.tpm), float(tokens)))
        return req, tok

    def admit(
        self, key: str | LimitKey, tenant: str, model: str, tokens: int, now: float | None = None
    ) -> Admission:
        req, tok = self.asks(key, tenant, model, tokens)
        if not req and not tok:
            return Admission(True)
        outcomes = self.store.take(req + tok, time.time() if now is None else now)
        if not outcomes:
            return Admission(True)
        headers = _headers(outcomes[: len(req)], "requests") | _headers(
            outcomes[len(req) :], "tokens"
        )
        refused = [o for o in outcomes if not o.ok]
        if not refused:
            return Admission(True, headers, token_asks=tok, tokens_taken=tokens)
        worst = max(refused, key=lambda o: o.wait_s)
        kind = "tokens" if worst.ask.key.endswith("|tok") else "requests"
        if math.isinf(worst.wait_s):
            message = (
                f"Request too large for {model}: it needs about {tokens} tokens per minute "
                f"and the limit is {int(worst.ask.capacity)}."
            )
            retry = 60.0
        else:
            retry = worst.wait_s
            message = (
                f"Rate limit reached for {model} ({kind} per minute: limit "
                f"{int(worst.ask.capacity)}). Please try again in {fmt_duration(retry)}."
            )
        return Admission(False, headers, retry, message)

    def settle(self, admission: Admission, actual_tokens: int, now: float | None = None) -> None:
        """Give back what the estimate took beyond the real usage."""
        unused = admission.tokens_taken - actual_tokens
        if unused <= 0:
            return
        at = time.time() if now is None else now
        for ask in admission.token_asks:
            self.store.give_back(ask, float(unused), at)


def _headers(outcomes: list[Outcome], kind: str) -> dict[str, str]:
    if not outcomes:
        return {}
    # The tightest limit is the one a client has to pace itself by.
    tight = min(outcomes, key=lambda o: (o.level / o.ask.capacity, o.ask.capacity))
    return {
        f"x-ratelimit-limit-{kind}": str(int(tight.ask.capacity)),
        f"x-ratelimit-remaining-{kind}": str(max(0, math.floor(tight.level))),
        f"x-ratelimit-reset-{kind}": fmt_duration(tight.reset_s),
    }
