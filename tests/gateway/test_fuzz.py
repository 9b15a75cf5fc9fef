"""Every route of `/openapi.json`, fuzzed with schemathesis against a real gateway on loopback
(chat answered by the fake upstream): no input, however malformed, gives a 5xx, and every 4xx
is an OpenAI-style error body. Deterministic and bounded (a few examples per operation)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.server import serve

MAX_EXAMPLES = 15
# Inputs that fit the schema (they must not break a handler) and inputs that do not (they must
# be refused with a 4xx naming the problem).
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# A 5xx that is the answer, not a failure: readiness says 503 while the grounded model is not
# loaded (this gateway never loads it: the fuzzing must not wait for a model).
EXPECTED_5XX = {("GET", "/readyz", 503)}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[str]:
    home = tmp_path_factory.mktemp("fuzz-home")
    services = make_services(make_settings(home, fake_upstream, batch={"enabled": False}), embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base


@pytest.fixture(params=["anonymous"])
def auth_headers(request: pytest.FixtureRequest) -> dict[str, str]:
    """The credentials each fuzz run uses. Anonymous for now; a key adds its
    `{"Authorization": "Bearer ..."}` here as one more parameter."""
    return {}


def _check(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
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


def test_fuzz_every_route(gateway: str, auth_headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(gateway + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    doc = httpx.get(gateway + "/openapi.json", timeout=30).json()
    documented = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item}
    # schemathesis leaves out the document's own URL; everything else is fuzzed.
    assert {o.label for o in operations} == documented - {"GET /openapi.json"}
    assert len(documented) >= 18
    calls = 0
    for operation, mode in itertools.product(operations, MODES):
        strategy = operation.as_strategy(mode)

        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            nonlocal calls
            response = case.call(base_url=gateway, headers=auth_headers, timeout=30)
            calls += 1
            _check(case, response)

        try:
            run()
        except Unsatisfiable:
            # Nothing to get wrong: an operation without parameters or body has no negative case.
            assert mode is GenerationMode.NEGATIVE, operation.label
    assert calls >= 2 * len(operations)


def test_fuzz_raw_bodies(gateway: str, auth_headers: dict[str, str]) -> None:
    """Bodies outside the schema: any JSON value where an object belongs, on every POST."""

    posts = [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/search",
        "/v1/guardrails/check",
        "/v1/batches",
    ]
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=10,
    )

    @settings(max_examples=40, derandomize=True, database=None, deadline=None)
    @given(path=st.sampled_from(posts), body=json_values)
    def run(path: str, body: Any) -> None:
        resp = httpx.post(gateway + path, json=body, headers=auth_headers, timeout=30)
        assert resp.status_code < 500, (path, body, resp.text[:300])
        if resp.status_code >= 400:
            assert set(resp.json()["error"]) == {"message", "type", "param", "code"}

    run()
