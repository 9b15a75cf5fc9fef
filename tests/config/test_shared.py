"""The Redis settings: off by default (every mechanism keeps its embedded store), a
mechanism on Redis needs `redis.url`, and the environment sets them like any other key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import Settings
from lockgate.config.settings import ConfigError, load_settings, masked


def test_defaults_need_no_redis() -> None:
    s = Settings()
    assert s.redis.url is None
    assert s.redis_users() == {
        "limits": "memory",
        "budgets": "sql",
        "breakers": "local",
        "cache": "sql",
    }
    # What each mechanism does while Redis is away, when it is used.
    assert s.limits.on_redis_error == "fail_open"
    assert s.budgets.on_redis_error == "fail_closed"
    assert s.cache.on_redis_error == "fail_open"


@pytest.mark.parametrize("section", ["limits", "budgets", "breakers", "cache"])
def test_a_mechanism_on_redis_needs_its_url(tmp_path: Path, section: str) -> None:
    path = tmp_path / "lockgate.yaml"
    path.write_text(f"{section}:\n  store: redis\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert f"{section}.store is 'redis' but redis.url is not set" in str(exc.value)


def test_env_overrides_and_the_password_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_REDIS__URL", "redis://:s3cret@cache.internal:6379/2")
    monkeypatch.setenv("LOCKGATE_BUDGETS__STORE", "redis")
    monkeypatch.setenv("LOCKGATE_BUDGETS__ON_REDIS_ERROR", "fail_open")
    s = load_settings(None)
    assert s.budgets.store == "redis" and s.budgets.on_redis_error == "fail_open"
    shown = masked(s)["redis"]["url"]
    assert "s3cret" not in shown and "cache.internal:6379" in shown


def test_bad_values_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "lockgate.yaml"
    path.write_text("redis:\n  url: http://cache:6379\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="redis.url"):
        load_settings(path)
    path.write_text("limits:\n  on_redis_error: ignore\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="limits.on_redis_error"):
        load_settings(path)
