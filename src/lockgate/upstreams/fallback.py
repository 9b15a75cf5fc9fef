"""The resilient chat backend: retries within a model's deployments, then the fallback chain.

`registry.get(name)` returns one of these, so callers keep using `complete` / `stream`.
Rules that matter:
  * only retryable failures (connection, timeout, 429, 5xx) are retried or fall back; a 4xx
    is the request's fault and goes straight back to the client;
  * a stream is committed once its first text token is handed out: a failure after that is
    reported (error event), never silently retried from the start, because the client has
    already shown part of an answer;
  * each attempt holds a deployment slot and goes through that deployment's breaker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.config import ModelSpec
from lockgate.models.base import ChatDelta, ChatRequest, ChatResult, UpstreamError
from lockgate.observability.metrics import METRICS
from lockgate.upstreams.deployments import Deployment, DeploymentPool, Overloaded, Unavailable
from lockgate.upstreams.retry import is_retryable


@dataclass
class CallReport:
    """What happened on the way to an answer; goes into the trace as `upstream`."""

    attempts: list[dict[str, Any]] = field(default_factory=list)
    served_by: str | None = None  # model name that answered
    deployment: str | None = None
    fallback: bool = False
    streamed_then_failed: bool = False

    def add(self, dep: str, outcome: str, ms: float, error: str | None = None) -> None:
        # Bounded: retries x chain length is small, but a trace must never grow unbounded.
        if len(self.attempts) < 32:
            row: dict[str, Any] = {"deployment": dep, "outcome": outcome, "ms": round(ms, 2)}
            # Wall-clock start (epoch seconds), so exported spans sit where the attempt ran.
            row["start"] = round(time.time() - ms / 1000, 6)
            if error:
                row["error"] = error[:300]
            self.attempts.append(row)

    def as_dict(self) -> dict[str, Any]:
        return {
            "served_by": self.served_by,
            "deployment": self.deployment,
            "fallback": self.fallback,
            "streamed_then_failed": self.streamed_then_failed,
            "attempts": self.attempts,
        }


def _timeout_error(pool: DeploymentPool, dep: Deployment, what: str) -> UpstreamError:
    return UpstreamError(f"upstream '{dep.key}' {what}", status=504, retryable=True)


async def _next(it: AsyncIterator[ChatDelta], deadline: float | None) -> ChatDelta:
    """One step of a stream, bounded by a deadline. The timeout wraps only this await, never a
    `yield`, so it cancels the upstream read and not whoever consumes us."""
    if deadline is None:
        return await anext(it)
    async with asyncio.timeout_at(deadline):
        return await anext(it)


class Upstream:
    """One model name as callers see it: its deployments, retries and fallback chain. Not a
    backend itself; `complete` and `stream` fill the CallReport they are given."""

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        pool: DeploymentPool,
        resolve: Callable[[str], DeploymentPool],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.spec = spec
        self.backend = spec.backend
        self.pool = pool
        self._resolve = resolve
        self._sleep = sleep

    # -- lifecycle, passed on to the deployments' backends -------------------------------

    @property
    def deployments(self) -> list[Deployment]:
        return self.pool.deployments

    def chain(self) -> list[DeploymentPool]:
        return [self.pool, *(self._resolve(f) for f in self.spec.fallbacks)]

    def ready(self) -> bool:
        return any(d.model.ready() for d in self.pool.deployments)

    def count_tokens(self, text: str) -> int:
        return self.pool.deployments[0].model.count_tokens(text)

    def supports_tools(self) -> bool:
        """Whether every deployment that may answer, fallbacks included, can take tools: a
        fallback without them would answer a tool request as if none had been offered."""
        return all(d.model.supports_tools for pool in self.chain() for d in pool.deployments)

    def load(self) -> None:
        for d in self.pool.deployments:
            d.model.load()

    async def aclose(self) -> None:
        for d in self.pool.deployments:
            await d.model.aclose()

    def breaker_states(self) -> dict[str, str]:
        return self.pool.states()

    # -- attempts --------------------------------------------------------------------------

    async def _acquire(
        self, pool: DeploymentPool, avoid: set[str], attempt: int, report: CallReport
    ) -> tuple[Deployment | None, int]:
        """A deployment, waiting out a short Retry-After if that is all that stands in the
        way; None when this model cannot serve now (go to the next in the chain)."""
        policy = pool.policy
        while True:
            try:
                return await pool.acquire(avoid), attempt
            except Unavailable as exc:
                delay = policy.delay_s(attempt, exc.retry_after)
                if attempt >= policy.retries or delay is None:
                    report.add(pool.name, "unavailable", 0.0, exc.for_trace())
                    raise
                attempt += 1
                await self._sleep(delay)

    def _delay(
        self, pool: DeploymentPool, exc: UpstreamError, attempt: int, avoid: set[str]
    ) -> float | None:
        """None: do not retry on this model. 0 when another deployment is there to try."""
        policy = pool.policy
        if not is_retryable(exc) or attempt >= policy.retries:
            return None
        if pool.has_untried(avoid):
            return 0.0
        return policy.delay_s(attempt, exc.retry_after)

    def _give_up(self, errors: list[UpstreamError]) -> UpstreamError:
        if errors and all(isinstance(e, Overloaded) for e in errors):
            return errors[0]
        real = [e for e in errors if not isinstance(e, Unavailable | Overloaded)]
        last = (real or errors)[-1]
        if len(errors) > 1:
            chain = ", ".join(p.name for p in self.chain())
            err = UpstreamError(
                f"every backend for '{self.name}' failed ({chain}); last: {last}",
                status=last.status,
                upstream_status=last.upstream_status,
                retryable=False,
                retry_after=last.retry_after,
                detail=last.detail,
            )
            return err
        return last

    # -- complete --------------------------------------------------------------------------

    def _chain_timed_out(self) -> UpstreamError:
        """The error (and metric) for a call that used up `chain_timeout_s`."""
        METRICS.inc("lockgate_chain_timeouts_total", model=self.name)
        budget = self.pool.cfg.chain_timeout_s or 0.0
        return UpstreamError(
            f"no backend for '{self.name}' answered within {budget:g}s "
            "(retries and fallbacks included)",
            status=504,
            retryable=False,
        )

    async def complete(self, request: ChatRequest, report: CallReport | None = None) -> ChatResult:
        report = report if report is not None else CallReport()
        budget = self.pool.cfg.chain_timeout_s
        if budget is None:
            return await self._complete_chain(request, report)
        try:
            async with asyncio.timeout(budget):
                return await self._complete_chain(request, report)
        except TimeoutError:
            raise self._chain_timed_out() from None

    async def _complete_chain(self, request: ChatRequest, report: CallReport) -> ChatResult:
        errors: list[UpstreamError] = []
        for i, pool in enumerate(self.chain()):
            try:
                result = await self._complete_on(pool, pool.fit(request), report)
            except UpstreamError as exc:
                if not is_retryable(exc) and not isinstance(exc, Overloaded | Unavailable):
                    raise
                errors.append(exc)
                continue
            report.served_by, report.fallback = pool.name, i > 0
            if i > 0:
                METRICS.inc("lockgate_fallbacks_total", model=self.name, to=pool.name)
            return result
        raise self._give_up(errors)

    async def _complete_on(
        self, pool: DeploymentPool, request: ChatRequest, report: CallReport
    ) -> ChatResult:
        avoid: set[str] = set()
        attempt = 0
        while True:
            dep, attempt = await self._acquire(pool, avoid, attempt, report)
            assert dep is not None
            t0 = time.perf_counter()
            total = pool.cfg.total_timeout_s
            try:
                if total is None:
                    result = await dep.model.complete(request)
                else:
                    async with asyncio.timeout(total):
                        result = await dep.model.complete(request)
            except TimeoutError:
                exc: UpstreamError = _timeout_error(pool, dep, f"took longer than {total:g}s")
            except UpstreamError as err:
                exc = err
            except BaseException:
                dep.breaker.release_probe()
                pool.release(dep)
                raise
            else:
                ms = (time.perf_counter() - t0) * 1000
                pool.release(dep)
                pool.succeeded(dep, ms)
                report.add(dep.key, "ok", ms)
                report.deployment = dep.key
                return result
            pool.release(dep)
            pool.failed(dep, exc)
            report.add(dep.key, "error", (time.perf_counter() - t0) * 1000, exc.for_trace())
            avoid.add(dep.key)
            delay = self._delay(pool, exc, attempt, avoid)
            if delay is None:
                raise exc
            METRICS.inc("lockgate_retries_total", model=pool.name)
            attempt += 1
            if delay:
                await self._sleep(delay)

    # -- stream ----------------------------------------------------------------------------

    async def stream(
        self, request: ChatRequest, report: CallReport | None = None
    ) -> AsyncGenerator[ChatDelta, None]:
        report = report if report is not None else CallReport()
        errors: list[UpstreamError] = []
        budget = self.pool.cfg.chain_timeout_s
        loop = asyncio.get_running_loop()
        chain_deadline = None if budget is None else loop.time() + budget
        for i, pool in enumerate(self.chain()):
            req = pool.fit(request)
            avoid: set[str] = set()
            attempt = 0
            while True:
                try:
                    async with asyncio.timeout_at(chain_deadline):
                        dep, attempt = await self._acquire(pool, avoid, attempt, report)
                except UpstreamError as exc:
                    errors.append(exc)
                    break
                except TimeoutError:
                    raise self._chain_timed_out() from None
                assert dep is not None
                opened = await self._open_stream(pool, dep, req, report, chain_deadline)
                if (
                    isinstance(opened, UpstreamError)
                    and chain_deadline is not None
                    and loop.time() >= chain_deadline
                ):
                    raise self._chain_timed_out()
                if isinstance(opened, UpstreamError):
                    avoid.add(dep.key)
                    delay = self._delay(pool, opened, attempt, avoid)
                    if delay is None:
                        if not is_retryable(opened):
                            raise opened
                        errors.append(opened)
                        break
                    METRICS.inc("lockgate_retries_total", model=pool.name)
                    attempt += 1
                    if delay:
                        await self._sleep(delay)
                    continue
                # Committed: from here on this stream is the answer, whatever happens.
                report.served_by, report.fallback = pool.name, i > 0
                report.deployment = dep.key
                if i > 0:
                    METRICS.inc("lockgate_fallbacks_total", model=self.name, to=pool.name)
                async for delta in self._committed(pool, dep, opened, report):
                    yield delta
                return
        raise self._give_up(errors)

    async def _open_stream(
        self,
        pool: DeploymentPool,
        dep: Deployment,
        request: ChatRequest,
        report: CallReport,
        chain_deadline: float | None = None,
    ) -> UpstreamError | tuple[AsyncGenerator[ChatDelta, None], list[ChatDelta], bool, float]:
        """Start the upstream stream and read up to its first text token or tool call. Nothing
        is handed out before that, so a failure here can still be retried cleanly. On success
        the deployment slot stays taken; on failure it is released."""
        cfg = pool.cfg
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = None if cfg.total_timeout_s is None else loop.time() + cfg.total_timeout_s
        first_deadline = deadline
        if cfg.first_token_timeout_s is not None:
            ft = loop.time() + cfg.first_token_timeout_s
            first_deadline = ft if deadline is None else min(ft, deadline)
        if chain_deadline is not None:
            first_deadline = (
                chain_deadline if first_deadline is None else min(first_deadline, chain_deadline)
            )
        it = dep.model.stream(request)
        held: list[ChatDelta] = []
        ended = False
        try:
            while True:
                try:
                    delta = await _next(it, first_deadline)
                except StopAsyncIteration:
                    ended = True
                    break
                held.append(delta)
                # A tool call is the answer starting as much as text is.
                if delta.text or delta.tool_calls:
                    break
        except (UpstreamError, TimeoutError) as err:
            exc = (
                err
                if isinstance(err, UpstreamError)
                else _timeout_error(pool, dep, "sent no first token in time")
            )
            await _close(it)
            pool.release(dep)
            pool.failed(dep, exc)
            report.add(dep.key, "error", (time.perf_counter() - t0) * 1000, exc.for_trace())
            return exc
        except BaseException:
            await _close(it)
            dep.breaker.release_probe()
            pool.release(dep)
            raise
        ttft = (time.perf_counter() - t0) * 1000
        report.add(dep.key, "ok", ttft)
        return it, held, ended, ttft

    async def _committed(
        self,
        pool: DeploymentPool,
        dep: Deployment,
        opened: tuple[AsyncGenerator[ChatDelta, None], list[ChatDelta], bool, float],
        report: CallReport,
    ) -> AsyncGenerator[ChatDelta, None]:
        it, held, ended, ttft = opened
        cfg = pool.cfg
        loop = asyncio.get_running_loop()
        deadline = None if cfg.total_timeout_s is None else loop.time() + cfg.total_timeout_s
        verdict = False
        try:
            for delta in held:
                yield delta
            while not ended:
                try:
                    delta = await _next(it, deadline)
                except StopAsyncIteration:
                    break
                yield delta
            pool.succeeded(dep, ttft)
            verdict = True
        except (UpstreamError, TimeoutError) as err:
            exc = (
                err
                if isinstance(err, UpstreamError)
                else _timeout_error(pool, dep, f"stream took longer than {cfg.total_timeout_s}s")
            )
            pool.failed(dep, exc)
            verdict = True
            report.streamed_then_failed = True
            METRICS.inc("lockgate_stream_failures_total", deployment=dep.key)
            # Tokens are out already: report, do not retry (a caller must never get a
            # spliced answer from two attempts).
            raise UpstreamError(
                f"{exc} (after the answer had started; not retried)",
                status=exc.status,
                upstream_status=exc.upstream_status,
                retryable=False,
                detail=exc.detail,
            ) from exc
        finally:
            if not verdict:
                dep.breaker.release_probe()  # cancelled by the client: no verdict on health
            await _close(it)
            pool.release(dep)


async def _close(it: AsyncGenerator[ChatDelta, None]) -> None:
    with contextlib.suppress(Exception):
        await it.aclose()
