"""Files and batches belong to the caller that created them: another caller cannot list, read,
download, delete, cancel or build a batch on them (404, as if they did not exist), and the
filter sits in the store query, also for the same principal id in another tenant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from lockgate.batch.files import owner_key
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.budget.test_limits import gateway_settings
from tests.support.server import serve

LINE = json.dumps(
    {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
    }
)


def as_caller(url: str, name: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"x-lockgate-caller": name}, timeout=30)


def test_two_callers_do_not_see_each_other(tmp_path: Path, fake_upstream: str) -> None:
    services = Services(gateway_settings(tmp_path, fake_upstream))
    with serve(create_app(services, preload_models=False)) as url:
        alice, bob = as_caller(url, "alice"), as_caller(url, "bob")
        f = alice.post(
            "/v1/files", files={"file": ("a.jsonl", LINE.encode())}, data={"purpose": "batch"}
        ).json()
        b = alice.post(
            "/v1/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions"}
        ).json()
        assert b["status"] == "validating", b

        assert [x["id"] for x in alice.get("/v1/files").json()["data"]] == [f["id"]]
        assert [x["id"] for x in alice.get("/v1/batches").json()["data"]] == [b["id"]]
        assert bob.get("/v1/files").json()["data"] == []
        assert bob.get("/v1/batches").json()["data"] == []
        assert bob.get(f"/v1/files?after={f['id']}").json()["data"] == []
        for method, path in [
            ("GET", f"/v1/files/{f['id']}"),
            ("GET", f"/v1/files/{f['id']}/content"),
            ("DELETE", f"/v1/files/{f['id']}"),
            ("GET", f"/v1/batches/{b['id']}"),
            ("POST", f"/v1/batches/{b['id']}/cancel"),
        ]:
            resp = bob.request(method, path)
            assert resp.status_code == 404, (method, path, resp.text)
            assert LINE not in resp.text
        resp = bob.post(
            "/v1/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions"}
        )
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "file_not_found"

        # Bob's attempts changed nothing of Alice's.
        assert alice.get(f"/v1/files/{f['id']}/content").text == LINE
        assert alice.get(f"/v1/batches/{b['id']}").json()["status"] == "validating"
        assert alice.post(f"/v1/batches/{b['id']}/cancel").json()["status"] == "cancelling"
        assert alice.delete(f"/v1/files/{f['id']}").json()["deleted"] is True


def test_same_principal_other_tenant_is_another_owner(tmp_path: Path, fake_upstream: str) -> None:
    services = Services(gateway_settings(tmp_path, fake_upstream))
    mine, theirs = owner_key("alice", "t1"), owner_key("alice", "t2")
    f = services.files.create("a.jsonl", "batch", LINE.encode(), mine)
    assert services.files.get(f["id"], mine) is not None
    assert services.files.get(f["id"], theirs) is None
    assert services.files.read(f["id"], theirs) is None
    assert services.files.list(owner=theirs) == []
    assert services.files.delete(f["id"], theirs) is False
    b: dict[str, Any] = services.batches.create(
        f["id"], "/v1/chat/completions", "24h", None, "alice", "t1", [("a", {})], None
    )
    assert services.batches.get(b["id"], ("alice", "t1")) is not None
    assert services.batches.get(b["id"], ("alice", "t2")) is None
    assert services.batches.list(scope=("alice", "t2")) == []
    assert services.batches.cancel(b["id"], ("alice", "t2")) is None
    assert services.batches.get(b["id"])["status"] == "validating"  # type: ignore[index]
