"""A trace row as a span plan (no SDK), and the exporter's sampling of a caller's context."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lockgate.config.telemetry import TelemetryConfig
from lockgate.observability.events import TurnFinished
from lockgate.telemetry.export import TurnSpans
from lockgate.telemetry.spans import plan_turn

ROW = {
    "created_at": 1000.0,
    "latency_ms": 50.0,
    "model": "lockgate",
    "backend": "llama_cpp:gemma-3-270m",
    "request": {"max_tokens": 32, "temperature": True, "stop": "END"},
    "tokens_in": 5,
    "tokens_out": 7,
    # Rows written before stages had a start are laid out end to end.
    "stages": [{"stage": "call_model", "ms": 20.0}, {"stage": "retrieve", "ms": 10.0}],
    "upstream": {"served_by": "gemma-3-270m", "attempts": [
        {"deployment": "gemma-3-270m", "outcome": "ok", "ms": 15.0},
    ]},
    "error": "upstream said no",
}


def _event(status: str = "ok", traceparent: str | None = None) -> TurnFinished:
    return TurnFinished("abc", "/v1/chat/completions", status, 200, ROW, traceparent)


def test_a_row_becomes_root_stages_and_attempts() -> None:
    root, first, second, attempt = plan_turn(_event())
    assert (root.name, root.kind, root.parent) == ("chat lockgate", "server", None)
    assert root.end_ns - root.start_ns == 50_000_000
    assert root.attributes["gen_ai.provider.name"] == "llama_cpp"
    assert root.attributes["gen_ai.response.model"] == "gemma-3-270m"
    assert root.attributes["gen_ai.request.max_tokens"] == 32
    assert "gen_ai.request.temperature" not in root.attributes  # a bool is not a temperature
    assert root.attributes["gen_ai.request.stop_sequences"] == ["END"]
    assert (root.attributes["gen_ai.usage.input_tokens"], root.error) == (5, None)
    assert [first.attributes["lockgate.stage.name"], second.attributes["lockgate.stage.name"]] == [
        "call_model", "retrieve",
    ]
    assert second.start_ns - root.start_ns == 20_000_000  # after the first
    assert attempt.parent == first.key and attempt.kind == "client"
    assert attempt.attributes["gen_ai.provider.name"] == "llama_cpp"


def test_a_failed_turn_is_an_error_span() -> None:
    root = plan_turn(_event("error"))[0]
    assert root.error == "upstream said no"
    assert "gen_ai.response.id" not in root.attributes


def test_an_unsampled_caller_context_exports_nothing() -> None:
    exporter = InMemorySpanExporter()
    spans = TurnSpans.build(TelemetryConfig(), exporter)
    spans.export(_event(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
    assert exporter.get_finished_spans() == ()
    spans.export(_event(traceparent="not a traceparent"))
    assert len(exporter.get_finished_spans()) == 4
    none = InMemorySpanExporter()
    TurnSpans.build(TelemetryConfig(sample_ratio=0), none).export(_event())
    assert none.get_finished_spans() == ()
