"""A finished turn as a tree of spans, following the OpenTelemetry GenAI semantic conventions:
one root span for the turn, a child per pipeline stage, and a client span per upstream attempt
(a retry or a fallback is another attempt) under the model-call stage.

Pure data built from the trace row of `turn.finished`; no OpenTelemetry import, so what a
turn looks like as spans is tested without the SDK. No prompt or answer text goes into a
span: only names, numbers and outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lockgate.observability.events import TurnFinished

SpanKind = Literal["server", "client", "internal"]
AttrValue = str | bool | int | float | list[str]

# gen_ai.operation.name per endpoint; other endpoints keep their own name.
OPERATIONS = {
    "/v1/chat/completions": "chat",
    "/v1/completions": "text_completion",
    "/v1/embeddings": "embeddings",
    "/v1/batches": "chat",
}
# The request parameters the conventions name, and the trace row's request keys they come from.
REQUEST_ATTRIBUTES = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
}
MODEL_CALL_STAGE = "call_model"
_NS = 1_000_000_000


@dataclass
class SpanPlan:
    key: str  # names the span within its turn, so children can point at their parent
    name: str
    kind: SpanKind
    start_ns: int
    end_ns: int
    parent: str | None = None
    attributes: dict[str, AttrValue] = field(default_factory=dict)
    error: str | None = None  # set: the span's status is ERROR with this description


def operation_of(endpoint: str) -> str:
    return OPERATIONS.get(endpoint, endpoint.strip("/").replace("/", ".") or "request")


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


def _provider(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(provider, model) from the row's `backend` ("openai_compat:gpt-4o-mini")."""
    backend = row.get("backend")
    if not isinstance(backend, str) or ":" not in backend:
        return None, None
    provider, _, model = backend.partition(":")
    return provider or None, model or None


