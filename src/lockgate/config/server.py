"""The HTTP gateway's listener and request limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from lockgate.config._base import Strict
from lockgate.config.resilience import StreamingConfig


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(1000, ge=1)
    # Against CPU amplification: one embeddings request is bounded in inputs and characters.
    embeddings_max_inputs: int = Field(256, ge=1, le=2048)
    embeddings_max_total_chars: int = Field(256_000, ge=1)
    # Slow clients: the whole body must arrive within this time (JSON and uploads alike).
    body_read_timeout_s: float = Field(60.0, gt=0)
    # Passed to uvicorn by `lockgate serve`: idle keep-alive connections are closed after
    # this, at most this many connections and requests in flight (503 beyond), and an
    # upper bound on a request's buffered headers.
    timeout_keep_alive_s: int = Field(5, ge=1)
    limit_concurrency: int | None = Field(1024, ge=1)
    h11_max_incomplete_event_size: int = Field(64 * 1024, ge=1024)
    streaming: StreamingConfig = StreamingConfig()  # first-token grace, keep-alives
    # HTTPS: both paths set, or neither (plain HTTP, e.g. behind a TLS-terminating proxy).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("server.tls_cert_file and server.tls_key_file go together")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self
