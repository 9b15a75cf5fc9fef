"""API keys without HTTP: made, found by prefix, checked, revoked, rotated and expired, on
SQLite and on PostgreSQL; the stored row never holds the secret."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from lockgate.auth.durations import parse_duration
from lockgate.auth.failures import FailureLimiter
from lockgate.auth.keys import ApiKeys, AuthFailure, KeyInputError, KeyNotFound, split_key
from lockgate.store import tables as tb
from lockgate.store.db import make_engine
from lockgate.store.keys import KeyStore
from lockgate.store.migrations import migrate
from tests.support.postgres import throwaway_database


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with throwaway_database("keys") as engine:
        migrate(engine)
        yield engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_engine")


def test_a_key_proves_its_identity_and_only_its_hash_is_stored(engine: Engine) -> None:
    keys = ApiKeys(KeyStore(engine))
    rec, key = keys.create("alice", "acme", ["developer", "analyst"], ["finance", "legal"])
    assert key.startswith(rec.prefix + "_") and rec.prefix.startswith("lg_")
    assert len(rec.prefix) == len("lg_") + 8
    principal = keys.verify(key)
    assert principal.id == "alice" and principal.tenant == "acme"
    assert principal.roles == ("developer", "analyst")
    assert principal.groups == ("finance", "legal")
    assert principal.authenticated and principal.key_id == rec.id
    secret = split_key(key)[1]  # type: ignore[index]
    with engine.connect() as conn:
        row = conn.execute(select(tb.api_keys)).one()._mapping
    stored = " ".join(str(v) for v in row.values())
    assert secret not in stored and key not in stored
    assert row["secret_hash"] != secret and len(row["secret_hash"]) == 64
    assert "secret_hash" not in rec.public()


@pytest.mark.parametrize(
    "bad",
    ["", "lg_", "lg_short_x", "sk-whatever", "lg_ABCDEFGH_x", "lg_abcdefgh_"],
)
def test_malformed_keys_are_refused(sqlite_engine: Engine, bad: str) -> None:
    with pytest.raises(AuthFailure) as exc:
        ApiKeys(KeyStore(sqlite_engine)).verify(bad)
    assert exc.value.code == "invalid_api_key"


def test_wrong_secret_unknown_prefix_revoked_and_expired_are_refused(engine: Engine) -> None:
    clock = Clock()
    keys = ApiKeys(KeyStore(engine), clock=clock)
    rec, key = keys.create("bob", "acme", ["app"], expires_in_s=parse_duration("1h"))
    prefix, secret = split_key(key)  # type: ignore[misc]
    with pytest.raises(AuthFailure) as wrong:
        keys.verify(f"{prefix}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}")
    assert wrong.value.reason == "wrong secret" and wrong.value.key_id == rec.id
    with pytest.raises(AuthFailure) as unknown:
        keys.verify(f"lg_zzzzzzzz_{secret}")
    assert unknown.value.reason.startswith("unknown key prefix")
    clock.now += 3599
    assert keys.verify(key).id == "bob"
    clock.now += 2
    with pytest.raises(AuthFailure) as expired:
        keys.verify(key)
    assert expired.value.reason == "expired"
    rec2, key2 = keys.create("carol", "acme", ["reviewer"])
    keys.revoke(rec2.id)
    with pytest.raises(AuthFailure) as revoked:
        keys.verify(key2)
    assert revoked.value.reason == "revoked"
    assert keys.get(rec2.id).revoked_at == clock.now


def test_rotation_keeps_the_identity_and_retires_the_old_secret(engine: Engine) -> None:
    keys = ApiKeys(KeyStore(engine))
    rec, old = keys.create("svc", "acme", ["app"], ["ops"])
    rotated, new = keys.rotate(rec.id)
    assert rotated.id == rec.id and new != old
    with pytest.raises(AuthFailure):
        keys.verify(old)
    principal = keys.verify(new)
    assert (principal.id, principal.key_id, principal.groups) == ("svc", rec.id, ("ops",))
    keys.revoke(rec.id)
    with pytest.raises(KeyNotFound):
        keys.rotate(rec.id)
    with pytest.raises(KeyNotFound):
        keys.revoke("key_nope")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("roles", {"roles": ["boss"]}),
        ("roles", {"roles": []}),
        ("name", {"name": "bad name"}),
        ("tenant", {"tenant": ""}),
        ("groups", {"groups": ["ok", "no/slash"]}),
    ],
)
def test_bad_fields_name_the_field(sqlite_engine: Engine, field: str, kwargs: dict) -> None:
    args = {"name": "x", "tenant": "t", "roles": ["app"], "groups": [], **kwargs}
    with pytest.raises(KeyInputError) as exc:
        ApiKeys(KeyStore(sqlite_engine)).create(**args)
    assert exc.value.field == field


def test_durations() -> None:
    assert parse_duration("90d") == 90 * 86400
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("2w") == 14 * 86400
    for bad in ("0d", "90", "d", "-1d", "1y", "1.5h"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_failure_limiter_blocks_after_the_limit_and_forgets_after_the_window() -> None:
    clock = Clock(0.0)
    limiter = FailureLimiter(3, window_s=60, lockout_s=30, clock=clock)
    assert [limiter.failed("a") for _ in range(3)] == [False, False, False]
    assert limiter.retry_after("a") == 0 and limiter.retry_after("b") == 0
    assert limiter.failed("a") is True
    assert limiter.retry_after("a") == 30 and limiter.retry_after("b") == 0
    clock.now = 31
    assert limiter.retry_after("a") == 0
    # Failures spread wider than the window never add up to a lockout.
    for _ in range(10):
        clock.now += 25
        assert limiter.failed("b") is False
