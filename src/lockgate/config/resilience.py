"""Per-upstream resilience: deployments, retries, circuit breakers, streaming, degraded answers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockgate.config._base import Strict


class DeploymentSpec(Strict):
    """One deployment of a model name (another region, key or server). Unset fields are taken
    from the model entry itself, so a deployment usually only names its `base_url`."""

    name: str | None = None
    base_url: str | None = None
    upstream_model: str | None = None
    api_key_env: str | None = None
    model_path: str | None = None
    weight: float = Field(1.0, gt=0)
    # In-flight requests this deployment accepts; more wait in the model's bounded queue.
    max_concurrency: int = Field(64, ge=1)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v


class BreakerConfig(Strict):
    """Open after `failures` consecutive retryable failures within `window_s`; after
    `cooldown_s` let `half_open_probes` requests through; one success closes it, one failure
    re-opens it."""

    enabled: bool = True
    failures: int = Field(5, ge=1)
    window_s: float = Field(30.0, gt=0)
    cooldown_s: float = Field(30.0, gt=0)
    half_open_probes: int = Field(1, ge=1)


class ResilienceConfig(Strict):
    # Attempts after the first, spread over the model's deployments; not over its fallbacks,
    # which get their own.
    retries: int = Field(2, ge=0, le=10)
    backoff_base_ms: float = Field(100.0, ge=0)
    backoff_max_ms: float = Field(2000.0, ge=0)
    # An upstream asking for a longer pause than this is skipped (next deployment/fallback)
    # instead of holding the client.
    retry_after_max_s: float = Field(10.0, ge=0)
    # None: no limit beyond the model's connect/read timeouts.
    first_token_timeout_s: float | None = Field(None, gt=0)
    total_timeout_s: float | None = Field(None, gt=0)
    # The whole call across retries, backoff and fallbacks (for a stream: until its first
    # token); the requested model's setting applies. None: bounded only per attempt.
    chain_timeout_s: float | None = Field(None, gt=0)
    breaker: BreakerConfig = BreakerConfig()
    balancer: Literal["weighted", "least_in_flight", "latency"] = "least_in_flight"
    # Requests waiting for a free deployment slot; beyond this a 503 with Retry-After.
    queue_size: int = Field(256, ge=0)
    queue_timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _backoff_order(self) -> ResilienceConfig:
        if self.backoff_max_ms < self.backoff_base_ms:
            raise ValueError("backoff_max_ms must be at least backoff_base_ms")
        return self


class StreamingConfig(Strict):
    # How long a stream waits for its first token before the response starts: failures
    # inside it still get a proper HTTP status; after it, SSE keep-alive comments flow.
    first_token_grace_s: float = Field(2.0, ge=0)
    keepalive_interval_s: float = Field(5.0, gt=0)


class DegradeConfig(Strict):
    """Extractive answer from the retrieved chunks when every generative backend is down."""

    enabled: bool = True
    max_sentences: int = Field(3, ge=1, le=10)
    preface: str = (
        "The answer service is temporarily degraded; these passages from the sources are the "
        "closest match to your question:"
    )
