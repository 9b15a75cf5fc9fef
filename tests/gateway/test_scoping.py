"""Authorisation at the HTTP edge, over real HTTP: every route of the built app (a plugin's
included) declares a scope, a caller whose roles lack it is refused with 403
`insufficient_scope` naming the scope before the handler runs, a route that declares nothing
is refused to admins too, and the anonymous principal of a demo gateway has only the roles
config gives it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match, Mount, Route

from lockgate.auth import scopes as sc
from lockgate.auth.roles import ROLES
from lockgate.auth.scopes import ScopeMatrix
from lockgate.gateway.app import create_app
from lockgate.gateway.scoping import ScopeIndex, scope_of, scoped, walk
from lockgate.observability.events import AccessDenied
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve


class Plugin:
    """Routes of a plugin: one scoped `review` (it counts its calls, so a refusal can be shown
    to come before the handler), one that forgot to declare a scope, and a mounted app."""

    def __init__(self, undeclared: bool = True) -> None:
        self.calls = 0
        self.undeclared = undeclared
        self.denied: list[AccessDenied] = []

    async def counted(self, request: Request) -> JSONResponse:
        self.calls += 1
        return JSONResponse({"ok": True})

    @hookimpl
    def register_routes(self, routes: list[Any], services: Any) -> None:
        routes.append(scoped(Route("/v1/plugin/queue", self.counted, methods=["GET"]), sc.REVIEW))
        inner = [Route("/ping", self.counted, methods=["GET"])]
        routes.append(scoped(Mount("/v1/plugin/mounted", routes=inner), sc.METRICS_READ))
        if self.undeclared:
            routes.append(Route("/v1/plugin/forgotten", self.counted, methods=["GET"]))

    @hookimpl
    def track_event(self, event: Any, services: Any) -> None:
        if isinstance(event, AccessDenied):
            self.denied.append(event)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Gateway:
    def __init__(self, base: str, services: Services, plugin: Plugin) -> None:
        self.base, self.services, self.plugin = base, services, plugin
        self.keys = {
            role: services.api_keys.create(f"{role}-key", "acme", [role])[1] for role in ROLES
        }

    def call(self, method: str, path: str, who: str | None, **kw: Any) -> httpx.Response:
        headers = _auth(self.keys[who]) if who else {}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)


@contextmanager
def _serve(tmp_path_factory, embedder, upstream: str, auth: dict[str, Any]) -> Iterator[Gateway]:
    plugin = Plugin()
    with registered(plugin, name=f"scoping-plugin-{id(plugin)}"):
        home = tmp_path_factory.mktemp("scoping-home")
        settings = make_settings(home, upstream, auth=auth)
        services = make_services(settings, embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield Gateway(base, services, plugin)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[Gateway]:
    with _serve(tmp_path_factory, embedder, fake_upstream, {"max_failures": 1000}) as gw:
        yield gw


CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
# One request per built-in route, with the scope it needs.
PROBES: list[tuple[str, str, Any, str]] = [
    ("POST", "/v1/chat/completions", CHAT, sc.CHAT),
    ("GET", "/v1/models", None, sc.MODELS_READ),
    ("GET", "/v1/releases", None, sc.RELEASES_READ),
    ("HEAD", "/v1/models", None, sc.MODELS_READ),
    ("POST", "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": "x"}, sc.EMBEDDINGS),
    ("POST", "/v1/search", {"query": "refund"}, sc.SEARCH),
    ("POST", "/v1/guardrails/check", {"text": "x"}, sc.GUARD_CHECK),
    ("GET", "/metrics", None, sc.METRICS_READ),
    ("GET", "/v1/alerts", None, sc.METRICS_READ),
    ("GET", "/v1/ingest/runs", None, sc.DOCS_READ),
    ("GET", "/v1/ingest/runs/1", None, sc.DOCS_READ),
    ("GET", "/openapi.json", None, sc.SCHEMA_READ),
    ("GET", "/v1/files", None, sc.FILES),
    ("POST", "/v1/files", None, sc.FILES),
    ("GET", "/v1/files/file-000000000000000000000000", None, sc.FILES),
    ("DELETE", "/v1/files/file-000000000000000000000000", None, sc.FILES),
    ("GET", "/v1/files/file-000000000000000000000000/content", None, sc.FILES),
    ("GET", "/v1/batches", None, sc.BATCHES),
    ("POST", "/v1/batches", {"input_file_id": "f", "endpoint": "/v1/chat/completions"}, sc.BATCHES),
    ("GET", "/v1/batches/batch_000000000000000000000000", None, sc.BATCHES),
    ("POST", "/v1/batches/batch_000000000000000000000000/cancel", None, sc.BATCHES),
    ("GET", "/v1/admin/keys", None, sc.KEYS_ADMIN),
    ("POST", "/v1/admin/keys", {"name": "x"}, sc.KEYS_ADMIN),
    ("POST", "/v1/admin/keys/key_x/revoke", None, sc.KEYS_ADMIN),
    ("POST", "/v1/admin/keys/key_x/rotate", None, sc.KEYS_ADMIN),
    ("GET", "/v1/traces", None, sc.TRACES_READ),
    ("GET", "/v1/traces/0123456789abcdef0123456789abcdef", None, sc.TRACES_READ),
    ("GET", "/v1/reviews", None, sc.REVIEW),
    ("GET", "/v1/reviews/rv_0000000000000000", None, sc.REVIEW_STATUS),
    ("POST", "/v1/reviews/rv_0000000000000000/claim", None, sc.REVIEW),
    ("POST", "/v1/reviews/rv_0000000000000000/approve", {}, sc.REVIEW),
    ("POST", "/v1/reviews/rv_0000000000000000/reject", {}, sc.REVIEW),
    ("POST", "/v1/reviews/rv_0000000000000000/edit", {"text": "x"}, sc.REVIEW),
    ("POST", "/v1/feedback", {"trace_id": "t", "thumb": "up"}, sc.FEEDBACK),
    # The dashboard's pages, called with a bearer key (a browser's session: tests/ui).
    ("GET", "/ui/overview", None, sc.METRICS_READ),
    ("GET", "/ui/traces", None, sc.TRACES_READ),
    ("GET", "/ui/traces/0123456789abcdef0123456789abcdef", None, sc.TRACES_READ),
    ("GET", "/ui/reviews", None, sc.REVIEW),
    ("GET", "/ui/reviews/rv_0000000000000000", None, sc.REVIEW),
    ("POST", "/ui/reviews/rv_0000000000000000/claim", None, sc.REVIEW),
    ("GET", "/ui/documents", None, sc.DOCS_READ),
    ("POST", "/ui/documents/retry", None, sc.DOCS_WRITE),
    ("GET", "/ui/documents/1", None, sc.DOCS_READ),
    ("GET", "/ui/prompts", None, sc.PROMPTS_READ),
    ("GET", "/ui/prompts/grounded_answer", None, sc.PROMPTS_READ),
    ("GET", "/ui/releases", None, sc.RELEASES_READ),
    ("GET", "/ui/evals", None, sc.EVAL_READ),
    ("GET", "/ui/evals/compare", None, sc.EVAL_READ),
    ("GET", "/ui/evals/exp_none", None, sc.EVAL_READ),
    ("GET", "/ui/drift", None, sc.METRICS_READ),
    ("GET", "/ui/costs", None, sc.COSTS),
    ("GET", "/ui/alerts", None, sc.METRICS_READ),
    ("GET", "/ui/readiness", None, sc.CONFIG_READ),
    ("GET", "/ui/audit", None, sc.AUDIT_READ),
    ("GET", "/v1/plugin/queue", None, sc.REVIEW),
    ("GET", "/v1/plugin/mounted/ping", None, sc.METRICS_READ),
]


def test_every_route_of_the_built_app_declares_a_scope(tmp_path, embedder) -> None:
    """The walk covers the built-ins and every registered plugin's routes; only the test
    plugin's deliberately undeclared route may lack one."""
    plugin = Plugin()
    with registered(plugin, name="scoping-walk"):
        services = make_services(make_settings(tmp_path / "home"), embedder)
        app = create_app(services, preload_models=False)
    every = list(walk(list(app.routes)))
    assert len(every) >= 27
    missing = [path for path, route in every if scope_of(route) is None]
    # The route inside the mount is covered by the mount's scope.
    assert missing == ["/v1/plugin/mounted/ping", "/v1/plugin/forgotten"], missing
    # PROBES (below) reaches every declared route, so the role test covers them all.
    for path, route in every:
        if not isinstance(route, Route) or scope_of(route) in (sc.PUBLIC, None):
            continue
        hits = [
            (m, p)
            for m, p, _, _ in PROBES
            if route.matches({"type": "http", "path": p, "method": m, "root_path": ""})[0]
            is Match.FULL
        ]
        assert hits, f"{path} has no probe in PROBES"


