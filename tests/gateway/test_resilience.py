"""Resilience through the whole gateway, against fault-injecting upstreams on loopback:
fallback answers, 503 + Retry-After when a model's queue is full, degraded extractive answers
when every backend of a grounded request is down, breaker state in /readyz and /metrics, SSE
keep-alives on a slow first token, early failures still a proper HTTP status, and a client
disconnect cancelling the upstream generation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from lockgate.config import ModelSpec, Settings
from lockgate.gateway.app import create_app
from lockgate.ingest.pipeline import Ingestor
from tests.conftest import make_services
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.server import serve

DEAD = "http://127.0.0.1:9/v1"  # discard port: connection refused
REFUND_TEXT = "Annual plans can be refunded in full within 30 days of purchase."
DOCS = {
    "refunds.md": f"# Refunds\n\n{REFUND_TEXT} Monthly plans are not refundable.\n",
    "vacation.txt": "Employees receive 25 vacation days per year. Unused vacation days expire "
    "at the end of March and cannot be paid out.\n",
}
QUESTION = "How long is the refund window for annual plans?"
FAST = {
    "retries": 1,
    "backoff_base_ms": 5,
    "backoff_max_ms": 20,
    "first_token_timeout_s": 2.0,
    "breaker": {"failures": 3, "window_s": 30, "cooldown_s": 60},
}


def spec(url: str, **extra: Any) -> ModelSpec:
    res = {**FAST, **extra.pop("resilience", {})}
    return ModelSpec(
        backend="openai",
        base_url=url,
        connect_timeout_s=0.5,
        read_timeout_s=3.0,
        resilience=res,  # type: ignore[arg-type]
        **extra,
    )


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, FaultyUpstream]]:
    names = ("flaky", "backup", "narrow", "slowstart", "drip")
    started = {n: FaultyUpstream(seed=i, name=n).__enter__() for i, n in enumerate(names)}
    started["flaky"].set(reset=0.15, error_500=0.15, error_429=0.05, retry_after_s=0.05)
    started["narrow"].set(latency_s=0.6)
    started["slowstart"].set(slow_first=1.0, slow_first_s=0.8)
    started["drip"].set(token_delay_s=0.2, words=50)
    yield started
    for up in started.values():
        up.__exit__()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, ups) -> Iterator[tuple[str, Any]]:
    home = tmp_path_factory.mktemp("resilience-home")
    docs = tmp_path_factory.mktemp("resilience-docs")
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    models = {
        "flaky": spec(
            ups["flaky"].base_url,
            fallbacks=["backup"],
            resilience={"breaker": {"failures": 50, "cooldown_s": 1}},
        ),
        "backup": spec(ups["backup"].base_url),
        "narrow": spec(
            ups["narrow"].base_url,
            deployments=[{"name": "only", "max_concurrency": 1}],
            resilience={"queue_size": 1, "queue_timeout_s": 5},
        ),
        "slowstart": spec(ups["slowstart"].base_url),
        "drip": spec(ups["drip"].base_url),
        "early-fail": spec(DEAD),
        "gdown": spec(DEAD, fallbacks=["gdown2"]),
        "gdown2": spec(DEAD),
    }
    settings = Settings(
        home=home,
        models=models,  # type: ignore[arg-type]
        grounded={"model": "gdown"},  # type: ignore[arg-type]
        guardrails={"enabled": False},  # type: ignore[arg-type]
        # Each request must reach the upstreams: a cached answer would hide the faults.
        cache={"enabled": False},  # type: ignore[arg-type]
        auth={"allow_anonymous": True, "public_metrics": True},  # type: ignore[arg-type]  # as make_settings
        server={"streaming": {"first_token_grace_s": 0.3, "keepalive_interval_s": 0.15}},  # type: ignore[arg-type]
    )
    services = make_services(settings, embedder)
    summary = Ingestor(
        services.documents, services.runs, services.embedder, services.settings.ingest
    ).run([str(docs)])
    assert summary.new == 2
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:
        yield base, services


def chat(base: str, model: str, stream: bool = False, content: str = "hi") -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=30)


def test_flaky_primary_with_healthy_fallback_answers_every_request(gateway, ups) -> None:
    base, services = gateway
    statuses = []
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(chat, base, "flaky", i % 4 == 0) for i in range(300)]
        statuses = [f.result().status_code for f in futures]
    ok = statuses.count(200) / len(statuses)
    print(
        f"\ngateway: {ok:.2%} of 300 answered; upstream faults {dict(ups['flaky'].stats)}; "
        f"backup served {ups['backup'].stats['requests']}"
    )
    assert ok >= 0.999
    assert ups["flaky"].stats["reset"] + ups["flaky"].stats["error_500"] > 30


def test_trace_records_attempts_and_fallback(gateway, ups) -> None:
    base, services = gateway
    ups["flaky"].down()
    try:
        resp = chat(base, "flaky")
    finally:
        ups["flaky"].set(reset=0.15, error_500=0.15)
    assert resp.status_code == 200
    trace = services.traces.get(resp.headers["x-lockgate-trace-id"])
    assert trace["backend"] == "openai:backup"  # cost and backend follow who answered
    assert trace["upstream"]["fallback"] is True
    assert [a["outcome"] for a in trace["upstream"]["attempts"]][-1] == "ok"


def test_full_queue_is_503_with_retry_after(gateway, ups) -> None:
    base, _ = gateway
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(chat, base, "narrow") for _ in range(6)]
        results = [f.result() for f in futures]
    codes = sorted(r.status_code for r in results)
    # One running, one waiting; the other four refused at once instead of piling up.
    assert codes == [200, 200, 503, 503, 503, 503]
    refused = [r for r in results if r.status_code == 503]
    for r in refused:
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["error"]["code"] == "overloaded"
        assert r.elapsed.total_seconds() < 0.5


@pytest.mark.parametrize("stream", [False, True])
def test_all_backends_down_gives_degraded_extractive_answer(gateway, stream: bool) -> None:
    base, services = gateway
    resp = chat(base, "lockgate", stream=stream, content=QUESTION)
    assert resp.status_code == 200, resp.text
    if stream:
        events = [ln[6:] for ln in resp.text.split("\n\n") if ln.startswith("data: {")]
        import json

        chunks = [json.loads(e) for e in events]
        text = "".join(
            c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices")
        )
        lockgate = next(c["lockgate"] for c in chunks if "lockgate" in c)
    else:
        body = resp.json()
        text = body["choices"][0]["message"]["content"]
        lockgate = body["lockgate"]
    assert lockgate["degraded"] is True
    assert f'"{REFUND_TEXT}" [' in text  # a quoted sentence with its citation marker
    assert lockgate["citations"] and lockgate["citations"][0]["source"].endswith("refunds.md")
    trace = services.traces.get(resp.headers["x-lockgate-trace-id"])
    assert trace["degraded"] is True and trace["cost"] == 0
    assert "degraded_because" in trace["upstream"]


def test_degradation_can_be_switched_off(gateway) -> None:
    base, services = gateway
    services.settings.grounded.degrade.enabled = False
    try:
        resp = chat(base, "lockgate", content=QUESTION)
    finally:
        services.settings.grounded.degrade.enabled = True
    assert resp.status_code in (502, 503)


def test_readyz_and_metrics_show_breaker_state(gateway) -> None:
    base, _ = gateway
    for _ in range(3):
        chat(base, "early-fail")
    ready = httpx.get(base + "/readyz", timeout=10).json()
    assert ready["upstreams"]["early-fail"] == "open"
    assert ready["upstreams"]["backup"] == "closed"
    metrics = httpx.get(base + "/metrics", timeout=10).text
    assert 'lockgate_breaker_state{deployment="early-fail"} 2' in metrics
    assert 'lockgate_breaker_transitions_total{deployment="early-fail",to="open"}' in metrics
    # Open breaker: the next request fails fast with 503 and a Retry-After.
    t0 = time.perf_counter()
    resp = chat(base, "early-fail")
    assert resp.status_code == 503 and int(resp.headers["retry-after"]) >= 1
    assert time.perf_counter() - t0 < 0.5


def test_slow_first_token_gets_keepalives_then_the_answer(gateway) -> None:
    base, _ = gateway
    resp = chat(base, "slowstart", stream=True)
    assert resp.status_code == 200
    blocks = [b for b in resp.text.split("\n\n") if b]
    assert blocks[0].startswith("data: ")  # the role chunk goes out first
    keepalives = [b for b in blocks if b == ": keep-alive"]
    assert len(keepalives) >= 2  # ~0.5 s of waiting after the grace, every 0.15 s
    assert blocks.index(": keep-alive") < next(i for i, b in enumerate(blocks) if "slowstart0" in b)
    assert blocks[-1] == "data: [DONE]"


def test_failure_within_grace_is_still_a_proper_http_error(gateway) -> None:
    base, _ = gateway
    resp = chat(base, "gdown2", stream=True)  # connection refused, well inside the grace
    assert resp.status_code in (502, 503)
    assert resp.headers["content-type"].startswith("application/json")


def test_client_disconnect_cancels_the_upstream_generation(gateway, ups) -> None:
    base, _ = gateway
    drip = ups["drip"]
    body = {"model": "drip", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", base + "/v1/chat/completions", json=body, timeout=30) as resp:
        for line in resp.iter_lines():
            if "drip1" in line:
                break  # two tokens in: hang up
    deadline = time.monotonic() + 5
    while drip.stats["client_gone"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drip.stats["client_gone"] == 1, dict(drip.stats)  # the upstream saw the hang-up...
    assert drip.stats["completed_streams"] == 0  # ...long before its 10 s answer was done
