"""`GET /v1/traces` and `GET /v1/traces/{id}` over real HTTP: a caller with `traces:read`
sees its own tenant's traces only (the filter is in the store query), pages through them
newest first, and gets 404 — never 403 — for another tenant's trace; the operator tenant
sees every tenant's; a role without the scope is refused before anything is read. Within a
tenant, a trace whose retrieval used group-restricted chunks is a 404 to readers outside
those groups, and an admin of the tenant sees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.services import Services
from lockgate.store.access import Access
from lockgate.store.traces import TraceStore
from tests.conftest import make_services, make_settings
from tests.support.server import serve

CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hello traces"}]}


class World:
    def __init__(self, base: str, services: Services) -> None:
        self.base, self.services = base, services
        self.keys: dict[str, str] = {}
        for who, tenant, roles in (
            ("a_app", "a", ["app"]),
            ("a_dev", "a", ["developer"]),
            ("a_analyst", "a", ["analyst"]),
            ("b_dev", "b", ["developer"]),
            ("ops", "ops", ["analyst"]),
            ("b_admin", "b", ["admin"]),
        ):
            self.keys[who] = services.api_keys.create(who, tenant, roles)[1]
        self.ids: dict[str, list[str]] = {"a": [], "b": []}

    def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.get(self.base + path, headers=headers, params=params, timeout=30)

    def search(self, who: str, query: str) -> str:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        body = {"query": query, "k": 5}
        resp = httpx.post(self.base + "/v1/search", json=body, headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.headers["x-lockgate-trace-id"]

    def chat(self, who: str, text: str) -> str:
        body = {**CHAT, "messages": [{"role": "user", "content": text}]}
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        resp = httpx.post(self.base + "/v1/chat/completions", json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.headers["x-lockgate-trace-id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, fake_upstream) -> Iterator[World]:
    home = tmp_path_factory.mktemp("traces-api-home")
    auth = {"max_failures": 1000, "operator_tenant": "ops"}
    services = make_services(make_settings(home, fake_upstream, auth=auth), embedder)
    # Tenant h: an open document and one for the hr group only (the group test's).
    for name, groups, text in (
        ("harbour-open.md", (), "# Harbour hours\n\nThe harbour office opens at eight.\n"),
        ("harbour-hr.md", ("hr",), "# Harbour salaries\n\nHarbour salary bands: secret.\n"),
    ):
        folder = tmp_path_factory.mktemp(f"traces-api-{name[:-3]}")
        (folder / name).write_text(text, encoding="utf-8")
        access = Access.of("h", groups)
        ing = Ingestor(
            services.documents,
            services.runs,
            services.embedder,
            services.settings.ingest,
            access=access,
        )
        assert ing.run([str(folder)]).new == 1
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        w = World(base, services)
        for who, role, groups in (
            ("h_hr", "developer", ("hr",)),
            ("h_dev", "developer", ()),
            ("h_legal", "developer", ("legal",)),
            ("h_admin", "admin", ()),
        ):
            w.keys[who] = services.api_keys.create(who, "h", [role], groups=groups)[1]
        for i in range(5):
            w.ids["a"].append(w.chat("a_app", f"tenant a secret question {i}"))
        for i in range(3):
            w.ids["b"].append(w.chat("b_dev", f"tenant b question {i}"))
        yield w


def test_a_tenant_lists_its_own_traces_newest_first(world: World) -> None:
    resp = world.get("a_dev", "/v1/traces")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "list" and body["has_more"] is False
    assert [t["id"] for t in body["data"]] == world.ids["a"][::-1]
    first = body["data"][0]
    assert first["tenant"] == "a" and first["principal"] == "a_app"
    assert first["object"] == "trace" and first["refused"] is False
    # Metadata only in the list: what callers wrote stays in the detail.
    assert "prompt" not in first and "output" not in first and "request" not in first


def test_paging_stays_within_the_tenant(world: World) -> None:
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = world.get("a_analyst", "/v1/traces", **params).json()
        seen += [t["id"] for t in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == world.ids["a"][::-1]
    # Another tenant's id as the cursor pages nothing, and tells nothing about its time.
    for b_id in world.ids["b"]:
        page = world.get("a_dev", "/v1/traces", after=b_id).json()
        assert page["data"] == [] and page["has_more"] is False


def test_the_detail_of_an_own_trace(world: World) -> None:
    trace_id = world.ids["a"][0]
    resp = world.get("a_dev", f"/v1/traces/{trace_id}")
    assert resp.status_code == 200, resp.text
    trace = resp.json()
    assert trace["id"] == trace_id and trace["tenant"] == "a"
    assert trace["request"]["messages"][0]["content"] == "tenant a secret question 0"
    assert trace["output"] == "echo: tenant a secret question 0"


def test_another_tenants_trace_is_not_found(world: World) -> None:
    for b_id in world.ids["b"]:
        for who in ("a_dev", "a_analyst"):
            resp = world.get(who, f"/v1/traces/{b_id}")
            assert resp.status_code == 404, resp.text
            missing = world.get(who, "/v1/traces/" + "f" * 32)
            # Exactly what a trace that does not exist answers, bar the id it names.
            assert resp.json()["error"]["code"] == missing.json()["error"]["code"]
            assert "tenant b" not in resp.text
    # An admin of another tenant is no operator either.
    for a_id in world.ids["a"]:
        assert world.get("b_admin", f"/v1/traces/{a_id}").status_code == 404
    listed = {t["id"] for t in world.get("b_admin", "/v1/traces", limit=100).json()["data"]}
    assert listed == set(world.ids["b"])


def test_the_operator_tenant_sees_every_tenant(world: World) -> None:
    listed = [t["id"] for t in world.get("ops", "/v1/traces", limit=100).json()["data"]]
    assert set(world.ids["a"] + world.ids["b"]) <= set(listed)
    assert world.get("ops", f"/v1/traces/{world.ids['b'][0]}").json()["tenant"] == "b"


def test_without_the_scope_nothing_is_read(world: World) -> None:
    for path in ("/v1/traces", f"/v1/traces/{world.ids['a'][0]}", "/v1/traces/nope"):
        resp = world.get("a_app", path)
        assert resp.status_code == 403, resp.text
        assert "'traces:read'" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"after": "x" * 65}, {"tenant": "b"}],
)
def test_bad_queries_are_400s(world: World, params: dict[str, str]) -> None:
    resp = world.get("a_dev", "/v1/traces", **params)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("bad", ["..%2F..%2Fetc", "x" * 200, "%00", "' OR 1=1 --"])
def test_odd_ids_are_404s(world: World, bad: str) -> None:
    resp = world.get("a_dev", f"/v1/traces/{bad}")
    assert resp.status_code == 404, resp.text


def test_the_store_filters_in_the_query(world: World) -> None:
    store: TraceStore = world.services.traces
    a_id, b_id = world.ids["a"][0], world.ids["b"][0]
    assert store.get(a_id, "a") is not None and store.get(a_id, "b") is None
    assert store.get(b_id) is not None  # the host's operator (CLI without a key)
    assert {r["tenant"] for r in store.list(100, tenant="b")} == {"b"}
    assert store.list(10, after=a_id, tenant="b") == []


def test_a_trace_of_group_restricted_chunks_is_hidden_from_readers_outside_them(
    world: World,
) -> None:
    restricted = world.search("h_hr", "harbour salary bands")
    detail = world.get("h_hr", f"/v1/traces/{restricted}")
    assert detail.status_code == 200, detail.text
    chunks = detail.json()["retrieved"]
    assert ["hr"] in [c["groups"] for c in chunks]  # it did retrieve the hr chunk
    open_one = world.search("h_dev", "harbour salary bands")
    assert all(
        c["groups"] == [] for c in world.get("h_dev", f"/v1/traces/{open_one}").json()["retrieved"]
    )
    for who in ("h_dev", "h_legal"):
        resp = world.get(who, f"/v1/traces/{restricted}")
        missing = world.get(who, "/v1/traces/" + "f" * 32)
        assert resp.status_code == 404 and "secret" not in resp.text
        assert resp.json()["error"]["code"] == missing.json()["error"]["code"]
        listed = {t["id"] for t in world.get(who, "/v1/traces", limit=100).json()["data"]}
        assert listed == {open_one}
    for who in ("h_hr", "h_admin"):
        listed = {t["id"] for t in world.get(who, "/v1/traces", limit=100).json()["data"]}
        assert listed == {restricted, open_one}
        assert world.get(who, f"/v1/traces/{restricted}").status_code == 200
    assert world.get("ops", f"/v1/traces/{restricted}").status_code == 200  # the operator
    # Feedback is only on a trace one may read: the same 404 outside the groups.
    for who, status in (("h_dev", 404), ("h_legal", 404), ("h_hr", 201)):
        rated = httpx.post(
            world.base + "/v1/feedback",
            json={"trace_id": restricted, "thumb": "up"},
            headers={"Authorization": f"Bearer {world.keys[who]}"},
            timeout=30,
        )
        assert rated.status_code == status, (who, rated.text)
