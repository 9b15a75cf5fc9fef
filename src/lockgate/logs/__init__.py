"""Lockgate's own log output: PII redacted from every line (`redact`), and the handlers and
filters the CLI and `lockgate serve` install (`setup`)."""
