"""Cache entries in the real Redis: exact get / put with the TTL, sealed like the SQL store's,
shared by two processes' stores, vectors per scope, hit counts, deletes, tenant clears,
the max_entries bound; a miss (fail-open) or a 503 (fail-closed) without Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from lockgate.cache.redis_store import RedisCacheStore
from lockgate.cache.service import ResponseCache
from lockgate.cache.store import CacheEntry, SqliteCacheStore
from lockgate.config import CacheConfig, RedisConfig
from lockgate.crypto.envelope import FieldCipher
from lockgate.engine.shared_state import SharedStateRefused
from lockgate.gateway.app import create_app
from lockgate.services import Services
from lockgate.sharedstate.client import Redis
from tests.conftest import make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.redis_server import RedisProxy, dead_redis_url, real_redis
from tests.support.server import serve


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(make_settings(tmp_path))


@pytest.fixture
def redis() -> Iterator[Redis]:
    with real_redis() as r:
        yield r


def store_on(
    redis: Redis, services: Services, cipher: FieldCipher | None = None
) -> RedisCacheStore:
    return RedisCacheStore(redis, SqliteCacheStore(services.engine), cipher or services.cipher)


def entry(key: str, ttl_s: float = 60, tenant: str = "acme", vec: bool = True) -> CacheEntry:
    now = time.time()
    return CacheEntry(
        key=key,
        scope="scope-1",
        tenant=tenant,
        model="echo",
        text=f"what is the refund policy {key}",
        answer={"choices": [{"message": {"content": f"Thirty days ({key})."}}]},
        documents=[(1, 2)],
        embedding=np.arange(4, dtype=np.float32) if vec else None,
        created_at=now,
        expires_at=now + ttl_s,
        trace_id="trace-" + key,
    )


def test_put_get_by_key_and_id_sealed_at_rest(redis: Redis, services: Services) -> None:
    store = store_on(redis, services)
    entry_id = store.put(entry("k1"))
    assert entry_id > 0
    got = store.get("k1", time.time())
    assert got is not None and got.id == entry_id
    assert got.answer["choices"][0]["message"]["content"] == "Thirty days (k1)."
    assert got.text == "what is the refund policy k1" and got.documents == [(1, 2)]
    assert got.trace_id == "trace-k1" and np.array_equal(got.embedding, np.arange(4))
    assert store.get_by_id(entry_id, time.time()) is not None
    # What Redis holds is the sealed text, not the question or the answer.
    raw = redis.client.hgetall(redis.key("c", "e", str(entry_id)))
    assert b"refund" not in raw[b"text"] and b"Thirty" not in raw[b"answer"]
    assert services.cipher.decrypt(raw[b"text"].decode()) == "what is the refund policy k1"
    # Another process (another store on the same Redis) sees the entry.
    other = store_on(redis, Services(services.settings))
    assert other.get("k1", time.time()) is not None


def test_entries_expire_with_their_ttl(redis: Redis, services: Services) -> None:
    store = store_on(redis, services)
    short = store.put(entry("k2", ttl_s=0.3))
    assert store.get("k2", time.time()) is not None
    # Redis itself drops the entry and its key at the expiry, not only our read.
    pttl = redis.client.pttl(redis.key("c", "e", str(short)))
    assert 0 < pttl <= 300
    time.sleep(0.4)
    assert store.get("k2", time.time()) is None
    assert not redis.client.exists(redis.key("c", "e", str(short)), redis.key("c", "k", "k2"))
    assert store.purge(time.time(), 100) == 1
    assert store.stats(time.time()) == {"entries": 0, "live": 0, "hits": 0}


def test_a_fresher_put_replaces_the_entry_of_its_key(redis: Redis, services: Services) -> None:
    store = store_on(redis, services)
    first = store.put(entry("k3"))
    second = store.put(entry("k3"))
    assert second != first and store.get_by_id(first, time.time()) is None
    assert [i for i, _, _ in store.vectors("scope-1", time.time())] == [second]


def test_vectors_hits_delete_clear_and_the_size_bound(redis: Redis, services: Services) -> None:
    store = store_on(redis, services)
    ids = [store.put(entry(f"v{i}", tenant="a" if i < 3 else "b")) for i in range(5)]
    store.put(entry("novec", vec=False))
    vecs = store.vectors("scope-1", time.time())
    assert sorted(i for i, _, _ in vecs) == sorted(ids)  # only entries with a vector
    store.add_hits({ids[0]: 3, 999_999_999: 2}, time.time())  # a missing id is skipped
    assert store.get_by_id(ids[0], time.time()).hits == 3  # type: ignore[union-attr]
    assert store.stats(time.time()) == {"entries": 6, "live": 6, "hits": 3}
    assert store.delete([ids[4]]) == 1 and store.get("v4", time.time()) is None
    assert store.clear("a") == 3
    assert store.get("v0", time.time()) is None and store.get("v3", time.time()) is not None
    # Two left (v3, novec); the bound keeps the most recently useful one.
    store.add_hits({ids[3]: 1}, time.time() + 1)
    assert store.purge(time.time(), 1) == 1
    assert store.get("v3", time.time()) is not None and store.get("novec", time.time()) is None
    assert store.clear() == 1 and store.stats(time.time())["entries"] == 0


def test_the_response_cache_serves_hits_from_redis(redis: Redis, services: Services) -> None:
    cache = ResponseCache(CacheConfig(semantic=False), store_on(redis, services), None)
    miss = cache.lookup("scope-x", "hello there", semantic=False)
    assert miss.status == "miss"
    cache.save(
        miss,
        tenant="acme",
        model="echo",
        answer={"id": "a1"},
        documents=[],
        ttl_s=30,
        trace_id="t1",
        embed=False,
    )
    hit = cache.lookup("scope-x", "hello there", semantic=False)
    assert hit.status == "hit" and hit.entry is not None and hit.entry.answer == {"id": "a1"}


def test_without_redis_the_cache_misses_or_refuses(services: Services) -> None:
    dead = Redis(RedisConfig(url=dead_redis_url()), SharedStateRefused)
    sql = SqliteCacheStore(services.engine)
    open_store = RedisCacheStore(dead, sql, services.cipher, on_error="fail_open")
    assert open_store.get("k", time.time()) is None
    assert open_store.put(entry("k")) == 0  # nothing written, nothing to find later
    assert open_store.vectors("scope-1", time.time()) == []
    open_store.add_hits({1: 1}, time.time())  # statistics never fail a request
    closed = RedisCacheStore(dead, sql, services.cipher, on_error="fail_closed")
    with pytest.raises(SharedStateRefused) as exc:
        closed.get("k", time.time())
    assert exc.value.status == 503 and exc.value.mechanism == "cache"


# -- through the gateway ----------------------------------------------------------------


def _ask(client: httpx.Client, text: str) -> dict[str, Any]:
    r = client.post(
        "/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": text}]},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_gateways_share_cache_hits_and_miss_while_redis_is_away(tmp_path: Path) -> None:
    upstream_app = create_fake_upstream()
    proxy = RedisProxy()
    proxy.start()
    with real_redis(url=proxy.url) as redis, serve(upstream_app) as up:
        # Two gateway processes of one deployment: one store and master key, one Redis.
        settings = make_settings(
            tmp_path / "home",
            up + "/v1",
            guardrails={"enabled": False},
            redis={"url": proxy.url, "prefix": redis.config.prefix},
            cache={"store": "redis", "semantic": False},
        )
        one, two = Services(settings), Services(settings)
        with (
            serve(create_app(one, preload_models=False)) as url_one,
            serve(create_app(two, preload_models=False)) as url_two,
            httpx.Client(base_url=url_one, timeout=10) as c1,
            httpx.Client(base_url=url_two, timeout=10) as c2,
        ):
            first = _ask(c1, "Say hello")
            calls = len(upstream_app.state.calls)
            second = _ask(c2, "Say hello")
            assert second["lockgate"]["cache"] == {"hit": True, "kind": "exact"}
            assert second["choices"] == first["choices"]
            assert len(upstream_app.state.calls) == calls
            proxy.stop()  # Redis goes away: a miss, the model answers, nothing fails
            away = _ask(c1, "Say hello")
            assert away.get("lockgate", {}).get("cache") is None
            assert len(upstream_app.state.calls) == calls + 1


def test_an_entry_sealed_with_another_key_is_a_miss(redis: Redis, tmp_path: Path) -> None:
    mine, theirs = Services(make_settings(tmp_path / "a")), Services(make_settings(tmp_path / "b"))
    store_on(redis, theirs).put(entry("k9"))
    # Another deployment on the same Redis and prefix (a misconfiguration): not a 500.
    assert store_on(redis, mine).get("k9", time.time()) is None
