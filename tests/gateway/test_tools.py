"""Tool calling through the live gateway, driven by the official `openai` SDK over real HTTP,
against a fake OpenAI-compatible upstream that calls tools (tests/support/fake_upstream.py):
calls parsed by the SDK, streamed pieces the SDK assembles, a round trip with a tool result,
tools with side effects held for approval, what the trace keeps, and bad shapes as 400s."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest

from lockgate.config import ModelSpec
from lockgate.engine.approvals import ApprovalDecision
from lockgate.gateway.app import create_app
from lockgate.models.base import ToolCall
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.services import Services
from tests.conftest import PASSTHROUGH_RESILIENCE, make_services, make_settings
from tests.support.fake_upstream import TOOL_MODELS, create_fake_upstream
from tests.support.server import serve
from tests.support.store import stored_bytes

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The forecast for a city",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}
EMAIL = {
    "type": "function",
    "function": {"name": "send_email", "parameters": {"type": "object", "properties": {}}},
}
DECLARED = {
    "declared": [
        {"name": "get_weather", "side_effects": False},
        {"name": "send_email", "side_effects": True, "description": "sends mail"},
    ]
}
ASK = [{"role": "user", "content": "weather in Paris?"}]


def _settings(home: Any, upstream: str, **overrides: Any) -> Any:
    # No approval provider unless a test registers one: the review queue's is tested in
    # tests/review/test_tool_approvals.py.
    overrides.setdefault("review", {"enabled": False})
    base = make_settings(home, upstream, tools=DECLARED, **overrides)
    specs = {
        name: ModelSpec(
            backend="openai",
            base_url=upstream,
            read_timeout_s=5.0,
            context_window=8192,
            resilience=PASSTHROUGH_RESILIENCE,
        )
        for name in TOOL_MODELS
    }
    return base.model_copy(update={"models": {**base.models, **specs}})


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Any]]:
    app = create_fake_upstream()
    with serve(app) as base:
        yield base + "/v1", app


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, upstream) -> Iterator[tuple[str, Services]]:
    home = tmp_path_factory.mktemp("tools-home")
    services = make_services(_settings(home, upstream[0]), embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway[0] + "/v1", api_key="unused", max_retries=0)


def _trace(gateway: tuple[str, Services], trace_id: str) -> dict[str, Any]:
    trace = gateway[1].traces.get(trace_id)
    assert trace is not None
    return trace


# -- calls come back as OpenAI's -------------------------------------------------------------


def test_sdk_parses_a_tool_call(client: openai.OpenAI, upstream) -> None:
    resp = client.chat.completions.with_raw_response.create(
        model="tools",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="auto",
        parallel_tool_calls=False,
    )
    completion = resp.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.id == "call_0"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"q": "weather in Paris?"}
    forwarded = upstream[1].state.calls[-1]
    assert forwarded["tools"] == [WEATHER]
    assert forwarded["tool_choice"] == "auto" and forwarded["parallel_tool_calls"] is False


def test_named_tool_choice_and_parallel_calls(client: openai.OpenAI, upstream) -> None:
    completion = client.chat.completions.create(
        model="tools-all",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER, {**WEATHER, "function": {"name": "get_time"}}],  # type: ignore[list-item]
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    completion = client.chat.completions.create(
        model="tools",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER, {**WEATHER, "function": {"name": "get_time"}}],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_time"]
    assert upstream[1].state.calls[-1]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_time"},
    }


def test_stream_deltas_assemble_with_the_sdk(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="tools",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    assert [e.name for e in done] == ["get_weather"]
    assert json.loads(done[0].arguments) == {"q": "weather in Paris?"}
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.id == "call_0" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"q": "weather in Paris?"}


def test_stream_chunks_have_openai_shape(gateway) -> None:
    resp = httpx.post(
        gateway[0] + "/v1/chat/completions",
        json={"model": "tools", "messages": ASK, "tools": [WEATHER], "stream": True},
        timeout=30,
    )
    assert resp.status_code == 200
    payloads = [b[len("data: ") :] for b in resp.text.split("\n\n") if b]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    pieces = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert pieces[0] == [
        {
            "index": 0,
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
    ]
    for piece in pieces[1:]:
        assert list(piece[0]) == ["index", "function"] and list(piece[0]["function"]) == [
            "arguments"
        ]
    arguments = "".join(p[0]["function"]["arguments"] for p in pieces)
    assert json.loads(arguments) == {"q": "weather in Paris?"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls" and all(f is None for f in finishes[:-1])


def test_text_then_a_call_in_one_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="tools-text",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Let me check. "
    names = [
        t.function.name
        for c in chunks
        if c.choices
        for t in c.choices[0].delta.tool_calls or []
        if t.function and t.function.name
    ]
    assert names == ["get_weather"]


# -- a round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_round_trip_with_a_tool_result(client: openai.OpenAI, gateway, upstream, stream) -> None:
    first = client.chat.completions.create(
        model="tools",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    message = first.choices[0].message
    (call,) = message.tool_calls or []
    messages: list[Any] = [
        *ASK,
        message,  # sent back as the SDK holds it
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 24 C"},
    ]
    resp = client.chat.completions.with_raw_response.create(
        model="tools",
        messages=messages,
        tools=[WEATHER],  # type: ignore[list-item]
        stream=stream,
    )
    if stream:
        chunks = list(resp.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        completion = resp.parse()
        text = completion.choices[0].message.content or ""
        assert completion.choices[0].finish_reason == "stop"
    assert text == "result: sunny, 24 C"
    sent = upstream[1].state.calls[-1]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [call.model_dump()],
    }
    assert sent[2] == {"role": "tool", "content": "sunny, 24 C", "tool_call_id": call.id}
    # The trace keeps the tool result and the call it answers, the tools by name.
    trace = _trace(gateway, resp.headers["x-lockgate-trace-id"])
    traced = trace["request"]["messages"]
    assert traced[2] == {"role": "tool", "content": "sunny, 24 C", "tool_call_id": call.id}
    assert traced[1]["tool_calls"][0]["function"]["arguments"] == call.function.arguments
    assert trace["request"]["tools"] == ["get_weather"]
    # A model_dump() of the SDK's message (every field, most null) is accepted as well.
    again = client.chat.completions.create(
        model="tools",
        messages=[*ASK, message.model_dump(), messages[2]],
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert again.choices[0].message.content == "result: sunny, 24 C"


@pytest.mark.parametrize("stream", [False, True])
def test_trace_keeps_the_call_arguments(gateway, stream: bool) -> None:
    resp = httpx.post(
        gateway[0] + "/v1/chat/completions",
        json={"model": "tools", "messages": ASK, "tools": [WEATHER], "stream": stream},
        timeout=30,
    )
    assert resp.status_code == 200
    trace = _trace(gateway, resp.headers["x-lockgate-trace-id"])
    assert trace["status"] == "ok"
    (call,) = trace["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"q": "weather in Paris?"}
    assert trace["request"]["tools"] == ["get_weather"]
    assert trace["tokens_in"] == 20 and trace["tokens_out"] == 9


def test_tool_texts_are_encrypted_at_rest(tmp_path, embedder, upstream) -> None:
    home = tmp_path / "home"
    services = make_services(_settings(home, upstream[0]), embedder)
    secret_args = "the-quiet-heron-flies-at-dawn"
    result = "tool-result-violet-lantern"
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
        first = client.chat.completions.create(
            model="tools",
            messages=[{"role": "user", "content": secret_args}],
            tools=[WEATHER],  # type: ignore[list-item]
        )
        message = first.choices[0].message
        call_id = (message.tool_calls or [])[0].id
        client.chat.completions.create(
            model="tools",
            messages=[
                {"role": "user", "content": "hi"},
                message,  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": call_id, "content": result},
            ],
            tools=[WEATHER],  # type: ignore[list-item]
        )
    raw = stored_bytes(home)
    assert raw
    for planted in (secret_args, result, "get_weather"):
        assert planted.encode() not in raw


# -- tools with side effects -----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_side_effect_call_refused_without_approval(client, gateway, stream: bool) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        result = client.chat.completions.create(
            model="tools",
            messages=[{"role": "user", "content": "mail bob the report"}],
            tools=[EMAIL],  # type: ignore[list-item]
            stream=stream,
        )
        if stream:
            list(result)  # type: ignore[arg-type]
    err = refused.value
    assert err.status_code == 403 and err.code == "tool_approval_required"
    assert "send_email" in err.message and "mail bob" not in err.message
    trace = _trace(gateway, err.response.headers["x-lockgate-trace-id"])
    assert trace["http_status"] == 403 and trace["status"] == "error"
    # The call never reached the caller, but the reviewer can read it in the trace.
    assert json.loads(trace["tool_calls"][0]["function"]["arguments"]) == {
        "q": "mail bob the report"
    }
    assert any(s["stage"] == "tool_gate.approval" for s in trace["stages"])


def test_side_effect_call_after_text_ends_the_stream_with_the_error(gateway) -> None:
    resp = httpx.post(
        gateway[0] + "/v1/chat/completions",
        json={
            "model": "tools-text",
            "messages": ASK,
            "tools": [WEATHER],
            "stream": True,
            "tool_choice": {"type": "function", "function": {"name": "send_email"}},
        },
        timeout=30,
    )
    # send_email is not among the tools offered: refused at the edge.
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "tool_choice.function.name"
    resp = httpx.post(
        gateway[0] + "/v1/chat/completions",
        json={"model": "tools-text", "messages": ASK, "tools": [EMAIL], "stream": True},
        timeout=30,
    )
    assert resp.status_code == 200  # the text had started
    payloads = [json.loads(b[6:]) for b in resp.text.split("\n\n") if b and b != "data: [DONE]"]
    assert not any(
        "tool_calls" in (p.get("choices") or [{}])[0].get("delta", {})
        for p in payloads
        if p.get("choices")
    )
    assert payloads[-1]["error"]["code"] == "tool_approval_required"


def test_safe_tool_passes_a_gated_gateway(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="tools",
        messages=ASK,  # type: ignore[arg-type]
        tools=[WEATHER, EMAIL],  # type: ignore[list-item]
    )
    assert (completion.choices[0].message.tool_calls or [])[0].function.name == "get_weather"


class _Approvals:
    """A stand-in for the review queue: answers what it is told, remembers what it saw."""

    def __init__(self, decision: ApprovalDecision) -> None:
        self.decision = decision
        self.seen: list[tuple[str, list[str]]] = []

    async def request(self, turn: Any, calls: Sequence[ToolCall]) -> ApprovalDecision:
        self.seen.append((turn.principal.id, [c.name for c in calls]))
        return self.decision


class _Provider:
    def __init__(self, approvals: _Approvals) -> None:
        self.approvals = approvals

    @hookimpl
    def tool_approvals(self, services: Any) -> Any:
        return self.approvals


@pytest.mark.parametrize("stream", [False, True])
def test_an_approval_provider_decides(tmp_path, embedder, upstream, stream: bool) -> None:
    approvals = _Approvals(ApprovalDecision.pending("rev-42"))
    body = {
        "model": "tools",
        "messages": [{"role": "user", "content": "mail bob"}],
        "tools": [EMAIL],
        "stream": stream,
    }
    with registered(_Provider(approvals)):
        services = make_services(_settings(tmp_path / "home", upstream[0]), embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            url = base + "/v1/chat/completions"
            pending = httpx.post(url, json=body, timeout=30)
            assert pending.status_code == 409, pending.text
            err = pending.json()["error"]
            assert err["code"] == "tool_approval_required" and err["review_id"] == "rev-42"
            assert pending.headers["x-lockgate-review-id"] == "rev-42"
            assert "tool_calls" not in pending.text
            approvals.decision = ApprovalDecision.denied("not on weekends")
            denied = httpx.post(url, json=body, timeout=30)
            assert denied.status_code == 403
            assert denied.json()["error"]["code"] == "tool_call_denied"
            assert "not on weekends" in denied.json()["error"]["message"]
            approvals.decision = ApprovalDecision.approved()
            client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
            if stream:
                with client.chat.completions.stream(
                    model="tools", messages=body["messages"], tools=[EMAIL]
                ) as s:
                    final = s.get_final_completion()
            else:
                final = client.chat.completions.create(
                    model="tools", messages=body["messages"], tools=[EMAIL]
                )
            (call,) = final.choices[0].message.tool_calls or []
            assert call.function.name == "send_email"
    assert approvals.seen == [("anonymous", ["send_email"])] * 3


def test_a_failing_provider_withholds_the_call(tmp_path, embedder, upstream) -> None:
    class Broken:
        async def request(self, turn: Any, calls: Sequence[ToolCall]) -> ApprovalDecision:
            raise RuntimeError("queue down")

    with registered(_Provider(Broken())):  # type: ignore[arg-type]
        services = make_services(_settings(tmp_path / "home", upstream[0]), embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            resp = httpx.post(
                base + "/v1/chat/completions",
                json={"model": "tools", "messages": ASK, "tools": [EMAIL]},
                timeout=30,
            )
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "tool_approval_unavailable"
    assert "send_email" not in resp.text.split("message")[0]


# -- bad shapes ------------------------------------------------------------------------------


def _fn(**function: Any) -> dict[str, Any]:
    return {"type": "function", "function": function}


ASSISTANT_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
}


@pytest.mark.parametrize(
    ("extra", "code", "param"),
    [
        ({"tools": [{"type": "function"}]}, "missing_required_parameter", "tools.0.function"),
        ({"tools": {"name": "f"}}, "invalid_value", "tools"),
        ({"tools": [{"type": "code", "function": {"name": "f"}}]}, "invalid_value", "tools.0.type"),
        ({"tools": [_fn(name="has space")]}, "invalid_value", "tools.0.function.name"),
        (
            {"tools": [_fn(name="f", parameters="{}")]},
            "invalid_value",
            "tools.0.function.parameters",
        ),
        ({"tools": [_fn(name="f", extra=1)]}, "unknown_parameter", "tools.0.function.extra"),
        ({"tools": [_fn(name="f"), _fn(name="f")]}, "invalid_value", "tools.1.function.name"),
        ({"tools": [_fn(name=f"f{i}") for i in range(129)]}, "invalid_value", "tools"),
        ({"tools": [_fn(name="f")], "tool_choice": "sometimes"}, "invalid_value", "tool_choice"),
        (
            {"tools": [_fn(name="f")], "tool_choice": {"type": "function", "function": {}}},
            "missing_required_parameter",
            "tool_choice.function.name",
        ),
        (
            {
                "tools": [_fn(name="f")],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "invalid_value",
            "tool_choice.function.name",
        ),
        ({"tool_choice": "required"}, "invalid_value", "tool_choice"),
        ({"parallel_tool_calls": True}, "invalid_value", "parallel_tool_calls"),
        (
            {"tools": [_fn(name="f")], "parallel_tool_calls": "yes"},
            "invalid_value",
            "parallel_tool_calls",
        ),
        (
            {"messages": [{"role": "tool", "content": "x", "tool_call_id": "c9"}]},
            "invalid_value",
            "messages.0.tool_call_id",
        ),
        (
            {"messages": [*ASK, ASSISTANT_CALL, {"role": "tool", "content": "x"}]},
            "missing_required_parameter",
            "messages.2.tool_call_id",
        ),
        (
            {"messages": [{"role": "user", "content": "x", "tool_call_id": "c1"}]},
            "invalid_value",
            "messages.0.tool_call_id",
        ),
        (
            {"messages": [{**ASSISTANT_CALL, "role": "user"}]},
            "invalid_value",
            "messages.0.tool_calls",
        ),
        (
            {
                "messages": [
                    {
                        **ASSISTANT_CALL,
                        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f"}}],
                    }
                ]
            },
            "missing_required_parameter",
            "messages.0.tool_calls.0.function.arguments",
        ),
        (
            {
                "messages": [
                    {
                        **ASSISTANT_CALL,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": {}},
                            }
                        ],
                    }
                ]
            },
            "invalid_value",
            "messages.0.tool_calls.0.function.arguments",
        ),
        (
            {"messages": [{**ASSISTANT_CALL, "tool_calls": []}]},
            "invalid_value",
            "messages.0.tool_calls",
        ),
        (
            {"messages": [{**ASSISTANT_CALL, "audio": {"id": "a"}}]},
            "invalid_value",
            "messages.0.audio",
        ),
        ({"functions": [{"name": "f"}]}, "unsupported_parameter", "functions"),
    ],
)
def test_bad_tool_shapes_are_400(gateway, extra: dict[str, Any], code: str, param: str) -> None:
    body = {"model": "tools", "messages": ASK, **extra}
    resp = httpx.post(gateway[0] + "/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert (err["code"], err["param"]) == (code, param), err
    assert err["type"] == "invalid_request_error"


def test_grounded_model_refuses_tools(gateway) -> None:
    for extra, param in (
        ({"tools": [WEATHER]}, "tools"),
        (
            {
                "messages": [
                    *ASK,
                    ASSISTANT_CALL,
                    {"role": "tool", "content": "x", "tool_call_id": "c1"},
                ]
            },
            "messages.1",
        ),
    ):
        body = {"model": "lockgate", "messages": ASK, **extra}
        resp = httpx.post(gateway[0] + "/v1/chat/completions", json=body, timeout=30)
        assert resp.status_code == 400, resp.text
        err = resp.json()["error"]
        assert err["code"] == "unsupported_parameter" and err["param"] == param
        assert "does not call tools" in err["message"]


def test_backend_without_tools_refuses_them(gateway) -> None:
    # The embedded model (llama.cpp) takes no tools; nothing is loaded to find that out.
    history = [*ASK, ASSISTANT_CALL, {"role": "tool", "content": "x", "tool_call_id": "c1"}]
    for extra, param in (({"tools": [WEATHER]}, "tools"), ({"messages": history}, "messages.1")):
        body = {"model": "gemma-3-270m", "messages": ASK, **extra}
        resp = httpx.post(gateway[0] + "/v1/chat/completions", json=body, timeout=30)
        assert resp.status_code == 400
        err = resp.json()["error"]
        assert err["code"] == "unsupported_parameter" and err["param"] == param
