"""Rate limits: token buckets per key / tenant / model, over the memory, SQL and Redis stores,
through the gateway: 429 with Retry-After, an OpenAI-style body and x-ratelimit-* headers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from lockgate.budget.limits import (
    LimitKey,
    MemoryBucketStore,
    RateLimiter,
    SqlBucketStore,
    fmt_duration,
)
from lockgate.budget.redis_limits import RedisBucketStore
from lockgate.config import LimitsConfig
from lockgate.engine.admission import limit_key
from lockgate.engine.turn import Principal
from lockgate.gateway.app import create_app
from lockgate.services import Services
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.conftest import make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.redis_server import real_redis
from tests.support.server import serve


def limiter(store: Any, **rule: Any) -> RateLimiter:
    return RateLimiter(LimitsConfig(rules=[rule]), store)


@pytest.fixture(params=["memory", "sql", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryBucketStore()
    elif request.param == "sql":
        # The home's store: SQLite, or PostgreSQL with LOCKGATE_TEST_STORE=postgresql.
        engine = make_engine(make_settings(tmp_path / "home").store_url)
        migrate(engine)
        yield SqlBucketStore(engine)
    else:
        with real_redis() as redis:
            yield RedisBucketStore(redis)


def test_concurrent_callers_never_take_more_than_the_bucket(tmp_path: Path) -> None:
    # Two engines, as two gateway processes over one store, eight threads each.
    url = make_settings(tmp_path / "home").store_url
    engines = [make_engine(url), make_engine(url)]
    migrate(engines[0])
    limiters = [limiter(SqlBucketStore(e), per=["key"], rpm=10) for e in engines]
    start = threading.Barrier(16)

    def one(i: int) -> list[bool]:
        start.wait(timeout=30)
        return [limiters[i % 2].admit("alice", "t", "m", 0, now=1000.0).ok for _ in range(3)]

    with ThreadPoolExecutor(16) as pool:
        admitted = [ok for oks in pool.map(one, range(16)) for ok in oks]
    for e in engines:
        e.dispose()
    assert admitted.count(True) == 10 and len(admitted) == 48


def test_requests_per_minute_bucket_refills(store: Any) -> None:
    rl = limiter(store, per=["key"], rpm=3)
    t = 1000.0
    assert all(rl.admit("alice", "t", "m", 0, now=t).ok for _ in range(3))
    refused = rl.admit("alice", "t", "m", 0, now=t)
    assert not refused.ok
    assert refused.retry_after_s == pytest.approx(20.0)  # one request every 60/3 s
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    # Another caller has its own bucket; after 20 s alice has one request again.
    assert rl.admit("bob", "t", "m", 0, now=t).ok
    assert rl.admit("alice", "t", "m", 0, now=t + 20.0).ok
    assert not rl.admit("alice", "t", "m", 0, now=t + 20.0).ok


def test_tokens_per_minute_and_settle_gives_back_unused(store: Any) -> None:
    rl = limiter(store, per=["key", "model"], tpm=1000)
    t = 50.0
    first = rl.admit("k", "t", "m1", 600, now=t)
    assert first.ok and first.headers["x-ratelimit-remaining-tokens"] == "400"
    assert not rl.admit("k", "t", "m1", 600, now=t).ok
    assert rl.admit("k", "t", "m2", 600, now=t).ok  # per model
    rl.settle(first, actual_tokens=100, now=t)  # used 100 of the 600 estimated
    assert rl.admit("k", "t", "m1", 600, now=t).ok
    too_big = rl.admit("k", "t", "m1", 5000, now=t)
    assert not too_big.ok and "too large" in too_big.message


def test_refused_request_takes_nothing_from_other_buckets(store: Any) -> None:
    rl = RateLimiter(
        LimitsConfig(rules=[{"per": ["key"], "rpm": 10}, {"per": ["key"], "tpm": 100}]),
        store,
    )
    assert not rl.admit("k", "t", "m", 500, now=0.0).ok  # the token bucket says no
    ok = rl.admit("k", "t", "m", 50, now=0.0)
    assert ok.ok and ok.headers["x-ratelimit-remaining-requests"] == "9"


def test_rule_filters_and_shared_bucket() -> None:
    rl = RateLimiter(
        LimitsConfig(rules=[{"per": [], "model": "big", "rpm": 2}]), MemoryBucketStore()
    )
    assert rl.admit("a", "t", "big", 0, now=0).ok
    assert rl.admit("b", "t", "big", 0, now=0).ok
    assert not rl.admit("c", "t", "big", 0, now=0).ok  # one bucket for everyone on "big"
    assert rl.admit("c", "t", "small", 0, now=0).ok  # rule does not apply


def test_duration_format() -> None:
    assert fmt_duration(0.02) == "20ms"
    assert fmt_duration(1.0) == "1s"
    assert fmt_duration(360) == "6m0s"


def test_default_rule_limits_every_caller() -> None:
    (rule,) = LimitsConfig().rules
    assert rule.per == ["key"] and rule.rpm == 600 and rule.tpm is None
    rl = RateLimiter(LimitsConfig(), MemoryBucketStore())
    assert rl.active()
    assert all(rl.admit("k", "t", "m", 0, now=0.0).ok for _ in range(600))
    assert not rl.admit("k", "t", "m", 0, now=0.0).ok


def test_the_limit_key_is_not_the_callers_to_choose() -> None:
    anon = Principal(id="alice")  # an anonymous caller named by its header
    assert limit_key(anon, "10.1.2.3", "alice") == LimitKey("ip:10.1.2.3", caller="alice")
    assert limit_key(anon, None, None) == LimitKey("alice")  # no socket: a batch, the CLI
    keyed = Principal(id="svc", authenticated=True, key_id="key_123")
    assert limit_key(keyed, "10.1.2.3", "tool-a") == LimitKey(
        "key_123", names=("svc",), caller="tool-a"
    )


def test_rules_naming_a_key_match_the_principal_not_a_header() -> None:
    rl = RateLimiter(LimitsConfig(rules=[{"per": [], "key": "svc", "rpm": 1}]), MemoryBucketStore())
    svc = LimitKey("key_123", names=("svc",))
    assert rl.admit(svc, "t", "m", 0, now=0).ok
    assert not rl.admit(svc, "t", "m", 0, now=0).ok
    # An anonymous caller who calls itself "svc" is someone else: the rule does not apply.
    assert rl.admit(LimitKey("ip:10.0.0.9", caller="svc"), "t", "m", 0, now=0).ok


def test_caller_subdivides_a_keys_bucket_and_never_escapes_it() -> None:
    rules = [{"per": ["key"], "rpm": 4}, {"per": ["key", "caller"], "rpm": 2}]
    rl = RateLimiter(LimitsConfig(rules=rules), MemoryBucketStore())

    def who(caller: str) -> LimitKey:
        return LimitKey("key_1", caller=caller)

    assert [rl.admit(who("a"), "t", "m", 0, now=0).ok for _ in range(3)] == [True, True, False]
    assert [rl.admit(who("b"), "t", "m", 0, now=0).ok for _ in range(2)] == [True, True]
    # The key's own bucket is empty now: a fresh caller id does not get more.
    assert not rl.admit(who("c"), "t", "m", 0, now=0).ok
    assert rl.admit(LimitKey("key_2", caller="c"), "t", "m", 0, now=0).ok


@pytest.mark.parametrize(
    "rules",
    [
        [{"per": ["caller"], "rpm": 2}],  # not within a key
        [{"per": ["key", "caller"], "rpm": 2}],  # no bucket the header cannot pick
        [{"per": ["key", "caller"], "tpm": 2}, {"per": ["key"], "rpm": 10}],  # other kind
        [{"per": ["key", "caller"], "rpm": 2}, {"per": ["key"], "model": "m", "rpm": 9}],
    ],
)
def test_a_caller_rule_needs_a_rule_that_bounds_its_key(rules: list[dict[str, Any]]) -> None:
    with pytest.raises(pydantic.ValidationError) as exc:
        LimitsConfig(rules=rules)
    assert "caller" in str(exc.value)


def test_memory_store_forgets_idle_buckets_without_changing_any_answer() -> None:
    store = MemoryBucketStore()
    rl = RateLimiter(LimitsConfig(rules=[{"per": ["key"], "rpm": 2}]), store)
    for i in range(1000):  # many callers, once each
        assert rl.admit(f"caller-{i}", "t", "m", 0, now=float(i) / 100).ok
    assert rl.admit("busy", "t", "m", 0, now=10.0).ok
    assert rl.admit("busy", "t", "m", 0, now=10.0).ok
    assert len(store) == 1001
    # A minute on, every bucket but the newest has refilled: keeping it changes nothing.
    assert not rl.admit("busy", "t", "m", 0, now=10.0).ok
    assert rl.admit("late", "t", "m", 0, now=70.5).ok
    assert len(store) == 1  # "busy" (written at 10.0, full again from 70.0) went too
    assert rl.admit("busy", "t", "m", 0, now=70.5).ok  # as if it had been kept


def test_memory_store_is_bounded_in_size() -> None:
    store = MemoryBucketStore(max_buckets=100)
    rl = RateLimiter(LimitsConfig(rules=[{"per": ["key"], "rpm": 5}]), store)
    for i in range(1000):
        rl.admit(f"caller-{i}", "t", "m", 0, now=0.0)
    assert len(store) == 100


@pytest.fixture
def upstream() -> Iterator[tuple[str, Any]]:
    app = create_fake_upstream()
    with serve(app) as base:
        yield base + "/v1", app


def gateway_settings(tmp_path: Path, upstream: str, **extra: Any) -> Any:
    return make_settings(
        tmp_path / "home",
        upstream,
        guardrails={"enabled": False},
        cache={"enabled": False},
        batch={"enabled": False},
        **extra,
    )


def chat(client: httpx.Client, caller: str, text: str = "hi", **body: Any) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": text}], **body},
        headers={"x-lockgate-caller": caller},
    )


def test_gateway_429_with_headers_and_openai_body(tmp_path: Path, upstream: Any) -> None:
    base, app = upstream
    settings = gateway_settings(
        tmp_path, base, limits={"rules": [{"per": ["key"], "rpm": 2, "tpm": 10_000}]}
    )
    services = Services(settings)
    with (
        serve(create_app(services, preload_models=False)) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        r1 = chat(client, "alice", max_tokens=20)
        assert r1.status_code == 200
        assert r1.headers["x-ratelimit-limit-requests"] == "2"
        assert r1.headers["x-ratelimit-remaining-requests"] == "1"
        assert r1.headers["x-ratelimit-limit-tokens"] == "10000"
        assert "x-ratelimit-reset-tokens" in r1.headers
        assert chat(client, "alice").status_code == 200
        calls = len(app.state.calls)
        r3 = chat(client, "alice")
        assert r3.status_code == 429
        err = r3.json()["error"]
        assert err["type"] == "rate_limit_error" and err["code"] == "rate_limit_exceeded"
        assert "Rate limit reached" in err["message"]
        assert int(r3.headers["retry-after"]) >= 1
        assert r3.headers["x-ratelimit-remaining-requests"] == "0"
        assert len(app.state.calls) == calls  # refused before the upstream
        # An anonymous caller's bucket is its socket address: another caller id, or none,
        # from the same address is the same bucket.
        assert chat(client, "bob").status_code == 429
        assert chat(client, "").status_code == 429
        trace = services.traces.get(r3.headers["x-lockgate-trace-id"])
        assert trace["principal"] == "alice" and trace["http_status"] == 429
        # A key is its own bucket, whatever it calls itself.
        _, key = services.api_keys.create("alice", "acme", ["app"])
        keyed = client.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}", "x-lockgate-caller": "bob"},
        )
        assert keyed.status_code == 200 and keyed.headers["x-ratelimit-remaining-requests"] == "1"
