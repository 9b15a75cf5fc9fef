"""The HTTP gateway's listener and request limits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from lockgate.config._base import Strict
from lockgate.config.resilience import StreamingConfig


class CpuConfig(Strict):
    """Embedding and guardrail scans are CPU-bound: at most `slots` run at once, at most
    `max_waiting` more wait, none waits longer than `max_wait_s`; beyond that a request is
    answered 503 with Retry-After instead of joining a queue that only grows."""

    slots: int | None = Field(None, ge=1, le=256)  # None: one per CPU core
    max_waiting: int = Field(64, ge=0)
    # None: the same bound as a request's wait for admission (`server.queue_wait_s`).
    max_wait_s: float | None = Field(None, gt=0)

    def slot_count(self) -> int:
        return self.slots or os.cpu_count() or 1


class GcConfig(Strict):
    """A gateway process's garbage collector. The heap left by start-up (modules, models,
    the app) is hundreds of thousands of objects that live as long as the process; a full
    collection walked all of them, and under load one ran every few hundred requests (each
    request's objects outlive two young collections while it waits on the upstream, and
    Python counts them towards the next full one): a pause of about 200 ms of one core
    each time, about a quarter of a pass-through request's CPU, with every request of the
    loop stopped meanwhile (BENCHMARKS.md, "Two processes and the 2-core ceiling")."""

    # After the warm-up, move everything alive into the permanent generation
    # (`gc.freeze`): later collections skip it. What start-up made is never freed anyway.
    freeze: bool = True
    # Allocations between young collections (Python's default: 700). A request's objects
    # live for its upstream's latency; the fewer young collections meanwhile, the fewer are
    # promoted and counted towards a full collection. At 7,000 (measured against 700, both
    # frozen) GC cost 0.06 instead of 0.13 ms of CPU per default-pipeline request and no
    # full collection ran in 8 s under wrk; a young collection pauses a few ms at most.
    # None: leave the interpreter's setting.
    young_threshold: int | None = Field(7000, ge=1, le=1_000_000)


class GuardCheckLimits(Strict):
    """How much one POST /v1/guardrails/check may ask to scan. A text over the scan limit
    (`guardrails.max_scan_chars`) is refused by the guard without being scanned, so the text
    bound is only against parsing; the context chunks are what the scanners read (and
    embed) in full."""

    max_text_chars: int = Field(1_000_000, ge=1)
    max_context_items: int = Field(20, ge=0, le=100)
    max_context_chars: int = Field(100_000, ge=0)
    max_user_text_chars: int = Field(32_000, ge=0)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(1000, ge=1)
    # Against CPU amplification: one embeddings request is bounded in inputs and characters.
    # The embedding model reads 256 word pieces of each input (about 1,000-1,500 characters
    # of English) and drops the rest, but tokenising still reads all of it.
    embeddings_max_inputs: int = Field(64, ge=1, le=2048)
    embeddings_max_input_chars: int = Field(8192, ge=1)
    embeddings_max_total_chars: int = Field(131_072, ge=1)
    guard_check: GuardCheckLimits = GuardCheckLimits()
    cpu: CpuConfig = CpuConfig()
    gc: GcConfig = GcConfig()
    # Admission: at most `max_inflight` requests are worked on at once in one process (None:
    # 32 per CPU core); a request beyond that waits at most `queue_wait_s` for a place and is
    # then answered 503 `overloaded` with Retry-After. Liveness, readiness and metrics are
    # never held back. Size it as the requests per second one process should carry times the
    # upstream's latency (README: Readiness, overload and several processes).
    max_inflight: int | None = Field(None, ge=1)
    queue_wait_s: float = Field(0.5, gt=0, le=60)
    # Slow clients: a request's headers must be complete within this time of the
    # connection opening (or of the previous response), and its whole body within
    # `body_read_timeout_s` of the headers (JSON and uploads alike). Either way the
    # connection is closed, with a 408.
    header_read_timeout_s: float = Field(15.0, gt=0)
    body_read_timeout_s: float = Field(60.0, gt=0)
    # Passed to uvicorn by `lockgate serve`: idle keep-alive connections are closed after
    # this, at most this many connections and requests in flight (503 beyond), and an
    # upper bound on a request's buffered headers.
    timeout_keep_alive_s: int = Field(5, ge=1)
    # On SIGTERM (or SIGINT) a process stops accepting connections at once, lets the
    # requests in flight finish (streams to their last chunk) for at most this long, cuts
    # what is still running, flushes its traces and audit entries, and exits 0. An
    # orchestrator must wait longer than this before it kills the process (Kubernetes:
    # terminationGracePeriodSeconds > preStop sleep + shutdown_grace_s; docs/scaling.md).
    shutdown_grace_s: float = Field(30.0, ge=0, le=3600)
    # With `lockgate serve --workers N`: `balanced` has the supervisor accept and hand
    # each connection to the ready worker holding the fewest (gateway/handoff.py);
    # `reuseport` gives each worker a listening socket of its own on the port (SO_REUSEPORT;
    # the kernel spreads connections by a hash of their addresses, blind to load); `shared`
    # one socket all workers accept from (whichever is awake takes the connection: uneven
    # when clients connect in a burst). Where SO_REUSEPORT is missing, `shared`.
    worker_sockets: Literal["balanced", "reuseport", "shared"] = "balanced"
    limit_concurrency: int | None = Field(1024, ge=1)
    # The bound on a request's headers, with either HTTP parser (the name is uvicorn's h11
    # option; with httptools Lockgate enforces it, see gateway/header_timeout.py).
    h11_max_incomplete_event_size: int = Field(64 * 1024, ge=1024)
    # uvicorn's HTTP/1.1 parser and event loop: httptools and uvloop (C, libuv) cost a
    # gateway process less CPU per request than h11 and asyncio's own loop (pure Python).
    http: Literal["httptools", "h11"] = "httptools"
    loop: Literal["uvloop", "asyncio"] = "uvloop"
    streaming: StreamingConfig = StreamingConfig()  # first-token grace, keep-alives
    # HTTPS: both paths set, or neither (plain HTTP, e.g. behind a TLS-terminating proxy).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    def inflight_limit(self) -> int:
        return self.max_inflight or 32 * (os.cpu_count() or 1)

    def cpu_wait_s(self) -> float:
        return self.cpu.max_wait_s if self.cpu.max_wait_s is not None else self.queue_wait_s

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("server.tls_cert_file and server.tls_key_file go together")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self
