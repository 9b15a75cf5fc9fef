"""Every failure the gateway can answer is an OpenAI-style error body with the right status and
a trace id header, never a stack trace, and the gateway keeps serving afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from lockgate.engine.answer import Answer
from lockgate.engine.pipeline import Stage
from lockgate.gateway.app import create_app
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager
from tests.conftest import make_services, make_settings
from tests.support.server import serve

TRACE_HEADER = "x-lockgate-trace-id"
USER = [{"role": "user", "content": "hello"}]


class Explode(Stage):
    """A stage with a bug: raises something that is not a GatewayError."""

    name = "test_explode"

    def __init__(self, services: Any) -> None:
        pass

    async def __call__(self, turn: Any, state: Any, call_next: Any) -> Answer:
        raise RuntimeError("secret internal detail /etc/passwd")


class _ExplodePlugin:
    @hookimpl
    def register_stages(self, register: Any) -> None:
        register("test_explode", Explode)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any]]:
    home = tmp_path_factory.mktemp("errors-home")
    services = make_services(make_settings(home, fake_upstream), embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


@pytest.fixture
def base(gateway) -> str:
    return gateway[0]


@pytest.fixture(autouse=True)
def still_serving(gateway) -> Iterator[None]:
    yield
    resp = httpx.get(gateway[0] + "/healthz", timeout=10)
    assert resp.status_code == 200 and resp.json() == {"status": "alive"}


def assert_error(
    resp: httpx.Response, status: int, code: str | None = None, param: Any = ...
) -> dict[str, Any]:
    assert resp.status_code == status, resp.text[:500]
    assert "Traceback" not in resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers[TRACE_HEADER])
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str) and err["type"]
    if code is not None:
        assert err["code"] == code, err
    if param is not ...:
        assert err["param"] == param, err
    return err


def chat(base: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(base + "/v1/chat/completions", timeout=30, **kwargs)


# -- malformed bodies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b'"just a string"', "invalid_body"),
        (b"null", "invalid_body"),
        (b'{"model": "\xff\xfe", "messages": []}', "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "invalid_json"),
    ],
    ids=[
        "invalid-json",
        "empty",
        "array",
        "string",
        "null",
        "bad-utf8",
        "nested-lists",
        "nested-objects",
    ],
)
def test_malformed_body_is_400(base: str, content: bytes, code: str) -> None:
    resp = chat(base, content=content, headers={"content-type": "application/json"})
    err = assert_error(resp, 400, code)
    assert err["type"] == "invalid_request_error"


def test_body_over_limit_is_413(base: str, gateway) -> None:
    limit = gateway[1].settings.server.max_body_bytes
    resp = chat(base, content=b" " * (limit + 1))
    assert_error(resp, 413, "body_too_large")


def test_chunked_body_over_limit_is_413(base: str, gateway) -> None:
    # No content-length: the limit must hold while reading, not only on the declared size.
    limit = gateway[1].settings.server.max_body_bytes

    def parts() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    resp = chat(base, content=parts())
    assert_error(resp, 413, "body_too_large")


# -- schema violations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": USER}, "missing_required_parameter", "model"),
        ({"model": "echo"}, "missing_required_parameter", "messages"),
        ({"model": 3, "messages": USER}, "invalid_value", "model"),
        ({"model": "echo", "messages": "hello"}, "invalid_value", "messages"),
        ({"model": "echo", "messages": []}, "invalid_value", "messages"),
        (
            {"model": "echo", "messages": [{"role": "robot", "content": "x"}]},
            "invalid_value",
            "messages.0.role",
        ),
        ({"model": "echo", "messages": USER, "temperature": "hot"}, "invalid_value", "temperature"),
        ({"model": "echo", "messages": USER, "temperature": 5}, "invalid_value", "temperature"),
        ({"model": "echo", "messages": USER, "max_tokens": 0}, "invalid_value", "max_tokens"),
        ({"model": "echo", "messages": USER, "stream": "yes please"}, "invalid_value", "stream"),
        (
            {"model": "echo", "messages": USER, "stop": ["a", "b", "c", "d", "e"]},
            "invalid_value",
            "stop",
        ),
        (
            {"model": "echo", "messages": USER, "frobnicate": True},
            "unknown_parameter",
            "frobnicate",
        ),
        (
            {"model": "echo", "messages": [{"role": "user", "content": "x", "extra": 1}]},
            "unknown_parameter",
            "messages.0.extra",
        ),
        (
            {"model": "echo", "messages": USER, "tools": [{"type": "function"}]},
            "missing_required_parameter",
            "tools.0.function",
        ),
        (
            {"model": "echo", "messages": USER, "functions": [{"name": "f"}]},
            "unsupported_parameter",
            "functions",
        ),
        (
            {"model": "echo", "messages": USER, "response_format": {"type": "json_object"}},
            "unsupported_parameter",
            "response_format",
        ),
        (
            {"model": "echo", "messages": USER, "logprobs": True},
            "unsupported_parameter",
            "logprobs",
        ),
        ({"model": "echo", "messages": USER, "n": 2}, "invalid_value", "n"),
        (
            {
                "model": "echo",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
                ],
            },
            "unsupported_content",
            "messages",
        ),
        ({"model": "echo", "messages": USER, "max_tokens": 100_000}, "invalid_value", "max_tokens"),
    ],
    ids=[
        "no-model",
        "no-messages",
        "model-int",
        "messages-str",
        "messages-empty",
        "bad-role",
        "temperature-str",
        "temperature-range",
        "max-tokens-0",
        "stream-str",
        "five-stops",
        "unknown-arg",
        "unknown-message-field",
        "tools-shape",
        "legacy-functions",
        "response-format",
        "logprobs",
        "n-2",
        "image-part",
        "max-tokens-over-model-limit",
    ],
)
def test_invalid_request_is_400(base: str, body: dict[str, Any], code: str, param: str) -> None:
    err = assert_error(chat(base, json=body), 400, code, param)
    assert err["type"] == "invalid_request_error"


def test_unsupported_arguments_allowed_when_off(base: str) -> None:
    # `tools: null` or `logprobs: false` is what many clients send by default.
    resp = chat(base, json={"model": "echo", "messages": USER, "tools": None, "logprobs": False})
    assert resp.status_code == 200, resp.text


def test_unknown_model_is_404(base: str) -> None:
    err = assert_error(
        chat(base, json={"model": "gpt-17", "messages": USER}), 404, "model_not_found", "model"
    )
    assert "gpt-17" in err["message"]
    assert err["type"] == "not_found_error"


def test_client_view_of_errors(base: str) -> None:
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="gpt-17", messages=USER)  # type: ignore[arg-type]
    assert nf.value.code == "model_not_found" and nf.value.param == "model"
    assert nf.value.response.headers[TRACE_HEADER]
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="lockgate",  # the grounded model calls no tools
            messages=USER,
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    assert bad.value.code == "unsupported_parameter" and bad.value.param == "tools"


# -- size limits ----------------------------------------------------------------------------


def test_prompt_over_context_window_is_400(base: str, gateway) -> None:
    window = gateway[1].settings.models["echo"].context_window
    text = "lorem ipsum dolor " * (window // 2)  # well over `window` tokens, far under body limit
    err = assert_error(
        chat(base, json={"model": "echo", "messages": [{"role": "user", "content": text}]}),
        400,
        "context_length_exceeded",
        "messages",
    )
    assert str(window) in err["message"]


def test_prompt_just_over_context_window_counts_completion_tokens(base: str, gateway) -> None:
    # The prompt alone fits; prompt + requested completion does not.
    spec = gateway[1].settings.models["echo"]
    text = "abcd" * (spec.context_window - 100)  # ~window-100 tokens at 4 chars a token
    ok = chat(
        base,
        json={"model": "echo", "max_tokens": 50, "messages": [{"role": "user", "content": text}]},
    )
    assert ok.status_code == 200, ok.text[:300]
    resp = chat(
        base,
        json={"model": "echo", "max_tokens": 200, "messages": [{"role": "user", "content": text}]},
    )
    assert_error(resp, 400, "context_length_exceeded")


@pytest.mark.parametrize("model", ["echo", "lockgate", "gemma-3-270m"])
def test_megabyte_prompt_is_rejected_not_crashed(base: str, model: str) -> None:
    resp = chat(
        base, json={"model": model, "messages": [{"role": "user", "content": "a" * 1_000_000}]}
    )
    assert resp.status_code in (400, 413)
    assert_error(resp, resp.status_code)


def test_too_many_messages_is_400(base: str, gateway) -> None:
    limit = gateway[1].settings.server.max_messages
    messages = [{"role": "user", "content": "hi"}] * (limit + 1000)
    assert_error(
        chat(base, json={"model": "echo", "messages": messages}),
        400,
        "too_many_messages",
        "messages",
    )


# -- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nope", "/", "/v1/chat/completions/extra", "/v2/models"])
def test_unknown_route_is_404(base: str, path: str) -> None:
    err = assert_error(httpx.get(base + path), 404, "not_found")
    assert err["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),
        ("DELETE", "/v1/models"),
        ("PUT", "/v1/embeddings"),
        ("GET", "/v1/search"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_is_405(base: str, method: str, path: str) -> None:
    assert_error(httpx.request(method, base + path), 405, "method_not_allowed")


# -- embeddings and search ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"model": "text-embedding-3-small", "input": "x"}, 404, "model_not_found", "model"),
        ({"model": "all-MiniLM-L6-v2", "input": []}, 400, "invalid_value", "input"),
        ({"model": "all-MiniLM-L6-v2", "input": ""}, 400, "invalid_value", "input"),
        ({"model": "all-MiniLM-L6-v2", "input": ["ok", ""]}, 400, "invalid_value", "input"),
        ({"model": "all-MiniLM-L6-v2"}, 400, "missing_required_parameter", "input"),
        ({"model": "all-MiniLM-L6-v2", "input": [1, 2]}, 400, "invalid_value", None),
        (
            {"model": "all-MiniLM-L6-v2", "input": "x", "dimensions": 12},
            400,
            "unsupported_parameter",
            "dimensions",
        ),
        (
            {"model": "all-MiniLM-L6-v2", "input": "x", "encoding_format": "int8"},
            400,
            "invalid_value",
            "encoding_format",
        ),
    ],
    ids=[
        "unknown-model",
        "empty-list",
        "empty-string",
        "one-empty",
        "no-input",
        "token-ids",
        "dimensions",
        "encoding",
    ],
)
def test_embeddings_errors(
    base: str, body: dict[str, Any], status: int, code: str, param: str | None
) -> None:
    resp = httpx.post(base + "/v1/embeddings", json=body, timeout=30)
    err = assert_error(resp, status, code)
    if param is not None:
        assert err["param"] == param
    else:
        assert str(err["param"]).startswith("input")


def test_embeddings_invalid_json(base: str) -> None:
    assert_error(httpx.post(base + "/v1/embeddings", content=b"{"), 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"query": ""}, "invalid_value", "query"),
        ({}, "missing_required_parameter", "query"),
        ({"query": "x", "k": 0}, "invalid_value", "k"),
        ({"query": "x", "k": 101}, "invalid_value", "k"),
        ({"query": "x" * 10_001}, "invalid_value", "query"),
        ({"query": "x", "rerank": True}, "unknown_parameter", "rerank"),
    ],
    ids=["empty-query", "no-query", "k-0", "k-101", "long-query", "unknown-arg"],
)
def test_search_errors(base: str, body: dict[str, Any], code: str, param: str) -> None:
    assert_error(httpx.post(base + "/v1/search", json=body, timeout=30), 400, code, param)


def test_search_array_body(base: str) -> None:
    assert_error(httpx.post(base + "/v1/search", json=["q"]), 400, "invalid_body")


# -- errors are traced ----------------------------------------------------------------------


def test_rejected_request_is_traced(base: str, gateway) -> None:
    resp = chat(base, json={"model": "gpt-17", "messages": USER})
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace is not None
    assert trace["status"] == "error" and trace["http_status"] == 404
    assert "gpt-17" in trace["error"]


def test_every_response_has_distinct_trace_ids(base: str) -> None:
    ids = {chat(base, content=b"{").headers[TRACE_HEADER] for _ in range(5)}
    assert len(ids) == 5


# -- a bug inside the gateway ---------------------------------------------------------------


@pytest.fixture(scope="module")
def broken_gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any]]:
    home = tmp_path_factory.mktemp("broken-home")
    settings = make_settings(
        home, fake_upstream, pipeline=["test_explode", "postprocess", "call_model"]
    )
    services = make_services(settings, embedder)
    plugin = _ExplodePlugin()
    plugin_manager().register(plugin, name="test-explode")
    try:
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, services
    finally:
        plugin_manager().unregister(plugin)


def test_internal_error_is_500_without_details(broken_gateway) -> None:
    base, services = broken_gateway
    resp = chat(base, json={"model": "echo", "messages": USER})
    err = assert_error(resp, 500, "internal_error")
    trace_id = resp.headers[TRACE_HEADER]
    assert trace_id in err["message"]
    assert "secret internal detail" not in resp.text and "/etc/passwd" not in resp.text
    # ... but the trace keeps what happened, for whoever quotes the id.
    trace = services.traces.get(trace_id)
    assert trace is not None
    assert trace["status"] == "error" and trace["http_status"] == 500
    assert "RuntimeError" in trace["error"]
    assert httpx.get(base + "/healthz").status_code == 200


def test_a_very_long_stop_sequence_is_a_400(gateway) -> None:
    base, _ = gateway
    resp = chat(base, json={"model": "echo", "messages": USER, "stop": ["x" * 10_000]})
    err = assert_error(resp, 400, "invalid_value")
    assert err["param"] == "stop" and "at most 256 characters" in err["message"]
