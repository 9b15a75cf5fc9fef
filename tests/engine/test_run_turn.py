"""`run_turn` without any HTTP: the in-process mock backend answers, and every outcome (an
answer, a stream, a refusal, an error, a cancelled stream) is completed, closed, traced and
announced to the event subscribers exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lockgate.config import ModelSpec
from lockgate.engine.errors import GatewayError
from lockgate.engine.run import Engine
from lockgate.engine.turn import Call, Principal
from lockgate.observability.events import Event, GuardFinding, TurnFinished
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import plugin_manager
from tests.conftest import make_services, make_settings

MOCK = {"backend": "mock", "price_input_per_1k": 1.0, "price_output_per_1k": 2.0}


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def track_event(self, event: Event, services: Any) -> None:
        self.events.append(event)


@pytest.fixture
def recorder():
    rec = Recorder()
    plugin_manager().register(rec, name="test-recorder")
    yield rec
    plugin_manager().unregister(rec)


def engine_for(tmp_path, embedder, **overrides: Any) -> Engine:
    models = {
        "mock-echo": MOCK,
        "mock-fixed": {**MOCK, "params": {"reply": "Thirty days. Then none."}},
        "mock-down": {**MOCK, "params": {"fail_status": 503}, "resilience": {"retries": 0}},
    }
    base = make_settings(tmp_path / "home", None, **overrides)
    settings = base.model_copy(update={"models": {**base.models, **_specs(models)}})
    return Engine(make_services(settings, embedder))


def _specs(raw: dict[str, Any]) -> dict[str, ModelSpec]:
    return {name: ModelSpec.model_validate(spec) for name, spec in raw.items()}


def call(body: dict[str, Any], **kw: Any) -> Call:
    return Call("/v1/chat/completions", body, **kw)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_an_answer_is_completed_traced_and_announced(tmp_path, embedder, recorder) -> None:
    engine = engine_for(tmp_path, embedder)
    reply = asyncio.run(
        engine.run_turn(call({"model": "mock-echo", "messages": user("hello there")}))
    )
    assert reply.error is None and reply.answer.text == "hello there"
    assert reply.answer.usage.completion_tokens == 2
    assert reply.answer.cost == pytest.approx(
        (reply.answer.usage.prompt_tokens * 1.0 + 2 * 2.0) / 1000
    )
    finished = [e for e in recorder.events if isinstance(e, TurnFinished)]
    assert len(finished) == 1 and finished[0].trace_id == reply.call.trace_id
    trace = engine.services.traces.get(reply.call.trace_id)
    assert trace is not None and trace["output"] == "hello there"
    assert trace["backend"] == "mock:mock-echo" and trace["status"] == "ok"
    assert finished[0].trace["id"] == trace["id"]


def test_a_stream_is_recorded_once_it_has_been_consumed(tmp_path, embedder, recorder) -> None:
    engine = engine_for(tmp_path, embedder)

    async def go() -> tuple[Any, list[str], int]:
        reply = await engine.run_turn(
            call({"model": "mock-fixed", "stream": True, "messages": user("q")})
        )
        before = len(recorder.events)
        pieces = [d.text async for d in reply.deltas()]
        return reply, pieces, before

    reply, pieces, before = asyncio.run(go())
    assert before == 0  # nothing recorded while the stream was still open
    assert "".join(pieces) == "Thirty days. Then none."
    assert reply.answer.text == "Thirty days. Then none."
    trace = engine.services.traces.get(reply.call.trace_id)
    assert trace is not None and trace["stream"] is True and trace["ttft_ms"] is not None


def test_a_cancelled_stream_still_closes_and_traces(tmp_path, embedder, recorder) -> None:
    engine = engine_for(tmp_path, embedder)

    async def go() -> Any:
        reply = await engine.run_turn(
            call({"model": "mock-fixed", "stream": True, "messages": user("q")})
        )
        deltas = reply.deltas()
        await anext(deltas)
        await deltas.aclose()  # the client went away after one piece
        return reply

    reply = asyncio.run(go())
    trace = engine.services.traces.get(reply.call.trace_id)
    assert trace is not None and trace["status"] == "cancelled"
    assert trace["error"] == "client disconnected"


def test_errors_are_replies_not_exceptions(tmp_path, embedder, recorder) -> None:
    engine = engine_for(tmp_path, embedder)
    bad = asyncio.run(engine.run_turn(call({"model": "nope", "messages": user("x")})))
    assert isinstance(bad.error, GatewayError) and bad.error.status == 404
    down = asyncio.run(engine.run_turn(call({"model": "mock-down", "messages": user("x")})))
    # An upstream failure is the gateway's 502, naming what the upstream said.
    assert down.error is not None and down.error.status == 502 and "503" in down.error.message
    for reply in (bad, down):
        trace = engine.services.traces.get(reply.call.trace_id)
        assert trace is not None and trace["status"] == "error"
        assert trace["http_status"] == reply.error.status
    assert len([e for e in recorder.events if isinstance(e, TurnFinished)]) == 2


def test_guard_findings_become_events(tmp_path, embedder, recorder) -> None:
    engine = engine_for(tmp_path, embedder, guardrails={"enabled": True})
    reply = asyncio.run(
        engine.run_turn(
            call(
                {"model": "mock-echo", "messages": user("mail me at jane.doe@example.com")},
                principal=Principal(id="alice"),
            )
        )
    )
    assert reply.error is None
    findings = [e for e in recorder.events if isinstance(e, GuardFinding)]
    assert findings and findings[0].principal == "alice" and findings[0].direction == "in"
    assert findings[0].action in ("redact", "flag", "block", "escalate")
    assert "jane.doe@example.com" not in findings[0].text or findings[0].action == "flag"


def test_budget_refusals_and_alerts_become_events(tmp_path, embedder, recorder) -> None:
    from lockgate.observability.events import BudgetAlert, BudgetRefused

    rules = [{"scope": "key", "period": "day", "hard": 0.05, "soft": 0.001}]
    engine = engine_for(tmp_path, embedder, budgets={"rules": rules})
    ok = asyncio.run(
        engine.run_turn(
            call(
                {"model": "mock-fixed", "max_tokens": 4, "messages": user("a b c")},
                principal=Principal(id="carol"),
            )
        )
    )
    assert ok.error is None and ok.answer.cost > 0.001
    alerts = [e for e in recorder.events if isinstance(e, BudgetAlert)]
    assert len(alerts) == 1 and alerts[0].scope == "key:carol" and alerts[0].kind == "soft"
    # 40 output tokens at 2.0 per 1k could cost 0.08 > the hard ceiling: refused up front.
    refused = asyncio.run(
        engine.run_turn(
            call(
                {"model": "mock-fixed", "max_tokens": 40, "messages": user("x")},
                principal=Principal(id="carol"),
            )
        )
    )
    assert refused.error is not None and refused.error.code == "budget_exceeded"
    refusals = [e for e in recorder.events if isinstance(e, BudgetRefused)]
    assert len(refusals) == 1 and refusals[0].principal == "carol"
