"""A circuit breaker per upstream deployment: closed → open → half-open → closed.

Closed: requests pass; retryable failures are counted. `failures` consecutive ones (a success
resets the count) within `window_s` open it. Open: requests skip the deployment, so a dead
upstream costs no timeouts, until `cooldown_s` has passed. Half-open: `half_open_probes`
requests go through; a success closes the breaker, a failure opens it again."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockgate.config import BreakerConfig
from lockgate.observability.metrics import METRICS

if TYPE_CHECKING:
    from lockgate.upstreams.shared import SharedBreakers

log = logging.getLogger("lockgate.upstreams")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Numeric gauge values for /metrics: 0 is healthy, so an alert is `> 0`.
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

Clock = Callable[[], float]
# Told (deployment key, from state, to state) of each change, e.g. to announce an opening.
BreakerListener = Callable[[str, str, str], None]


class CircuitBreaker:
    def __init__(
        self,
        key: str,
        cfg: BreakerConfig,
        clock: Clock = time.monotonic,
        on_change: BreakerListener | None = None,
        shared: SharedBreakers | None = None,
    ) -> None:
        self.key = key
        self.shared = shared
        # The generation of the shared opening this breaker last followed (or published).
        self.shared_gen = 0
        self.on_change = on_change
        self.cfg = cfg
        self.clock = clock
        self._state = CLOSED
        # At most `failures` timestamps: the window never grows with traffic.
        self._failures: deque[float] = deque(maxlen=cfg.failures)
        self._opened_at = 0.0
        self._probes = 0
        self._followed = False  # whether the current opening came from the shared state
        self.transitions: list[tuple[str, str]] = []
        METRICS.set("lockgate_breaker_state", STATE_VALUE[CLOSED], deployment=key)
        if shared is not None:
            shared.register(self)

    @property
    def state(self) -> str:
        if self.shared is not None and self.cfg.enabled:
            self._follow_shared()
        # Open turns half-open by time alone: nobody has to poll it.
        if self._state == OPEN and self.clock() - self._opened_at >= self.cfg.cooldown_s:
            self._move(HALF_OPEN)
        return self._state

    def _follow_shared(self) -> None:
        assert self.shared is not None
        view = self.shared.view(self.key)
        if view is None:
            return
        remaining, gen = view
        if gen == self.shared_gen:
            # The opening we follow was closed by a successful probe elsewhere.
            if remaining is None and self._state != CLOSED and self._followed:
                self._followed = False
                self._failures.clear()
                self._move(CLOSED)
            return
        if remaining is not None and remaining > 0 and self._state != OPEN:
            self.shared_gen = gen
            self._followed = True
            self._opened_at = self.clock() - max(0.0, self.cfg.cooldown_s - remaining)
            self._failures.clear()
            self._move(OPEN)

    def retry_after_s(self) -> float:
        """How long until an open breaker lets a probe through (0 if it would now)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self.cfg.cooldown_s - (self.clock() - self._opened_at))

    def available(self) -> bool:
        """Whether a request could be sent now, without taking a probe slot."""
        if not self.cfg.enabled:
            return True
        state = self.state
        if state == CLOSED:
            return True
        return state == HALF_OPEN and self._probes < self.cfg.half_open_probes

    def acquire(self) -> bool:
        """Take permission to send one request; in half-open this uses up a probe."""
        if not self.available():
            return False
        if self.cfg.enabled and self._state == HALF_OPEN:
            self._probes += 1
        return True

    def record_success(self) -> None:
        if self._state == HALF_OPEN:
            self._move(CLOSED)
            if self.shared is not None:
                self.shared.closed(self)
        # Failures count only while consecutive: a healthy upstream that drops the odd request
        # must not be cut off just because traffic is high.
        self._failures.clear()
        if self.shared is not None:
            self.shared.success(self)

    def record_failure(self) -> None:
        if not self.cfg.enabled:
            return
        now = self.clock()
        if self._state == HALF_OPEN:
            self._open(now)
            return
        if self._state == OPEN:
            return
        if self.shared is not None:
            self.shared.failure(self)
        self._failures.append(now)
        recent = [t for t in self._failures if now - t <= self.cfg.window_s]
        if len(recent) >= self.cfg.failures:
            self._open(now)

    def release_probe(self) -> None:
        """A half-open probe ended without a verdict (cancelled, client error): free it."""
        if self._state == HALF_OPEN and self._probes > 0:
            self._probes -= 1

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._followed = False
        self._move(OPEN)
        if self.shared is not None:
            self.shared.opened(self)

    def _move(self, to: str) -> None:
        if to == self._state:
            return
        self.transitions.append((self._state, to))
        self._state = to
        self._probes = 0
        METRICS.set("lockgate_breaker_state", STATE_VALUE[to], deployment=self.key)
        METRICS.inc("lockgate_breaker_transitions_total", deployment=self.key, to=to)
        if self.on_change is not None:
            try:
                self.on_change(self.key, self.transitions[-1][0], to)
            except Exception:  # noqa: BLE001 - a listener must not change the breaker's verdict
                log.exception("breaker listener failed for %s", self.key)
