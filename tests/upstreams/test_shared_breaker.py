"""Circuit breakers shared through the real Redis: failures counted over two processes'
breakers open both, a successful probe in one closes the other, and without Redis each
breaker decides alone (the per-process behaviour)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from lockgate.config import BreakerConfig, BreakersConfig, RedisConfig
from lockgate.observability.metrics import METRICS
from lockgate.sharedstate.client import Redis
from lockgate.upstreams.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from lockgate.upstreams.shared import SharedBreakers
from tests.support.redis_server import dead_redis_url, real_redis

CFG = BreakerConfig(failures=4, window_s=30, cooldown_s=0.6, half_open_probes=1)
SYNC = BreakersConfig(store="redis", sync_interval_s=0.05)


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def two_processes() -> Iterator[tuple[SharedBreakers, SharedBreakers]]:
    with real_redis() as redis:
        # Each gateway process has its own connection pool and background thread.
        other = Redis(redis.config)
        a, b = SharedBreakers(redis, SYNC), SharedBreakers(other, SYNC)
        yield a, b
        a.close()
        b.close()
        other.close()


def test_failures_in_two_processes_open_the_breaker_in_both(
    two_processes: tuple[SharedBreakers, SharedBreakers],
) -> None:
    shared_a, shared_b = two_processes
    a = CircuitBreaker("m/dep", CFG, shared=shared_a)
    b = CircuitBreaker("m/dep", CFG, shared=shared_b)
    for _ in range(2):
        a.record_failure()
        b.record_failure()
    # Neither saw 4 failures itself, together they did.
    assert eventually(lambda: a.state == OPEN and b.state == OPEN)
    assert not a.available() and not b.available()
    assert 0 < b.retry_after_s() <= CFG.cooldown_s
    # After the cool-down each lets a probe through; a good one closes both.
    assert eventually(lambda: a.state == HALF_OPEN and b.state == HALF_OPEN)
    assert a.acquire()
    a.record_success()
    assert a.state == CLOSED
    assert eventually(lambda: b.state == CLOSED)


def test_an_opening_decided_in_one_process_is_followed_by_the_other(
    two_processes: tuple[SharedBreakers, SharedBreakers],
) -> None:
    shared_a, shared_b = two_processes
    a = CircuitBreaker("m/solo", CFG, shared=shared_a)
    b = CircuitBreaker("m/solo", CFG, shared=shared_b)
    assert a.acquire() and b.acquire()
    for _ in range(CFG.failures):
        a.record_failure()
    assert a.state == OPEN  # its own verdict, at once
    assert eventually(lambda: b.state == OPEN)
    assert ("closed", "open") in b.transitions


def test_a_success_anywhere_resets_the_consecutive_count(
    two_processes: tuple[SharedBreakers, SharedBreakers],
) -> None:
    shared_a, shared_b = two_processes
    a = CircuitBreaker("m/reset", CFG, shared=shared_a)
    b = CircuitBreaker("m/reset", CFG, shared=shared_b)
    for _ in range(3):
        a.record_failure()
    assert eventually(lambda: (shared_b.sync() or True) and _failures(shared_b, "m/reset") == 3)
    b.record_success()
    assert eventually(lambda: (shared_a.sync() or True) and _failures(shared_a, "m/reset") == 0)
    # Three more in B: 6 failures in all, but only 3 since the success.
    for _ in range(3):
        b.record_failure()
    assert eventually(lambda: (shared_a.sync() or True) and _failures(shared_a, "m/reset") == 3)
    assert a.state == CLOSED and b.state == CLOSED


def _failures(shared: SharedBreakers, key: str) -> int:
    got = shared._views.get(key)
    return got[2] if got else 0


def test_without_redis_each_breaker_decides_alone() -> None:
    dead = Redis(RedisConfig(url=dead_redis_url()))
    shared = SharedBreakers(dead, SYNC)
    try:
        before = METRICS.counter(
            "lockgate_shared_state_errors_total", mechanism="breakers", outcome="local"
        )
        breaker = CircuitBreaker("m/alone", CFG, shared=shared)
        for _ in range(CFG.failures - 1):
            breaker.record_failure()
        assert breaker.state == CLOSED
        breaker.record_failure()
        assert breaker.state == OPEN
        assert eventually(
            lambda: (
                METRICS.counter(
                    "lockgate_shared_state_errors_total", mechanism="breakers", outcome="local"
                )
                > before
            )
        )
        assert eventually(lambda: breaker.state == HALF_OPEN)
        assert breaker.acquire()
        breaker.record_success()
        assert breaker.state == CLOSED
    finally:
        shared.close()
