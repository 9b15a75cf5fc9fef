"""The web dashboard at /ui (docs/dashboard.md): sessions and the targets its charts show."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class UiConfig(Strict):
    enabled: bool = True
    # How long a browser session lasts after login; the key is checked again on each page,
    # so a revoked key ends its sessions at once.
    session_ttl_s: float = Field(8 * 3600, gt=0, le=30 * 86400)
    # The environment variable holding the secret that seals session cookies (32+ characters).
    # Unset: a random secret per process, so sessions end on restart and do not carry from one
    # worker process to another.
    session_secret_env: str | None = "LOCKGATE_UI_SECRET"
    # The overview's default window and its number of time buckets.
    window_s: float = Field(24 * 3600, gt=0)
    buckets: int = Field(24, ge=2, le=240)
