"""A data subject's rights and retention: export gives everything about one caller, forget
erases it (and only it) and audits the erasure without naming the person, and the purge
removes what is past retention."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.store.privacy import Retention
from tests.conftest import make_services, make_settings
from tests.support.server import serve
from tests.support.store import store_env


@pytest.fixture
def populated(tmp_path, embedder, fake_upstream):
    home = tmp_path / "home"
    settings = make_settings(home, fake_upstream, cache={"enabled": True, "passthrough": True})
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        for caller, text in (("alice", "alice's question one"), ("alice", "alice's second"),
                             ("bob", "bob asks something")):
            r = httpx.post(
                base + "/v1/chat/completions",
                headers={"x-lockgate-caller": caller},
                json={"model": "echo", "messages": [{"role": "user", "content": text}]},
                timeout=30,
            )
            assert r.status_code == 200
        up = httpx.post(
            base + "/v1/files",
            headers={"x-lockgate-caller": "alice"},
            data={"purpose": "batch"},
            files={"file": ("a.jsonl", b'{"custom_id": "1"}\n', "application/jsonl")},
            timeout=30,
        )
        assert up.status_code == 200, up.text
    return home, services


def test_export_then_forget_one_subject(populated) -> None:
    home, services = populated
    exported = services.privacy.export("alice")
    texts = json.dumps(exported)
    assert len(exported["traces"]) == 2 and "alice's second" in texts and "bob asks" not in texts
    stored = list((home / "files").iterdir())
    assert len(exported["files"]) == 1 and len(stored) == 1
    counts = services.privacy.forget("alice")
    assert counts["traces"] == 2 and counts["cache_entries"] == 2 and counts["files"] == 1
    assert not stored[0].exists()  # the uploaded bytes are gone from disk too
    assert services.privacy.export("alice")["traces"] == []
    assert len(services.privacy.export("bob")["traces"]) == 1  # nobody else's data goes
    with services.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM cache_entries").scalar_one()
    assert left == 1


def test_the_cli_audits_an_erasure_without_naming_the_subject(populated) -> None:
    home, services = populated
    script = Path(sys.executable).parent / "lockgate"
    env = {"LOCKGATE_HOME": str(home), "PATH": "/usr/bin:/bin", **store_env(home)}
    proc = subprocess.run(
        [str(script), "privacy", "forget", "--subject", "alice", "--yes", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["traces"] == 2
    entries = services.audit.entries(kinds=["privacy.forget"])
    assert len(entries) == 1 and "alice" not in json.dumps(entries)
    assert entries[0]["data"]["subject"].startswith("sha256:")
    refused = subprocess.run(
        [str(script), "privacy", "forget", "--subject", "bob"],
        env=env, input="n\n", capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 1 and len(services.privacy.export("bob")["traces"]) == 1


def test_purge_removes_only_what_is_past_retention(populated) -> None:
    _, services = populated
    now = time.time()
    keep = Retention.days(
        traces=30, reviews=90, corrections=None, cache=30, batches=30, files=30
    )
    assert services.privacy.purge(keep, now=now)["traces"] == 0
    later = services.privacy.purge(keep, now=now + 31 * 86400)
    assert later["traces"] == 3 and later["cache_entries"] == 2 + 1
    assert services.privacy.export("bob")["traces"] == []
