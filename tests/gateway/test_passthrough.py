"""Pass-through models: any OpenAI-compatible upstream behind the gateway, non-stream and stream,
and how every way an upstream can fail reaches the client and the trace."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.fake_upstream import create_fake_upstream
from tests.support.server import serve

TRACE_HEADER = "x-lockgate-trace-id"
PRICE_IN, PRICE_OUT = 0.5, 1.5  # per 1k tokens, as make_settings configures the fake models


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any]]:
    home = tmp_path_factory.mktemp("passthrough-home")
    services = make_services(make_settings(home, fake_upstream), embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


@pytest.fixture(scope="module")
def recording_gateway(tmp_path_factory, embedder) -> Iterator[tuple[str, Any]]:
    """A gateway on its own fake upstream whose app is at hand, to see what was forwarded."""
    upstream = create_fake_upstream()
    with serve(upstream) as up:
        home = tmp_path_factory.mktemp("recording-home")
        services = make_services(make_settings(home, up + "/v1"), embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, upstream


@pytest.fixture
def base(gateway) -> str:
    return gateway[0]


def chat(base: str, timeout: float = 30, **body: Any) -> httpx.Response:
    body.setdefault("messages", [{"role": "user", "content": "hello there"}])
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=timeout)


def sse_events(resp: httpx.Response) -> list[str]:
    """The `data:` payloads of an SSE body, checking the framing on the way."""
    payloads = []
    for block in resp.text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        assert "\n" not in block, block
        payloads.append(block[len("data: ") :])
    assert resp.text.endswith("\n\n")
    return payloads


def test_a_pipeline_of_call_model_alone_is_a_plain_proxy(
    tmp_path, embedder, fake_upstream
) -> None:
    """Without the postprocess layer nothing rewrites the answer: the upstream's text is it."""
    settings = make_settings(tmp_path / "home", fake_upstream).model_copy(
        update={"pipeline": ["call_model"]}
    )
    services = make_services(settings, embedder)
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as proxy:
        resp = chat(proxy, model="echo")
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"] == "echo: hello there"
        streamed = chat(proxy, model="echo", stream=True)
        text = "".join(
            (json.loads(e)["choices"] or [{}])[0].get("delta", {}).get("content") or ""
            for e in sse_events(streamed)
            if e != "[DONE]"
        )
        assert text == "echo: hello there"
        trace = services.traces.get(resp.headers[TRACE_HEADER])
        assert trace["output"] == "echo: hello there"


# -- echo -----------------------------------------------------------------------------------


def test_echo_non_stream(base: str, gateway) -> None:
    resp = chat(base, model="echo")
    assert resp.status_code == 200
    body = resp.json()
    trace_id = resp.headers[TRACE_HEADER]
    assert body["object"] == "chat.completion"
    assert body["id"] == f"chatcmpl-{trace_id}"
    assert body["model"] == "echo"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: hello there"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    assert {k: v for k, v in body["lockgate"].items() if k != "guardrails"} == {
        "trace_id": trace_id,
        "citations": [],
        "grounded": False,
        "refused": False,
        # 11 prompt tokens at 0.5 and 3 completion tokens at 1.5 per 1,000
        "cost": 0.01,
    }
    assert body["lockgate"]["guardrails"]["action"] == "allow"
    trace = gateway[1].traces.get(trace_id)
    assert trace["status"] == "ok" and trace["http_status"] == 200
    assert trace["backend"] == "openai:echo"
    assert trace["output"] == "echo: hello there"
    assert trace["prompt_template"] is None and trace["retrieved"] == []


def test_echo_stream_sse_format(base: str, gateway) -> None:
    resp = chat(
        base,
        model="echo",
        stream=True,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "one two three"},
        ],
    )
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    trace_id = resp.headers[TRACE_HEADER]
    payloads = sse_events(resp)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        assert c["id"] == f"chatcmpl-{trace_id}" and c["model"] == "echo"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and all(f is None for f in finishes[:-1])
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}
    assert last["lockgate"]["trace_id"] == trace_id and last["lockgate"]["refused"] is False
    trace = gateway[1].traces.get(trace_id)
    assert trace["status"] == "ok" and trace["stream"] is True
    assert trace["raw_output"] == "echo: one two three" and trace["ttft_ms"] > 0


def test_echo_stream_through_sdk(base: str) -> None:
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="echo",
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 14


def test_cost_is_tokens_times_price(base: str, gateway) -> None:
    for stream in (False, True):
        resp = chat(
            base,
            model="echo",
            stream=stream,
            messages=[{"role": "user", "content": "count these five words"}],
        )
        trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
        assert trace["tokens_in"] == 11 and trace["tokens_out"] == 5  # "echo:" + 4 words
        expected = (11 * PRICE_IN + 5 * PRICE_OUT) / 1000
        assert trace["cost"] == pytest.approx(expected)


# -- forwarding -----------------------------------------------------------------------------


