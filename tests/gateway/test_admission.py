"""Admission over real HTTP: beyond `server.max_inflight` requests in flight, a request waits
at most `server.queue_wait_s` and is then answered 503 `overloaded` with Retry-After and an
OpenAI error body; liveness, readiness and metrics are never held back; places free up as
requests finish. The waiting line itself (Slots) is checked on its own event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lockgate.gateway.admission import Slots
from lockgate.gateway.app import create_app
from tests.conftest import make_services, make_settings
from tests.support.server import serve

# Generous margins around each wait: the suite shares two cores with other work.
WAIT_S = 1.5
HELD_MS = 5000


async def _napping(request: Request) -> JSONResponse:
    """An upstream that answers after the number of milliseconds the message names."""
    body = await request.json()
    ms = int(body["messages"][-1]["content"].split()[-1])
    await asyncio.sleep(ms / 1000)
    return JSONResponse(
        {
            "id": "chatcmpl-nap",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )


@pytest.fixture(scope="module")
def gw(tmp_path_factory, embedder) -> Iterator[str]:
    upstream = Starlette(routes=[Route("/v1/chat/completions", _napping, methods=["POST"])])
    home = tmp_path_factory.mktemp("admission-home")
    server = {"max_inflight": 2, "queue_wait_s": WAIT_S}
    with serve(upstream) as up:
        settings = make_settings(home, up + "/v1", server=server, grounded={"model": "echo"})
        settings.models["echo"] = settings.models["echo"].model_copy(update={"read_timeout_s": 10})
        services = make_services(settings, embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
            yield base


def _slow(base: str, ms: int) -> httpx.Response:
    body = {"model": "echo", "messages": [{"role": "user", "content": f"sleep {ms}"}]}
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=30)


def _together(n: int, send: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def one(i: int) -> httpx.Response:
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_beyond_the_limit_requests_wait_briefly_then_get_503(gw) -> None:
    replies = _together(6, lambda i: _slow(gw, HELD_MS))
    codes = sorted(r.status_code for r in replies)
    assert codes.count(200) == 2 and codes.count(503) == 4, codes
    for r in replies:
        if r.status_code != 503:
            continue
        assert r.headers["retry-after"] == "1"
        assert r.headers.get("x-lockgate-trace-id")
        err = r.json()["error"]
        assert err["code"] == "overloaded" and err["type"] == "service_unavailable"
        # Refused after the queue wait, well before a place came free.
        assert WAIT_S * 0.9 <= r.elapsed.total_seconds() < HELD_MS / 1000 - 1


def test_a_waiting_request_gets_a_place_that_frees_within_its_wait(gw) -> None:
    # Both places are held for 300 ms; a third request sent while they are held gets one
    # when they end, inside its wait.
    with ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(_slow, gw, 300) for _ in range(2)]
        _until_in_flight(gw, 2)
        late = _slow(gw, 0)
        assert late.status_code == 200, late.text
        assert [f.result().status_code for f in busy] == [200, 200]


def test_health_readiness_and_metrics_are_never_held_back(gw) -> None:
    with ThreadPoolExecutor(4) as pool:
        busy = [pool.submit(_slow, gw, 3000) for _ in range(2)]
        _until_in_flight(gw, 2)
        shed = httpx.get(gw + "/v1/models", timeout=10)
        assert shed.status_code == 503 and shed.json()["error"]["code"] == "overloaded"
        for path in ("/healthz", "/readyz", "/metrics"):
            r = httpx.get(gw + path, timeout=10)
            assert r.status_code == 200, (path, r.text[:200])
        assert not all(f.done() for f in busy)  # the places were held throughout
        assert all(f.result().status_code == 200 for f in busy)
    metrics = httpx.get(gw + "/metrics", timeout=10).text
    line = next(ln for ln in metrics.splitlines() if ln.startswith("lockgate_admission_shed_total"))
    assert float(line.split()[-1]) >= 1
    # Everything has finished: every place is free again.
    assert httpx.get(gw + "/v1/models", timeout=10).status_code == 200


def _until_in_flight(base: str, n: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(base + "/metrics", timeout=10).text
        line = next(ln for ln in text.splitlines() if ln.startswith("lockgate_admission_in_flight"))
        if float(line.split()[-1]) == n:
            return
        assert time.monotonic() < deadline, line
        time.sleep(0.02)


# -- the waiting line --------------------------------------------------------------------


def test_slots_serve_waiters_in_arrival_order_and_time_them_out() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        assert await slots.acquire(0.1)
        order: list[int] = []

        async def waiter(i: int, wait: float) -> None:
            if await slots.acquire(wait):
                order.append(i)
                await asyncio.sleep(0.01)
                slots.release()

        tasks = [asyncio.create_task(waiter(i, 1.0)) for i in range(3)]
        timed_out = asyncio.create_task(slots.acquire(0.05))
        await asyncio.sleep(0.1)
        assert await timed_out is False  # its wait ran out while the place was held
        assert slots.waiting == 3
        slots.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2]
        assert slots.in_flight == 0 and slots.waiting == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_passes_its_place_on() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        assert await slots.acquire(0.1)
        gone = asyncio.create_task(slots.acquire(5))
        nxt = asyncio.create_task(slots.acquire(5))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0)
        slots.release()
        assert await nxt is True
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert slots.in_flight == 1 and slots.waiting == 0
        slots.release()
        assert slots.in_flight == 0

    asyncio.run(scenario())


def test_a_release_between_a_waiters_cancellation_and_its_wake_up_loses_no_place() -> None:
    async def scenario() -> None:
        slots = Slots(1)
        assert await slots.acquire(0.1)
        gone = asyncio.create_task(slots.acquire(5))
        await asyncio.sleep(0.01)
        gone.cancel()  # its wait is cancelled now; the task itself runs later
        slots.release()  # drops the cancelled waiter from the line and frees the place
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert slots.in_flight == 0 and slots.waiting == 0
        assert await slots.acquire(0.1) and slots.in_flight == 1

    asyncio.run(scenario())
