"""Span trees of finished turns through the OpenTelemetry SDK. Imported only when export is
on. Spans are made after the turn with the times it recorded, so the engine runs no tracing
code; a private TracerProvider keeps this from touching any global one the host has set."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanProcessor,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from lockgate.config.telemetry import TelemetryConfig
from lockgate.observability.events import TurnFinished
from lockgate.telemetry.spans import plan_turn

KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
SCOPE = "lockgate"
_PROPAGATOR = TraceContextTextMapPropagator()


def _version() -> str:
    try:
        return version("lockgate")
    except PackageNotFoundError:
        return "0"


def parent_context(traceparent: str | None) -> Context:
    """The caller's span as the parent; an absent or malformed header starts a new trace."""
    if not traceparent:
        return Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=Context())


class TurnSpans:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer(SCOPE, _version())

    @classmethod
    def build(cls, cfg: TelemetryConfig, exporter: SpanExporter | None = None) -> TurnSpans:
        """Export to `exporter`, synchronously (tests), or in batches to the OTLP endpoint."""
        resource = Resource.create({"service.name": cfg.service_name, **cfg.resource_attributes})
        provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio))
        )
        processor: SpanProcessor
        if exporter is not None:
            processor = SimpleSpanProcessor(exporter)
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processor = BatchSpanProcessor(
                OTLPSpanExporter(
                    endpoint=cfg.otlp_endpoint,
                    headers=dict(cfg.otlp_headers),
                    timeout=cfg.otlp_timeout_s,
                )
            )
        provider.add_span_processor(processor)
        return cls(provider)

    def export(self, event: TurnFinished) -> None:
        plans = plan_turn(event)
        root_context = parent_context(event.traceparent)
        spans: dict[str, Span] = {}
        for plan in plans:
            context = (
                root_context if plan.parent is None else set_span_in_context(spans[plan.parent])
            )
            span = self.tracer.start_span(
                plan.name,
                context=context,
                kind=KINDS[plan.kind],
                attributes=plan.attributes,
                start_time=plan.start_ns,
            )
            if plan.error is not None:
                span.set_status(Status(StatusCode.ERROR, plan.error))
            spans[plan.key] = span
        # Children first, so a processor sees a parent only once all of its spans ended.
        for plan in reversed(plans):
            spans[plan.key].end(end_time=max(plan.end_ns, plan.start_ns))

    def flush(self, timeout_ms: int = 5000) -> bool:
        return self.provider.force_flush(timeout_ms)

    def shutdown(self) -> None:
        self.provider.shutdown()
