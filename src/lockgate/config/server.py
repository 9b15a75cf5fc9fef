"""The HTTP gateway's listener and request limits."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict
from lockgate.config.resilience import StreamingConfig


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(1000, ge=1)
    streaming: StreamingConfig = StreamingConfig()  # first-token grace, keep-alives
