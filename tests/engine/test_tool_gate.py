"""The tool gate and the output scan of tool-call arguments, through `run_turn` with the
in-process mock backend: which calls need approval, what each decision answers, streams read
ahead or held, cleanup when a turn is refused, and guardrails that neither mangle nor leak
argument JSON."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select

from lockgate.config import ConfigError, GuardPolicy, GuardrailsConfig, ScannerRule, Settings
from lockgate.engine.approvals import ApprovalDecision, NoApprovals
from lockgate.engine.errors import GatewayError
from lockgate.engine.run import Engine, Reply
from lockgate.engine.turn import Call
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from lockgate.models.base import ToolCall
from lockgate.observability.events import ToolCallGated
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.store import tables
from tests.conftest import make_services, make_settings
from tests.engine.test_run_turn import _specs, recorder  # noqa: F401 - a fixture

EMAIL_ARGS = '{"to": "bob@example.com", "body": "hi"}'
CALLS = [
    {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    {"name": "send_email", "arguments": EMAIL_ARGS},
]
MODELS = {
    "mock-weather": {"backend": "mock", "params": {"tool_calls": CALLS[:1]}},
    "mock-email": {"backend": "mock", "params": {"tool_calls": CALLS[1:]}},
    "mock-both": {"backend": "mock", "params": {"tool_calls": CALLS}},
}
DECLARED = {
    "declared": [
        {"name": "get_weather", "side_effects": False},
        {"name": "send_email", "side_effects": True},
    ]
}


def _tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def engine_for(
    tmp_path,
    embedder,
    tools: dict[str, Any] | None = DECLARED,
    models: dict[str, Any] | None = None,
    **kw: Any,
) -> Engine:
    # No approval provider unless a test gives one (the review queue's has its own tests).
    kw.setdefault("review", {"enabled": False})
    base = make_settings(tmp_path / "home", None, tools=tools or {}, **kw)
    specs = _specs({**MODELS, **(models or {})})
    settings = base.model_copy(update={"models": {**base.models, **specs}})
    return Engine(make_services(settings, embedder))


def body(model: str, *tools: str, stream: bool = False, text: str = "go") -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "tools": [_tool(t) for t in tools],
        "stream": stream,
    }


def run(engine: Engine, payload: dict[str, Any]) -> Reply:
    """The turn, a stream consumed to its end in the same event loop (`reply.pieces`)."""

    async def go() -> Reply:
        reply = await engine.run_turn(Call("/v1/chat/completions", payload))
        if reply.streaming:
            reply.pieces = [d async for d in reply.deltas()]  # type: ignore[attr-defined]
        return reply

    return asyncio.run(go())


class Approvals:
    def __init__(self, decision: ApprovalDecision | Exception) -> None:
        self.decision = decision
        self.calls: list[list[ToolCall]] = []

    async def request(self, turn: Any, calls: Sequence[ToolCall]) -> ApprovalDecision:
        self.calls.append(list(calls))
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision


class Provider:
    def __init__(self, approvals: Any) -> None:
        self.approvals = approvals

    @hookimpl
    def tool_approvals(self, services: Any) -> Any:
        return self.approvals


# -- which calls need approval --------------------------------------------------------------


def test_a_safe_call_is_returned(tmp_path, embedder) -> None:
    reply = run(engine_for(tmp_path, embedder), body("mock-weather", "get_weather"))
    assert reply.error is None
    assert [c.name for c in reply.answer.tool_calls] == ["get_weather"]
    assert reply.answer.finish_reason == "tool_calls"


def test_side_effect_call_fails_closed_by_default(tmp_path, embedder, recorder) -> None:  # noqa: F811
    engine = engine_for(tmp_path, embedder)
    assert isinstance(engine.services.tool_approvals, NoApprovals)
    reply = run(engine, body("mock-both", "get_weather", "send_email"))
    assert isinstance(reply.error, GatewayError)
    assert (reply.error.status, reply.error.code) == (403, "tool_approval_required")
    gated = [e for e in recorder.events if isinstance(e, ToolCallGated)]
    assert [(e.tools, e.outcome) for e in gated] == [(("send_email",), "unavailable")]
    trace = engine.services.traces.get(reply.call.trace_id)
    assert trace is not None and trace["http_status"] == 403
    assert [c["function"]["name"] for c in trace["tool_calls"]] == ["get_weather", "send_email"]


def test_undeclared_tools_follow_the_setting(tmp_path, embedder) -> None:
    allow = engine_for(tmp_path / "a", embedder, tools={"undeclared": "allow"})
    assert run(allow, body("mock-email", "send_email")).error is None
    approve = engine_for(tmp_path / "b", embedder, tools={"undeclared": "approve"})
    err = run(approve, body("mock-email", "send_email")).error
    assert err is not None and err.code == "tool_approval_required"


@pytest.mark.parametrize(
    ("decision", "status", "code"),
    [
        (ApprovalDecision.pending("rev-1"), 409, "tool_approval_required"),
        (ApprovalDecision.denied("policy says no"), 403, "tool_call_denied"),
        (RuntimeError("down"), 503, "tool_approval_unavailable"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_each_refusal(tmp_path, embedder, decision, status, code, stream) -> None:
    approvals = Approvals(decision)
    with registered(Provider(approvals)):
        engine = engine_for(tmp_path, embedder)
        reply = run(engine, body("mock-both", "get_weather", "send_email", stream=stream))
    assert reply.error is not None and not reply.streaming
    assert (reply.error.status, reply.error.code) == (status, code)
    if status == 409:
        assert reply.error.body()["error"]["review_id"] == "rev-1"
        assert reply.error.headers == {"x-lockgate-review-id": "rev-1"}
    if status == 403:
        assert "policy says no" in reply.error.message
    # Only the call that needs approval is asked about, with its arguments.
    assert [[(c.name, c.arguments) for c in calls] for calls in approvals.calls] == [
        [("send_email", EMAIL_ARGS)]
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_approved_calls_are_returned(tmp_path, embedder, stream: bool) -> None:
    with registered(Provider(Approvals(ApprovalDecision.approved()))):
        engine = engine_for(tmp_path, embedder)
        reply = run(engine, body("mock-both", "get_weather", "send_email", stream=stream))
    assert reply.error is None
    if stream:
        pieces = [t for d in reply.pieces for t in d.tool_calls or []]  # type: ignore[attr-defined]
        assert [p.name for p in pieces if p.name] == ["get_weather", "send_email"]
    assert [(c.name, c.arguments) for c in reply.answer.tool_calls] == [
        (c["name"], c["arguments"]) for c in CALLS
    ]


def test_no_gate_work_without_side_effect_tools(tmp_path, embedder) -> None:
    # Nothing declared with side effects: the pipeline has no gate, calls pass untouched.
    engine = engine_for(tmp_path, embedder, tools=None)
    assert "tool_gate" in engine.services.settings.pipeline
    assert "tool_gate" not in engine.pipeline.names  # left out: not even a layer
    assert "tool_gate" in engine_for(tmp_path / "gated", embedder).pipeline.names
    reply = run(engine, body("mock-both", "get_weather", "send_email", stream=True))
    assert not any(t.stage == "tool_gate.approval" for t in reply.state.timings)
    assert [c.arguments for c in reply.answer.tool_calls] == [c["arguments"] for c in CALLS]


@pytest.mark.parametrize("stream", [False, True])
def test_budget_hold_is_released_when_the_gate_refuses(tmp_path, embedder, stream) -> None:
    budgets = {"rules": [{"scope": "key", "period": "day", "hard": 100.0}]}
    engine = engine_for(tmp_path, embedder, budgets=budgets)
    assert engine.services.budgets.active()
    reply = run(engine, body("mock-email", "send_email", stream=stream))
    assert reply.error is not None and reply.error.code == "tool_approval_required"
    with engine.services.engine.connect() as conn:
        held = conn.execute(select(func.count()).select_from(tables.budget_reservations))
        assert held.scalar() == 0


def test_unsolicited_calls_are_dropped(tmp_path, embedder) -> None:
    # A backend that calls tools nobody offered: the caller never sees them.
    engine = engine_for(tmp_path, embedder)
    payload = body("mock-email")
    payload.pop("tools")
    assert run(engine, payload).answer.tool_calls == []


def test_gated_tools_need_the_gate_in_the_pipeline(tmp_path) -> None:
    pipeline = ["input_guard", "output_guard", "postprocess", "call_model"]
    with pytest.raises(ValueError, match="no 'tool_gate' stage"):
        Settings(home=tmp_path, tools=DECLARED, pipeline=pipeline)  # type: ignore[arg-type]
    Settings(home=tmp_path, pipeline=pipeline)  # nothing declared: fine without it


def test_tools_config_is_strict(tmp_path) -> None:
    for bad in (
        {"declared": [{"name": "f"}, {"name": "f"}]},
        {"declared": [{"name": "bad name"}]},
        {"declared": [{"name": "f", "side_effect": True}]},
        {"undeclared": "maybe"},
    ):
        with pytest.raises((ValueError, ConfigError)):
            Settings(home=tmp_path, tools=bad)  # type: ignore[arg-type]
    # Declared without saying: treated as acting on the world.
    cfg = Settings(home=tmp_path, tools={"declared": [{"name": "f"}]}).tools  # type: ignore[arg-type]
    assert cfg.needs_approval("f") and not cfg.needs_approval("g")


# -- the output scan of arguments ----------------------------------------------------------


class _Regex:
    def __init__(self, pattern: str, type_: str) -> None:
        self.pattern = re.compile(pattern)
        self.type = type_

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        return [Finding(self.type, m.start(), m.end(), 0.99) for m in self.pattern.finditer(text)]


register("tt_email")(lambda p, d: _Regex(r"[\w.]+@[\w.]+\.\w+", "EMAIL"))
register("tt_secret")(lambda p, d: _Regex(r"sk-[A-Za-z0-9]{8,}", "SECRET"))
register("tt_across")(lambda p, d: _Regex(r'x[", ]*y', "NAME"))  # may span JSON syntax
register("tt_grounding_trap")(lambda p, d: _Regex(r".+", "UNGROUNDED"))


def _call_args(tmp_path, embedder, arguments: str, stream: bool, *rules: ScannerRule) -> Reply:
    policy = GuardPolicy(input=[], context=[], output=list(rules))
    guardrails = GuardrailsConfig(policies={"default": policy})
    spec = {"backend": "mock", "params": {"tool_calls": [{"name": "f", "arguments": arguments}]}}
    engine = engine_for(
        tmp_path, embedder, tools={}, models={"mock-args": spec}, guardrails=guardrails
    )
    return run(engine, body("mock-args", "f", stream=stream))


@pytest.mark.parametrize("stream", [False, True])
def test_clean_arguments_pass_byte_for_byte(tmp_path, embedder, stream: bool) -> None:
    arguments = '{ "city" :"Oslo",\n "days": [1, 2] }'  # odd spacing, kept as it is
    rules = [ScannerRule(scanner="tt_email", action="redact")]
    reply = _call_args(tmp_path, embedder, arguments, stream, *rules)
    assert [c.arguments for c in reply.answer.tool_calls] == [arguments]


@pytest.mark.parametrize("stream", [False, True])
def test_pii_in_arguments_is_redacted_as_valid_json(tmp_path, embedder, stream: bool) -> None:
    rules = [ScannerRule(scanner="tt_email", action="redact")]
    reply = _call_args(tmp_path, embedder, EMAIL_ARGS, stream, *rules)
    (call,) = reply.answer.tool_calls
    assert json.loads(call.arguments) == {"to": "[EMAIL]", "body": "hi"}
    assert reply.answer.finish_reason == "tool_calls" and not reply.answer.refused


@pytest.mark.parametrize("stream", [False, True])
def test_a_secret_in_arguments_blocks_the_call(tmp_path, embedder, stream: bool) -> None:
    rules = [ScannerRule(scanner="tt_secret", action="block")]
    arguments = '{"key": "sk-abcdefgh1234"}'
    reply = _call_args(tmp_path, embedder, arguments, stream, *rules)
    assert reply.answer.tool_calls == [] and reply.answer.refused
    assert reply.answer.finish_reason == "content_filter"
    entries = reply.state.guard.entries
    assert any(
        e.target == "tool_calls[0].arguments" and e.result.action == "block" for e in entries
    )


def test_escaped_pii_is_found(tmp_path, embedder) -> None:
    arguments = '{"to": "bob\\u0040example.com"}'  # "@" written as a JSON escape
    rules = [ScannerRule(scanner="tt_email", action="redact")]
    reply = _call_args(tmp_path, embedder, arguments, False, *rules)
    assert json.loads(reply.answer.tool_calls[0].arguments) == {"to": "[EMAIL]"}


def test_a_redaction_across_json_syntax_is_done_per_string(tmp_path, embedder) -> None:
    # One finding spans `x", "y` (quotes and a comma): redacting the raw text would break
    # the JSON, so each string is redacted on its own.
    arguments = '{"a": "x", "y": 1, "c": "x y"}'
    rules = [ScannerRule(scanner="tt_across", action="redact")]
    reply = _call_args(tmp_path, embedder, arguments, False, *rules)
    (call,) = reply.answer.tool_calls
    assert json.loads(call.arguments) == {"a": "x", "y": 1, "c": "[NAME]"}


def test_a_redaction_no_string_holds_withholds_the_call(tmp_path, embedder) -> None:
    # Found only across two strings: no valid JSON without it, so no call at all.
    rules = [ScannerRule(scanner="tt_across", action="redact")]
    reply = _call_args(tmp_path, embedder, '{"a": "x", "y": 1}', True, *rules)
    assert reply.answer.tool_calls == [] and reply.answer.finish_reason == "content_filter"
    assert not any(t.tool_calls for t in reply.pieces)  # type: ignore[attr-defined]


def test_arguments_that_are_not_json_are_scanned_as_text(tmp_path, embedder) -> None:
    rules = [ScannerRule(scanner="tt_email", action="redact")]
    reply = _call_args(tmp_path, embedder, "mail bob@example.com", False, *rules)
    assert reply.answer.tool_calls[0].arguments == "mail [EMAIL]"


def test_grounding_never_runs_on_tool_calls(tmp_path, embedder) -> None:
    # Pass-through turns have no sources: a grounding rule would flag every call.
    rules = [
        ScannerRule(scanner="grounding", action="block"),
        ScannerRule(scanner="tt_email", action="redact"),
    ]
    reply = _call_args(tmp_path, embedder, EMAIL_ARGS, False, *rules)
    assert reply.error is None and len(reply.answer.tool_calls) == 1
    scanners = {o.scanner for e in reply.state.guard.entries for o in e.result.outcomes}
    assert "grounding" not in scanners and "tt_email" in scanners
