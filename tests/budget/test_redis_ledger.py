"""Budget holds in the real Redis, the SQL ledger as the record: reserve / settle / release,
expiry of abandoned holds, re-seeding after Redis lost its data, catching up a settle whose
Redis half failed, fail-closed (503) and fail-open (SQL holds) without Redis, and several
processes reserving against one ceiling at once."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from lockgate.budget.ledger import BudgetExceeded, Budgets, SqlBudgetStore
from lockgate.budget.redis_ledger import RedisBudgetStore
from lockgate.config import BudgetsConfig, RedisConfig
from lockgate.engine.shared_state import SharedStateRefused
from lockgate.gateway.app import create_app
from lockgate.observability.metrics import METRICS
from lockgate.services import Services
from lockgate.sharedstate.client import Redis, SharedStateUnavailable
from lockgate.store.db import make_engine
from lockgate.store.migrations import migrate
from tests.budget.test_limits import gateway_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.redis_server import REDIS_URL, RedisProxy, dead_redis_url, real_redis
from tests.support.server import serve
from tests.support.store import migrated_engine

NOW = 1_750_000_000.0
RULES = [
    {"scope": "key", "period": "day", "hard": 1.0, "soft": 0.5},
    {"scope": "project", "id": "p1", "period": "month", "hard": 10.0},
]


@pytest.fixture
def sql(tmp_path: Path) -> Iterator[SqlBudgetStore]:
    with migrated_engine(tmp_path, "b.db") as engine:
        yield SqlBudgetStore(engine)


@pytest.fixture
def redis() -> Iterator[Redis]:
    with real_redis() as r:
        yield r


def budgets(store: Any, ttl_s: float = 60) -> Budgets:
    return Budgets(BudgetsConfig(rules=RULES, reservation_ttl_s=ttl_s), store)


def usage(b: Budgets, scope: str) -> dict[str, Any]:
    return next(u for u in b.store.usage() if u["scope"] == scope and u["period"].startswith("day"))


def test_reserve_settle_release_with_the_ledger_as_record(
    redis: Redis, sql: SqlBudgetStore
) -> None:
    ledger = budgets(RedisBudgetStore(redis, sql))
    held = ledger.reserve("alice", "t", "p1", 0.6, now=NOW)
    assert held is not None and held.where == "redis"
    with pytest.raises(BudgetExceeded) as exc:
        ledger.reserve("alice", "t", "p1", 0.6, now=NOW)  # 0.6 held + 0.6 > 1.0
    assert exc.value.refusal.reserved == pytest.approx(0.6)
    assert "key:alice" in str(exc.value)
    assert ledger.reserve("bob", "t", "p1", 0.6, now=NOW) is not None  # per key
    # The hold is in Redis, not in the ledger: no SQL write on the way in.
    assert not any(u["scope"] == "key:alice" for u in sql.usage())
    settled = ledger.settle(held, 0.55, now=NOW)
    assert [a.scope for a in settled.alerts] == ["key:alice"]  # soft 0.5 crossed
    row = next(u for u in sql.usage() if u["scope"] == "key:alice")
    assert row["spent"] == pytest.approx(0.55) and row["requests"] == 1
    # 0.55 spent + 0.6 > 1.0, 0.55 + 0.4 fits: the spend reached Redis's counter too.
    with pytest.raises(BudgetExceeded):
        ledger.reserve("alice", "t", "p1", 0.6, now=NOW)
    second = ledger.reserve("alice", "t", "p1", 0.4, now=NOW)
    assert second is not None
    ledger.settle(second, 0.0, now=NOW)  # failed before the upstream billed anything
    assert usage(ledger, "key:alice")["reserved"] == pytest.approx(0.0)
    assert usage(ledger, "key:alice")["spent"] == pytest.approx(0.55)


def test_an_abandoned_hold_expires(redis: Redis, sql: SqlBudgetStore) -> None:
    ledger = budgets(RedisBudgetStore(redis, sql), ttl_s=60)
    assert ledger.reserve("carol", "t", "p1", 0.9, now=NOW) is not None  # never settled
    with pytest.raises(BudgetExceeded):
        ledger.reserve("carol", "t", "p1", 0.9, now=NOW + 30)
    late = ledger.reserve("carol", "t", "p1", 0.9, now=NOW + 61)
    assert late is not None


def test_counters_lost_by_redis_are_seeded_from_the_ledger(
    redis: Redis, sql: SqlBudgetStore
) -> None:
    ledger = budgets(RedisBudgetStore(redis, sql))
    held = ledger.reserve("dave", "t", "p1", 0.5, now=NOW)
    assert held is not None
    ledger.settle(held, 0.5, now=NOW)
    # Redis restarts without persistence: every counter is gone.
    redis.client.delete(*redis.client.scan_iter(match=redis.config.prefix + "*"))
    # A new process (a fresh store) must still see the 0.5 already spent.
    again = budgets(RedisBudgetStore(redis, sql))
    with pytest.raises(BudgetExceeded) as exc:
        again.reserve("dave", "t", "p1", 0.6, now=NOW)
    assert exc.value.refusal.spent == pytest.approx(0.5)
    assert again.reserve("dave", "t", "p1", 0.5, now=NOW) is not None


def test_a_settle_that_missed_redis_reaches_it_once_it_is_back(sql: SqlBudgetStore) -> None:
    proxy = RedisProxy()
    proxy.start()
    with real_redis(url=proxy.url) as redis:
        ledger = budgets(RedisBudgetStore(redis, sql), ttl_s=60)
        held = ledger.reserve("erin", "t", "p1", 0.7, now=NOW)
        assert held is not None
        proxy.stop()  # Redis goes away while the request runs
        before = _errors("deferred")
        ledger.settle(held, 0.7, now=NOW)  # the ledger has it; Redis does not, yet
        assert _errors("deferred") == before + 1
        assert next(u for u in sql.usage() if u["scope"] == "key:erin")["spent"] == 0.7
        proxy.start()
        # Long after the hold expired, the spend is still counted: the settle was replayed.
        with pytest.raises(BudgetExceeded) as exc:
            ledger.reserve("erin", "t", "p1", 0.4, now=NOW + 61)
        assert exc.value.refusal.spent == pytest.approx(0.7)
        assert exc.value.refusal.reserved == pytest.approx(0.0)
        proxy.stop()


def _errors(outcome: str, mechanism: str = "budgets") -> float:
    return METRICS.counter(
        "lockgate_shared_state_errors_total", mechanism=mechanism, outcome=outcome
    )


def test_without_redis_budgets_fail_closed_with_a_503(sql: SqlBudgetStore) -> None:
    dead = Redis(RedisConfig(url=dead_redis_url(), retry_after_s=7), SharedStateRefused)
    ledger = budgets(RedisBudgetStore(dead, sql))
    with pytest.raises(SharedStateUnavailable) as exc:
        ledger.reserve("frank", "t", "p1", 0.1, now=NOW)
    assert isinstance(exc.value, SharedStateRefused) and exc.value.status == 503
    assert exc.value.headers["retry-after"] == "7" and exc.value.mechanism == "budgets"
    assert exc.value.body()["error"]["code"] == "shared_state_unavailable"
    assert sql.usage() == []  # nothing was held anywhere


def test_fail_open_lets_the_ledger_hold_and_redis_still_learns_the_spend(
    redis: Redis, sql: SqlBudgetStore
) -> None:
    dead = Redis(RedisConfig(url=dead_redis_url()))
    down = budgets(RedisBudgetStore(dead, sql, on_error="fail_open"))
    held = down.reserve("gina", "t", "p1", 0.6, now=NOW)
    assert held is not None and held.where == "sql"
    with pytest.raises(BudgetExceeded):  # the SQL holds are exact among themselves
        down.reserve("gina", "t", "p1", 0.6, now=NOW)
    # Redis is back before the request settles: the spend reaches both.
    up = budgets(RedisBudgetStore(redis, sql))
    up.settle(held, 0.6, now=NOW)
    assert usage(up, "key:gina")["spent"] == pytest.approx(0.6)
    with pytest.raises(BudgetExceeded) as exc:
        up.reserve("gina", "t", "p1", 0.5, now=NOW)
    assert exc.value.refusal.spent == pytest.approx(0.6)


# -- several processes, one ceiling -----------------------------------------------------

HARD = 1.0
MAX_COST = 0.03


def _worker(db_url: str, prefix: str, seed: int, n: int, out: Any) -> None:
    rnd = random.Random(seed)
    redis = Redis(RedisConfig(url=REDIS_URL, prefix=prefix))
    store = RedisBudgetStore(redis, SqlBudgetStore(make_engine(db_url)))
    ledger = Budgets(BudgetsConfig(rules=[{"scope": "key", "period": "day", "hard": HARD}]), store)
    counts = [0, 0]
    lock = threading.Lock()

    def requests() -> None:
        for _ in range(n):
            try:
                held = ledger.reserve("shared", "t", "p", MAX_COST)
            except BudgetExceeded:
                with lock:
                    counts[1] += 1
                continue
            assert held is not None
            with lock:
                counts[0] += 1
                # Most requests cost less than their maximum; some cost all of it.
                cost = MAX_COST * rnd.choice([0.2, 0.5, 0.9, 1.0])
            ledger.settle(held, cost)

    threads = [threading.Thread(target=requests) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.sql.engine.dispose()
    out.put((counts[0], counts[1]))


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_processes_reserving_at_once_never_pass_the_ceiling(tmp_path: Path, db: str) -> None:
    with real_redis() as redis, _database(tmp_path, db) as db_url:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(db_url, redis.config.prefix, i, 20, out))
            for i in range(3)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
        sql = SqlBudgetStore(make_engine(db_url))
        row = next(u for u in sql.usage() if u["scope"] == "key:shared")
        reserved = RedisBudgetStore(redis, sql).usage()[0]["reserved"]
        sql.engine.dispose()
        admitted = sum(a for a, _ in results)
        print({"admitted": admitted, "refused": sum(r for _, r in results), "spent": row["spent"]})
        assert sum(r for _, r in results) > 0  # the ceiling was reached
        assert row["requests"] == admitted
        assert row["spent"] <= HARD + 1e-9
        assert row["spent"] > HARD / 2
        assert reserved == pytest.approx(0.0, abs=1e-9)  # every hold settled
        # Redis's counter agrees with the ledger to the cent: the room left is exactly it.
        last = Budgets(
            BudgetsConfig(rules=[{"scope": "key", "period": "day", "hard": HARD}]),
            RedisBudgetStore(redis, SqlBudgetStore(make_engine(db_url))),
        )
        room = HARD - row["spent"]
        with pytest.raises(BudgetExceeded):
            last.reserve("shared", "t", "p", room + 0.001)
        assert last.reserve("shared", "t", "p", room - 0.001) is not None
        last.store.sql.engine.dispose()  # type: ignore[attr-defined]


def _wait_for_sessions_to_end(name: str) -> None:
    """The workers' sessions end a moment after their processes do; the database can only
    be dropped once they have."""
    admin = make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    try:
        for _ in range(100):
            with admin.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
                ).scalar_one()
            if left == 0:
                return
            time.sleep(0.05)
    finally:
        admin.dispose()


class _database:
    def __init__(self, tmp_path: Path, kind: str) -> None:
        self.tmp_path, self.kind = tmp_path, kind
        self._pg: Any = None

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            url = f"sqlite:///{self.tmp_path / 'shared.db'}"
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
            return url
        from tests.support.postgres import throwaway_database

        self._pg = throwaway_database("redisbudget")
        engine = self._pg.__enter__()
        self._pg_name = str(engine.url.database)
        migrate(engine)
        engine.dispose()
        return engine.url.render_as_string(hide_password=False)

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            _wait_for_sessions_to_end(self._pg_name)
            self._pg.__exit__(*exc)


# -- through the gateway ----------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[str]:
    with serve(create_fake_upstream()) as base:
        yield base + "/v1"


def test_gateway_answers_503_not_500_when_budgets_cannot_reach_redis(
    tmp_path: Path, upstream: str
) -> None:
    settings = gateway_settings(
        tmp_path,
        upstream,
        redis={"url": dead_redis_url()},
        budgets={"store": "redis", "rules": [{"scope": "key", "period": "day", "hard": 5.0}]},
    )
    services = Services(settings)
    body = {"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 20}
    with (
        serve(create_app(services, preload_models=False)) as url,
        httpx.Client(base_url=url, timeout=10, headers={"x-lockgate-caller": "zed"}) as client,
    ):
        r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "shared_state_unavailable" and err["type"] == "service_unavailable"
    assert "budget" in err["message"] and int(r.headers["retry-after"]) >= 1


def test_gateway_settles_budgets_held_in_redis(tmp_path: Path, upstream: str) -> None:
    with real_redis() as redis:
        settings = gateway_settings(
            tmp_path,
            upstream,
            redis={"url": REDIS_URL, "prefix": redis.config.prefix},
            budgets={"store": "redis", "rules": [{"scope": "key", "period": "day", "hard": 5.0}]},
        )
        services = Services(settings)
        body = {"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 20}
        with (
            serve(create_app(services, preload_models=False)) as url,
            httpx.Client(base_url=url, timeout=10, headers={"x-lockgate-caller": "yan"}) as client,
        ):
            codes = [client.post("/v1/chat/completions", json=body).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        row = next(u for u in services.budgets.store.usage() if u["scope"] == "key:yan")
        assert row["requests"] == 3 and row["spent"] > 0
        assert row["reserved"] == pytest.approx(0.0, abs=1e-12)
        assert isinstance(services.budgets.store, RedisBudgetStore)