def test_scoped_refuses_an_unknown_scope() -> None:
    with pytest.raises(ValueError, match="unknown scope 'chat:everything'"):
        scoped(Route("/x", lambda r: None), "chat:everything")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_scopes(gateway: Gateway, role: str) -> None:
    granted = ScopeMatrix().granted((role,))
    for method, path, body, scope in PROBES:
        resp = gateway.call(method, path, role, json=body)
        where = f"{role} {method} {path} -> {resp.status_code} {resp.text[:200]}"
        if scope in granted:
            assert resp.status_code != 403, where
            assert resp.status_code < 500, where
        else:
            assert resp.status_code == 403, where
            if method != "HEAD":
                err = resp.json()["error"]
                assert err["code"] == "insufficient_scope", where
                assert err["type"] == "permission_error", where
                assert f"'{scope}'" in err["message"], where


def test_a_refusal_comes_before_the_handler(gateway: Gateway) -> None:
    before = gateway.plugin.calls
    assert gateway.call("GET", "/v1/plugin/queue", "app").status_code == 403
    assert gateway.call("GET", "/v1/plugin/mounted/ping", "reviewer").status_code == 403
    assert gateway.plugin.calls == before
    assert gateway.call("GET", "/v1/plugin/queue", "reviewer").status_code == 200
    assert gateway.call("GET", "/v1/plugin/mounted/ping", "analyst").status_code == 200
    assert gateway.plugin.calls == before + 2


