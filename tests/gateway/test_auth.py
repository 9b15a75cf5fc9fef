"""Authentication at the HTTP edge, over real HTTP with the `openai` SDK and httpx: with
anonymous access off (the default) nothing but the health probes answers without a valid
key; keys carry tenant, roles and groups to the engine; bad, expired, revoked and rotated-out
keys are 401s; a client that keeps failing is refused with 429s; every outcome is an event
without secrets; the admin API manages keys for admins only and rejects bad bodies with 400."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lockgate.auth.scopes import MODELS_READ
from lockgate.gateway.app import create_app
from lockgate.gateway.identity import principal_of
from lockgate.gateway.scoping import scoped
from lockgate.observability.events import AuthFailed, AuthSucceeded, Event
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve


async def whoami(request: Request) -> JSONResponse:
    p = principal_of(request)
    return JSONResponse(
        {
            "id": p.id,
            "tenant": p.tenant,
            "roles": list(p.roles),
            "groups": list(p.groups),
            "authenticated": p.authenticated,
            "key_id": p.key_id,
        }
    )


class Recorder:
    """A plugin route that echoes the principal, and a subscriber that keeps auth events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def register_routes(self, routes: list[Any], services: Any) -> None:
        routes.append(scoped(Route("/v1/plugin/whoami", whoami, methods=["GET"]), MODELS_READ))

    @hookimpl
    def track_event(self, event: Any, services: Any) -> None:
        if isinstance(event, AuthSucceeded | AuthFailed):
            self.events.append(event)


def _gateway(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Any,
    upstream: str,
    auth: dict[str, Any],
) -> Iterator[tuple[str, Services, Recorder]]:
    recorder = Recorder()
    with registered(recorder, name=f"auth-recorder-{id(recorder)}"):
        home = tmp_path_factory.mktemp("auth-home")
        services = make_services(make_settings(home, upstream, auth=auth), embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services, recorder


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Services, Recorder]]:
    # A high failure limit: this module's many bad-key probes must not lock loopback out.
    yield from _gateway(tmp_path_factory, embedder, fake_upstream, {"max_failures": 1000})


