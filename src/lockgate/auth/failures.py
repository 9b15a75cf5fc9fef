"""Failed authentication attempts per client address, in a sliding window. A client over the
limit is refused for a while without its credential being looked at, which makes guessing
keys slow and keeps a flood of bad keys off the store."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        max_failures: int,
        window_s: float,
        lockout_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.clock = clock
        # Bounded so that failures from many spoofed or rotating addresses cannot grow
        # memory without limit; the oldest client is forgotten first.
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds the client must wait before it is heard again; 0 when it is not blocked."""
        with self._lock:
            until = self._blocked.get(client)
            if until is None:
                return 0.0
            left = until - self.clock()
            if left <= 0:
                del self._blocked[client]
                return 0.0
            return left

    def failed(self, client: str) -> bool:
        """Count one failure; True when this one puts the client over the limit."""
        now = self.clock()
        with self._lock:
            times = self._failures.pop(client, None) or deque()
            times.append(now)
            while times and times[0] <= now - self.window_s:
                times.popleft()
            self._failures[client] = times  # re-inserted: the dict is oldest-first
            if len(self._failures) > self.max_clients:
                del self._failures[next(iter(self._failures))]
            if len(times) > self.max_failures:
                self._blocked[client] = now + self.lockout_s
                if len(self._blocked) > self.max_clients:
                    del self._blocked[next(iter(self._blocked))]
                times.clear()
                return True
            return False