def test_an_undeclared_route_is_closed_to_admins_too(gateway: Gateway) -> None:
    before = gateway.plugin.calls
    for role in ROLES:
        resp = gateway.call("GET", "/v1/plugin/forgotten", role)
        assert resp.status_code == 403, resp.text
        err = resp.json()["error"]
        assert err["code"] == "insufficient_scope" and "declares no scope" in err["message"]
    assert gateway.plugin.calls == before
    # Still a 401 first without a credential: nothing is discoverable without a key.
    assert gateway.call("GET", "/v1/plugin/forgotten", None).status_code == 401


def test_no_route_is_a_404_or_405_for_a_valid_key(gateway: Gateway) -> None:
    resp = gateway.call("GET", "/v1/nothing-here", "app")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = gateway.call("DELETE", "/v1/models", "app")
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    assert gateway.call("GET", "/v1/nothing-here", None).status_code == 401


def test_health_probes_need_nothing(gateway: Gateway) -> None:
    assert gateway.call("GET", "/healthz", None).status_code == 200
    assert gateway.call("GET", "/readyz", None).status_code in (200, 503)
    assert gateway.call("GET", "/healthz", "reviewer").status_code == 200


def test_a_denial_is_an_audit_event(gateway: Gateway) -> None:
    _, key = gateway.services.api_keys.create("denied-once", "acme", ["analyst"])
    resp = httpx.get(gateway.base + "/v1/plugin/queue", headers=_auth(key), timeout=30)
    assert resp.status_code == 403
    deadline = time.monotonic() + 10
    while not [e for e in gateway.plugin.denied if e.principal == "denied-once"]:
        assert time.monotonic() < deadline, "no auth.denied event"
        time.sleep(0.05)
    event = next(e for e in gateway.plugin.denied if e.principal == "denied-once")
    assert (event.scope, event.method, event.path, event.tenant) == (
        sc.REVIEW,
        "GET",
        "/v1/plugin/queue",
        "acme",
    )
    assert event.key_id and key not in repr(event)


def test_openapi_names_each_operations_scope(gateway: Gateway) -> None:
    doc = gateway.call("GET", "/openapi.json", "reviewer").json()
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert ops[("POST", "/v1/chat/completions")]["x-lockgate-scope"] == sc.CHAT
    assert ops[("GET", "/v1/traces/{trace_id}")]["x-lockgate-scope"] == sc.TRACES_READ
    assert ops[("GET", "/healthz")]["x-lockgate-scope"] == sc.PUBLIC
    assert ops[("GET", "/v1/plugin/mounted/ping")]["x-lockgate-scope"] == sc.METRICS_READ
    assert "x-lockgate-scope" not in ops[("GET", "/v1/plugin/forgotten")]


