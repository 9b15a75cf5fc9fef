"""Turns through a real gateway on loopback (fake upstream) exported as OpenTelemetry spans:
the span tree and its GenAI attributes in the SDK's in-memory exporter, the caller's
`traceparent` as the parent, and the same spans over OTLP/HTTP to a receiver on loopback,
decoded with opentelemetry-proto."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from lockgate.config import ModelSpec
from lockgate.config.telemetry import TelemetryConfig
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from lockgate.observability.events import Event, TurnFinished
from lockgate.plugins.hookspecs import hookimpl
from lockgate.plugins.manager import registered
from lockgate.telemetry import plugin as telemetry
from lockgate.telemetry.export import TurnSpans
from tests.conftest import PASSTHROUGH_RESILIENCE, make_services, make_settings
from tests.support.receiver import Inbox, create_receiver
from tests.support.server import serve

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


class InMemory:
    """A second span subscriber, registered as a plugin is, writing to the SDK's memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.spans = TurnSpans.build(TelemetryConfig(), self.exporter)

    @hookimpl
    def track_event(self, event: Event, services: Any) -> None:
        if isinstance(event, TurnFinished):
            self.spans.export(event)


@pytest.fixture(scope="module")
def world(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Inbox, InMemory]]:
    docs = tmp_path_factory.mktemp("otel-docs")
    (docs / "refunds.md").write_text("# Refunds\n\nAnnual plans are refunded within 30 days.\n")
    receiver, inbox = create_receiver()
    memory = InMemory()
    with serve(receiver) as otlp, registered(memory, "test-in-memory-spans"):
        home = tmp_path_factory.mktemp("otel-home")
        settings = make_settings(
            home,
            fake_upstream,
            grounded={"model": "echo"},
            telemetry={"otlp_endpoint": otlp, "resource_attributes": {"env": "test"}},
        )
        # A failing model that falls back to echo: two upstream attempts in one turn.
        settings.models["fail-500"] = ModelSpec(
            backend="openai",
            base_url=fake_upstream,
            fallbacks=["echo"],
            resilience=PASSTHROUGH_RESILIENCE,
        )
        services = make_services(settings, embedder)
        Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run(
            [str(docs)]
        )
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base, inbox, memory


