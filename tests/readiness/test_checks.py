"""Readiness checks on their own, over a real store: the load test read from a load-test
store when the build has one (else the JSON file), PII scrubbing missing on one side, a
public plain-HTTP model endpoint, a broken audit chain, and a check that raises."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import update

from lockgate.config import Settings
from lockgate.readiness import ops, report, security
from lockgate.readiness.model import Context
from lockgate.services import Services
from lockgate.store import tables as tb
from lockgate.store.db import transaction


@dataclass
class LoadTests:
    result: dict[str, Any] | None

    def latest(self) -> dict[str, Any] | None:
        return self.result


class WithLoadTests(Services):
    loadtests: LoadTests


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(home=tmp_path, **kw)


def test_load_test_from_the_store_then_from_the_file(tmp_path: Path) -> None:
    cfg = settings(tmp_path, readiness={"projected_rps": 5,  # type: ignore[arg-type]
                                        "loadtest_result": str(tmp_path / "lt.json")})
    services = WithLoadTests(cfg)
    services.loadtests = LoadTests({"throughput_rps": 16.0, "error_rate": 0.0})
    item = ops.load_test(Context(services))
    assert item.status == "pass" and item.evidence.startswith("the load-test store: 16.0 req/s")
    services.loadtests = LoadTests({"throughput_rps": 16.0, "error_rate": 0.2})
    assert ops.load_test(Context(services)).status == "fail"  # errors above 1%
    # No store result: the file; a missing or broken file says so.
    services.loadtests = LoadTests(None)
    missing = ops.load_test(Context(services))
    assert missing.status == "fail" and "lt.json (missing)" in missing.evidence
    (tmp_path / "lt.json").write_text("{not json")
    assert "unreadable" in ops.load_test(Context(services)).evidence
    (tmp_path / "lt.json").write_text(json.dumps({"achieved_rps": 15, "error_rate": 0.001}))
    assert ops.load_test(Context(services)).status == "pass"
    # A build without a load-test store reads the file alone.
    assert ops.load_test(Context(Services(cfg))).status == "pass"


def test_pii_and_endpoints(tmp_path: Path) -> None:
    policy = {"input": [{"scanner": "pii", "action": "redact"}],
              "output": [{"scanner": "pii", "action": "flag"}]}
    services = Services(settings(
        tmp_path,
        guardrails={"policies": {"default": policy}},  # type: ignore[arg-type]
        models={"remote": {"backend": "openai", "base_url": "http://93.184.216.34/v1"}},  # type: ignore[dict-item]
        readiness={"tls_terminated_by": "haproxy"},  # type: ignore[arg-type]
    ))
    pii = security.pii_scrubbing(Context(services))
    assert pii.status == "fail" and "default.output" in pii.evidence
    assert "default.input" not in pii.evidence
    endpoints = security.private_endpoints(Context(services))
    assert endpoints.status == "fail"
    assert "remote is reached over plain HTTP at 93.184.216.34" in endpoints.evidence
    assert "TLS terminated by haproxy" in endpoints.evidence


def test_a_tampered_audit_chain_fails(tmp_path: Path) -> None:
    services = Services(settings(tmp_path))
    services.audit.append(kind="config.loaded", actor="ops", data={"digest": "a"})
    services.audit.append(kind="config.loaded", actor="ops", data={"digest": "b"})
    assert security.audit_integrity(Context(services)).status == "warn"  # intact, unsigned
    with transaction(services.engine) as conn:
        edited = conn.execute(update(tb.audit_log).where(tb.audit_log.c.data.like('%"a"%'))
                              .values(data=json.dumps({"digest": "forged"})))
        assert edited.rowcount == 1
    item = security.audit_integrity(Context(services))
    assert item.status == "fail" and "chain broken" in item.evidence


def test_a_check_that_raises_fails_its_item_only(tmp_path: Path, monkeypatch) -> None:
    def boom(ctx: Context) -> Any:
        raise RuntimeError("no store")

    checks = list(report.CHECKS)
    checks[0] = ("chunking", boom)
    monkeypatch.setattr(report, "CHECKS", tuple(checks))
    result = report.run(Services(settings(tmp_path)))
    first = result.items[0]
    assert first.status == "fail" and "RuntimeError: no store" in first.evidence
    assert len(result.items) == 16


def test_load_test_from_the_real_load_test_store(tmp_path: Path) -> None:
    from lockgate.store.loadtests import LoadtestRecord

    services = Services(settings(tmp_path, readiness={"projected_rps": 5}))  # type: ignore[arg-type]
    assert ops.load_test(Context(services)).status == "fail"  # nothing recorded yet

    def record(achieved: float, errors: float) -> LoadtestRecord:
        return LoadtestRecord(
            url="http://127.0.0.1:8080", scenario="gold", rps_target=achieved,
            rps_achieved=achieved, duration=60.0, requests=int(achieved * 60),
            p50=80.0, p95=200.0, p99=300.0,
            ttft_p50=50.0, error_rate=errors, cost=0.5, generator_cpu=0.1,
        )

    services.loadtests.add(record(10.0, 0.0))  # below 3 x 5 req/s
    assert ops.load_test(Context(services)).status == "fail"
    services.loadtests.add(record(16.0, 0.0))
    item = ops.load_test(Context(services))
    assert item.status == "pass" and "16.0 req/s achieved" in item.evidence
