"""Unit tests of the resilience mechanisms on their own: breaker states, retry classification
and backoff, balancer strategies and the bounded queue (no HTTP; fake clocks and models)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from lockgate.config import BreakerConfig, ModelSpec, ResilienceConfig
from lockgate.models.base import ChatDelta, ChatRequest, ChatResult, UpstreamError, Usage
from lockgate.observability.metrics import METRICS
from lockgate.upstreams.balancer import choose
from lockgate.upstreams.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from lockgate.upstreams.deployments import Deployment, DeploymentPool, Overloaded
from lockgate.upstreams.retry import RetryPolicy, is_retryable


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# -- breaker ---------------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_recovers_through_half_open() -> None:
    clock = Clock()
    b = CircuitBreaker("m/a", BreakerConfig(failures=3, window_s=10, cooldown_s=5), clock)
    for _ in range(2):
        assert b.acquire()
        b.record_failure()
    assert b.state == CLOSED
    b.record_success()  # a success in between resets the count
    for _ in range(3):
        b.record_failure()
    assert b.state == OPEN and not b.acquire()
    assert b.retry_after_s() == pytest.approx(5)
    assert METRICS.gauge("lockgate_breaker_state", deployment="m/a") == 2
    clock.t += 5
    assert b.state == HALF_OPEN
    assert b.acquire()  # the one probe
    assert not b.acquire()  # nobody else while it runs
    b.record_success()
    assert b.state == CLOSED
    assert b.transitions == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert METRICS.gauge("lockgate_breaker_state", deployment="m/a") == 0


def test_breaker_failed_probe_reopens_and_old_failures_leave_the_window() -> None:
    clock = Clock()
    b = CircuitBreaker("m/b", BreakerConfig(failures=2, window_s=1, cooldown_s=2), clock)
    b.record_failure()
    clock.t += 5  # outside the window: does not count with the next one
    b.record_failure()
    assert b.state == CLOSED
    b.record_failure()
    assert b.state == OPEN
    clock.t += 2
    assert b.acquire() and b.state == HALF_OPEN
    b.record_failure()
    assert b.state == OPEN and b.retry_after_s() == pytest.approx(2)


# -- retry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (UpstreamError("x", upstream_status=500), True),
        (UpstreamError("x", upstream_status=503), True),
        (UpstreamError("x", upstream_status=429), True),
        (UpstreamError("x", upstream_status=400), False),
        (UpstreamError("x", upstream_status=401), False),
        (UpstreamError("x", upstream_status=404), False),
        (UpstreamError("timeout", status=504), True),
        (UpstreamError("conn", retryable=True), True),
        (UpstreamError("malformed", retryable=False), False),
        (ValueError("bug"), False),
    ],
)
def test_only_retryable_failures_are_retried(exc: BaseException, expected: bool) -> None:
    assert is_retryable(exc) is expected


def test_backoff_is_exponential_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(3, 100, 800, 5.0, random.Random(1))
    for attempt, cap in ((0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (6, 0.8)):
        samples = [policy.backoff_s(attempt) for _ in range(200)]
        assert max(samples) <= cap and min(samples) >= 0
        assert len(set(samples)) > 150  # jittered, not a fixed step
    assert policy.delay_s(0, retry_after=2.0) == 2.0  # the upstream's wish wins when longer
    assert policy.delay_s(0, retry_after=30.0) is None  # too long: go elsewhere instead


# -- balancer and queue ------------------------------------------------------------------------


class StubModel:
    backend = "openai"

    def __init__(self, name: str) -> None:
        self.name = name
        self.spec = ModelSpec(backend="openai", base_url="http://stub")

    async def complete(self, request: ChatRequest) -> ChatResult:
        return ChatResult(self.name, "stop", Usage())

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        yield ChatDelta(text=self.name)

    def count_tokens(self, text: str) -> int:
        return 1

    def ready(self) -> bool:
        return True


def _dep(key: str, weight: float = 1.0, limit: int = 10) -> Deployment:
    return Deployment(key, StubModel(key), weight, limit, CircuitBreaker(key, BreakerConfig()))


def test_weighted_least_in_flight_and_latency_strategies() -> None:
    rng = random.Random(7)
    a, b = _dep("a", weight=3), _dep("b", weight=1)
    picks = Counter(choose("weighted", [a, b], rng).key for _ in range(4000))
    assert 0.70 < picks["a"] / 4000 < 0.80

    a.in_flight, b.in_flight = 5, 1
    assert choose("least_in_flight", [a, b], rng) is b
    a.in_flight = 2  # 2/3 < 1/1: weight counts
    assert choose("least_in_flight", [a, b], rng) is a

    a.observe_latency(50)
    assert choose("latency", [a, b], rng) is b  # never measured goes first
    b.observe_latency(20)
    assert choose("latency", [a, b], rng) is b
    for _ in range(10):
        b.observe_latency(200)  # b got slow: traffic moves to a
    assert choose("latency", [a, b], rng) is a


def _pool(deps: list[Deployment], **res: object) -> DeploymentPool:
    spec = ModelSpec(backend="openai", base_url="http://stub", resilience=ResilienceConfig(**res))
    return DeploymentPool("m", spec, deps)


def test_queue_is_bounded_and_full_queue_is_refused_with_retry_after() -> None:
    async def scenario() -> None:
        dep = _dep("m/0", limit=2)
        pool = _pool([dep], queue_size=3, queue_timeout_s=5)
        held = [await pool.acquire(set()) for _ in range(2)]
        waiters = [asyncio.ensure_future(pool.acquire(set())) for _ in range(3)]
        await asyncio.sleep(0)
        assert pool.waiting == 3
        with pytest.raises(Overloaded) as info:
            await pool.acquire(set())  # 2 running + 3 queued: number 6 is refused at once
        assert info.value.status == 503 and info.value.retry_after >= 1
        # Slots handed over in arrival order as they free up.
        pool.release(held[0])
        first = await waiters[0]
        assert first is dep and not waiters[1].done()
        for w in waiters[1:]:
            w.cancel()
        await asyncio.gather(*waiters[1:], return_exceptions=True)
        assert pool.waiting == 0 and dep.in_flight == 2

    asyncio.run(scenario())


def test_queue_wait_times_out_as_overloaded() -> None:
    async def scenario() -> None:
        pool = _pool([_dep("m/0", limit=1)], queue_size=5, queue_timeout_s=0.05)
        await pool.acquire(set())
        with pytest.raises(Overloaded):
            await pool.acquire(set())
        assert pool.waiting == 0

    asyncio.run(scenario())


def test_memory_stays_bounded_under_a_burst() -> None:
    """10,000 callers against 4 slots and a queue of 50: at most 50 wait; the rest are refused
    straight away instead of piling up as pending work."""

    async def scenario() -> None:
        dep = _dep("m/0", limit=4)
        pool = _pool([dep], queue_size=50, queue_timeout_s=10)
        outcomes: Counter[str] = Counter()
        peak = 0

        async def one() -> None:
            nonlocal peak
            try:
                d = await pool.acquire(set())
            except Overloaded:
                outcomes["refused"] += 1
                return
            peak = max(peak, pool.waiting)
            await asyncio.sleep(0.001)
            pool.release(d)
            outcomes["served"] += 1

        await asyncio.gather(*(one() for _ in range(10_000)))
        assert peak <= 50 and pool.waiting == 0 and dep.in_flight == 0
        assert outcomes["served"] >= 54 and outcomes["refused"] > 9000

    asyncio.run(scenario())