def test_request_params_are_forwarded(recording_gateway) -> None:
    base, upstream = recording_gateway
    resp = chat(
        base,
        model="echo",
        temperature=0.3,
        max_tokens=7,
        stop=["\n\n", "END"],
        top_p=0.5,
        seed=42,
        presence_penalty=0.25,
        frequency_penalty=-0.5,
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "part"}]},
        ],
    )
    assert resp.status_code == 200, resp.text
    sent = upstream.state.calls[-1]
    assert sent["model"] == "echo"
    assert sent["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "part"},
    ]
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 7
    assert sent["stop"] == ["\n\n", "END"]
    assert sent["top_p"] == 0.5 and sent["seed"] == 42
    assert sent["presence_penalty"] == 0.25 and sent["frequency_penalty"] == -0.5
    assert sent["stream"] is False


def test_stream_params_and_defaults(recording_gateway) -> None:
    base, upstream = recording_gateway
    resp = chat(base, model="echo", stream=True, stop="STOP", max_completion_tokens=9)
    assert resp.status_code == 200
    sent = upstream.state.calls[-1]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["stop"] == ["STOP"] and sent["max_tokens"] == 9
    # Unset sampling parameters are left to the upstream's defaults.
    resp = chat(base, model="echo")
    sent = upstream.state.calls[-1]
    assert "temperature" not in sent and "top_p" not in sent and "stop" not in sent
    assert sent["max_tokens"] == 512  # the registry's max_output_tokens


def test_gateway_only_fields_are_not_forwarded(recording_gateway) -> None:
    base, upstream = recording_gateway
    chat(base, model="echo", user="u-1", metadata={"k": "v"}, lockgate={"k": 2})
    sent = upstream.state.calls[-1]
    assert not {"lockgate", "metadata"} & set(sent)


# -- upstream failures ----------------------------------------------------------------------


def _error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers[TRACE_HEADER]
    assert "Traceback" not in resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    return err


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_500_is_502(base: str, gateway, stream: bool) -> None:
    # A stream fails before its first token, so it is still a proper HTTP error.
    resp = chat(base, model="fail-500", stream=stream)
    err = _error(resp, 502, "upstream_error")
    assert "fail-500" in err["message"] and "500" in err["message"]
    # What the upstream said stays in the trace: its error text may name internal hosts or
    # credentials, so the caller gets only the status.
    assert "boom" not in err["message"]
    assert err["type"] == "upstream_error"
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 502
    assert "500" in trace["error"] and "boom" in trace["error"]


def test_upstream_429_is_502(base: str) -> None:
    # Current behaviour: an upstream rate limit is reported as a bad gateway, not passed on as
    # 429, so clients do not retry it as their own rate limit; the message names the 429.
    err = _error(chat(base, model="fail-429"), 502, "upstream_error")
    assert "429" in err["message"] and "slow down" not in err["message"]  # detail: trace only


def test_upstream_errors_through_sdk(base: str) -> None:
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(
            model="fail-500", messages=[{"role": "user", "content": "x"}]
        )
    assert exc.value.status_code == 502 and "returned 500" in exc.value.message


@pytest.mark.parametrize("stream", [False, True])
def test_slow_upstream_is_504(base: str, gateway, stream: bool) -> None:
    t0 = time.monotonic()
    resp = chat(base, model="slow", stream=stream)
    elapsed = time.monotonic() - t0
    err = _error(resp, 504, "upstream_timeout")
    assert "timed out" in err["message"] and err["type"] == "upstream_timeout"
    assert 0.9 < elapsed < 4  # read_timeout_s=1, the fake sleeps 5 s
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 504


@pytest.mark.parametrize("stream", [False, True])
def test_unreachable_upstream_is_502(base: str, stream: bool) -> None:
    err = _error(chat(base, model="down", stream=stream), 502, "upstream_error")
    assert "down" in err["message"] and "unreachable" in err["message"]


def test_stream_cut_midway_ends_with_error_event(base: str, gateway) -> None:
    resp = chat(
        base, model="cut-stream", stream=True, messages=[{"role": "user", "content": "a b c d e"}]
    )
    assert resp.status_code == 200  # the headers were sent before the upstream broke
    payloads = sse_events(resp)
    assert payloads[-1] == "[DONE]"
    events = [json.loads(p) for p in payloads[:-1]]
    error = events[-1]
    assert set(error["error"]) == {"message", "type", "param", "code"}
    assert error["error"]["code"] == "upstream_error" and "cut-stream" in error["error"]["message"]
    assert error["lockgate"]["trace_id"] == resp.headers[TRACE_HEADER]
    text = "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e.get("choices")
    )
    assert text == "echo: a"  # what arrived before the cut
    assert not any(e.get("choices") and e["choices"][0]["finish_reason"] for e in events)
    trace = gateway[1].traces.get(resp.headers[TRACE_HEADER])
    assert trace["status"] == "error" and trace["http_status"] == 502
    assert trace["raw_output"] == "echo: a"


def test_stream_cut_through_sdk_raises(base: str) -> None:
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="cut-stream", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_gateway_serves_after_failures(base: str) -> None:
    for model in ("fail-500", "down", "cut-stream"):
        chat(base, model=model, stream=True)
    assert chat(base, model="echo").json()["choices"][0]["message"]["content"].startswith("echo")
