"""Budget holds in Redis, the SQL ledger as the record of spend.

The check `spent + held + this request's maximum <= hard ceiling` and the hold are one Lua
script call, atomic in Redis, for every gateway process on it: no SQL write transaction
(and no row lock on PostgreSQL) on a request's way in. Per (scope, period) Redis keeps a
counter hash {s: spent, r: held, seeded} and a sorted set of the holds (member
`id:amount`, scored by expiry), so an abandoned hold (its process died) is released by
the next reservation under the same cap once it expires.

Settling writes the SQL ledger first (spend, request count, soft alerts: the durable
record, as with the SQL store), then moves the hold to the spend in Redis. That order means
Redis never counts less than was spent:
- A counter Redis does not have (first use, or Redis lost its data) is seeded from the
  ledger by one process: it marks the counter, reads the ledger, then sets the spend to
  the ledger's plus what settled in Redis since the mark. A settle that reached Redis
  before the mark is in that read; one that reached the ledger before the read and Redis
  after the mark is counted twice (a window of milliseconds), never missed.
- A settle whose Redis half failed (Redis away for a moment) is kept by its process and
  sent again before its next call to Redis; its hold meanwhile still counts (stricter).
  Only a process that dies while Redis is away loses those (logged when they are kept).
Holds of requests in flight when Redis lost its data are gone with it: until those requests
settle, new ones can be admitted against room they held (logged when it happens).

While Redis does not answer a reservation: `fail_closed` refuses with a 503; `fail_open` lets
the SQL ledger hold instead (exact among the requests it holds; the holds Redis had are
not seen by it)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from redis.exceptions import RedisError

from lockgate.budget.ledger import Cap, Refusal, Reservation, Settled, SqlBudgetStore
from lockgate.config import OnRedisError
from lockgate.sharedstate.client import REDIS_ERRORS, Redis, as_float

log = logging.getLogger("lockgate.budget")

# KEYS: counter and holds key of each distinct (scope, period), in pairs.
# ARGV: now, amount, member, expires_at, cap count, a fresh token, then per cap: its pair's
# index and its hard ceiling ("" for none); then per pair: the keys' ttl (ms).
# Returns {verdict, pair or cap index, spent or token, held, expired holds}.
_RESERVE = """
local now, amount = tonumber(ARGV[1]), tonumber(ARGV[2])
local ncaps = tonumber(ARGV[5])
local npairs = #KEYS / 2
local expired = 0
for p = 1, npairs do
  local ck, hk = KEYS[2 * p - 1], KEYS[2 * p]
  local stale = redis.call('ZRANGEBYSCORE', hk, '-inf', '(' .. ARGV[1])
  if #stale > 0 then
    local freed = 0
    for _, m in ipairs(stale) do freed = freed + tonumber(string.match(m, ':([^:]*)$')) end
    redis.call('ZREMRANGEBYSCORE', hk, '-inf', '(' .. ARGV[1])
    redis.call('HINCRBYFLOAT', ck, 'r', -freed)
    expired = expired + #stale
  end
  if redis.call('HEXISTS', ck, 'seeded') == 0 then
    -- One process seeds (others wait): mark the counter, so that settles from now on are
    -- kept aside in 'u' until the seed adds them to the ledger's spend.
    local mk = redis.call('HMGET', ck, 'mk', 'mt')
    if mk[1] and now - tonumber(mk[2]) < 5 then return {'wait', p, '', '', expired} end
    redis.call('HSET', ck, 'mk', ARGV[6], 'mt', ARGV[1], 'u', '0')
    redis.call('PEXPIRE', ck, ARGV[6 + 2 * ncaps + p])
    return {'seed', p, ARGV[6], '', expired}
  end
  -- No hold left: reset the float sum exactly, so rounding never accumulates.
  if redis.call('ZCARD', hk) == 0 then redis.call('HSET', ck, 'r', '0') end
end
for i = 1, ncaps do
  local p, hard = tonumber(ARGV[5 + 2 * i]), ARGV[6 + 2 * i]
  if hard ~= '' then
    local st = redis.call('HMGET', KEYS[2 * p - 1], 's', 'r')
    local spent, held = tonumber(st[1] or '0'), tonumber(st[2] or '0')
    if spent + held + amount > tonumber(hard) + 1e-12 then
      return {'refuse', i, string.format('%.17g', spent), string.format('%.17g', held), expired}
    end
  end
