"""The open-model load generator: request i is sent at start + i / rps whether or not the
earlier ones have been answered, so a deployment that falls behind shows it as latency and
errors instead of quietly receiving fewer requests (the "coordinated omission" of closed
loops). Latency and time to first token are measured from each request's scheduled time:
the generator's own lateness counts against the result, never hides in it, and is reported
as the schedule lag with the generator's CPU use so an overloaded generator is visible."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from lockgate.loadtest.client import ClientError, Pool, Response, Target, post
from lockgate.loadtest.scenario import PATH, Scenario

# The start is scheduled a little ahead so that the first sends do not count setting up.
_LEAD_S = 0.05


@dataclass
class Sample:
    """One request: times are seconds after its scheduled send time."""

    due: float  # scheduled send time, seconds after the start
    lag: float  # how late the generator sent it
    outcome: str  # the HTTP status ("200", "503") or how it failed ("timeout", "connect", ...)
    latency: float | None = None
    ttft: float | None = None
    cost: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class Run:
    samples: list[Sample]
    rps: float
    duration: float
    wall: float  # from the start until the last response (or timeout)
    send_span: float  # from the first send to the last
    cpu_thread: float  # CPU seconds of the generator's event loop thread
    cpu_process: float  # CPU seconds of the whole process (a gateway in it included)
    connections: int


def _sample(due: float, lag: float, resp: Response, done: float, start: float) -> Sample:
    at = start + due
    outcome = str(resp.status) if resp.error is None else "stream_error"
    usage = resp.usage or {}
    cost = (resp.lockgate or {}).get("cost")
    return Sample(
        due=due,
        lag=lag,
        outcome=outcome,
        latency=done - at,
        ttft=None if resp.ttft is None else resp.ttft - at,
        cost=float(cost) if isinstance(cost, int | float) else None,
        tokens_in=int(usage.get("prompt_tokens") or 0),
        tokens_out=int(usage.get("completion_tokens") or 0),
    )


async def _one(
    pool: Pool,
    body: bytes,
    api_key: str | None,
    timeout: float,
    due: float,
    lag: float,
    start: float,
) -> Sample:
    try:
        resp = await asyncio.wait_for(post(pool, PATH, body, api_key), timeout)
    except TimeoutError:
        return Sample(due, lag, "timeout")
    except ClientError as exc:
        return Sample(due, lag, exc.kind)
    return _sample(due, lag, resp, time.monotonic(), start)


async def drive(
    target: Target,
    scenario: Scenario,
    rps: float,
    duration: float,
    api_key: str | None = None,
    timeout: float = 60.0,
    connections: int = 256,
) -> Run:
    """Send round(rps x duration) requests on schedule and wait for every answer (each
    bounded by `timeout`)."""
    if rps <= 0 or duration <= 0:
        raise ValueError("rps and duration must be positive")
    total = max(1, round(rps * duration))
    interval = 1.0 / rps
    pool = Pool(target, connections)
    bodies = scenario.bodies
    tasks: list[asyncio.Task[Sample]] = []
    cpu_thread, cpu_process = time.thread_time(), time.process_time()
    start = time.monotonic() + _LEAD_S
    first_send = last_send = start
    try:
        for i in range(total):
            due = i * interval
            wait = start + due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            if i == 0:
                first_send = now
            last_send = now
            body = bodies[i % len(bodies)]
            tasks.append(
                asyncio.create_task(
                    _one(pool, body, api_key, timeout, due, now - start - due, start)
                )
            )
        samples = list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await pool.close()
    wall = time.monotonic() - start
    return Run(
        samples=samples,
        rps=rps,
        duration=duration,
        wall=wall,
        send_span=last_send - first_send,
        cpu_thread=time.thread_time() - cpu_thread,
        cpu_process=time.process_time() - cpu_process,
        connections=pool.opened,
    )
