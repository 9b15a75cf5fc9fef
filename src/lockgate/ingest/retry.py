"""Retry transient failures with exponential backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lockgate.config import RetryConfig
from lockgate.ingest.sources import FetchError, SourceError

T = TypeVar("T")


def with_retry(
    fn: Callable[[], T],
    config: RetryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Call `fn`; retry FetchError(transient=True) and SourceError. Returns (value, tries)."""
    for attempt in range(1, config.attempts + 1):
        try:
            return fn(), attempt
        except (FetchError, SourceError) as exc:
            last = attempt == config.attempts
            if last or (isinstance(exc, FetchError) and not exc.transient):
                exc.attempts = attempt
                raise
            sleep(min(config.max_backoff_s, config.backoff_s * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")
