"""Rate limit buckets in Redis: the same token buckets as the memory and SQL stores, taken
and given back by one Lua script call each, so several gateway processes (or hosts) share
every caller's allowance exactly.

The script runs atomically in Redis: it refills every bucket of the request to `now`,
takes from all of them only if each has enough, and writes the new levels, exactly the
all-or-nothing `take` of the other stores. Time is the caller's clock, like the SQL store;
a bucket key expires once it would have refilled anyway (a bucket never seen is full)."""

from __future__ import annotations

from lockgate.budget.limits import REFILL_S, Ask, Outcome
from lockgate.config import OnRedisError
from lockgate.sharedstate.client import REDIS_ERRORS, Redis, as_float

# KEYS: the buckets. ARGV: now, key ttl (ms), then capacity and need for each bucket.
# A bucket is a hash {l: level, t: updated}. Levels go back as strings: Redis would turn a
# Lua number into an integer.
_TAKE = """
local now = tonumber(ARGV[1])
local levels, ok = {}, true
for i = 1, #KEYS do
  local cap, need = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local st = redis.call('HMGET', KEYS[i], 'l', 't')
  local level = cap
  if st[1] then
    level = math.min(cap, tonumber(st[1]) + math.max(0, now - tonumber(st[2])) * cap / 60)
  end
  levels[i] = level
  if level < need then ok = false end
end
local out = {}
for i = 1, #KEYS do
  local left = levels[i]
  if ok then
    left = left - tonumber(ARGV[2 + 2 * i])
    redis.call('HSET', KEYS[i], 'l', string.format('%.17g', left), 't', ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
  out[i] = string.format('%.17g', left)
end
return {ok and 1 or 0, out}
"""

# KEYS: one bucket. ARGV: now, key ttl (ms), capacity, amount.
_GIVE_BACK = """
local now, cap = tonumber(ARGV[1]), tonumber(ARGV[3])
local st = redis.call('HMGET', KEYS[1], 'l', 't')
local level = cap
if st[1] then
  level = math.min(cap, tonumber(st[1]) + math.max(0, now - tonumber(st[2])) * cap / 60)
end
level = math.min(cap, level + tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'l', string.format('%.17g', level), 't', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Twice the refill time: a process whose clock runs a few seconds behind another's must
# still find a bucket that, by its clock, has not refilled yet.
_TTL_MS = str(int(2 * REFILL_S * 1000))


class RedisBucketStore:
    def __init__(self, redis: Redis, on_error: OnRedisError = "fail_open") -> None:
        self.redis = redis
        self.on_error = on_error
        self._take = redis.script(_TAKE)
        self._give_back = redis.script(_GIVE_BACK)

    def _key(self, ask: Ask) -> str:
        return self.redis.key("rl", ask.key)

    def take(self, asks: list[Ask], now: float) -> list[Outcome]:
        args: list[str] = [repr(now), _TTL_MS]
        for ask in asks:
            args += [repr(ask.capacity), repr(ask.need)]
        try:
            ok, levels = self._take(keys=[self._key(a) for a in asks], args=args)
        except REDIS_ERRORS as exc:
            self.redis.failed("limits", self.on_error, exc)  # raises when failing closed
            return []  # the limiter admits: nothing was taken, nothing to give back
        return [Outcome(a, as_float(lv), bool(ok)) for a, lv in zip(asks, levels, strict=True)]

    def give_back(self, ask: Ask, amount: float, now: float) -> None:
        try:
            self._give_back(
                keys=[self._key(ask)],
                args=[repr(now), _TTL_MS, repr(ask.capacity), repr(amount)],
            )
        except REDIS_ERRORS as exc:
            # Keeping tokens that were not used only makes the limit stricter for a while:
            # never a reason to fail the request that already ran.
            self.redis.failed("limits", "deferred", exc)
