"""Default rate limits over real HTTP: embeddings, search and guardrail checks draw from the
same per-caller buckets as chat (429 with Retry-After, an OpenAI body and x-ratelimit-*
headers), an anonymous caller's bucket is its address whatever it calls itself, and a key's
is its own, subdivided by the caller header only when a rule says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lockgate.config import LimitsConfig
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_services, make_settings
from tests.support.server import serve

EMBED = ("/v1/embeddings", {"model": "all-MiniLM-L6-v2", "input": "refund window"})
SEARCH = ("/v1/search", {"query": "refund window"})
CHECK = ("/v1/guardrails/check", {"text": "hello"})
CHAT = ("/v1/chat/completions", {"model": "echo", "messages": [{"role": "user", "content": "x"}]})


def _gateway(tmp_path_factory: Any, embedder: Any, upstream: str, limits: Any) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("rl-home")
    settings = make_settings(home, upstream, limits=limits, batch={"enabled": False})
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


@pytest.fixture
def small(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Services]]:
    yield from _gateway(tmp_path_factory, embedder, fake_upstream, {"rules": [{"rpm": 3}]})


def post(base: str, route: tuple[str, dict[str, Any]], **headers: str) -> httpx.Response:
    return httpx.post(base + route[0], json=route[1], headers=headers, timeout=60)


def test_defaults_apply_a_per_caller_limit() -> None:
    assert LimitsConfig().rules[0].rpm == 600


@pytest.mark.parametrize("route", [EMBED, SEARCH, CHECK])
def test_cpu_routes_share_the_callers_bucket(small, route) -> None:
    base, _ = small
    first = post(base, route)
    assert first.status_code == 200, first.text
    assert first.headers["x-ratelimit-limit-requests"] == "3"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert post(base, CHAT).status_code == 200  # chat spends from the same allowance
    assert post(base, route, **{"x-lockgate-caller": "someone-else"}).status_code == 200
    refused = post(base, route, **{"x-lockgate-caller": "yet-another"})
    assert refused.status_code == 429
    err = refused.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert post(base, CHAT).status_code == 429


def test_a_key_has_its_own_bucket(small) -> None:
    base, services = small
    for _ in range(3):
        assert post(base, CHECK).status_code == 200
    assert post(base, CHECK).status_code == 429
    _, key = services.api_keys.create("svc", "acme", ["app"])
    auth = {"Authorization": f"Bearer {key}"}
    assert [post(base, CHECK, **auth).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.fixture
def per_caller(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Services]]:
    rules = [{"per": ["key"], "rpm": 4}, {"per": ["key", "caller"], "rpm": 2}]
    yield from _gateway(tmp_path_factory, embedder, fake_upstream, {"rules": rules})


def test_the_caller_header_divides_a_keys_allowance_and_never_adds_to_it(per_caller) -> None:
    base, services = per_caller
    _, key = services.api_keys.create("svc", "acme", ["app"])
    auth = {"Authorization": f"Bearer {key}"}
    codes = [
        post(base, CHECK, **auth, **{"x-lockgate-caller": who}).status_code
        for who in ("a", "a", "a", "b", "b", "c")
    ]
    assert codes == [200, 200, 429, 200, 200, 429]
