"""Encryption at rest through the real gateway: a planted sentence is nowhere in the database
files (on PostgreSQL: in any stored value), the API still returns it to its owner, a store
read without the key fails clearly, and `lockgate keys rotate-master` re-wraps without losing
a record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from lockgate.crypto.kms import EncryptionError
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve
from tests.support.store import store_env, stored_bytes

PLANTED = "The vault combination is seven-three-nine-four"


def _ask(services: Services, content: str) -> str:
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        r = httpx.post(
            base + "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": content}]},
            timeout=30,
        )
    assert r.status_code == 200
    return r.headers["x-lockgate-trace-id"]


@pytest.fixture
def gateway_home(tmp_path, embedder, fake_upstream):
    home = tmp_path / "home"
    settings = make_settings(home, fake_upstream, cache={"enabled": True, "passthrough": True})
    return home, settings, make_services(settings, embedder)


def test_planted_sentence_is_not_in_the_database_files(gateway_home) -> None:
    home, _, services = gateway_home
    trace_id = _ask(services, PLANTED)
    trace = services.traces.get(trace_id)
    assert trace is not None and PLANTED in trace["output"]  # the echo model repeats it
    assert PLANTED in trace["request"]["messages"][0]["content"]
    raw = stored_bytes(home)
    assert raw and PLANTED.encode() not in raw and b"seven-three-nine" not in raw
    assert (home / "master.key").stat().st_mode & 0o777 == 0o600


def test_reading_without_the_key_fails_clearly(gateway_home, embedder) -> None:
    home, settings, services = gateway_home
    trace_id = _ask(services, PLANTED)
    (home / "master.key").rename(home / "elsewhere.key")
    no_key = make_services(
        settings.model_copy(
            update={"encryption": settings.encryption.model_copy(update={"create_key_file": False})}
        ),
        embedder,
    )
    with pytest.raises(EncryptionError, match="no master key"):
        no_key.traces.get(trace_id)
    off = make_services(
        settings.model_copy(
            update={"encryption": settings.encryption.model_copy(update={"enabled": False})}
        ),
        embedder,
    )
    with pytest.raises(EncryptionError, match="encrypted records"):
        off.traces.get(trace_id)


def test_rotate_master_rewraps_and_old_records_stay_readable(gateway_home, embedder) -> None:
    home, settings, services = gateway_home
    trace_id = _ask(services, PLANTED)
    old_key = (home / "master.key").read_text()
    script = Path(sys.executable).parent / "lockgate"
    proc = subprocess.run(
        [str(script), "keys", "rotate-master"],
        env={"LOCKGATE_HOME": str(home), "PATH": "/usr/bin:/bin", **store_env(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "re-wrapped 1 data key" in proc.stdout and old_key not in proc.stdout
    assert (home / "master.key").read_text() != old_key
    assert (home / "master.key.previous").read_text() == old_key
    (home / "master.key.previous").unlink()  # only the new key from here on
    fresh = make_services(settings, embedder)
    trace = fresh.traces.get(trace_id)
    assert trace is not None and PLANTED in trace["output"]


def test_the_store_is_readable_by_its_owner_only(tmp_path) -> None:
    import os

    from lockgate.store.db import make_engine

    old = os.umask(0o022)  # the usual default, which made the store world-readable
    try:
        db = tmp_path / "fresh" / "lockgate.db"
        engine = make_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            conn.commit()
    finally:
        os.umask(old)
    assert db.parent.stat().st_mode & 0o777 == 0o700
    for path in db.parent.glob("lockgate.db*"):
        assert path.stat().st_mode & 0o077 == 0, path
