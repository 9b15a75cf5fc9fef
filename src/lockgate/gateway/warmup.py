"""Start-up warm-up: every model the configured pipeline needs is loaded and run once before
`/readyz` says ready.

Loading alone is not enough: a model's first call pays for lazy set-up of its own (the int8
embedding path's first run, a classifier's first prediction), and the first requests after
readiness stalled on it. So each step runs its part once over a sample. The steps run in
order in one thread; a failed step is recorded with its error and the others still run, so
one report names everything that is wrong, and the gateway stays not ready."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from lockgate.models.embed_fallback import QueryFallback
from lockgate.services import Services

log = logging.getLogger("lockgate.gateway")

State = Literal["off", "running", "done", "failed"]


@dataclass
class Warmup:
    """What the warm-up has done so far; `/readyz` reports it as `checks.warm`."""

    state: State = "off"
    done: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ready(self) -> bool:
        # "off": the app was built without a warm-up (tests, tools); nothing is awaited.
        return self.state in ("off", "done")

    def report(self) -> dict[str, object]:
        with self._lock:
            return {
                "state": self.state,
                "done": list(self.done),
                "errors": list(self.errors),
                "seconds": self.seconds,
            }


# The warm-up of the app this process serves (the last one made), for a server that hands
# out connections only to warm processes (gateway/handoff.py).
_serving: Warmup | None = None


def serve(warmup: Warmup) -> None:
    global _serving
    _serving = warmup


def settled() -> bool:
    """Whether this process's warm-up is over, done or failed (a failed one is reported by
    `/readyz`, which must then be reachable), or there is none."""
    return _serving is None or _serving.state != "running"


def _embeddings(services: Services) -> None:
    # Documents and questions take different paths (float and int8, batch and single); a
    # remote embedder has nothing to warm but its connection, which the question opens.
    if services.embedder.local_compute:
        services.embedder.embed(["warm up", "a second text, so the batch path runs too"])
    query = services.query_embedder
    if isinstance(query, QueryFallback):
        # The local stand-in loads now, not when the remote first fails a question.
        query.fallback.embed(["what is the refund policy?"])
    query.embed(["what is the refund policy?"])


def _grounded_model(services: Services) -> None:
    services.models.get(services.settings.grounded.model).load()


def _vectors(services: Services) -> None:
    services.vectors.refresh()


def _components(services: Services) -> None:
    """Stores and helpers each request reaches, built now rather than by the first turn
    (some write on creation: the prompt registry seeds its packaged prompts)."""
    for name in (
        "cipher",
        "traces",
        "prompt_store",
        "prompt_resolver",
        "active_releases",
        "router",
        "rate_limiter",
        "budgets",
        "cpu",
    ):
        getattr(services, name)
    if services.settings.cache.enabled:
        services.response_cache  # noqa: B018 - built for its side effect


def _guardrails(services: Services) -> None:
    errors = services.guard.warm()
    if errors:
        raise RuntimeError("; ".join(errors))


def steps(services: Services) -> list[tuple[str, Callable[[Services], None]]]:
    out: list[tuple[str, Callable[[Services], None]]] = [
        ("embeddings", _embeddings),
        ("grounded_model", _grounded_model),
        ("vectors", _vectors),
        ("components", _components),
    ]
    if services.settings.guardrails.enabled:
        out.append(("guardrails", _guardrails))
    return out


def run(services: Services, warmup: Warmup, finish: Callable[[], object] | None = None) -> None:
    """Every step, in order (blocking: run it in a thread), then `finish`, before the state
    says done (so that a pause it makes comes before readiness)."""
    t0 = time.perf_counter()
    with warmup._lock:
        warmup.state = "running"
    for name, step in steps(services):
        try:
            step(services)
        except Exception as exc:  # noqa: BLE001 - recorded and reported by /readyz
            log.exception("warm-up step %s failed", name)
            with warmup._lock:
                warmup.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        with warmup._lock:
            warmup.done.append(name)
    if finish is not None:
        try:
            finish()
        except Exception as exc:  # noqa: BLE001 - recorded and reported by /readyz
            log.exception("warm-up's last step failed")
            with warmup._lock:
                warmup.errors.append(f"finish: {type(exc).__name__}: {exc}")
    with warmup._lock:
        warmup.seconds = round(time.perf_counter() - t0, 3)
        warmup.state = "failed" if warmup.errors else "done"
    if warmup.state == "done":
        log.info("warm-up done in %.1f s: %s", warmup.seconds, ", ".join(warmup.done))
