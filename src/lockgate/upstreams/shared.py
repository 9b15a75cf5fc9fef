"""Circuit breaker state shared through Redis, off every request's path.

Per deployment Redis holds a failure log (a sorted set: consecutive retryable failures of
every process within the breaker's window; a success anywhere clears it) and a state hash
{until: wall-clock time the opening ends (0: closed), gen: openings so far}, with TTLs so an
idle deployment leaves nothing behind. A process reports failures, successes, its own
openings and closes through a queue to one background thread, which also reads every
deployment's state each `sync_interval_s`; the breakers consult that copy (a dict read).

So an upstream that dies is cut off in every process after `failures` failures in total,
not `failures` per process, and within `sync_interval_s` of the opening, also in a process
that has not called that model yet (the registry has every configured deployment watched). After the
cool-down each process lets its own `half_open_probes` through (a recovered upstream gets a
probe per process at most); a successful probe closes the breaker everywhere. While Redis
is away each breaker goes on with its own counts: the per-process behaviour."""

from __future__ import annotations

import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lockgate.config import BreakersConfig
from lockgate.sharedstate.client import REDIS_ERRORS, Redis, as_float

if TYPE_CHECKING:
    from lockgate.upstreams.breaker import CircuitBreaker

log = logging.getLogger("lockgate.upstreams")

# KEYS: failures, state. ARGV: now, window_s, threshold, cooldown_s, member.
# Returns {opened (0/1), until, gen, failures}.
_FAILURE = """
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[2], 'until', 'gen')
local till, gen = tonumber(st[1] or '0'), tonumber(st[2] or '0')
if till > now then return {0, string.format('%.17g', till), gen, 0} end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[2])))
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[3]) then
  till = now + tonumber(ARGV[4])
  gen = redis.call('HINCRBY', KEYS[2], 'gen', 1)
  redis.call('HSET', KEYS[2], 'until', string.format('%.17g', till))
  redis.call('DEL', KEYS[1])
  redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(ARGV[4]) + tonumber(ARGV[2])) * 1000))
  return {1, string.format('%.17g', till), gen, 0}
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return {0, string.format('%.17g', till), gen, n}
"""

# KEYS: failures, state. ARGV: now, cooldown_s, window_s. An opening this process decided
# (its own count, or a failed probe): a new generation unless one is already running.
_OPEN = """
local now = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[2], 'until', 'gen')
local till, gen = tonumber(st[1] or '0'), tonumber(st[2] or '0')
if till <= now then
  till = now + tonumber(ARGV[2])
  gen = redis.call('HINCRBY', KEYS[2], 'gen', 1)
  redis.call('HSET', KEYS[2], 'until', string.format('%.17g', till))
end
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(ARGV[2]) + tonumber(ARGV[3])) * 1000))
return {string.format('%.17g', till), gen}
"""

# KEYS: failures, state. ARGV: gen (the opening this process saw end with a good probe).
_CLOSE = """
redis.call('DEL', KEYS[1])
local gen = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0')
if gen == tonumber(ARGV[1]) then redis.call('HSET', KEYS[2], 'until', '0') end
return gen
"""