def _key(services: Services, *roles: str, **kw: Any) -> tuple[str, str]:
    rec, key = services.api_keys.create(
        kw.pop("name", "alice"), kw.pop("tenant", "acme"), list(roles or ("developer",)), **kw
    )
    return rec.id, key


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
# Every kind of route: built-in OpenAI routes, Lockgate's own, admin, a plugin's, metrics and
# a path that does not exist (no route is discoverable without a key).
PROTECTED = [
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", CHAT),
    ("POST", "/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": "x"}),
    ("POST", "/v1/search", {"query": "refund"}),
    ("POST", "/v1/guardrails/check", {"text": "x"}),
    ("GET", "/v1/files", None),
    ("POST", "/v1/files", None),
    ("GET", "/v1/batches", None),
    ("POST", "/v1/batches", {"input_file_id": "f", "endpoint": "/v1/chat/completions"}),
    ("GET", "/v1/admin/keys", None),
    ("POST", "/v1/admin/keys", {"name": "x"}),
    ("GET", "/v1/plugin/whoami", None),
    ("GET", "/metrics", None),
    ("GET", "/v1/nothing-here", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_every_route_needs_a_key(gateway, method: str, path: str, body: Any) -> None:
    base, _, _ = gateway
    resp = httpx.request(method, base + path, json=body)
    assert resp.status_code == 401, resp.text
    err = resp.json()["error"]
    assert err["type"] == "authentication_error" and err["code"] == "missing_api_key"
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.headers["x-lockgate-trace-id"]
    for bad in ("whatever", "lg_abcdefgh_nope", "lg_x"):
        resp = httpx.request(method, base + path, json=body, headers=_auth(bad))
        assert resp.status_code == 401
        assert resp.json()["error"]["code"] == "invalid_api_key"


def test_health_probes_stay_open(gateway) -> None:
    base, _, _ = gateway
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.get(base + "/readyz").status_code in (200, 503)  # open, ready or not


def test_the_sdk_with_a_key_gets_answers_as_that_principal(gateway) -> None:
    base, services, _ = gateway
    key_id, key = _key(services, "developer", "analyst", groups=["finance", "legal"])
    client = openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    completion = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert completion.choices[0].message.content == "echo: hi"
    trace = services.traces.get(completion.model_extra["lockgate"]["trace_id"])
    assert trace["principal"] == "alice"
    assert {m.id for m in client.models.list()} >= {"lockgate", "echo"}
    me = httpx.get(base + "/v1/plugin/whoami", headers=_auth(key)).json()
    assert me == {
        "id": "alice",
        "tenant": "acme",
        "roles": ["developer", "analyst"],
        "groups": ["finance", "legal"],
        "authenticated": True,
        "key_id": key_id,
    }
    # A caller header cannot rename an authenticated principal.
    me = httpx.get(
        base + "/v1/plugin/whoami", headers={**_auth(key), "x-lockgate-caller": "mallory"}
    ).json()
    assert me["id"] == "alice"


def test_the_sdk_with_a_bad_key_gets_an_authentication_error(gateway) -> None:
    base, services, _ = gateway
    _, key = _key(services)
    tampered = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
    client = openai.OpenAI(base_url=base + "/v1", api_key=tampered, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc:
        client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert exc.value.status_code == 401
    assert exc.value.code == "invalid_api_key"


def test_expired_revoked_and_rotated_out_keys_stop_working(gateway) -> None:
    base, services, _ = gateway
    _, short = _key(services, expires_in_s=1.0)
    assert httpx.get(base + "/v1/models", headers=_auth(short)).status_code == 200
    time.sleep(1.2)
    resp = httpx.get(base + "/v1/models", headers=_auth(short))
    assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]

    revoked_id, revoked = _key(services)
    services.api_keys.revoke(revoked_id)
    resp = httpx.get(base + "/v1/models", headers=_auth(revoked))
    assert resp.status_code == 401 and "revoked" in resp.json()["error"]["message"]

    rotating_id, old = _key(services, name="svc")
    _, new = services.api_keys.rotate(rotating_id)
    assert httpx.get(base + "/v1/models", headers=_auth(old)).status_code == 401
    me = httpx.get(base + "/v1/plugin/whoami", headers=_auth(new)).json()
    assert (me["id"], me["key_id"]) == ("svc", rotating_id)


def test_auth_outcomes_are_events_without_secrets(gateway) -> None:
    base, services, recorder = gateway
    key_id, key = _key(services, name="eve")
    recorder.events.clear()
    assert httpx.get(base + "/v1/models", headers=_auth(key)).status_code == 200
    wrong = key[:-3] + "xyz"
    assert httpx.get(base + "/v1/files", headers=_auth(wrong)).status_code == 401
    assert httpx.get(base + "/v1/files").status_code == 401
    ok = [e for e in recorder.events if isinstance(e, AuthSucceeded)]
    failed = [e for e in recorder.events if isinstance(e, AuthFailed)]
    assert [(e.principal, e.tenant, e.method, e.key_id, e.path) for e in ok] == [
        ("eve", "acme", "api_key", key_id, "/v1/models")
    ]
    assert ok[0].client == "127.0.0.1" and ok[0].trace_id
    assert [(e.code, e.reason, e.key_id) for e in failed] == [
        ("invalid_api_key", "wrong secret", key_id),
        ("missing_api_key", "no credential", None),
    ]
    secret = key.split("_", 2)[2]
    dumped = json.dumps([e.properties() for e in recorder.events])
    assert secret not in dumped and wrong.split("_", 2)[2] not in dumped


# ---- the admin API ----


def test_admin_api_needs_the_admin_role(gateway) -> None:
    base, services, _ = gateway
    _, dev = _key(services, "developer", "reviewer", "analyst", "app")
    for method, path in (
        ("GET", "/v1/admin/keys"),
        ("POST", "/v1/admin/keys"),
        ("POST", "/v1/admin/keys/key_x/revoke"),
        ("POST", "/v1/admin/keys/key_x/rotate"),
    ):
        resp = httpx.request(method, base + path, headers=_auth(dev), json={})
        assert resp.status_code == 403, (path, resp.text)
        err = resp.json()["error"]
        assert err["type"] == "permission_error" and err["code"] == "insufficient_scope"
        assert "'keys:admin'" in err["message"]


def test_admin_api_creates_lists_rotates_and_revokes(gateway) -> None:
    base, services, _ = gateway
    _, admin = _key(services, "admin", name="root")
    made = httpx.post(
        base + "/v1/admin/keys",
        headers=_auth(admin),
        json={"name": "bot", "tenant": "beta", "roles": ["app"], "groups": ["g1"], "expires": "7d"},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["key"].startswith(body["prefix"] + "_") and body["id"].startswith("key_")
    assert body["expires_at"] - body["created_at"] == pytest.approx(7 * 86400)
    me = httpx.get(base + "/v1/plugin/whoami", headers=_auth(body["key"])).json()
    assert (me["id"], me["tenant"], me["roles"], me["groups"]) == ("bot", "beta", ["app"], ["g1"])

    listed = httpx.get(base + "/v1/admin/keys", headers=_auth(admin))
    assert listed.status_code == 200
    rows = listed.json()["data"]
    assert body["id"] in {r["id"] for r in rows}
    text = listed.text
    for r in rows:
        assert "secret_hash" not in r and "key" not in r
    assert body["key"].split("_", 2)[2] not in text

    rotated = httpx.post(base + f"/v1/admin/keys/{body['id']}/rotate", headers=_auth(admin))
    assert rotated.status_code == 200 and rotated.json()["id"] == body["id"]
    assert httpx.get(base + "/v1/models", headers=_auth(body["key"])).status_code == 401
    new = rotated.json()["key"]
    assert httpx.get(base + "/v1/models", headers=_auth(new)).status_code == 200

    revoked = httpx.post(base + f"/v1/admin/keys/{body['id']}/revoke", headers=_auth(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert httpx.get(base + "/v1/models", headers=_auth(new)).status_code == 401
    for action in ("revoke", "rotate"):
        missing = httpx.post(base + f"/v1/admin/keys/key_nope/{action}", headers=_auth(admin))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": ["a"], "tenant": "t", "roles": ["app"]}, "name"),
        ({"name": "a", "tenant": "t", "roles": "admin"}, "roles"),
        ({"name": "a", "tenant": "t", "roles": ["boss"]}, "roles"),
        ({"name": "a", "tenant": "t", "roles": []}, "roles"),
        ({"name": "a", "tenant": "t", "roles": ["app"], "groups": [1]}, "groups.0"),
        ({"name": "a", "tenant": "t", "roles": ["app"], "groups": ["a/b"]}, "groups"),
        ({"name": "a b", "tenant": "t", "roles": ["app"]}, "name"),
        ({"name": "a", "tenant": {"x": 1}, "roles": ["app"]}, "tenant"),
        ({"name": "a", "tenant": "t", "roles": ["app"], "expires": "soon"}, "expires"),
        ({"name": "a", "tenant": "t", "roles": ["app"], "expires": 90}, "expires"),
        ({"name": "a", "tenant": "t", "roles": ["app"], "admin": True}, "admin"),
        ({"tenant": "t", "roles": ["app"]}, "name"),
    ],
)
def test_admin_api_rejects_bad_bodies_with_400(gateway, body: dict, param: str) -> None:
    base, services, _ = gateway
    _, admin = _key(services, "admin", name="root")
    resp = httpx.post(base + "/v1/admin/keys", headers=_auth(admin), json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == param
    for raw in (b"[1, 2]", b"not json", b""):
        resp = httpx.post(base + "/v1/admin/keys", headers=_auth(admin), content=raw)
        assert resp.status_code == 400


# ---- other configurations ----


def test_repeated_failures_from_one_client_are_refused_for_a_while(
    tmp_path_factory, embedder, fake_upstream
) -> None:
    auth = {"max_failures": 3, "failure_window_s": 60, "lockout_s": 2}
    for base, services, recorder in _gateway(tmp_path_factory, embedder, fake_upstream, auth):
        _, good = _key(services)
        codes = [
            httpx.get(base + "/v1/models", headers=_auth(f"lg_aaaaaaaa_guess{i}")).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 401]
        # Locked out: even a valid key from this address waits, and is told how long.
        blocked = httpx.get(base + "/v1/models", headers=_auth(good))
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "too_many_auth_failures"
        assert 1 <= int(blocked.headers["retry-after"]) <= 2
        assert any(
            isinstance(e, AuthFailed) and e.code == "too_many_auth_failures"
            for e in recorder.events
        )
        assert httpx.get(base + "/healthz").status_code == 200  # probes are never locked out
        time.sleep(2.1)
        assert httpx.get(base + "/v1/models", headers=_auth(good)).status_code == 200


def test_anonymous_mode_serves_callers_without_a_key_but_still_checks_keys(
    tmp_path_factory, embedder, fake_upstream
) -> None:
    auth = {"allow_anonymous": True}
    for base, services, _ in _gateway(tmp_path_factory, embedder, fake_upstream, auth):
        me = httpx.get(base + "/v1/plugin/whoami", headers={"x-lockgate-caller": "demo"}).json()
        assert (me["id"], me["authenticated"]) == ("demo", False)
        # SDKs insist on some api_key; a string that is not a Lockgate key is ignored here.
        assert httpx.get(base + "/v1/models", headers=_auth("whatever")).status_code == 200
        # A Lockgate key that is presented must be valid even so.
        assert httpx.get(base + "/v1/models", headers=_auth("lg_aaaaaaaa_no")).status_code == 401
        _, key = _key(services)
        assert httpx.get(base + "/v1/plugin/whoami", headers=_auth(key)).json()["id"] == "alice"
        # Anonymous callers hold no role, so the admin API stays closed.
        assert httpx.get(base + "/v1/admin/keys").status_code == 403


def test_public_metrics_opens_only_metrics(tmp_path_factory, embedder, fake_upstream) -> None:
    auth = {"public_metrics": True}
    for base, _, _ in _gateway(tmp_path_factory, embedder, fake_upstream, auth):
        assert httpx.get(base + "/metrics").status_code == 200
        assert httpx.get(base + "/v1/models").status_code == 401


def test_successes_are_recorded_once_per_interval_with_a_count(gateway) -> None:
    base, services, recorder = gateway
    _, key = _key(services, name="frequent")
    recorder.events.clear()
    for _ in range(3):
        assert httpx.get(base + "/v1/models", headers=_auth(key)).status_code == 200
    ok = [e for e in recorder.events if isinstance(e, AuthSucceeded) and e.principal == "frequent"]
    assert len(ok) == 1 and ok[0].repeats == 0  # the next one, a minute on, says 2


def test_the_throttle_counts_what_it_held_back() -> None:
    from lockgate.gateway.authgate import _Throttle

    throttle = _Throttle()
    assert throttle.due(("k", "c"), 0.05) == 0
    assert throttle.due(("k", "c"), 0.05) is None and throttle.due(("k", "c"), 0.05) is None
    assert throttle.due(("other", "c"), 0.05) == 0
    import time as _time

    _time.sleep(0.06)
    assert throttle.due(("k", "c"), 0.05) == 2
