"""Rate limit buckets in the real Redis (the bucket semantics themselves run in
test_limits.py over every store): shared exactly by several processes' stores at once,
and what a limit does while Redis is away: admit (fail-open) or a 503 (fail-closed),
through the gateway too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.budget.limits import RateLimiter
from lockgate.budget.redis_limits import RedisBucketStore
from lockgate.config import LimitsConfig, RedisConfig
from lockgate.engine.shared_state import SharedStateRefused
from lockgate.gateway.app import create_app
from lockgate.observability.metrics import METRICS
from lockgate.services import Services
from lockgate.sharedstate.client import Redis
from tests.budget.test_limits import chat, gateway_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.redis_server import RedisProxy, dead_redis_url, real_redis
from tests.support.server import serve


def test_processes_share_one_bucket_exactly() -> None:
    with real_redis() as redis:
        config = LimitsConfig(rules=[{"per": ["key"], "rpm": 50}])
        # Three processes' stores (each its own pool) and eight threads each, at once.
        limiters = [RateLimiter(config, RedisBucketStore(Redis(redis.config))) for _ in range(3)]
        admitted = []
        lock = threading.Lock()

        def hammer(rl: RateLimiter) -> None:
            for _ in range(10):
                ok = rl.admit("shared-key", "t", "m", 0, now=1000.0).ok
                with lock:
                    admitted.append(ok)

        threads = [threading.Thread(target=hammer, args=(rl,)) for rl in limiters for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(admitted) == 240 and sum(admitted) == 50


def _errors(outcome: str) -> float:
    return METRICS.counter(
        "lockgate_shared_state_errors_total", mechanism="limits", outcome=outcome
    )


def test_without_redis_a_limit_fails_open_or_closed() -> None:
    config = LimitsConfig(rules=[{"per": ["key"], "rpm": 1, "tpm": 100}])
    dead = Redis(RedisConfig(url=dead_redis_url()), SharedStateRefused)
    before = _errors("fail_open")
    open_rl = RateLimiter(config, RedisBucketStore(dead, "fail_open"))
    got = [open_rl.admit("k", "t", "m", 10) for _ in range(3)]
    assert all(a.ok for a in got)  # over the limit of 1, but Redis cannot say
    assert got[0].headers == {} and got[0].tokens_taken == 0  # nothing to give back
    assert _errors("fail_open") == before + 3
    closed_rl = RateLimiter(config, RedisBucketStore(dead, "fail_closed"))
    with pytest.raises(SharedStateRefused) as exc:
        closed_rl.admit("k", "t", "m", 10)
    assert exc.value.status == 503 and exc.value.mechanism == "limits"


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve(create_fake_upstream()) as base:
        yield base + "/v1"


def _gateway(tmp_path: Path, upstream: str, url: str, prefix: str, **limits: Any) -> Services:
    rules = [{"per": ["key"], "rpm": 3}]
    return Services(
        gateway_settings(
            tmp_path,
            upstream,
            redis={"url": url, "prefix": prefix},
            limits={"store": "redis", "rules": rules, **limits},
        )
    )


def test_gateway_limits_in_redis_and_redis_going_away(tmp_path: Path, upstream: str) -> None:
    proxy = RedisProxy()
    proxy.start()
    with real_redis(url=proxy.url) as redis:
        services = _gateway(tmp_path, upstream, proxy.url, redis.config.prefix)
        with (
            serve(create_app(services, preload_models=False)) as url,
            httpx.Client(base_url=url, timeout=10) as client,
        ):
            first = chat(client, "a")
            assert first.status_code == 200
            assert first.headers["x-ratelimit-remaining-requests"] == "2"
            assert [chat(client, "a").status_code for _ in range(3)] == [200, 200, 429]
            proxy.stop()  # Redis goes away: fail-open (the default) admits, without headers
            away = chat(client, "a")
            assert away.status_code == 200 and "x-ratelimit-limit-requests" not in away.headers
            proxy.start()  # and back: the bucket is where it was
            assert chat(client, "a").status_code == 429
        proxy.stop()


def test_gateway_limits_failing_closed_answer_503(tmp_path: Path, upstream: str) -> None:
    services = _gateway(
        tmp_path, upstream, dead_redis_url(), "lockgate-dead:", on_redis_error="fail_closed"
    )
    with (
        serve(create_app(services, preload_models=False)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        r = chat(client, "b")
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "shared_state_unavailable" and err["type"] == "service_unavailable"
    assert "limits" in err["message"] and int(r.headers["retry-after"]) >= 1