end
for p = 1, npairs do
  local ck, hk, ttl = KEYS[2 * p - 1], KEYS[2 * p], ARGV[6 + 2 * ncaps + p]
  redis.call('HINCRBYFLOAT', ck, 'r', ARGV[2])
  redis.call('ZADD', hk, ARGV[4], ARGV[3])
  redis.call('PEXPIRE', ck, ttl)
  redis.call('PEXPIRE', hk, ttl)
end
return {'ok', 0, '', '', expired}
"""

# KEYS: counter and holds key pairs. ARGV: member, amount, actual cost, then per pair ttl.
# A counter not seeded yet takes no spend: the ledger, written before this, has it, and
# the seed reads the ledger after its mark; settles after the mark wait in 'u' for it.
_SETTLE = """
for p = 1, #KEYS / 2 do
  local ck, hk = KEYS[2 * p - 1], KEYS[2 * p]
  if redis.call('ZREM', hk, ARGV[1]) == 1 then
    redis.call('HINCRBYFLOAT', ck, 'r', '-' .. ARGV[2])
  end
  if redis.call('ZCARD', hk) == 0 and redis.call('EXISTS', ck) == 1 then
    redis.call('HSET', ck, 'r', '0')
  end
  if redis.call('HEXISTS', ck, 'seeded') == 1 then
    redis.call('HINCRBYFLOAT', ck, 's', ARGV[3])
    redis.call('PEXPIRE', ck, ARGV[3 + p])
  elseif redis.call('HEXISTS', ck, 'mk') == 1 then
    redis.call('HINCRBYFLOAT', ck, 'u', ARGV[3])
  end
end
return 1
"""

# KEYS: one counter. ARGV: the ledger's spend (read after the mark), token, ttl. The spend
# is the ledger's plus the settles since the mark (a settle that reached the ledger before
# the read and Redis after the mark counts twice: never less).
_SEED = """
local ck = KEYS[1]
if redis.call('HEXISTS', ck, 'seeded') == 1 or redis.call('HGET', ck, 'mk') ~= ARGV[2] then
  return 0
