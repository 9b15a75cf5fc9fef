"""What an upstream says when it fails stays with the operator: a faulty loopback upstream
answers 500 with a database password in its error body, behind a base URL that carries an
`?api-key=`. Chat (plain and streamed) and /v1/embeddings answer the caller with a generic
upstream error naming neither; the trace keeps the detail for the operator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lockgate.config import BreakerConfig, EmbeddingSpec, ModelSpec, ResilienceConfig
from lockgate.gateway.app import create_app
from lockgate.services import Services
from tests.conftest import make_settings
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.server import serve

PASSWORD = "hunter2"
API_KEY = "SECRETAPIKEY"
LEAK = f"internal db password={PASSWORD} at 10.0.3.7:5432 failed"
TRACE_HEADER = "x-lockgate-trace-id"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[tuple[str, Services]]:
    with FaultyUpstream(name="leaky") as up:
        up.set(error_500=1.0, error_message=LEAK)
        base_url = f"{up.base_url}?api-key={API_KEY}"
        settings = make_settings(
            tmp_path_factory.mktemp("upstream-errors-home"),
            embeddings=EmbeddingSpec(backend="openai", base_url=base_url, upstream_model="emb"),
        )
        settings.models["leaky"] = ModelSpec(
            backend="openai",
            base_url=base_url,
            read_timeout_s=3.0,
            resilience=ResilienceConfig(retries=0, breaker=BreakerConfig(enabled=False)),
        )
        services = Services(settings)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services


def _assert_generic(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 502, resp.text
    assert PASSWORD not in resp.text and API_KEY not in resp.text
    assert "10.0.3.7" not in resp.text
    assert all(PASSWORD not in v and API_KEY not in v for v in resp.headers.values())
    error = resp.json()["error"]
    assert error["type"] == "upstream_error" and "500" in error["message"]
    return error


@pytest.mark.parametrize("stream", [False, True])
def test_chat_upstream_error_body_is_not_relayed(gateway, stream: bool) -> None:
    base, services = gateway
    body = {"model": "leaky", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    resp = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=30)
    _assert_generic(resp)
    # The operator still sees what the upstream said.
    trace = services.traces.get(resp.headers[TRACE_HEADER])
    assert trace is not None and PASSWORD in trace["error"]


def test_embeddings_upstream_error_and_url_are_not_relayed(gateway) -> None:
    base, services = gateway
    resp = httpx.post(f"{base}/v1/embeddings", json={"model": "emb", "input": "hi"}, timeout=30)
    error = _assert_generic(resp)
    assert "127.0.0.1" not in error["message"]  # nor where the upstream lives
    # The trace keeps what the upstream said, but not the credential in its URL.
    trace = services.traces.get(resp.headers[TRACE_HEADER])
    assert trace is not None and PASSWORD in trace["error"] and API_KEY not in trace["error"]