def test_the_index_memo_holds_only_static_routes() -> None:
    index = ScopeIndex([Route("/a", lambda r: None), Route("/b/{x}", lambda r: None)])
    scope = {"type": "http", "method": "GET", "root_path": ""}
    for path in ("/a", "/a", "/b/1", "/b/2", "/nowhere", "/nowhere2"):
        index.find({**scope, "path": path})
    assert set(index._memo) == {("GET", "/a")}


# ---- the anonymous principal of a demo gateway ----


@pytest.fixture(scope="module")
def demo(tmp_path_factory, embedder, fake_upstream) -> Iterator[Gateway]:
    auth = {"allow_anonymous": True, "max_failures": 1000}
    with _serve(tmp_path_factory, embedder, fake_upstream, auth) as gw:
        yield gw


def test_anonymous_has_the_app_role(demo: Gateway) -> None:
    resp = demo.call("POST", "/v1/chat/completions", None, json=CHAT)
    assert resp.status_code == 200, resp.text
    assert demo.call("GET", "/v1/models", None).status_code == 200
    for method, path, body, scope in PROBES:
        if scope in ScopeMatrix().granted(("app",)):
            continue
        resp = demo.call(method, path, None, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
    # A presented key is still checked, and still counts for itself.
    assert demo.call("GET", "/v1/admin/keys", "admin").status_code == 200
    bad = httpx.get(demo.base + "/v1/models", headers=_auth("lg_abcdefgh_nope"), timeout=30)
    assert bad.status_code == 401


def test_anonymous_roles_come_from_config_only(tmp_path_factory, embedder, fake_upstream) -> None:
    auth = {"allow_anonymous": True, "anonymous_roles": ["analyst"], "max_failures": 1000}
    with _serve(tmp_path_factory, embedder, fake_upstream, auth) as gw:
        assert gw.call("GET", "/v1/traces", None).status_code == 200
        assert gw.call("POST", "/v1/chat/completions", None, json=CHAT).status_code == 403
        # A header naming the caller changes who, never what it may do.
        resp = httpx.get(
            gw.base + "/v1/admin/keys", headers={"x-lockgate-caller": "admin"}, timeout=30
        )
        assert resp.status_code == 403
    auth = {"allow_anonymous": True, "anonymous_roles": [], "max_failures": 1000}
    with _serve(tmp_path_factory, embedder, fake_upstream, auth) as gw:
        assert gw.call("GET", "/v1/models", None).status_code == 403
        assert gw.call("GET", "/healthz", None).status_code == 200


def test_public_metrics_needs_no_scope(tmp_path_factory, embedder, fake_upstream) -> None:
    auth = {"public_metrics": True, "max_failures": 1000}
    with _serve(tmp_path_factory, embedder, fake_upstream, auth) as gw:
        assert gw.call("GET", "/metrics", None).status_code == 200
        assert gw.call("GET", "/metrics", "reviewer").status_code == 200


def test_a_batch_needs_the_scope_of_its_endpoint(tmp_path_factory, embedder, fake_upstream) -> None:
    auth = {"max_failures": 1000, "role_scopes": {"app": [sc.FILES, sc.BATCHES]}}
    with _serve(tmp_path_factory, embedder, fake_upstream, auth) as gw:
        line = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}'
        up = gw.call(
            "POST", "/v1/files", "app", files={"file": ("a.jsonl", line)}, data={"purpose": "batch"}
        )
        assert up.status_code == 200, up.text
        body = {"input_file_id": up.json()["id"], "endpoint": "/v1/chat/completions"}
        resp = gw.call("POST", "/v1/batches", "app", json=body)
        assert resp.status_code == 403, resp.text
        err = resp.json()["error"]
        assert err["code"] == "insufficient_scope" and err["param"] == "endpoint"
        assert "'chat'" in err["message"]
        assert gw.call("POST", "/v1/chat/completions", "app", json=CHAT).status_code == 403
        assert gw.call("POST", "/v1/batches", "developer", json=body).status_code == 404
