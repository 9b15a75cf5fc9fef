"""Telemetry: OpenTelemetry trace export over OTLP/HTTP (off unless `otlp_endpoint` is set;
the SDK is not even imported then) and Prometheus multi-process mode (docs/observability.md)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from lockgate.config._base import Strict


class TelemetryConfig(Strict):
    # Where spans go: an OTLP/HTTP (protobuf) collector, Jaeger, Tempo, Phoenix or Langfuse.
    # A bare base URL (http://collector:4318) gets the standard /v1/traces path.
    otlp_endpoint: str | None = None
    # Sent with every export: `Authorization` for Langfuse, tenant headers for Tempo.
    otlp_headers: dict[str, str] = Field(default_factory=dict)
    otlp_timeout_s: float = Field(10.0, gt=0, le=300)
    service_name: str = Field("lockgate", min_length=1)
    # Extra resource attributes (deployment.environment, service.version, ...).
    resource_attributes: dict[str, str] = Field(default_factory=dict)
    # Share of turns exported when the caller sent no sampled `traceparent` (0-1).
    sample_ratio: float = Field(1.0, ge=0, le=1)
    # Several gateway processes: each writes its metric values here and a scrape of any of
    # them reports all (prometheus-client's PROMETHEUS_MULTIPROC_DIR). Empty it before the
    # processes start; unset means single-process metrics.
    prometheus_multiproc_dir: Path | None = None

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"telemetry.otlp_endpoint must be an http(s) URL such as "
                f"http://localhost:4318, got {value!r}"
            )
        if parts.path in ("", "/"):
            return value.strip().rstrip("/") + "/v1/traces"
        return value.strip()
