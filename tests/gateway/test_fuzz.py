"""Every route of `/openapi.json`, fuzzed with schemathesis against a real gateway on loopback
(chat answered by the fake upstream), as the anonymous caller, with a low-role (`app`) key and
with an admin key: no input, however malformed, gives a 5xx, every 4xx is an OpenAI-style
error body, and a caller whose roles lack an operation's scope (`x-lockgate-scope`) is
refused with 403 whatever it sends. Deterministic and bounded (a few examples per operation)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from lockgate.auth.scopes import PUBLIC, ScopeMatrix
from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.server import serve

# Per operation and mode; the keyed runs are smaller: the routes a key may not call are
# refused at the edge, whatever the input, and the rest were fuzzed anonymously already.
MAX_EXAMPLES = {"anonymous": 15, "app": 6, "admin": 6}
# Inputs that fit the schema (they must not break a handler) and inputs that do not (they must
# be refused with a 4xx naming the problem).
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# A 5xx that is the answer, not a failure: readiness says 503 while the grounded model is not
# loaded (this gateway never loads it: the fuzzing must not wait for a model).
EXPECTED_5XX = {("GET", "/readyz", 503)}


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    roles: tuple[str, ...]

    def lacks(self, scope: str | None) -> bool:
        return scope != PUBLIC and (scope is None or not ScopeMatrix().allows(self.roles, scope))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, dict[str, str]]]:
    home = tmp_path_factory.mktemp("fuzz-home")
    # Anonymous access on (the anonymous caller has the default `app` role) next to keys.
    settings = make_settings(
        home, fake_upstream, batch={"enabled": False}, auth={"allow_anonymous": True}
    )
    services = make_services(settings, embedder)
    keys = {r: services.api_keys.create(f"fuzz-{r}", "fuzz", [r])[1] for r in ("app", "admin")}
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, keys


@pytest.fixture(params=["anonymous", "app", "admin"])
def caller(request: pytest.FixtureRequest, gateway) -> Caller:
    """Who each fuzz run is: nobody (the anonymous `app` principal), an `app` key, an admin."""
    _, keys = gateway
    if request.param == "anonymous":
        return Caller("anonymous", {}, ("app",))
    role = request.param
    return Caller(role, {"Authorization": f"Bearer {keys[role]}"}, (role,))


def _reaches(template: str, path: str) -> bool:
    """Whether a concrete path is one of the template's (a fuzzed path parameter that is
    empty or holds a slash reaches no route: a 404 from the router, not the edge's 403)."""
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _code(response: Any) -> str | None:
    try:
        return response.json()["error"]["code"]  # type: ignore[no-any-return]
    except (ValueError, KeyError, TypeError):
        return None


def _check(case: Any, response: Any, caller: Caller, scope: str | None) -> None:
    where = (
        f"{caller.name}: {case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:300]}"
    )
    # The server matches the decoded path: an encoded slash in a parameter reaches no route.
    path = unquote(case.formatted_path.split("?")[0])
    if caller.lacks(scope) and _reaches(case.path, path):
        # Refused at the edge before the handler, whatever the input.
        assert response.status_code == 403, where
        assert response.json()["error"]["code"] == "insufficient_scope", where
        return
    # Besides a missing scope, the one 403 is naming an app the credential does not carry.
    refused_app = response.status_code == 403 and _code(response) == "app_not_allowed"
    assert response.status_code != 403 or refused_app, where
    expected = (case.method.upper(), case.path, response.status_code) in EXPECTED_5XX
    assert response.status_code < 500 or expected, where
    if expected:
        return
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, where
        err = body["error"]
        assert set(err) == {"message", "type", "param", "code"}, where
        assert isinstance(err["message"], str) and err["message"], where
        assert "Traceback" not in response.text, where


def test_fuzz_every_route(gateway, caller: Caller) -> None:
    base, _ = gateway
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    doc = httpx.get(base + "/openapi.json", timeout=30).json()
    documented = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item}
    scopes = {
        f"{m.upper()} {p}": op.get("x-lockgate-scope")
        for p, item in doc["paths"].items()
        for m, op in item.items()
    }
    # Every operation says which scope it needs.
    assert [label for label, scope in scopes.items() if scope is None] == []
    # schemathesis leaves out the document's own URL; everything else is fuzzed.
    assert {o.label for o in operations} == documented - {"GET /openapi.json"}
    assert len(documented) >= 24
    calls = refused = 0
    for operation, mode in itertools.product(operations, MODES):
        strategy = operation.as_strategy(mode)

        @settings(
            max_examples=MAX_EXAMPLES[caller.name],
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal calls, refused
            response = case.call(base_url=base, headers=caller.headers, timeout=30)
            calls += 1
            refused += response.status_code == 403 and _code(response) == "insufficient_scope"
            _check(case, response, caller, scopes[f"{case.method.upper()} {case.path}"])

        try:
            run()
        except Unsatisfiable:
            # Nothing to get wrong: an operation without parameters or body has no negative case.
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls >= 2 * len(operations)
    if caller.name == "admin":
        assert refused == 0
    else:
        # keys:admin, traces:read and metrics:read routes at least were refused.
        assert refused >= 7


def test_fuzz_raw_bodies(gateway, caller: Caller) -> None:
    """Bodies outside the schema: any JSON value where an object belongs, on every POST."""

    posts = [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/search",
        "/v1/guardrails/check",
        "/v1/batches",
    ]
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )

    @settings(max_examples=40, derandomize=True, database=None, deadline=None)
    @given(path=st.sampled_from(posts), body=json_values)
    def run(path: str, body: Any) -> None:
        resp = httpx.post(gateway[0] + path, json=body, headers=caller.headers, timeout=30)
        assert resp.status_code < 500, (path, body, resp.text[:300])
        if resp.status_code >= 400:
            assert set(resp.json()["error"]) == {"message", "type", "param", "code"}

    run()
