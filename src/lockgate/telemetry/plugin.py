"""The built-in subscriber that exports each finished turn as OpenTelemetry spans, when
`telemetry.otlp_endpoint` is set. Off, it costs one attribute test per event and the SDK is
never imported."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from lockgate.config.telemetry import TelemetryConfig
from lockgate.observability.events import Event, TurnFinished
from lockgate.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from lockgate.telemetry.export import TurnSpans

log = logging.getLogger("lockgate.telemetry")

_lock = threading.Lock()
# One exporter per distinct configuration: every Services built from the same settings (and
# a process builds several: the gateway, the CLI's) shares its batch queue and connection.
_exporters: dict[str, TurnSpans] = {}


def exporter_for(cfg: TelemetryConfig) -> TurnSpans:
    key = cfg.model_dump_json(exclude={"prometheus_multiproc_dir"})
    with _lock:
        found = _exporters.get(key)
        if found is None:
            from lockgate.telemetry.export import TurnSpans

            found = _exporters[key] = TurnSpans.build(cfg)
            log.info("exporting spans to %s", cfg.otlp_endpoint)
        return found


def flush(timeout_ms: int = 5000) -> None:
    """Send what is queued (a gateway stopping, a test about to look at its receiver)."""
    with _lock:
        exporters = list(_exporters.values())
    for exporter in exporters:
        exporter.flush(timeout_ms)


def shutdown() -> None:
    with _lock:
        exporters = list(_exporters.values())
        _exporters.clear()
    for exporter in exporters:
        exporter.shutdown()


@hookimpl
def track_event(event: Event, services: Any) -> None:
    if not isinstance(event, TurnFinished):
        return
    cfg: TelemetryConfig | None = getattr(getattr(services, "settings", None), "telemetry", None)
    if cfg is None or cfg.otlp_endpoint is None:
        return
    exporter_for(cfg).export(event)