def _request_attributes(row: dict[str, Any]) -> dict[str, AttrValue]:
    out: dict[str, AttrValue] = {}
    request = row.get("request") if isinstance(row.get("request"), dict) else {}
    assert isinstance(request, dict)
    for key, attr in REQUEST_ATTRIBUTES.items():
        value = request.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[attr] = value
    stop = request.get("stop")
    if isinstance(stop, str):
        out["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        out["gen_ai.request.stop_sequences"] = list(stop)
    return out


def root_attributes(event: TurnFinished) -> dict[str, AttrValue]:
    row = event.trace
    provider, response_model = _provider(row)
    attrs: dict[str, AttrValue] = {
        "gen_ai.operation.name": operation_of(event.endpoint),
        "lockgate.trace_id": event.trace_id,
        "lockgate.endpoint": event.endpoint,
        "lockgate.status": event.status,
        "http.response.status_code": event.http_status,
    }
    if provider:
        # `gen_ai.provider.name` is the current name, `gen_ai.system` the one older back
        # ends (and Langfuse, Phoenix) still read.
        attrs["gen_ai.provider.name"] = provider
        attrs["gen_ai.system"] = provider
    if row.get("model"):
        attrs["gen_ai.request.model"] = str(row["model"])
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if event.endpoint == "/v1/chat/completions" and event.status == "ok":
        attrs["gen_ai.response.id"] = f"chatcmpl-{event.trace_id}"
    attrs.update(_request_attributes(row))
    for src, attr in (
        ("tokens_in", "gen_ai.usage.input_tokens"),
        ("tokens_out", "gen_ai.usage.output_tokens"),
    ):
        if isinstance(row.get(src), int):
            attrs[attr] = row[src]
    optional: dict[str, Any] = {
        "lockgate.app": row.get("app"),
        "lockgate.cost_usd": row.get("cost"),
        "lockgate.ttft_ms": row.get("ttft_ms"),
        "lockgate.guard.action": row.get("guard_action"),
        "lockgate.grounded": bool(row["grounded"]) if "grounded" in row else None,
        "lockgate.groundedness": row.get("groundedness"),
        "lockgate.prompt.name": row.get("prompt_template"),
        "lockgate.prompt.version": row.get("prompt_version"),
        "lockgate.release": row.get("release"),
        "lockgate.stream": bool(row["stream"]) if "stream" in row else None,
    }
    cache = row.get("cache")
    if isinstance(cache, dict):
        optional["lockgate.cache.status"] = cache.get("status")
    route = row.get("route")
    if isinstance(route, dict):
        optional["lockgate.route.tier"] = route.get("tier")
        optional["lockgate.route.model"] = route.get("model")
    for key, value in optional.items():
        if isinstance(value, str | bool | int | float):
            attrs[key] = value
    return attrs


def plan_turn(event: TurnFinished) -> list[SpanPlan]:
    """The spans of one turn, root first, each child after its parent."""
    row = event.trace
    start = float(row.get("created_at") or 0.0)
    latency_s = float(row.get("latency_ms") or 0.0) / 1000
    root_attrs = root_attributes(event)
    model = root_attrs.get("gen_ai.request.model")
    operation = str(root_attrs["gen_ai.operation.name"])
    root = SpanPlan(
        key="turn",
        name=f"{operation} {model}" if model else operation,
        kind="server",
        start_ns=_ns(start),
        end_ns=_ns(start + latency_s),
        attributes=root_attrs,
        error=None if event.status == "ok" else (row.get("error") or event.status)[:300],
    )
    plans = [root]
    plans.extend(_stage_spans(row, start, root))
    plans.extend(_attempt_spans(row, plans))
    return plans


def _stage_spans(row: dict[str, Any], start: float, root: SpanPlan) -> list[SpanPlan]:
    out: list[SpanPlan] = []
    layers: dict[str, str] = {}
    cursor = 0.0  # rows written before stages had a start: lay them end to end
    stages = [s for s in row.get("stages") or () if isinstance(s, dict) and s.get("stage")]
    # Layers finish innermost first; sorted by start so each parent precedes its children.
    stages.sort(key=_start_of)
    for i, stage in enumerate(stages):
        name = str(stage["stage"])
        ms = float(stage.get("ms") or 0.0)
        begin = stage.get("start_ms")
        offset = float(begin) if isinstance(begin, int | float) else cursor
        cursor = offset + ms
        head = name.split(".", 1)[0]
        # "retrieve.embed" is a step of the retrieve stage: its span sits under that stage's.
        parent = layers.get(head, root.key) if "." in name else root.key
        key = f"stage:{i}"
        if "." not in name:
            layers.setdefault(name, key)
        attrs: dict[str, AttrValue] = {"lockgate.stage.name": name, "lockgate.stage.self_ms": ms}
        if stage.get("note"):
            attrs["lockgate.stage.note"] = str(stage["note"])[:300]
        begin_ns = root.start_ns + _ns(offset / 1000)
        out.append(
            SpanPlan(
                key=key,
                name=f"lockgate.stage {name}",
                kind="internal",
                start_ns=begin_ns,
                end_ns=begin_ns + _ns(ms / 1000),
                parent=parent,
                attributes=attrs,
            )
        )
    return out


def _start_of(stage: dict[str, Any]) -> float:
    begin = stage.get("start_ms")
    return float(begin) if isinstance(begin, int | float) else 0.0


def _attempt_spans(row: dict[str, Any], plans: list[SpanPlan]) -> list[SpanPlan]:
    upstream = row.get("upstream")
    if not isinstance(upstream, dict):
        return []
    root = plans[0]
    parent = next(
        (p.key for p in plans if p.attributes.get("lockgate.stage.name") == MODEL_CALL_STAGE),
        root.key,
    )
    provider = root.attributes.get("gen_ai.provider.name")
    out: list[SpanPlan] = []
    for i, attempt in enumerate(a for a in upstream.get("attempts") or () if isinstance(a, dict)):
        deployment = str(attempt.get("deployment") or "")
        model = deployment.split("/", 1)[0]
        ms = float(attempt.get("ms") or 0.0)
        begin = attempt.get("start")
        begin_ns = _ns(float(begin)) if isinstance(begin, int | float) else root.start_ns
        outcome = str(attempt.get("outcome") or "")
        attrs: dict[str, AttrValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "lockgate.upstream.deployment": deployment,
            "lockgate.upstream.outcome": outcome,
            "lockgate.upstream.attempt": i + 1,
        }
        if isinstance(provider, str) and model == upstream.get("served_by"):
            attrs["gen_ai.provider.name"] = provider
        error = None
        if outcome != "ok":
            attrs["error.type"] = outcome or "error"
            error = str(attempt.get("error") or outcome)[:300]
        out.append(
            SpanPlan(
                key=f"attempt:{i}",
                name=f"chat {model}" if model else "chat",
                kind="client",
                start_ns=begin_ns,
                end_ns=begin_ns + _ns(ms / 1000),
                parent=parent,
                attributes=attrs,
                error=error,
            )
        )
    return out
