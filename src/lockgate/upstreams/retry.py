"""Which upstream failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from lockgate.config import ResilienceConfig
from lockgate.models.base import UpstreamError

# 408 request timeout and 409/425 are rare from model APIs; 429 and 5xx are what they send.
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def is_retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, 429 and 5xx. A 4xx other than 429 is the request's fault:
    sending it again, or to another provider, gives the same answer."""
    if not isinstance(exc, UpstreamError):
        return False
    if exc.retryable is not None:
        return exc.retryable
    if exc.upstream_status is not None:
        return exc.upstream_status in _RETRYABLE_STATUS or exc.upstream_status >= 500
    return exc.status in (502, 503, 504)


@dataclass
class RetryPolicy:
    retries: int
    base_ms: float
    max_ms: float
    retry_after_max_s: float
    rng: random.Random

    @classmethod
    def from_config(cls, cfg: ResilienceConfig, rng: random.Random | None = None) -> RetryPolicy:
        return cls(
            cfg.retries,
            cfg.backoff_base_ms,
            cfg.backoff_max_ms,
            cfg.retry_after_max_s,
            rng or random.Random(),
        )

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff with full jitter: spreads a burst of clients that failed
        together, so they do not come back together (attempt counts from 0)."""
        cap = min(self.max_ms, self.base_ms * (2**attempt))
        return self.rng.uniform(0, cap) / 1000

    def delay_s(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the upstream asked for a
        pause longer than we are willing to hold the client (then go to the next backend)."""
        wait = self.backoff_s(attempt)
        if retry_after is not None:
            if retry_after > self.retry_after_max_s:
                return None
            wait = max(wait, retry_after)
        return wait
