"""Staged releases: how long the active releases are cached in each process, and when the
monitor judges a rollout release against the current one and rolls it back."""

from __future__ import annotations

from pydantic import Field

from lockgate.config._base import Strict


class ReleaseBounds(Strict):
    """How much worse than the current release (or, with none, the turns served by no
    release) a rollout release may be over the window before it is rolled back."""

    # Share of turns that failed (HTTP 5xx or a degraded stand-in answer), in absolute
    # points: 0.05 lets 2% become 7%, not 8%.
    error_rate_increase: float = Field(0.05, ge=0, le=1)
    # Share of rated turns rated negative (thumb down, rating <= 2), in absolute points.
    negative_feedback_increase: float = Field(0.10, ge=0, le=1)
    # Mean groundedness (0-1) of grounded answers may drop by this much.
    groundedness_drop: float = Field(0.1, ge=0, le=1)
    # Cost per request and p95 latency may grow to this multiple of the current's.
    cost_ratio: float = Field(1.5, ge=1)
    p95_latency_ratio: float = Field(1.5, ge=1)
    # ... and the p95 must also be this much slower in absolute terms: on fast answers a
    # ratio alone flaps (4 ms against 2 ms is twice as slow and means nothing).
    p95_latency_slack_ms: float = Field(50.0, ge=0)


class ReleasesConfig(Strict):
    enabled: bool = True
    # The active releases are re-read at most this often in each process, so a promotion or
    # rollback made by `lockgate release` reaches a running gateway within this time.
    cache_ttl_s: float = Field(2.0, ge=0, le=300)
    # The monitor looks at the turns of the last `window_s` seconds (a rollout release: only
    # those since it entered rollout), and judges a metric only when both sides have enough.
    window_s: float = Field(600.0, gt=0)
    min_requests: int = Field(20, ge=1)
    min_feedback: int = Field(10, ge=1)  # rated turns per side before feedback is judged
    min_grounded: int = Field(10, ge=1)  # turns with a groundedness score per side
    # How often `lockgate serve` runs the monitor; 0: only `lockgate release check`.
    check_interval_s: float = Field(30.0, ge=0)
    # false: breaches are reported (status, check) but nothing is rolled back by itself.
    auto_rollback: bool = True
    bounds: ReleaseBounds = ReleaseBounds()
