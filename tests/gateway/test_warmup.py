"""Ready means warm, over real HTTP: /readyz says ready only once every model the pipeline
needs is loaded and has run once (a scanner's lazy first-call set-up included), reports the
warm-up's progress as `checks.warm`, and names a scanner that failed to load."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from lockgate.config import GuardPolicy, GuardrailsConfig, ScannerRule
from lockgate.gateway.app import create_app
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from tests.conftest import make_services, make_settings
from tests.support.server import serve

LOAD_S = 1.5


class _LazyScanner:
    """Pays for its model on its first scan, as a classifier's first prediction does."""

    def __init__(self) -> None:
        self.loads = 0
        self.scans = 0
        self._lock = threading.Lock()

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        with self._lock:
            if self.loads == 0:
                time.sleep(LOAD_S)
                self.loads += 1
            self.scans += 1
        return []


LAZY = _LazyScanner()
register("t_warm_lazy")(lambda p, d: LAZY)


def _broken(params: Any, deps: Any) -> Any:
    raise RuntimeError("weights file missing")


register("t_warm_broken")(_broken)


def _settings(tmp_path, fake_upstream: str, scanner: str) -> Any:
    guard = GuardrailsConfig(
        policies={"default": GuardPolicy(input=[ScannerRule(scanner=scanner)], output=[])}
    )
    # A remote grounded model: loading it is opening a client, so the test waits on the
    # guardrails alone.
    return make_settings(
        tmp_path / "home", fake_upstream, guardrails=guard, grounded={"model": "echo"}
    )


def _readyz(base: str) -> httpx.Response:
    return httpx.get(base + "/readyz", timeout=10)


def test_ready_only_after_every_scanner_has_run_once(tmp_path, embedder, fake_upstream) -> None:
    services = make_services(_settings(tmp_path, fake_upstream, "t_warm_lazy"), embedder)
    with serve(create_app(services)) as base:
        first = _readyz(base)
        # The scanner's first scan takes LOAD_S: the gateway cannot be warm yet.
        assert first.status_code == 503
        body = first.json()
        assert body["checks"]["warm"] is False
        assert body["warmup"]["state"] == "running"
        deadline = time.monotonic() + 60
        while (resp := _readyz(base)).status_code != 200:
            assert time.monotonic() < deadline, resp.json()
            time.sleep(0.1)
        body = resp.json()
        assert body["checks"]["warm"] is True
        assert body["warmup"]["state"] == "done" and body["warmup"]["errors"] == []
        assert "guardrails" in body["warmup"]["done"] and "embeddings" in body["warmup"]["done"]
        # The lazy load happened before readiness, not in the first request after it.
        assert LAZY.loads == 1 and LAZY.scans >= 1
        scans = LAZY.scans
        check = httpx.post(base + "/v1/guardrails/check", json={"text": "hello"}, timeout=30)
        assert check.status_code == 200
        assert LAZY.scans == scans + 1 and LAZY.loads == 1


def test_a_scanner_that_fails_to_load_keeps_the_gateway_out(
    tmp_path, embedder, fake_upstream
) -> None:
    services = make_services(_settings(tmp_path, fake_upstream, "t_warm_broken"), embedder)
    with serve(create_app(services)) as base:
        deadline = time.monotonic() + 60
        while (body := _readyz(base).json())["warmup"]["state"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        resp = _readyz(base)
        assert resp.status_code == 503
        body = resp.json()
        assert body["status"] == "not_ready" and body["checks"]["warm"] is False
        assert body["warmup"]["state"] == "failed"
        (error,) = body["warmup"]["errors"]
        assert error.startswith("guardrails: ")
        assert "guardrails.policies.default.input[0] (scanner 't_warm_broken')" in error
        assert "RuntimeError: weights file missing" in error
        # The other steps still ran, and liveness is not affected.
        assert {"embeddings", "grounded_model", "components"} <= set(body["warmup"]["done"])
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200


def test_the_shipped_policy_warms_every_real_scanner(tmp_path, embedder, fake_upstream) -> None:
    settings = make_settings(
        tmp_path / "home", fake_upstream, guardrails=GuardrailsConfig(), grounded={"model": "echo"}
    )
    services = make_services(settings, embedder)
    with serve(create_app(services), ready_path="/readyz") as base:
        body = _readyz(base).json()
    assert body["warmup"]["errors"] == [] and "guardrails" in body["warmup"]["done"]
    policy = settings.guardrails.policies["default"]
    rules = [*policy.input, *policy.context, *policy.output]
    # Every rule's scanner was built (and run) by the warm-up, none is left to the requests.
    assert {r.scanner for r in rules} <= {key.split(":")[0] for key in services.guard._scanners}


def test_without_a_warm_up_readiness_does_not_wait_for_one(
    tmp_path, embedder, fake_upstream
) -> None:
    services = make_services(_settings(tmp_path, fake_upstream, "t_warm_lazy"), embedder)
    with serve(create_app(services, preload_models=False)) as base:
        body = _readyz(base).json()
    assert body["checks"]["warm"] is True and body["warmup"]["state"] == "off"
