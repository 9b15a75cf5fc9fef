"""The resilient model against real faulty upstreams on loopback (tests/support/faulty_upstream):
requests survive while one backend in the chain is healthy, the breaker opens and recovers
through half-open, a stream that already produced tokens is never retried, Retry-After is
honoured."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.config import ModelSpec, Settings
from lockgate.models.base import ChatRequest, Message, UpstreamError
from lockgate.upstreams.breaker import CLOSED, HALF_OPEN, OPEN
from lockgate.upstreams.deployments import Unavailable
from lockgate.upstreams.fallback import CallReport, Upstream
from lockgate.upstreams.registry import ModelRegistry
from tests.support.faulty_upstream import FaultyUpstream

FAST = {
    "retries": 2,
    "backoff_base_ms": 5,
    "backoff_max_ms": 40,
    "retry_after_max_s": 1.0,
    "first_token_timeout_s": 0.5,
    "total_timeout_s": 1.0,
}


def model_spec(*urls: str, fallbacks: tuple[str, ...] = (), **resilience: Any) -> ModelSpec:
    res = {**FAST, **resilience}
    deployments = (
        [{"name": f"d{i}", "base_url": u} for i, u in enumerate(urls)] if len(urls) > 1 else []
    )
    return ModelSpec(
        backend="openai",
        base_url=urls[0],
        connect_timeout_s=0.5,
        read_timeout_s=1.0,
        deployments=deployments,  # type: ignore[arg-type]
        fallbacks=list(fallbacks),
        resilience=res,  # type: ignore[arg-type]
    )


def registry(tmp_path: Path, **models: ModelSpec) -> ModelRegistry:
    return ModelRegistry(Settings(home=tmp_path, models=models))  # type: ignore[arg-type]


def request() -> ChatRequest:
    return ChatRequest(messages=[Message("user", "hi")], max_tokens=16)


async def collect(model: Upstream, report: CallReport | None = None) -> str:
    return "".join([d.text async for d in model.stream(request(), report)])


@pytest.fixture
def upstreams() -> Iterator[list[FaultyUpstream]]:
    ups = [FaultyUpstream(seed=i, name=f"u{i}") for i in range(3)]
    for up in ups:
        up.__enter__()
    yield ups
    for up in ups:
        up.__exit__()


def test_2000_requests_succeed_while_one_backend_in_the_chain_is_healthy(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    bad0, bad1, good = upstreams
    # Two flaky deployments of the primary, a healthy second provider behind them.
    mix = dict(
        reset=0.08,
        error_500=0.10,
        error_429=0.05,
        timeout=0.04,
        slow_first=0.05,
        retry_after_s=0.05,
        hang_s=2.0,
        slow_first_s=0.1,
    )
    bad0.set(**mix, truncate=0.05)
    bad1.set(**mix, truncate=0.05)
    reg = registry(
        tmp_path,
        primary=model_spec(
            bad0.base_url,
            bad1.base_url,
            fallbacks=("second",),
            breaker={"failures": 50, "window_s": 10, "cooldown_s": 0.5},
        ),
        second=model_spec(good.base_url),
    )
    model = reg.get("primary")
    assert isinstance(model, Upstream)
    outcomes: Counter[str] = Counter()
    served: Counter[str] = Counter()

    async def run(n: int, stream: bool) -> None:
        gate = asyncio.Semaphore(16)  # the client is this CPU-bound test process

        async def one() -> None:
            report = CallReport()
            async with gate:
                try:
                    if stream:
                        text = await collect(model, report)
                    else:
                        text = (await model.complete(request(), report)).text
                except UpstreamError as exc:
                    outcomes[f"error: {exc}"[:80]] += 1
                    return
            outcomes["ok" if text.strip() else "empty"] += 1
            served[report.served_by or "?"] += 1

        await asyncio.gather(*(one() for _ in range(n)))

    t0 = time.perf_counter()
    asyncio.run(run(1600, stream=False))
    # A stream cut after its first tokens must fail by design (never retried), so the stream
    # share runs with every other fault but that one; test_no_retry_after_tokens covers it.
    bad0.set(truncate=0.0)
    bad1.set(truncate=0.0)
    asyncio.run(run(400, stream=True))
    elapsed = time.perf_counter() - t0
    total = sum(outcomes.values())
    rate = outcomes["ok"] / total
    faults = bad0.stats + bad1.stats
    print(
        f"\n2000 requests in {elapsed:.1f}s: success {rate:.4%}; outcomes {dict(outcomes)}; "
        f"served by {dict(served)}; injected faults {dict(faults)}"
    )
    assert total == 2000
    assert rate >= 0.999
    # The faults really happened, and the primary still served most requests itself.
    assert sum(faults[k] for k in ("reset", "error_500", "error_429", "timeout", "truncate")) > 400
    assert served["primary"] > served["second"]


def test_all_primary_deployments_down_goes_to_fallback_and_breaker_stops_the_hammering(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    down, _, good = upstreams
    down.down()
    reg = registry(
        tmp_path,
        primary=model_spec(
            down.base_url,
            fallbacks=("second",),
            breaker={"failures": 3, "window_s": 10, "cooldown_s": 30},
        ),
        second=model_spec(good.base_url),
    )
    model = reg.get("primary")
    assert isinstance(model, Upstream)

    async def run() -> list[str]:
        out = []
        for _ in range(200):
            out.append((await model.complete(request())).text)
        return out

    texts = asyncio.run(run())
    assert all(t.startswith("u2") for t in texts)  # every one answered by the healthy backend
    # 3 failures open the breaker; after that the dead upstream is not called at all.
    assert down.stats["requests"] == 3
    assert reg.breaker_states()["primary"] == OPEN


def test_breaker_opens_after_configured_failures_and_recovers_through_half_open(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    up = upstreams[0]
    up.set(error_500=1.0)
    reg = registry(
        tmp_path,
        solo=model_spec(
            up.base_url, retries=0, breaker={"failures": 4, "window_s": 10, "cooldown_s": 0.3}
        ),
    )
    model = reg.get("solo")
    assert isinstance(model, Upstream)
    breaker = model.deployments[0].breaker

    async def call() -> str:
        try:
            return (await model.complete(request())).text
        except Unavailable:
            return "fast-fail"
        except UpstreamError as exc:
            return f"{exc.upstream_status}"

    async def scenario() -> list[str]:
        seen = [await call() for _ in range(6)]
        assert breaker.state == OPEN
        await asyncio.sleep(0.35)
        assert breaker.state == HALF_OPEN
        seen.append(await call())  # probe fails: open again
        assert breaker.state == OPEN
        await asyncio.sleep(0.35)
        up.healthy()
        seen.append(await call())  # probe succeeds: closed
        seen.append(await call())
        return seen

    seen = asyncio.run(scenario())
    assert seen[:6] == ["500"] * 4 + ["fast-fail"] * 2
    assert seen[6] == "500" and seen[7].startswith("u0") and seen[8].startswith("u0")
    assert breaker.state == CLOSED
    assert up.stats["requests"] == 4 + 1 + 2  # nothing sent while open
    assert breaker.transitions == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


def test_no_retry_after_tokens_were_streamed(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    cut, _, good = upstreams
    cut.set(truncate=1.0)
    reg = registry(
        tmp_path,
        primary=model_spec(cut.base_url, retries=3, fallbacks=("second",)),
        second=model_spec(good.base_url),
    )
    model = reg.get("primary")
    assert isinstance(model, Upstream)
    report = CallReport()
    got: list[str] = []

    async def scenario() -> None:
        async for delta in model.stream(request(), report):
            got.append(delta.text)

    with pytest.raises(UpstreamError, match="not retried"):
        asyncio.run(scenario())
    assert "".join(got) == "u00 u01"  # the two chunks that did arrive, once
    assert cut.stats["requests"] == 1 and good.stats["requests"] == 0
    assert report.streamed_then_failed

    # Before the first token the same failure is still retried, then falls back.
    cut.set(truncate=0.0, reset=1.0)
    report = CallReport()
    text = asyncio.run(collect(model, report))
    assert text.startswith("u20") and report.fallback and report.served_by == "second"
    assert cut.stats["requests"] == 1 + 4  # first try + 3 retries, all before any token


def test_slow_first_token_times_out_and_retries_elsewhere(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    slow, fast, _ = upstreams
    slow.set(slow_first=1.0, slow_first_s=2.0)
    reg = registry(tmp_path, m=model_spec(slow.base_url, fast.base_url, balancer="weighted"))
    model = reg.get("m")
    assert isinstance(model, Upstream)

    async def scenario() -> list[str]:
        return [await collect(model) for _ in range(10)]

    t0 = time.perf_counter()
    texts = asyncio.run(scenario())
    assert all(t.startswith("u1") for t in texts)
    # A detour costs at most one first-token timeout (0.5 s), never the upstream's 2 s.
    assert time.perf_counter() - t0 < 10 * 0.5 + 2


def test_retry_after_is_honoured(tmp_path: Path, upstreams: list[FaultyUpstream]) -> None:
    up = upstreams[0]
    up.set(error_429=1.0, retry_after_s=0.25)
    reg = registry(tmp_path, m=model_spec(up.base_url, retries=1, backoff_base_ms=1))
    model = reg.get("m")
    t0 = time.perf_counter()
    with pytest.raises(UpstreamError) as info:
        asyncio.run(model.complete(request()))
    assert time.perf_counter() - t0 >= 0.25  # waited as asked, not the 1 ms backoff
    assert up.stats["requests"] == 2 and info.value.upstream_status == 429

    up.set(retry_after_s=30)  # longer than retry_after_max_s: give up at once, no wait
    t0 = time.perf_counter()
    with pytest.raises(UpstreamError) as info:
        asyncio.run(
            registry(tmp_path, m=model_spec(up.base_url, retries=1)).get("m").complete(request())
        )
    assert time.perf_counter() - t0 < 0.25 and info.value.retry_after == 30
    assert up.stats["requests"] == 3


def test_chain_timeout_bounds_retries_and_fallbacks_together(
    tmp_path: Path, upstreams: list[FaultyUpstream]
) -> None:
    slow0, slow1, _ = upstreams
    # Every attempt hangs until its own limit (1 s, 0.5 s to a first token): three
    # attempts on the primary and three on the fallback would take 3-6 s; the chain's own
    # budget cuts that to ~0.6 s.
    for up in (slow0, slow1):
        up.set(timeout=1.0)
    reg = registry(
        tmp_path,
        primary=model_spec(slow0.base_url, fallbacks=("second",), chain_timeout_s=0.6),
        second=model_spec(slow1.base_url),
    )
    model = reg.get("primary")

    async def both() -> tuple[float, float]:
        t0 = time.perf_counter()
        with pytest.raises(UpstreamError) as plain:
            await model.complete(request())
        t1 = time.perf_counter()
        with pytest.raises(UpstreamError) as streamed:
            await collect(model)
        t2 = time.perf_counter()
        for err in (plain.value, streamed.value):
            assert err.status == 504 and "within 0.6s" in str(err)
        return t1 - t0, t2 - t1

    plain_s, stream_s = asyncio.run(both())
    assert plain_s < 1.5 and stream_s < 1.5