class SharedBreakers:
    def __init__(self, redis: Redis, config: BreakersConfig) -> None:
        self.redis = redis
        self.config = config
        self._script_failure = redis.script(_FAILURE)
        self._script_open = redis.script(_OPEN)
        self._script_close = redis.script(_CLOSE)
        self._breakers: weakref.WeakValueDictionary[str, CircuitBreaker] = (
            weakref.WeakValueDictionary()
        )
        # deployment -> (until as wall-clock time, 0: closed; gen; failures counted there)
        self._views: dict[str, tuple[float, int, int]] = {}
        # Deployments read at every sync whether or not this process has built their
        # breakers yet (they are built at a model's first call).
        self._watched: set[str] = set()
        self._events: queue.SimpleQueue[tuple[str, CircuitBreaker]] = queue.SimpleQueue()
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- what the breakers call (the event loop's thread: never blocks) ------------------
    def register(self, breaker: CircuitBreaker) -> None:
        self._breakers[breaker.key] = breaker
        self._ensure_thread()

    def watch(self, keys: Iterable[str]) -> None:
        """Follow these deployments from the next sync on, before their breakers exist: a
        process that has not called a model yet would otherwise send its first request to
        an upstream every other process has cut off, and only then start reading its state."""
        self._watched.update(keys)
        if self._watched:
            self._ensure_thread()

    def view(self, key: str) -> tuple[float | None, int] | None:
        """Seconds the shared opening has left (None: closed) and its generation; None
        while nothing is known (never read yet, or Redis forgot an idle deployment)."""
        got = self._views.get(key)
        if got is None:
            return None
        until, gen, _ = got
        return (until - time.time() if until > 0 else None), gen

    def failure(self, breaker: CircuitBreaker) -> None:
        self._events.put(("failure", breaker))

    def success(self, breaker: CircuitBreaker) -> None:
        # Only worth a write when Redis has failures to forget: a success per request
        # must not become a Redis call per request.
        got = self._views.get(breaker.key)
        if got is not None and got[2] > 0:
            self._views[breaker.key] = (got[0], got[1], 0)
            self._events.put(("success", breaker))

    def opened(self, breaker: CircuitBreaker) -> None:
        self._events.put(("open", breaker))

    def closed(self, breaker: CircuitBreaker) -> None:
        self._events.put(("close", breaker))

    # -- the background thread ----------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="lockgate-shared-breakers", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _keys(self, key: str) -> list[str]:
        return [self.redis.key("br", key, "f"), self.redis.key("br", key, "s")]

    def _run(self) -> None:
        next_sync = 0.0
        while not self._stop.is_set():
            timeout = max(0.0, next_sync - time.monotonic())
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                event = None
            try:
                if event is not None:
                    self._apply(*event)
                if time.monotonic() >= next_sync:
                    next_sync = time.monotonic() + self.config.sync_interval_s
                    self.sync()
            except REDIS_ERRORS as exc:
                self.redis.failed("breakers", "local", exc)
                # Nothing read is trusted while Redis is away: each breaker decides alone.
                self._views.clear()
                next_sync = time.monotonic() + self.config.sync_interval_s
            except Exception:  # noqa: BLE001 - the thread must outlive any one bad event
                log.exception("shared breaker update failed")

    def _apply(self, kind: str, breaker: CircuitBreaker) -> None:
        cfg, keys, now = breaker.cfg, self._keys(breaker.key), time.time()
        if kind == "failure":
            self._seq += 1
            opened, until, gen, failures = self._script_failure(
                keys=keys,
                args=[
                    repr(now),
                    repr(cfg.window_s),
                    cfg.failures,
                    repr(cfg.cooldown_s),
                    f"{now!r}:{id(self)}:{self._seq}",
                ],
            )
            self._views[breaker.key] = (as_float(until), int(gen), int(failures))
        elif kind == "open":
            until, gen = self._script_open(
                keys=keys, args=[repr(now), repr(cfg.cooldown_s), repr(cfg.window_s)]
            )
            self._views[breaker.key] = (as_float(until), int(gen), 0)
            # Our own opening: a close after a good probe elsewhere may end it here too.
            breaker.shared_gen = int(gen)
            breaker._followed = True
        elif kind == "close":
            gen = int(self._script_close(keys=keys, args=[breaker.shared_gen]))
            self._views[breaker.key] = (0.0, gen, 0)
            breaker.shared_gen = gen
        elif kind == "success":
            self.redis.client.delete(keys[0])

    def sync(self) -> None:
        """Read every registered deployment's shared state (one pipelined round trip)."""
        names = sorted(self._watched.union(self._breakers.keys()))
        if not names:
            return
        pipe = self.redis.client.pipeline(transaction=False)
        for name in names:
            f, s = self._keys(name)
            pipe.hmget(s, ["until", "gen"])
            pipe.zcard(f)
        replies = pipe.execute()
        for i, name in enumerate(names):
            (until, gen), failures = replies[2 * i], replies[2 * i + 1]
            if until is None and gen is None and not failures:
                self._views.pop(name, None)
                continue
            self._views[name] = (
                as_float(until) if until is not None else 0.0,
                int(gen or 0),
                int(failures),
            )
