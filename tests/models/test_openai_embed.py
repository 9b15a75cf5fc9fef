"""The remote embedder against a real HTTP server on loopback (bench/fake_embed_server.py)
with faults injected: retries and what they wait for, what is never retried, timeouts,
answers that do not fit, the in-flight bound as the server sees it, and result order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from bench.fake_embed_server import FakeEmbedServer, Fault, vector
from lockgate.config import BreakerConfig, EmbeddingRetry, EmbeddingSpec
from lockgate.models.base import UpstreamError
from lockgate.models.openai_embed import OpenAIEmbedder
from lockgate.upstreams.registry import build_embedder
from tests.support.server import free_port

DIM = 8


def spec(base_url: str, **kw: Any) -> EmbeddingSpec:
    retry = {"backoff_base_ms": 1.0, "backoff_max_ms": 5.0, **kw.pop("retry", {})}
    return EmbeddingSpec(
        backend="openai",
        base_url=base_url,
        upstream_model="fake-embed",
        retry=EmbeddingRetry(**retry),
        **kw,
    )


def expected(texts: list[str], dim: int = DIM) -> np.ndarray:
    return np.asarray([vector(t, dim) for t in texts], dtype=np.float32)


@pytest.fixture
def server() -> Iterator[FakeEmbedServer]:
    with FakeEmbedServer(dim=DIM, record=True) as srv:
        yield srv


@pytest.fixture
def make(server: FakeEmbedServer) -> Iterator[Any]:
    made: list[OpenAIEmbedder] = []

    def build(base_url: str | None = None, **kw: Any) -> OpenAIEmbedder:
        # As the services build it: with its circuit breaker attached.
        emb = build_embedder(spec(base_url or server.base_url, **kw))
        assert isinstance(emb, OpenAIEmbedder)
        made.append(emb)
        return emb

    yield build
    for emb in made:
        emb.close()


def test_vectors_in_input_order_across_concurrent_batches(server, make) -> None:
    server.shuffle = True  # each answer's items come back reversed, with their index
    server.delay_s = 0.01
    texts = [f"text number {i}" for i in range(23)]
    emb = make(batch_size=3, max_in_flight=4)
    vecs = emb.embed(texts)
    assert vecs.shape == (23, DIM) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, expected(texts), atol=1e-6)
    assert emb.dimensions == DIM  # learnt from the first answer
    assert server.stats.requests == 8  # ceil(23 / 3)
    assert sorted(len(b["input"]) for b in server.bodies) == [2] + [3] * 7
    assert server.stats.max_in_flight > 1  # the batches really overlapped


def test_items_without_index_keep_their_order(server, make) -> None:
    server.with_index = False
    texts = ["a", "b", "c"]
    np.testing.assert_allclose(make().embed(texts), expected(texts), atol=1e-6)


def test_base64_answers_and_the_optional_fields(server, make) -> None:
    emb = make(encoding_format="base64", dimensions=DIM, send_dimensions=True)
    texts = ["one", "two"]
    np.testing.assert_allclose(emb.embed(texts), expected(texts), atol=1e-6)
    body = server.bodies[-1]
    assert body["encoding_format"] == "base64" and body["dimensions"] == DIM
    assert body["model"] == "fake-embed"
    plain = make()
    plain.embed(["one"])
    assert "encoding_format" not in server.bodies[-1] and "dimensions" not in server.bodies[-1]


def test_empty_input_sends_nothing(server, make) -> None:
    assert make(dimensions=DIM).embed([]).shape == (0, DIM)
    assert server.stats.requests == 0


@pytest.mark.parametrize("limit", [1, 3])
def test_requests_in_flight_never_exceed_the_bound(server, make, limit: int) -> None:
    server.delay_s = 0.03
    emb = make(batch_size=2, max_in_flight=limit)
    query = emb.for_queries()
    errors: list[BaseException] = []

    def many(n: int) -> None:
        try:
            texts = [f"doc {n} {i}" for i in range(16)]
            np.testing.assert_allclose(emb.embed(texts), expected(texts), atol=1e-6)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def one(n: int) -> None:
        try:
            query.embed([f"question {n}"])  # one batch: sent by the caller's own thread
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=many, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert server.stats.requests == 3 * 8 + 4
    assert server.stats.max_in_flight == limit


def test_429_waits_for_retry_after_then_succeeds(server, make) -> None:
    server.fail(Fault.http(429, retry_after=0.4))
    emb = make()
    t0 = time.perf_counter()
    np.testing.assert_allclose(emb.embed(["x"]), expected(["x"]), atol=1e-6)
    assert time.perf_counter() - t0 >= 0.4
    assert server.stats.requests == 2


def test_429_asking_too_long_a_pause_fails_at_once(server, make) -> None:
    server.fail(Fault.http(429, retry_after=120))
    with pytest.raises(UpstreamError) as err:
        make(retry={"retry_after_max_s": 5}).embed(["x"])
    assert err.value.upstream_status == 429 and err.value.retry_after == 120
    assert server.stats.requests == 1


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_transient_status_is_retried(server, make, status: int) -> None:
    server.fail(Fault.http(status))
    np.testing.assert_allclose(make().embed(["x"]), expected(["x"]), atol=1e-6)
    assert server.stats.requests == 2


def test_persistent_5xx_is_a_clear_error_after_the_last_attempt(server, make) -> None:
    server.default_fault = Fault.http(503)
    with pytest.raises(UpstreamError) as err:
        make(retry={"retries": 3}).embed(["x"])
    assert str(err.value) == "embedding upstream failed (HTTP 503) after 4 attempts"
    assert err.value.status == 502 and err.value.upstream_status == 503
    assert "injected 503" in (err.value.detail or "")  # for the trace, not the caller
    assert server.stats.requests == 4


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
def test_other_4xx_is_never_retried(server, make, status: int) -> None:
    server.fail(Fault.http(status))
    with pytest.raises(UpstreamError) as err:
        make().embed(["x"])
    assert err.value.upstream_status == status and err.value.retryable is False
    assert str(err.value) == f"embedding upstream failed (HTTP {status})"
    assert server.stats.requests == 1


def test_connection_refused_is_retried_then_fails(make) -> None:
    emb = make(f"http://127.0.0.1:{free_port()}/v1", retry={"retries": 2})
    with pytest.raises(UpstreamError) as err:
        emb.embed(["x"])
    assert str(err.value) == "embedding upstream failed (ConnectError) after 3 attempts"
    assert err.value.status == 502 and err.value.retryable is True


def test_a_dropped_connection_is_retried(server, make) -> None:
    server.fail(Fault.drop())
    np.testing.assert_allclose(make().embed(["x"]), expected(["x"]), atol=1e-6)
    assert server.stats.outcomes["drop"] == 1 and server.stats.outcomes["ok"] == 1


def test_slow_answer_times_out_and_is_retried(server, make) -> None:
    server.fail(Fault.hang(3.0))
    t0 = time.perf_counter()
    np.testing.assert_allclose(make(timeout_s=0.3).embed(["x"]), expected(["x"]), atol=1e-6)
    assert time.perf_counter() - t0 < 2.5  # the hung request was given up, not waited out


def test_always_slow_is_a_504(server, make) -> None:
    server.default_fault = Fault.hang(3.0)
    with pytest.raises(UpstreamError) as err:
        make(timeout_s=0.2, retry={"retries": 1}).embed(["x"])
    assert str(err.value) == "embedding upstream timed out after 2 attempts"
    assert err.value.status == 504


def test_queries_use_their_own_timeout_and_retries(server, make) -> None:
    server.default_fault = Fault.hang(3.0)
    emb = make(timeout_s=30, query_timeout_s=0.2, retry={"retries": 5, "query_retries": 0})
    t0 = time.perf_counter()
    with pytest.raises(UpstreamError, match="timed out"):
        emb.for_queries().embed(["q"])
    assert time.perf_counter() - t0 < 2.0
    assert server.stats.requests == 1


def test_wrong_dimension_is_an_error_not_retried(server, make) -> None:
    server.fail(Fault.dims(5))
    with pytest.raises(UpstreamError) as err:
        make(dimensions=DIM).embed(["x", "y"])
    assert str(err.value) == f"embedding upstream returned vectors of length 5, expected {DIM}"
    assert server.stats.requests == 1


def test_a_learnt_dimension_is_held_to(server, make) -> None:
    emb = make()
    emb.embed(["x"])
    server.fail(Fault.dims(DIM * 2))
    with pytest.raises(UpstreamError, match=f"length {DIM * 2}, expected {DIM}"):
        emb.embed(["y"])


@pytest.mark.parametrize("delta", [-1, 1])
def test_wrong_vector_count_is_an_error(server, make, delta: int) -> None:
    server.fail(Fault.count(delta))
    with pytest.raises(UpstreamError) as err:
        make().embed(["x", "y"])
    assert str(err.value) == f"embedding upstream returned {2 + delta} vectors for 2 inputs"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"object": "list"}', b'{"data": [{"index": 0}]}', b"[1, 2]"],
)
def test_malformed_answer_is_an_error_not_retried(server, make, body: bytes) -> None:
    server.fail(Fault.raw(body))
    with pytest.raises(UpstreamError, match="malformed response") as err:
        make().embed(["x"])
    assert err.value.retryable is False
    assert server.stats.requests == 1


def test_one_failed_batch_fails_the_call(server, make) -> None:
    server.fail(Fault.http(400))
    with pytest.raises(UpstreamError, match="HTTP 400"):
        make(batch_size=1, max_in_flight=2).embed([f"t{i}" for i in range(6)])


def test_open_breaker_fails_without_sending(server, make) -> None:
    server.default_fault = Fault.http(503)
    emb = make(retry={"retries": 0, "breaker": BreakerConfig(failures=2, cooldown_s=60)})
    for _ in range(2):
        with pytest.raises(UpstreamError, match="HTTP 503"):
            emb.embed(["x"])
    assert emb.breaker_state() == "open"
    with pytest.raises(UpstreamError) as err:
        emb.embed(["x"])
    assert str(err.value) == "embedding upstream unavailable (circuit open)"
    assert err.value.status == 503 and err.value.retry_after is not None
    assert server.stats.requests == 2


def test_breaker_closes_after_a_successful_probe(server, make) -> None:
    server.default_fault = Fault.http(503)
    emb = make(retry={"retries": 0, "breaker": BreakerConfig(failures=1, cooldown_s=0.2)})
    with pytest.raises(UpstreamError):
        emb.embed(["x"])
    assert emb.breaker_state() == "open"
    server.default_fault = None
    time.sleep(0.25)
    np.testing.assert_allclose(emb.embed(["x"]), expected(["x"]), atol=1e-6)
    assert emb.breaker_state() == "closed"


def test_bearer_key_from_the_environment(server, make, monkeypatch) -> None:
    monkeypatch.setenv("EMBED_TEST_KEY", "sk-test")
    make(api_key_env="EMBED_TEST_KEY").embed(["x"])
    assert server.headers[-1]["authorization"] == "Bearer sk-test"
