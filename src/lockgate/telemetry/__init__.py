"""OpenTelemetry export of each turn as a span tree (docs/observability.md). The SDK is
imported only when `telemetry.otlp_endpoint` is set or a test hands in its own exporter."""
