"""Cache building blocks on a real store (the home's: SQLite, or PostgreSQL with
LOCKGATE_TEST_STORE=postgresql) and the real MiniLM: normalisation, scoping,
the near-miss check, TTLs, document-version invalidation, the semantic index."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from lockgate.cache.keys import lexically_compatible, normalise_text, scope_key, terms
from lockgate.cache.service import ResponseCache
from lockgate.cache.store import CacheEntry, SqliteCacheStore
from lockgate.config import CacheConfig
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.conftest import make_settings


@pytest.fixture
def store(tmp_path: Path) -> SqliteCacheStore:
    engine = make_engine(make_settings(tmp_path / "home").store_url)
    migrate(engine)
    return SqliteCacheStore(engine)


def test_concurrent_puts_of_one_key_leave_one_entry(tmp_path: Path) -> None:
    # Two engines, as two gateway processes storing the same answer at once.
    url = make_settings(tmp_path / "home").store_url
    stores = [SqliteCacheStore(make_engine(url)), SqliteCacheStore(make_engine(url))]
    migrate(stores[0].engine)
    start = threading.Barrier(8)

    def put(i: int) -> int:
        start.wait(timeout=30)
        now = time.time()
        entry = CacheEntry("k", "s", "acme", "m", f"q{i}", {"i": i}, [], None, now, now + 60)
        return stores[i % 2].put(entry)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(put, range(8)))
    found = stores[0].get("k", time.time())
    assert found is not None and found.id in ids
    assert stores[0].purge(time.time(), 1000) == 0  # nothing expired, one row left
    for s in stores:
        s.engine.dispose()


def _scope(**over: object) -> str:
    base: dict[str, object] = dict(
        tenant="acme",
        roles=("staff",),
        model="lockgate",
        route_override=None,
        prompt="grounded_answer",
        prompt_version=1,
        policy="p",
        params={"max_tokens": 64},
    )
    base.update(over)
    return scope_key(**base)  # type: ignore[arg-type]


def test_normalisation_ignores_case_space_and_trailing_punctuation() -> None:
    assert normalise_text("  What is the  Refund policy?? ") == "what is the refund policy"
    assert normalise_text("What is the refund policy") == "what is the refund policy"


def test_scope_separates_tenants_roles_models_prompts_and_params() -> None:
    base = _scope()
    assert _scope(roles=["staff"]) == base  # order/duplicates of roles do not matter
    assert _scope(groups=["hr", "it", "hr"]) == _scope(groups=("it", "hr"))
    for change in (
        {"tenant": "other"},
        {"roles": ("staff", "admin")},
        {"groups": ("hr",)},
        {"model": "echo"},
        {"route_override": "large"},
        {"prompt_version": 2},
        {"policy": "q"},
        {"params": {"max_tokens": 65}},
    ):
        assert _scope(**change) != base, change


@pytest.mark.parametrize(
    ("a", "b", "ok"),
    [
        ("refund policy for enterprise", "refund policy for consumers", False),
        ("Is the free trial 14 days?", "Is the free trial 30 days?", False),
        ("Which regions host data?", "Which regions do not host data?", False),
        ("How do I reset my password?", "how can i reset my password", True),
        ("What is the refund policy?", "Can you explain the refund policy?", True),
    ],
)
def test_lexical_check_rejects_substitutions_numbers_and_negation(a: str, b: str, ok: bool) -> None:
    assert lexically_compatible(terms(a), terms(b))[0] is ok


def _entry(key: str, scope: str, docs: list[tuple[int, int]], ttl: float = 60) -> CacheEntry:
    now = time.time()
    return CacheEntry(
        key=key,
        scope=scope,
        tenant="acme",
        model="lockgate",
        text="q",
        answer={"output": "a"},
        documents=docs,
        embedding=np.ones(4, dtype=np.float32) / 2,
        created_at=now,
        expires_at=now + ttl,
    )


def test_store_get_put_replace_expire_and_purge(store: SqliteCacheStore) -> None:
    now = time.time()
    first = store.put(_entry("k1", "s", []))
    assert store.get("k1", now).id == first  # type: ignore[union-attr]
    second = store.put(_entry("k1", "s", []))  # same key: replaced, not duplicated
    assert second != first and store.stats(now)["entries"] == 1
    store.put(_entry("k2", "s", [], ttl=-1))  # already expired
    assert store.get("k2", now) is None
    assert [v[0] for v in store.vectors("s", now)] == [second]
    store.put(_entry("k3", "s", []))
    assert store.purge(now, max_entries=1) == 2  # the expired one, then the oldest surplus
    assert store.stats(now)["entries"] == 1


def test_semantic_hit_and_near_miss_with_real_embeddings(store: SqliteCacheStore, embedder) -> None:
    cache = ResponseCache(CacheConfig(), store, embedder)
    scope = _scope()
    miss = cache.lookup(scope, normalise_text("What is the maximum file size for uploads?"), True)
    assert miss.status == "miss" and miss.vector is not None
    cache.save(
        miss,
        tenant="acme",
        model="lockgate",
        answer={"output": "30 days"},
        documents=[],
        ttl_s=60,
        trace_id="t1",
        embed=True,
    )
    hit = cache.lookup(
        scope,
        normalise_text("Can you tell me the maximum file size for uploads?"),
        True,
    )
    assert hit.status == "hit" and hit.kind == "semantic" and hit.similarity is not None
    near = cache.lookup(scope, normalise_text("What is the minimum file size for uploads?"), True)
    assert near.status == "miss"
    assert near.rejected and "substituted" in near.rejected[0]["why"]
    other_tenant = cache.lookup(_scope(tenant="globex"), miss.text, True)
    assert other_tenant.status == "miss"
    exact = cache.lookup(scope, miss.text, False)
    assert exact.status == "hit" and exact.kind == "exact"
