"""Rate limits: token buckets per key / tenant / model, over the memory and SQL stores, and
through the gateway: 429 with Retry-After, an OpenAI-style body and x-ratelimit-* headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockgate.budget.limits import MemoryBucketStore, RateLimiter, SqlBucketStore, fmt_duration
from lockgate.config import LimitsConfig
from lockgate.gateway.app import create_app
from lockgate.services import Services
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.conftest import make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve


def limiter(store: Any, **rule: Any) -> RateLimiter:
    return RateLimiter(LimitsConfig(rules=[rule]), store)


@pytest.fixture(params=["memory", "sql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryBucketStore()
    engine = make_engine(f"sqlite:///{tmp_path / 'rl.db'}")
    migrate(engine)
    return SqlBucketStore(engine)


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
        assert chat(client, "bob").status_code == 200  # another caller id
        assert chat(client, "").status_code == 200  # anonymous
        trace = services.traces.get(r3.headers["x-lockgate-trace-id"])
        assert trace["principal"] == "alice" and trace["http_status"] == 429