end
local u = tonumber(redis.call('HGET', ck, 'u') or '0')
redis.call('HSET', ck, 's', string.format('%.17g', tonumber(ARGV[1]) + u), 'seeded', '1')
redis.call('HDEL', ck, 'mk', 'mt', 'u')
redis.call('PEXPIRE', ck, ARGV[3])
return 1
"""

_DAY_MS = 24 * 3600 * 1000
# Settles kept for Redis while it is away, at most (each is a few hundred bytes).
_MAX_MISSED = 100_000
# How long a reservation waits for another process to finish seeding a counter.
_SEED_WAIT_S = 2.0


def _ttl_ms(period: str) -> str:
    # A counter outlives its period by a margin (a request that started before midnight
    # settles after it), then Redis forgets it; the ledger keeps the record.
    return str((3 if period.startswith("day:") else 40) * _DAY_MS)


class RedisBudgetStore:
    def __init__(
        self,
        redis: Redis,
        sql: SqlBudgetStore,
        on_error: OnRedisError = "fail_closed",
    ) -> None:
        self.redis = redis
        self.sql = sql
        self.on_error = on_error
        self._reserve = redis.script(_RESERVE)
        self._settle = redis.script(_SETTLE)
        self._seed_script = redis.script(_SEED)
        self._lock = threading.Lock()
        # Settles whose Redis half failed, sent again before this process's next call.
        self._missed: list[tuple[list[str], list[str]]] = []

    def _keys(self, scope: str, period: str) -> tuple[str, str]:
        name = f"{scope}\x1f{period}"
        return self.redis.key("b", "c", name), self.redis.key("b", "h", name)

    @staticmethod
    def _pairs(caps: list[Cap]) -> list[tuple[str, str]]:
        return sorted({(c.scope, c.period) for c in caps})

    def reserve(
        self, caps: list[Cap], amount: float, now: float, ttl_s: float
    ) -> Reservation | Refusal:
        try:
            got = self._reserve_redis(caps, amount, now, ttl_s)
        except REDIS_ERRORS as exc:
            self.redis.failed("budgets", self.on_error, exc)  # raises when failing closed
            return self.sql.reserve(caps, amount, now, ttl_s)
        return got

    def _reserve_redis(
        self, caps: list[Cap], amount: float, now: float, ttl_s: float
    ) -> Reservation | Refusal:
        pairs = self._pairs(caps)
        index = {pair: i + 1 for i, pair in enumerate(pairs)}
        keys = [k for pair in pairs for k in self._keys(*pair)]
        res = Reservation(uuid.uuid4().hex, amount, caps, where="redis")
        head: list[Any] = [repr(now), repr(amount), _member(res), repr(now + ttl_s), len(caps)]
        tail: list[Any] = []
        for cap in caps:
            tail += [index[(cap.scope, cap.period)], "" if cap.hard is None else repr(cap.hard)]
        tail += [_ttl_ms(period) for _, period in pairs]
        self._replay()
        deadline = time.monotonic() + _SEED_WAIT_S
        while True:
            verdict, at, extra, held, expired = self._reserve(
                keys=keys, args=[*head, uuid.uuid4().hex, *tail]
            )
            if int(expired):
                log.warning("released %d budget hold(s) that were never settled", int(expired))
            verdict = _s(verdict)
            if verdict == "ok":
                return res
            if verdict == "refuse":
                return Refusal(caps[int(at) - 1], as_float(extra), as_float(held), amount)
            if verdict == "seed":
                self._seed(pairs[int(at) - 1], _s(extra))
            elif time.monotonic() > deadline:
                raise RedisError("budget counters in Redis are being seeded and not done yet")
            else:
                time.sleep(0.02)  # another process seeds this counter right now

    def _seed(self, pair: tuple[str, str], token: str) -> None:
        # Read after the mark: every settle that reached Redis before it is in this read.
        spent = self.sql.spent([Cap(pair[0], pair[1], None, None)])[pair]
        done = int(
            self._seed_script(
                keys=[self._keys(*pair)[0]], args=[repr(spent), token, _ttl_ms(pair[1])]
            )
        )
        if done and spent > 0:
            log.warning(
                "the budget counter of %s %s was missing from Redis and is seeded from the "
                "ledger (%.6f spent); holds of requests in flight when Redis lost it count "
                "again only once those requests settle",
                pair[0],
                pair[1],
                spent,
            )

    def _replay(self) -> None:
        """Send again the settles that missed Redis (raises if it is still away)."""
        if not self._missed:
            return
        with self._lock:
            missed, self._missed = self._missed, []
        for i, (keys, args) in enumerate(missed):
            try:
                self._settle(keys=keys, args=args)
            except REDIS_ERRORS:
                with self._lock:
                    self._missed[:0] = missed[i:]
                raise
        log.warning("%d budget settle(s) that missed Redis reached it now", len(missed))

    def settle(
        self, reservation: Reservation, actual: float, now: float, trace_id: str | None
    ) -> Settled:
        # The ledger first: it is the record, and Redis may be counted twice but never
        # less (see the module docstring).
        settled = self.sql.settle(reservation, actual, now, trace_id)
        pairs = self._pairs(reservation.caps)
        keys = [k for pair in pairs for k in self._keys(*pair)]
        args = [
            _member(reservation),
            repr(reservation.amount),
            repr(actual),
            *(_ttl_ms(p) for _, p in pairs),
        ]
        try:
            self._replay()
            self._settle(keys=keys, args=args)
        except REDIS_ERRORS as exc:
            # The hold stays meanwhile (stricter, never looser): never a reason to fail a
            # request that has finished.
            with self._lock:
                if len(self._missed) < _MAX_MISSED:
                    self._missed.append((keys, args))
                    kept = True
                else:
                    kept = False
            if not kept:
                log.error(
                    "budget settle of %.6f could not reach Redis and %d are already waiting: "
                    "Redis's budget counters will count less than the ledger",
                    actual,
                    _MAX_MISSED,
                )
            self.redis.failed("budgets", "deferred", exc)
        return settled

    def usage(self) -> list[dict[str, Any]]:
        """The ledger's rows, with the holds in Redis added to `reserved` where it answers."""
        rows = self.sql.usage()
        try:
            pipe = self.redis.client.pipeline(transaction=False)
            for row in rows:
                pipe.hget(self._keys(row["scope"], row["period"])[0], "r")
            held = pipe.execute()
        except REDIS_ERRORS as exc:
            self.redis.failed("budgets", "fail_open", exc)
            return rows
        for row, h in zip(rows, held, strict=True):
            if h is not None:
                row["reserved"] = float(row["reserved"]) + as_float(h)
        return rows

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.sql.events(limit)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _member(res: Reservation) -> str:
    return f"{res.id}:{res.amount!r}"
