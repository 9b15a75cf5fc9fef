"""The deployments behind one model name, their concurrency slots and the bounded wait queue.

Everything here runs on the event loop thread, so counters need no locks; waiting is a FIFO of
futures capped at `queue_size`, which is what keeps memory bounded under overload: request
number `queue_size + 1` is refused at once with 503 + Retry-After rather than queued."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from lockgate.config import ModelSpec, ResilienceConfig
from lockgate.models.base import ChatBackend, ChatRequest, UpstreamError
from lockgate.observability.metrics import METRICS
from lockgate.upstreams.balancer import choose
from lockgate.upstreams.breaker import CircuitBreaker
from lockgate.upstreams.retry import RetryPolicy, is_retryable

Clock = Callable[[], float]
# Weight of the newest sample in the latency average: recent enough to follow a slowdown
# within a handful of requests, smooth enough not to flap on one slow answer.
_EWMA = 0.3


class Unavailable(UpstreamError):
    """No deployment of this model can take a request now (breakers open or Retry-After)."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, status=503, retryable=True, retry_after=retry_after)


class Overloaded(UpstreamError):
    """Every slot busy and the wait queue full (or the wait timed out)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status=503, retryable=False, retry_after=retry_after)


@dataclass
class Deployment:
    key: str
    model: ChatBackend
    weight: float
    max_concurrency: int
    breaker: CircuitBreaker
    in_flight: int = 0
    latency_ms: float | None = None
    # Monotonic time before which the upstream asked not to be called (429 Retry-After).
    not_before: float = 0.0

    def observe_latency(self, ms: float) -> None:
        self.latency_ms = (
            ms if self.latency_ms is None else (_EWMA * ms + (1 - _EWMA) * self.latency_ms)
        )


@dataclass
class DeploymentPool:
    """One model name: its deployments, retry policy and queue."""

    name: str
    spec: ModelSpec
    deployments: list[Deployment]
    clock: Clock = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    _waiters: deque[asyncio.Future[None]] = field(default_factory=deque)

    @property
    def cfg(self) -> ResilienceConfig:
        return self.spec.resilience

    @property
    def policy(self) -> RetryPolicy:
        return RetryPolicy.from_config(self.cfg, self.rng)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def fit(self, request: ChatRequest) -> ChatRequest:
        """The request as this model can take it: a fallback may allow fewer output tokens."""
        if request.max_tokens <= self.spec.max_output_tokens:
            return request
        return replace(request, max_tokens=self.spec.max_output_tokens)

    def states(self) -> dict[str, str]:
        return {d.key: d.breaker.state for d in self.deployments}

    def _live(self, avoid: set[str]) -> list[Deployment]:
        now = self.clock()
        live = [d for d in self.deployments if d.breaker.available() and d.not_before <= now]
        # Prefer deployments this request has not failed on yet; fall back to all of them.
        fresh = [d for d in live if d.key not in avoid]
        return fresh or live

    def has_untried(self, avoid: set[str]) -> bool:
        return any(d.key not in avoid for d in self._live(avoid))

    def _unavailable(self) -> Unavailable:
        now = self.clock()
        waits = [max(d.breaker.retry_after_s(), d.not_before - now) for d in self.deployments]
        return Unavailable(
            f"no deployment of '{self.name}' is available "
            f"({', '.join(f'{k}: {s}' for k, s in self.states().items())})",
            retry_after=max(0.0, min(waits)) if waits else None,
        )

    async def acquire(self, avoid: set[str]) -> Deployment:
        deadline = self.clock() + self.cfg.queue_timeout_s
        while True:
            live = self._live(avoid)
            if not live:
                raise self._unavailable()
            free = [d for d in live if d.in_flight < d.max_concurrency]
            if free:
                dep = choose(self.cfg.balancer, free, self.rng)
                if dep.breaker.acquire():
                    dep.in_flight += 1
                    return dep
                continue  # its last half-open probe went to someone else: pick again
            if len(self._waiters) >= self.cfg.queue_size:
                METRICS.inc("lockgate_queue_rejected_total", model=self.name)
                raise Overloaded(
                    f"model '{self.name}' is at capacity and its queue is full",
                    retry_after=self._overload_hint(),
                )
            remaining = deadline - self.clock()
            if remaining <= 0:
                METRICS.inc("lockgate_queue_timeouts_total", model=self.name)
                raise Overloaded(
                    f"model '{self.name}': no capacity within {self.cfg.queue_timeout_s:g}s",
                    retry_after=self._overload_hint(),
                )
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                pass  # the loop re-checks for a slot once more, then gives up
            except asyncio.CancelledError:
                # We were woken but will not use the slot: hand the wake-up on.
                if waiter.done() and not waiter.cancelled():
                    self._wake()
                raise
            finally:
                # Still queued only when timed out or cancelled; a woken waiter was popped.
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _overload_hint(self) -> float:
        # A rough "come back when a slot turns over": the recent latency, at least 1 s.
        lat = [d.latency_ms for d in self.deployments if d.latency_ms is not None]
        return float(max(1, math.ceil((min(lat) / 1000) if lat else 1)))

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def release(self, dep: Deployment) -> None:
        dep.in_flight -= 1
        self._wake()

    def succeeded(self, dep: Deployment, latency_ms: float) -> None:
        dep.breaker.record_success()
        dep.observe_latency(latency_ms)
        METRICS.inc("lockgate_upstream_requests_total", deployment=dep.key, outcome="ok")

    def failed(self, dep: Deployment, exc: BaseException) -> None:
        if is_retryable(exc):
            dep.breaker.record_failure()
            retry_after = exc.retry_after if isinstance(exc, UpstreamError) else None
            if retry_after:
                dep.not_before = max(dep.not_before, self.clock() + retry_after)
            outcome = "retryable_error"
        else:
            # Not the upstream's health (a bad request, a cancelled client): no verdict.
            dep.breaker.release_probe()
            outcome = "error"
        METRICS.inc("lockgate_upstream_requests_total", deployment=dep.key, outcome=outcome)


def deployment_specs(name: str, spec: ModelSpec) -> list[tuple[str, ModelSpec, float, int]]:
    """(key, spec for the backend, weight, max_concurrency) per deployment; a model without a
    `deployments` list is its own single deployment."""
    if not spec.deployments:
        # Generous: without a configured limit the gateway behaves as before (no queueing).
        return [(name, spec, 1.0, 1024)]
    out = []
    for i, dep in enumerate(spec.deployments):
        overrides = {
            k: v
            for k, v in (
                ("base_url", dep.base_url),
                ("upstream_model", dep.upstream_model),
                ("api_key_env", dep.api_key_env),
                ("model_path", dep.model_path),
            )
            if v is not None
        }
        key = f"{name}/{dep.name or i}"
        out.append((key, spec.model_copy(update=overrides), dep.weight, dep.max_concurrency))
    return out
