"""`lockgate readiness` end to end through the CLI: the bare default configuration fails with
a fix for every item that does not pass; the documented production example passes every item
once its data exists (documents ingested, an evaluation set of 50 cases with a passing gate
run by `lockgate eval gate`, a current release, a load-test result at 3x the projected
load); a load test short of 3x fails again."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path

from lockgate.config import Settings
from lockgate.models.minilm import MiniLMEmbedder
from lockgate.services import Services
from tests.support.store import on_postgresql
from tests.test_cli import invoke

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "production" / "lockgate.yaml"
DOCS = {
    "refunds.md": "# Refunds\n\nAnnual plans can be refunded in full within 30 days.\n",
    "vacation.md": "# Vacation\n\nEmployees receive 25 vacation days per year.\n",
}


def report(home: Path, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = invoke(["readiness", "--json"], home, cwd, env=env)
    return result.exit_code, json.loads(result.output)


def test_the_bare_default_configuration_is_not_ready(tmp_path: Path) -> None:
    code, body = report(tmp_path / "home", tmp_path)
    assert code == 1
    status = {i["id"]: i["status"] for i in body["items"]}
    assert len(status) == 16
    for failed in ("chunking", "freshness", "non_parsable", "model_router", "cost_ceiling",
                   "private_endpoints", "eval_set", "eval_gate", "monitoring_alerting",
                   "load_test", "backups"):
        assert status[failed] == "fail", failed
    # What the defaults already do is credited.
    assert status["semantic_cache"] == "pass" and status["pii_scrubbing"] == "pass"
    for item in body["items"]:
        assert item["evidence"], item
        if item["status"] != "pass":
            assert item["fix"], item
    assert body["summary"]["ready"] is False and body["summary"]["fail"] == 11
    text = invoke(["readiness"], tmp_path / "home", tmp_path)
    assert text.exit_code == 1 and "NOT READY: 2 pass, 3 warn, 11 fail" in text.output
    # The store's kind decides the fix: a backup command for SQLite's file, a schedule for
    # PostgreSQL's (LOCKGATE_TEST_STORE).
    fix = "schedule" if on_postgresql() else "command"
    assert "FAIL  backups" in text.output and f"fix: set readiness.backup.{fix}" in text.output


def _experiment(name: str, pass_rate: float) -> dict:
    cases = [{"id": f"case-{i}", "passed": i < pass_rate * 50, "input": "q", "answer": "a"}
             for i in range(50)]
    return {"name": name, "dataset": "golden.jsonl", "dataset_hash": "h" * 64,
            "pass_rate": pass_rate, "metrics": {}, "cases": cases}


def test_the_production_example_passes_with_its_data(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    home, site = tmp_path / "home", tmp_path / "site"
    docs = site / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    config = site / "lockgate.yaml"
    shutil.copy(EXAMPLE, config)
    loadtest = site / "loadtest.json"
    env = {
        "LOCKGATE_CONFIG": str(config),
        "LOCKGATE_ALERT_WEBHOOK": "http://127.0.0.1:9/hooks/ops",
        "LOCKGATE_AUDIT_KEY": "a-long-random-secret-for-the-audit-head",
        "LOCKGATE_READINESS__LOADTEST_RESULT": str(loadtest),
        # The example records the date of its last restore test; the test's is today.
        "LOCKGATE_READINESS__BACKUP__LAST_RESTORE_TEST": date.today().isoformat(),
    }
    ingested = invoke(["ingest", str(docs)], home, site, embedder, env)
    assert ingested.exit_code == 0, ingested.output

    services = Services(Settings(home=home))
    base = services.experiments.add(_experiment("base", 0.96), "default", "ci")
    cand = services.experiments.add(_experiment("cand", 0.98), "default", "ci")
    services.engine.dispose()
    gate = invoke(["eval", "gate", "--baseline", base, "--candidate", cand], home, site, env=env)
    assert gate.exit_code == 0, gate.output
    for args in (
        ["release", "create", "prod-1", "--model", "gemma-3-270m"],
        ["release", "promote", "prod-1", "--full"],
    ):
        done = invoke(args, home, site, env=env)
        assert done.exit_code == 0, done.output
    loadtest.write_text(json.dumps({"target_rps": 30, "achieved_rps": 30.4, "error_rate": 0.002,
                                    "p95_ms": 2100, "finished_at": time.time()}))

    code, body = report(home, site, env)
    failing = [i for i in body["items"] if i["status"] != "pass"]
    assert failing == [] and code == 0
    assert body["summary"] == {"pass": 16, "warn": 0, "fail": 0, "total": 16, "ready": True}
    evidence = {i["id"]: i["evidence"] for i in body["items"]}
    assert "eval.gate_passed" in evidence["eval_gate"] and cand in evidence["eval_gate"]
    assert "50 cases" in evidence["eval_set"]
    assert "markdown x2 -> structure" in evidence["chunking"]
    assert "head signed" in evidence["audit_integrity"]
    assert "automatic rollback to prod-1" in evidence["rollback"]

    # A load test that did not reach 3x the projected load fails the report again.
    loadtest.write_text(json.dumps({"achieved_rps": 20.0, "error_rate": 0.0}))
    code, body = report(home, site, env)
    [load] = [i for i in body["items"] if i["id"] == "load_test"]
    assert code == 1 and load["status"] == "fail" and "needed 30 req/s" in load["evidence"]