def _chat(base: str, model: str, headers: dict[str, str] | None = None, **extra: Any) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": "refund window?"}], **extra}
    resp = httpx.post(base + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-lockgate-trace-id"]


def _turn(memory: InMemory, lockgate_trace: str) -> list[ReadableSpan]:
    spans = memory.exporter.get_finished_spans()
    (root,) = [s for s in spans if s.attributes.get("lockgate.trace_id") == lockgate_trace]
    return [s for s in spans if s.context.trace_id == root.context.trace_id]


def _root(spans: list[ReadableSpan]) -> ReadableSpan:
    (root,) = [s for s in spans if s.kind == SpanKind.SERVER]
    return root


def test_a_grounded_turn_is_a_span_tree_under_the_callers_trace(world) -> None:
    base, _, memory = world
    trace = _chat(base, "lockgate", {"traceparent": TRACEPARENT}, max_tokens=64, temperature=0.2)
    spans = _turn(memory, trace)
    root = _root(spans)
    assert f"{root.context.trace_id:032x}" == TRACE_ID
    assert root.parent is not None and f"{root.parent.span_id:016x}" == PARENT_ID
    assert root.name == "chat lockgate"
    attrs = dict(root.attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.request.model"] == "lockgate"
    assert attrs["gen_ai.response.model"] == "echo"
    assert attrs["gen_ai.request.max_tokens"] == 64
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["gen_ai.response.id"] == f"chatcmpl-{trace}"
    # No text of the conversation in any span.
    assert not any("refund window" in str(v) for s in spans for v in s.attributes.values())

    stages = {s.attributes["lockgate.stage.name"]: s for s in spans if s.kind == SpanKind.INTERNAL}
    for name in ("rate_limit", "retrieve", "build_prompt", "call_model", "validate"):
        assert stages[name].parent.span_id == root.context.span_id, name
    # A step of a stage sits under that stage's span.
    steps = [n for n in stages if n.startswith("retrieve.")]
    assert steps and all(
        stages[n].parent.span_id == stages["retrieve"].context.span_id for n in steps
    )
    for span in stages.values():
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time + 10**7
    (attempt,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert attempt.parent.span_id == stages["call_model"].context.span_id
    assert attempt.name == "chat echo"
    assert attempt.attributes["gen_ai.request.model"] == "echo"
    assert attempt.attributes["lockgate.upstream.outcome"] == "ok"
    assert root.start_time <= attempt.start_time < attempt.end_time <= root.end_time + 10**7


def test_each_upstream_attempt_is_a_client_span_and_a_failed_one_is_an_error(world) -> None:
    base, _, memory = world
    spans = _turn(memory, _chat(base, "fail-500"))
    root = _root(spans)
    assert f"{root.context.trace_id:032x}" != TRACE_ID and root.parent is None
    attempts = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time)
    # A model with one deployment names it after itself.
    assert [a.attributes["lockgate.upstream.deployment"] for a in attempts] == ["fail-500", "echo"]
    failed, served = attempts
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "error"
    assert served.status.status_code == StatusCode.UNSET
    assert root.attributes["gen_ai.response.model"] == "echo"
    assert [a.attributes["lockgate.upstream.attempt"] for a in attempts] == [1, 2]


def test_spans_reach_an_otlp_http_receiver(world) -> None:
    base, inbox, _ = world
    trace = _chat(base, "echo", {"traceparent": TRACEPARENT})
    telemetry.flush()
    spans: list[Any] = []
    resources: list[dict[str, Any]] = []
    for item in inbox.wait(1):
        assert item.path == "/v1/traces"
        assert item.headers["content-type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(item.body)
        for rs in request.resource_spans:
            resources.append({a.key: a.value.string_value for a in rs.resource.attributes})
            for ss in rs.scope_spans:
                assert ss.scope.name == "lockgate"
                spans.extend(ss.spans)
    assert {"service.name": "lockgate", "env": "test"}.items() <= resources[0].items()

    def attrs(span: Any) -> dict[str, Any]:
        return {a.key: a.value for a in span.attributes}

    (root,) = [s for s in spans if attrs(s).get("lockgate.trace_id", None) is not None
               and attrs(s)["lockgate.trace_id"].string_value == trace]
    assert root.trace_id.hex() == TRACE_ID and root.parent_span_id.hex() == PARENT_ID
    ours = [s for s in spans if s.trace_id == root.trace_id]
    root_attrs = attrs(root)
    assert root_attrs["gen_ai.operation.name"].string_value == "chat"
    assert root_attrs["gen_ai.request.model"].string_value == "echo"
    assert root_attrs["gen_ai.usage.output_tokens"].int_value > 0
    children = [s for s in ours if s.parent_span_id == root.span_id]
    assert {attrs(s)["lockgate.stage.name"].string_value for s in children} >= {"call_model"}
    call_model = next(
        s for s in children if attrs(s)["lockgate.stage.name"].string_value == "call_model"
    )
    (attempt,) = [s for s in ours if s.parent_span_id == call_model.span_id]
    assert attrs(attempt)["gen_ai.request.model"].string_value == "echo"


OFF = """
import sys, time
from types import SimpleNamespace
from lockgate.config import Settings
from lockgate.gateway.app import create_app  # noqa: F401 - the whole gateway is imported
from lockgate.observability.events import TurnFinished
from lockgate.telemetry import plugin
event = TurnFinished("t1", "/v1/chat/completions", "ok", 200, {"created_at": time.time()})
plugin.track_event(event=event, services=SimpleNamespace(settings=Settings(home=sys.argv[1])))
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(loaded)
assert loaded == [], loaded
"""


def test_off_by_default_and_then_the_sdk_is_never_imported(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", OFF, str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_endpoint_setting_is_checked_and_completed() -> None:
    assert TelemetryConfig(otlp_endpoint="http://c:4318").otlp_endpoint == "http://c:4318/v1/traces"
    assert TelemetryConfig(otlp_endpoint="https://x/api/otel/v1/traces").otlp_endpoint == (
        "https://x/api/otel/v1/traces"
    )
    assert TelemetryConfig(otlp_endpoint="").otlp_endpoint is None
    with pytest.raises(ValueError, match="http"):
        TelemetryConfig(otlp_endpoint="collector:4318")
