"""Every metric family Lockgate exposes on /metrics: its type, help text, label names and, for
histograms, buckets. Declared in one place so the label set of a family is fixed (Prometheus
needs that), reviewed for cardinality, and documented (docs/observability.md lists the same).

Labels take values from small, bounded sets: a configured model or deployment, an app, a
scanner, an outcome. Never a user, tenant, key, trace id or any text of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]
# How a gauge is combined over the processes of a multi-process gateway (prometheus-client's
# `multiprocess_mode`): values read from the shared store are the same in every process, so
# the most recent one is right; in-process values (queues, breakers) add up or take the worst.
GaugeMode = Literal["mostrecent", "max", "livesum", "liveall"]

# Label names that would make a family's series count grow with traffic or leak who asked:
# declaring one is a programming error, caught at the first use of the family.
FORBIDDEN_LABELS = frozenset(
    {
        "user",
        "user_id",
        "principal",
        "tenant",
        "key",
        "key_id",
        "trace",
        "trace_id",
        "request_id",
        "session",
        "session_id",
        "prompt",
        "question",
        "text",
        "email",
        "ip",
        "client",
        "caller",
    }
)

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# The two older histograms keep their millisecond names and buckets: dashboards use them.
MILLISECONDS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = SECONDS
    gauge_mode: GaugeMode = "livesum"


def _c(name: str, help: str, *labels: str) -> Family:
    return Family(name, "counter", help, labels)


def _g(name: str, help: str, *labels: str, mode: GaugeMode = "mostrecent") -> Family:
    return Family(name, "gauge", help, labels, gauge_mode=mode)


def _h(name: str, help: str, *labels: str, buckets: tuple[float, ...] = SECONDS) -> Family:
    return Family(name, "histogram", help, labels, buckets)


FAMILIES: tuple[Family, ...] = (
    # -- turns (observability/turn_metrics.py, from `turn.finished`) ----------------------
    _c(
        "lockgate_requests_total",
        "Requests the engine finished, by endpoint, app, model, outcome and HTTP code",
        "endpoint",
        "app",
        "model",
        "status",
        "code",
    ),
    _h(
        "lockgate_request_duration_seconds",
        "Time from a request's arrival to its last byte",
        "endpoint",
        "app",
        "model",
    ),
    _h(
        "lockgate_time_to_first_token_seconds",
        "Time to the first streamed token of a chat answer",
        "app",
        "model",
    ),
    _h(
        "lockgate_upstream_duration_seconds",
        "One attempt at an upstream deployment (a retry or fallback is another attempt)",
        "deployment",
        "outcome",
    ),
    _h("lockgate_stage_duration_seconds", "A pipeline stage's own time in a turn", "stage"),
    _c("lockgate_tokens_total", "Tokens of answered turns", "app", "model", "direction"),
    _c("lockgate_cost_usd_total", "Estimated cost of answered turns in USD", "app", "model"),
    # -- the event writer (observability/dispatch.py) ----------------------------------------
    _c(
        "lockgate_events_dropped_total",
        "Events (traces, audit entries) dropped: the writer's queue was full (reason full) "
        "or stayed full past events.block_timeout_s (reason timeout)",
        "reason",
    ),
    _g(
        "lockgate_event_queue_depth",
        "Events waiting for the event writer after its last batch",
        mode="livesum",
    ),
    # -- cache, routing, guardrails --------------------------------------------------------
    _c("lockgate_cache_lookups_total", "Response cache lookups", "result", "kind"),
    _c("lockgate_cache_stores_total", "Answers stored in the response cache"),
    _h("lockgate_cache_lookup_ms", "Response cache lookup time (ms)", buckets=MILLISECONDS),
    _c("lockgate_route_decisions_total", "Model router decisions", "model", "tier"),
    _c(
        "lockgate_guardrail_findings_total",
        "Guardrail findings by scanner, finding type, action and direction",
        "scanner",
        "type",
        "action",
        "direction",
    ),
    _c("lockgate_guardrail_errors_total", "Guardrail scanners that failed", "scanner"),
    _h(
        "lockgate_guardrail_latency_ms",
        "Time one scanner took on one text (ms)",
        "scanner",
        "direction",
        buckets=MILLISECONDS,
    ),
    # -- upstreams and resilience ----------------------------------------------------------
    _c("lockgate_upstream_requests_total", "Upstream calls by outcome", "deployment", "outcome"),
    _c("lockgate_retries_total", "Upstream retries", "model"),
    _c("lockgate_fallbacks_total", "Fallbacks to another model", "model", "to"),
    _c("lockgate_chain_timeouts_total", "Fallback chains that ran out of time", "model"),
    _c("lockgate_stream_failures_total", "Streams that failed after they started", "deployment"),
    _c("lockgate_stream_late_start_total", "Streams that started late", "model"),
    _c("lockgate_degraded_answers_total", "Degraded stand-in answers", "model"),
    _c("lockgate_queue_rejected_total", "Requests refused: the model's queue was full", "model"),
    _c("lockgate_queue_timeouts_total", "Requests that waited too long for capacity", "model"),
    _g(
        "lockgate_breaker_state",
        "Circuit breaker state per deployment (0 closed, 1 half-open, 2 open)",
        "deployment",
        mode="max",
    ),
    _c("lockgate_breaker_transitions_total", "Circuit breaker transitions", "deployment", "to"),
    _c(
        "lockgate_embedding_requests_total",
        "Requests to a remote embedder by outcome (ok, timeout, connect, http_429, http_4xx, "
        "http_5xx, bad_answer, circuit_open)",
        "outcome",
    ),
    _c("lockgate_embedding_retries_total", "Remote embedder requests sent again"),
    _c(
        "lockgate_embedding_fallbacks_total",
        "Questions embedded by embeddings.fallback because the remote embedder failed",
    ),
    _g(
        "lockgate_upstream_queue_depth",
        "Requests waiting for a free deployment slot, per model",
        "model",
        mode="livesum",
    ),
    _g(
        "lockgate_upstream_in_flight",
        "Upstream calls in flight, per deployment",
        "deployment",
        mode="livesum",
    ),
    # -- limits and budgets ----------------------------------------------------------------
    _c("lockgate_rate_limited_total", "Requests refused by a rate limit", "model"),
    _c("lockgate_cpu_shed_total", "Requests shed by the CPU gate", "reason"),
    _c(
        "lockgate_admission_shed_total",
        "Requests answered 503 overloaded after waiting server.queue_wait_s for admission",
    ),
    _g(
        "lockgate_admission_in_flight",
        "Requests admitted and not yet answered (at most server.max_inflight per process)",
        mode="livesum",
    ),
    _c("lockgate_budget_refused_total", "Requests refused by a budget", "scope"),
    _c("lockgate_budget_alerts_total", "Budget thresholds crossed", "kind", "scope"),
    # -- shared state (Redis) ----------------------------------------------------------------
    _c(
        "lockgate_shared_state_errors_total",
        "Calls to Redis that failed, per mechanism and what was done instead",
        "mechanism",
        "outcome",
    ),
    # -- batches ---------------------------------------------------------------------------
    _c("lockgate_batch_items_total", "Batch items run", "status"),
    _c("lockgate_batches_total", "Batches finished", "status"),
    _g("lockgate_batch_queue_items", "Batch items by status (read from the store)", "status"),
    _g("lockgate_batch_queue_batches", "Unfinished batches by status (from the store)", "status"),
    # -- review ----------------------------------------------------------------------------
    _c("lockgate_review_items_total", "Items put up for human review", "kind", "mode"),
    _c("lockgate_review_decisions_total", "Review decisions", "kind", "decision"),
    _g("lockgate_review_backlog", "Review items by kind and status", "kind", "status"),
    _g(
        "lockgate_review_oldest_open_age_seconds",
        "Age of the oldest open review item per kind",
        "kind",
    ),
    # -- documents -------------------------------------------------------------------------
    _g(
        "lockgate_documents_stale",
        "Active documents past their review-by date or superseded",
        "reason",
    ),
    _g(
        "lockgate_documents_stale_oldest_age_seconds",
        "How long the most overdue document has been past its review-by date",
    ),
    _g("lockgate_documents_quarantined", "Files held in quarantine (could not be ingested)"),
    _g("lockgate_sources", "Configured document sources, by health", "health"),
    _g(
        "lockgate_sources_oldest_index_age_seconds",
        "Time since the least recently indexed source was last indexed",
    ),
    # -- alerts ----------------------------------------------------------------------------
    # Rule names come from the operator's config: a handful, never per caller.
    _c("lockgate_alerts_total", "Alert transitions, by rule and state", "rule", "state"),
)

CATALOG: dict[str, Family] = {f.name: f for f in FAMILIES}
