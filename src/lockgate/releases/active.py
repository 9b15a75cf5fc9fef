"""The releases serving now, cached in-process for a short time: one store read per process
every `releases.cache_ttl_s` (2 s), not one per turn, and a change made by another process
(`lockgate release promote`) is seen within that time without a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lockgate.releases.model import Release

if TYPE_CHECKING:
    from lockgate.store.releases import ReleaseStore


@dataclass(frozen=True)
class Active:
    current: Release | None = None
    rollout: Release | None = None


class ActiveReleases:
    def __init__(self, store: ReleaseStore, ttl_s: float = 2.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._value = Active()
        self._read_at = -float("inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def stale(self) -> bool:
        return time.monotonic() - self._read_at >= self.ttl_s

    def refresh(self) -> Active:
        current, rollout = self.store.active()
        value = Active(current, rollout)
        with self._lock:
            self._value, self._read_at = value, time.monotonic()
        return value

    def invalidate(self) -> None:
        """This process changed a release: read again at the next turn."""
        with self._lock:
            self._read_at = -float("inf")

    async def get(self) -> Active:
        if not self.stale():
            return self._value
        if self._refreshing and self._read_at > -float("inf"):
            # One read in flight is enough; the others use what was there until it lands.
            return self._value
        self._refreshing = True
        try:
            return await asyncio.to_thread(self.refresh)
        finally:
            self._refreshing = False
