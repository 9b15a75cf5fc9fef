"""Embeddings from any OpenAI-compatible `/embeddings` endpoint: TEI, vLLM, Ollama or a hosted
API. Texts go out in batches of `batch_size`, up to `max_in_flight` requests at once over all
callers of this process; transient failures are retried with backoff (429 after its
`Retry-After`), a circuit breaker (attached by upstreams/registry.py, which owns breakers)
stops sending to a dead server, and every answer is checked (one vector per input, each of
the expected length) before it is used."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import numpy as np

from lockgate.config import EmbeddingSpec
from lockgate.models.base import EmbeddingBackend, UpstreamError
from lockgate.models.embed_answer import vectors_of
from lockgate.models.error_text import body_detail, transport_detail
from lockgate.models.openai_compat import api_key, retry_after_s
from lockgate.observability.metrics import METRICS

log = logging.getLogger("lockgate.models")

# 408 and 429 are the server's state, not the request's; any other 4xx would come back the
# same however often it is sent.
_RETRYABLE_4XX = frozenset({408, 429})


class Breaker(Protocol):
    """What the embedder needs of a circuit breaker (upstreams/breaker.py's CircuitBreaker)."""

    @property
    def state(self) -> str: ...

    def acquire(self) -> bool: ...

    def retry_after_s(self) -> float: ...

    def record_success(self) -> None: ...

    def record_failure(self) -> None: ...

    def release_probe(self) -> None: ...


class _AlwaysClosed:
    state = "closed"

    def acquire(self) -> bool:
        return True

    def retry_after_s(self) -> float:
        return 0.0

    def record_success(self) -> None:
        pass

    def record_failure(self) -> None:
        pass

    def release_probe(self) -> None:
        pass


@dataclass(frozen=True)
class _Plan:
    """How hard one call tries: attempts after the first, and the per-attempt timeout."""

    retries: int
    timeout: httpx.Timeout


class OpenAIEmbedder(EmbeddingBackend):
    local_compute = False  # the work happens upstream

    def __init__(self, spec: EmbeddingSpec, rng: random.Random | None = None) -> None:
        if not spec.base_url or not spec.upstream_model:
            raise ValueError("embeddings: base_url and upstream_model are required for 'openai'")
        self.spec = spec
        self.name = spec.upstream_model
        # Learnt from the first answer when not configured, then every answer is held to it.
        self.dimensions = spec.dimensions or 0
        headers = {}
        key = api_key(spec.api_key_env)
        if key:
            headers["authorization"] = f"Bearer {key}"
        n = spec.max_in_flight
        self._client = httpx.Client(
            base_url=spec.base_url.rstrip("/"),
            headers=headers,
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
        )
        # The bound itself: held only while a request is on the wire (not while a retry
        # backs off), by pool threads and callers that send their one batch themselves.
        self._slots = threading.BoundedSemaphore(n)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        retry = spec.retry
        self._rng = rng or random.Random()
        self._breaker: Breaker = _AlwaysClosed()
        connect = spec.connect_timeout_s
        self.documents_plan = _Plan(retry.retries, httpx.Timeout(spec.timeout_s, connect=connect))
        self.queries_plan = _Plan(
            retry.query_retries,
            httpx.Timeout(spec.query_timeout_s, connect=min(connect, spec.query_timeout_s)),
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_with(texts, self.documents_plan)

    def for_queries(self) -> EmbeddingBackend:
        return _QueryView(self)

    def attach_breaker(self, breaker: Breaker) -> None:
        """Guard every request with `breaker` (before the first request)."""
        self._breaker = breaker

    def breaker_state(self) -> str:
        with self._lock:
            return self._breaker.state

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def embed_with(self, texts: Sequence[str], plan: _Plan) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        size = self.spec.batch_size
        batches = [list(texts[i : i + size]) for i in range(0, len(texts), size)]
        if len(batches) == 1 or self.spec.max_in_flight == 1:
            parts = [self._batch(b, plan) for b in batches]
        else:
            parts = self._concurrently(batches, plan)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _concurrently(self, batches: list[list[str]], plan: _Plan) -> list[np.ndarray]:
        pool = self._executor()
        futures = [pool.submit(self._batch, b, plan) for b in batches]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            # The first failed batch in input order decides; the queued ones are not sent.
            for f in pending:
                f.cancel()
            raise _first_error(failed)
        return [f.result() for f in futures]

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.spec.max_in_flight, thread_name_prefix="lockgate-embed"
                )
            return self._pool

    def _batch(self, texts: list[str], plan: _Plan) -> np.ndarray:
        attempt = 0
        while True:
            with self._lock:
                allowed = self._breaker.acquire()
                wait_s = self._breaker.retry_after_s()
            if not allowed:
                METRICS.inc("lockgate_embedding_requests_total", outcome="circuit_open")
                raise UpstreamError(
                    "embedding upstream unavailable (circuit open)",
                    503,
                    retryable=True,
                    retry_after=wait_s,
                )
            try:
                vecs = self._attempt(texts, plan.timeout)
            except UpstreamError as exc:
                # Every error raised below says whether it is worth another attempt.
                retryable = bool(exc.retryable)
                with self._lock:
                    if retryable:
                        self._breaker.record_failure()
                    else:
                        self._breaker.release_probe()
                delay = (
                    self._delay_s(attempt, exc.retry_after)
                    if retryable and attempt < plan.retries
                    else None
                )
                if delay is None:
                    raise _final(exc, attempt + 1) from exc
                METRICS.inc("lockgate_embedding_retries_total")
                time.sleep(delay)
                attempt += 1
                continue
            with self._lock:
                self._breaker.record_success()
            return vecs

    def _delay_s(self, attempt: int, retry_after: float | None) -> float | None:
        """Exponential backoff with full jitter, as upstreams/retry.py's RetryPolicy (batches
        that failed together do not come back together), at least `Retry-After`; None when
        that asks for longer than `retry_after_max_s`."""
        retry = self.spec.retry
        cap = min(retry.backoff_max_ms, retry.backoff_base_ms * (2**attempt))
        wait = self._rng.uniform(0, cap) / 1000
        if retry_after is not None:
            if retry_after > retry.retry_after_max_s:
                return None
            wait = max(wait, retry_after)
        return wait

    def _attempt(self, texts: list[str], timeout: httpx.Timeout) -> np.ndarray:
        body: dict[str, Any] = {"model": self.name, "input": texts}
        if self.spec.encoding_format is not None:
            body["encoding_format"] = self.spec.encoding_format
        if self.spec.send_dimensions and self.spec.dimensions is not None:
            body["dimensions"] = self.spec.dimensions
        with self._slots:
            try:
                resp = self._client.post("/embeddings", json=body, timeout=timeout)
            except httpx.TimeoutException as exc:
                METRICS.inc("lockgate_embedding_requests_total", outcome="timeout")
                raise UpstreamError(
                    "embedding upstream timed out",
                    504,
                    retryable=True,
                    detail=transport_detail(exc),
                ) from exc
            except httpx.HTTPError as exc:
                # The exception text holds the upstream URL (and any credentials in it).
                METRICS.inc("lockgate_embedding_requests_total", outcome="connect")
                raise UpstreamError(
                    f"embedding upstream failed ({type(exc).__name__})",
                    retryable=True,
                    detail=transport_detail(exc),
                ) from exc
        status = resp.status_code
        if status >= 400:
            kind = "http_429" if status == 429 else "http_5xx" if status >= 500 else "http_4xx"
            METRICS.inc("lockgate_embedding_requests_total", outcome=kind)
            raise UpstreamError(
                f"embedding upstream failed (HTTP {status})",
                upstream_status=status,
                retryable=status >= 500 or status in _RETRYABLE_4XX,
                retry_after=retry_after_s(resp.headers),
                detail=body_detail(resp),
            )
        try:
            vecs = vectors_of(resp.content, len(texts), self.dimensions or None)
        except UpstreamError:
            METRICS.inc("lockgate_embedding_requests_total", outcome="bad_answer")
            raise
        METRICS.inc("lockgate_embedding_requests_total", outcome="ok")
        if not self.dimensions:
            with self._lock:
                self.dimensions = self.dimensions or int(vecs.shape[1])
            if vecs.shape[1] != self.dimensions:  # another thread learnt first, differently
                raise UpstreamError(
                    f"embedding upstream returned vectors of length {vecs.shape[1]}, "
                    f"expected {self.dimensions}",
                    retryable=False,
                )
        return vecs


def _final(exc: UpstreamError, attempts: int) -> UpstreamError:
    """The error a caller gets: the last attempt's, saying how many were made."""
    message = f"{exc} after {attempts} attempts" if attempts > 1 else str(exc)
    log.warning("embedding request failed: %s", exc.for_trace())
    return UpstreamError(
        message,
        exc.status,
        exc.upstream_status,
        retryable=exc.retryable,
        retry_after=exc.retry_after,
        detail=exc.detail,
    )


def _first_error(failed: list[Future[np.ndarray]]) -> BaseException:
    exc = failed[0].exception()
    assert exc is not None
    return exc


class _QueryView(EmbeddingBackend):
    """The same embedder for questions: fewer retries and a shorter timeout, since someone
    is waiting (and, with a fallback configured, the local model can answer instead)."""

    local_compute = False

    def __init__(self, base: OpenAIEmbedder) -> None:
        self.base = base
        self.name = base.name

    @property
    def dimensions(self) -> int:
        return self.base.dimensions

    @dimensions.setter
    def dimensions(self, value: int) -> None:
        raise AttributeError("the length is the wrapped embedder's")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.embed_with(texts, self.base.queries_plan)
