"""One Redis connection pool per process, key names under the configured prefix, and the
fail-open / fail-closed decision each mechanism makes when a call to Redis fails.

Commands time out after `redis.timeout_s` and are retried once only on a connection error
(a pooled connection that a Redis restart closed), never with a backoff: a Redis that is
away must cost a request milliseconds, then the mechanism's configured fallback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from lockgate.config import RedisConfig
from lockgate.observability.metrics import METRICS

log = logging.getLogger("lockgate.sharedstate")

# What a failed call raises: the client's own errors (connection refused, timeout, a
# script error) and OSError from a socket that went away mid-read.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)

# A loud log line per mechanism at most this often while Redis stays away: every request
# would flood the log, one line a minute still says it is ongoing.
_LOG_EVERY_S = 60.0
_DOING = {
    "fail_open": "serving without it (fail_open)",
    "fail_closed": "refusing requests with 503 (fail_closed)",
    "local": "using this process's own state",
    "deferred": "its shared state catches up once Redis answers",
}


def unavailable_message(mechanism: str) -> str:
    return (
        f"The gateway's shared {mechanism} state (Redis) is unavailable, so the request was "
        "refused rather than served unchecked. Please try again shortly."
    )


class SharedStateUnavailable(Exception):
    """A fail-closed mechanism could not reach Redis. The engine's subclass
    (engine/shared_state.py, what `Services` installs) is also its 503 GatewayError."""

    def __init__(self, mechanism: str, retry_after_s: int) -> None:
        super().__init__(unavailable_message(mechanism))
        self.mechanism = mechanism
        self.retry_after_s = retry_after_s


Unavailable = Callable[[str, int], SharedStateUnavailable]


class Redis:
    """The client, key names and the failure policy, shared by every Redis-backed store of
    one process (`services.redis`)."""

    def __init__(
        self, config: RedisConfig, unavailable: Unavailable = SharedStateUnavailable
    ) -> None:
        if config.url is None:
            raise ValueError("redis.url is not set")
        self.config = config
        self.unavailable = unavailable
        # Any: redis-py types every command's reply as `Awaitable[T] | T` (one class for its
        # sync and async clients), which no caller of the sync client can use as it is.
        self.client: Any = redis.Redis.from_url(
            config.url,
            socket_timeout=config.timeout_s,
            socket_connect_timeout=config.connect_timeout_s,
            retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
            health_check_interval=0,
        )
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}

    def key(self, *parts: str) -> str:
        return self.config.prefix + ":".join(parts)

    def script(self, source: str) -> Script:
        # Script objects send EVALSHA and fall back to EVAL after a restart emptied Redis's
        # script cache, so a restarted Redis needs nothing from us.
        return self.client.register_script(source)

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except REDIS_ERRORS:
            return False

    def failed(self, mechanism: str, outcome: str, exc: BaseException) -> None:
        """Count and log a failed call; raise the 503 when the outcome is `fail_closed`.
        Outcomes: fail_open, fail_closed, local (the process's own state serves), deferred
        (the shared state catches up later, see the mechanism)."""
        METRICS.inc("lockgate_shared_state_errors_total", mechanism=mechanism, outcome=outcome)
        now = time.monotonic()
        with self._lock:
            loud = now - self._logged.get(mechanism, -_LOG_EVERY_S) >= _LOG_EVERY_S
            if loud:
                self._logged[mechanism] = now
        if loud:
            log.error(
                "Redis unavailable for %s (%s: %s): %s until it answers again",
                mechanism,
                type(exc).__name__,
                exc,
                _DOING.get(outcome, outcome),
            )
        if outcome == "fail_closed":
            raise self.unavailable(mechanism, self.config.retry_after_s) from exc

    def close(self) -> None:
        self.client.close()


def as_float(value: Any) -> float:
    """A number a script returned as a string (Redis turns Lua numbers into integers)."""
    return float(value.decode() if isinstance(value, bytes) else value)
