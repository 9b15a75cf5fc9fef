"""The Redis client's failure policy: every failed call counted, logged loudly but not once
per request, and a 503 (OpenAI-style body, Retry-After) only for a fail-closed mechanism;
and a dead Redis costs a call milliseconds, not a backoff."""

from __future__ import annotations

import logging

import pytest

from lockgate.config import RedisConfig
from lockgate.engine.shared_state import SharedStateRefused
from lockgate.observability.metrics import METRICS
from lockgate.sharedstate.client import REDIS_ERRORS, Redis, SharedStateUnavailable
from tests.support.redis_server import dead_redis_url, real_redis


def _count(mechanism: str, outcome: str) -> float:
    return METRICS.counter(
        "lockgate_shared_state_errors_total", mechanism=mechanism, outcome=outcome
    )


def test_failures_are_counted_logged_once_and_refused_only_when_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r = Redis(RedisConfig(url=dead_redis_url(), retry_after_s=9), SharedStateRefused)
    before = _count("unit", "fail_open")
    with caplog.at_level(logging.ERROR, logger="lockgate.sharedstate"):
        for _ in range(5):
            r.failed("unit", "fail_open", ConnectionError("refused"))
    assert _count("unit", "fail_open") == before + 5
    assert len([m for m in caplog.messages if "Redis unavailable for unit" in m]) == 1
    with pytest.raises(SharedStateUnavailable) as exc:
        r.failed("unit", "fail_closed", ConnectionError("refused"))
    err = exc.value
    assert isinstance(err, SharedStateRefused) and err.status == 503
    assert err.headers == {"retry-after": "9"}
    assert err.body()["error"]["type"] == "service_unavailable"


def test_a_dead_redis_fails_without_a_backoff() -> None:
    r = Redis(RedisConfig(url=dead_redis_url()))
    assert r.ping() is False
    with pytest.raises(REDIS_ERRORS):
        r.client.get("x")
    # One retry (a connection a restart closed), never redis-py's default of three with an
    # exponential backoff, on a request's path.
    assert r.client.get_retry().get_retries() == 1


def test_keys_are_under_the_prefix() -> None:
    with real_redis(prefix="lockgate-test-keys:") as r:
        assert r.key("rl", "a|b") == "lockgate-test-keys:rl:a|b"
        assert r.ping()
