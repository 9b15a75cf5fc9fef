"""The audit subscriber in a live gateway: a grounded answer leaves a `document.access` entry
naming the chunks (and their documents and versions) shown to whom, a request that showed no
documents leaves none, guard findings and rate limits are audited without the text that
tripped them, the start of the gateway records its config digest, and an event class that
declares itself audited is recorded just by being emitted. The `lockgate audit` commands
verify, list and export what was written."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from lockgate.cli import main
from lockgate.config import AuditConfig, GuardPolicy, GuardrailsConfig, LimitsConfig, ScannerRule
from lockgate.config.limits import RateLimitRule
from lockgate.engine.run import emit
from lockgate.gateway.app import create_app
from lockgate.guardrails.base import Finding, ScanContext
from lockgate.guardrails.registry import register
from lockgate.ingest.pipeline import Ingestor
from lockgate.observability.events import Event
from lockgate.store.audit import AuditLog, entry_hash
from tests.conftest import make_services, make_settings
from tests.support.server import serve

TRACE_HEADER = "x-lockgate-trace-id"
SECRET_WORD = "plutonium"
DOCS = {
    "refunds.md": "# Refunds\n\nAnnual plans can be refunded in full within 30 days of purchase.\n",
    "vacation.txt": "Employees receive 25 vacation days per year.\n",
}


class _Word:
    name = "t_audit_word"

    def scan(self, text: str, ctx: ScanContext) -> list[Finding]:
        return [Finding("TOPIC", m.start(), m.end(), 0.99) for m in re.finditer(SECRET_WORD, text)]


register("t_audit_word")(lambda p, d: _Word())


@dataclass(frozen=True)
class KeyRevoked(Event):
    """Stands for the events other parts define (authentication, keys): audited by flag."""

    name: ClassVar[str] = "key.revoked"
    audit: ClassVar[bool] = True
    audit_omit: ClassVar[tuple[str, ...]] = ("reason_text",)
    principal: str
    tenant: str
    key_id: str
    token: str
    reason_text: str


@dataclass(frozen=True)
class NotAudited(Event):
    name: ClassVar[str] = "test.not_audited"
    principal: str


def _guard() -> GuardrailsConfig:
    rule = ScannerRule(scanner="t_audit_word", action="block")
    policy = GuardPolicy(input=[rule], context=[], output=[], refusal_message="No.")
    return GuardrailsConfig(policies={"default": policy})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, embedder, fake_upstream) -> Iterator[tuple[str, Any, Path]]:
    home = tmp_path_factory.mktemp("audit-home")
    docs = tmp_path_factory.mktemp("audit-docs")
    for name, body in DOCS.items():
        (docs / name).write_text(body, encoding="utf-8")
    settings = make_settings(
        home,
        fake_upstream,
        grounded={"model": "echo"},
        guardrails=_guard(),
        limits=LimitsConfig(rules=[RateLimitRule(model="echo-limited", rpm=1)]),
    )
    # The fake upstream's echo under a name of its own, so only this model is rate-limited.
    settings.models["echo-limited"] = settings.models["echo"].model_copy(
        update={"upstream_model": "echo"}
    )
    services = make_services(settings, embedder)
    Ingestor(services.documents, services.runs, services.embedder, settings.ingest).run([str(docs)])
    with serve(create_app(services, preload_models=False), ready_path="/readyz") as base:
        yield base, services, home


def ask(base: str, question: str, model: str = "lockgate") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}]}
    return httpx.post(base + "/v1/chat/completions", json=body, timeout=30)


def entries_for(services: Any, trace_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The entries referring to a trace; they are written just after the answer is sent."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in services.audit.entries() if e["ref"] == trace_id]
        trace = services.traces.get(trace_id)
        if (found and trace is not None) or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_grounded_answer_records_which_chunks_were_shown_to_whom(gateway) -> None:
    base, services, _ = gateway
    resp = ask(base, "How long is the refund window for annual plans?")
    assert resp.status_code == 200, resp.text
    trace_id = resp.headers[TRACE_HEADER]
    found = entries_for(services, trace_id)
    assert [e["kind"] for e in found] == ["document.access"]
    entry = found[0]
    assert (entry["actor"], entry["tenant"]) == ("anonymous", "default")
    trace = services.traces.get(trace_id)
    shown = [r for r in trace["retrieved"] if r["in_prompt"]]
    assert shown, "the grounded answer put chunks in the prompt"
    assert [c["chunk_id"] for c in entry["data"]["chunks"]] == [r["chunk_id"] for r in shown]
    with services.engine.connect() as conn:
        owners = dict(conn.execute(text("SELECT id, document_id FROM chunks")).all())
    for chunk in entry["data"]["chunks"]:
        assert chunk["document_id"] == owners[chunk["chunk_id"]]
        assert chunk["version"] >= 1
    assert any(Path(c["source"]).name == "refunds.md" for c in entry["data"]["chunks"])
    assert entry["data"]["endpoint"] == "/v1/chat/completions" and entry["data"]["status"] == "ok"
    assert services.audit.verify().ok


def test_a_request_that_showed_no_documents_records_no_access(gateway) -> None:
    base, services, _ = gateway
    resp = ask(base, "Say hello", model="echo")  # pass-through: nothing retrieved
    assert resp.status_code == 200, resp.text
    trace_id = resp.headers[TRACE_HEADER]
    deadline = time.monotonic() + 5
    while services.traces.get(trace_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the audit subscriber runs right after the trace one
    assert [e for e in services.audit.entries() if e["ref"] == trace_id] == []


def test_a_guard_finding_is_audited_without_the_text(gateway) -> None:
    base, services, _ = gateway
    resp = ask(base, f"how do I buy {SECRET_WORD}?", model="echo")
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == "No."
    found = entries_for(services, resp.headers[TRACE_HEADER])
    assert [e["kind"] for e in found] == ["guard.finding"]
    entry = found[0]
    assert entry["actor"] == "anonymous"
    assert entry["data"]["action"] == "block" and entry["data"]["direction"] == "in"
    assert entry["data"]["scanners"] == ["t_audit_word"]
    assert "text" not in entry["data"] and SECRET_WORD not in json.dumps(entry)


def test_a_rate_limited_request_is_audited(gateway) -> None:
    base, services, _ = gateway
    first = ask(base, "one", model="echo-limited")
    second = ask(base, "two", model="echo-limited")
    assert first.status_code == 200, first.text
    assert second.status_code == 429, second.text
    found = entries_for(services, second.headers[TRACE_HEADER])
    assert [e["kind"] for e in found] == ["limits.rate_limited"]
    assert found[0]["data"] == {"model": "echo-limited"} and found[0]["actor"] == "anonymous"


def test_the_gateway_start_records_its_config_digest(gateway) -> None:
    _, services, _ = gateway
    started = [e for e in services.audit.entries(kinds=["config.loaded"])]
    assert len(started) == 1
    data = started[0]["data"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["digest"]) and data["changed"] is True
    assert "grounded_answer@v3" in data["prompts"]


def test_a_changed_config_shows_as_a_new_digest(tmp_path: Path, embedder) -> None:
    digests = []
    for top_k in (4, 4, 7):
        services = make_services(make_settings(tmp_path, retrieval={"top_k": top_k}), embedder)
        with serve(create_app(services, preload_models=False), ready_path="/healthz"):
            pass
        services.engine.dispose()
    services = make_services(make_settings(tmp_path), embedder)
    loaded = services.audit.entries(kinds=["config.loaded"])
    digests = [e["data"]["digest"] for e in loaded]
    assert len(digests) == 3 and digests[0] == digests[1] != digests[2]
    assert [e["data"]["changed"] for e in loaded] == [True, False, True]


def test_an_event_that_declares_itself_audited_is_recorded(gateway) -> None:
    _, services, _ = gateway
    event = KeyRevoked("", "admin-1", "acme", "key_42", "lg_live_SECRET", "fired, see HR file")
    emit([event, NotAudited("t-1", "admin-1")], services)
    entry = services.audit.last("key.revoked")
    assert entry is not None
    assert (entry["actor"], entry["tenant"], entry["ref"]) == ("admin-1", "acme", None)
    assert entry["data"] == {"key_id": "key_42", "token": "****"}
    assert services.audit.last("test.not_audited") is None


def test_kinds_select_what_is_recorded(tmp_path: Path, embedder) -> None:
    cfg = AuditConfig(kinds=["auth.*"])
    assert cfg.records("auth.failure") and not cfg.records("key.revoked")
    assert not AuditConfig(enabled=False).records("auth.failure")
    services = make_services(make_settings(tmp_path, audit=cfg), embedder)
    emit([KeyRevoked("", "a", "t", "k", "", "")], services)
    assert services.audit.entries() == []


# -- the command line --------------------------------------------------------------------------


def cli(home: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    config = tmp_path / "empty.yaml"
    config.write_text("", encoding="utf-8")
    return CliRunner().invoke(
        main, ["--config", str(config), *args], env={"LOCKGATE_HOME": str(home), **(env or {})}
    )


def seeded(tmp_path: Path, embedder, key: str | None = None) -> tuple[Path, Any]:
    home = tmp_path / "home"
    services = make_services(make_settings(home), embedder)
    log = AuditLog(services.engine, key.encode() if key else None)
    for t, kind in ((1_000.0, "auth.success"), (2_000.0, "auth.failure"), (3_000.0, "export")):
        log.append(kind, {"at": t}, actor="alice", tenant="acme", ref=f"r{int(t)}", created_at=t)
    return home, services


def test_cli_verify_reports_ok_then_the_first_bad_entry(tmp_path: Path, embedder) -> None:
    home, services = seeded(tmp_path, embedder)
    ok = cli(home, tmp_path, "audit", "verify")
    head = services.audit.head()["hash"]
    assert ok.exit_code == 0, ok.output
    assert ok.output.strip() == f"ok: 3 entries, head {head}"
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    bad = cli(home, tmp_path, "audit", "verify")
    assert bad.exit_code == 1
    assert "entry seq 2" in bad.output and "hash mismatch" in bad.output
    as_json = json.loads(cli(home, tmp_path, "audit", "verify", "--json").output)
    assert as_json["ok"] is False and as_json["bad_seq"] == 2 and as_json["entries"] == 1


def test_cli_verify_checks_the_signed_head(tmp_path: Path, embedder) -> None:
    home, services = seeded(tmp_path, embedder, key="k-1")
    signed = cli(home, tmp_path, "audit", "verify", env={"LOCKGATE_AUDIT_KEY": "k-1"})
    assert signed.exit_code == 0 and signed.output.strip().endswith(", signed")
    wrong = cli(home, tmp_path, "audit", "verify", env={"LOCKGATE_AUDIT_KEY": "k-2"})
    assert wrong.exit_code == 1 and "bad head signature" in wrong.output


def test_cli_export_filters_by_time_and_kind(tmp_path: Path, embedder) -> None:
    home, _ = seeded(tmp_path, embedder)

    def export(*args: str) -> list[dict[str, Any]]:
        result = cli(home, tmp_path, "audit", "export", *args, "--json")
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.output.splitlines()]

    every = export("--since", "0")
    assert [e["seq"] for e in every] == [1, 2, 3]
    assert set(every[0]) >= {"seq", "created_at", "kind", "actor", "tenant", "ref", "data"}
    assert every[1]["prev_hash"] == every[0]["hash"]
    # The export itself is audited, after what it exported.
    (audited,) = export("--since", "0", "--kind", "export", "--until", str(time.time() + 60))[1:]
    assert audited["seq"] == 4 and audited["actor"].startswith("cli")
    assert audited["data"] == {
        "what": "audit",
        "since": 0.0,
        "until": None,
        "kinds": [],
        "entries": 3,
    }
    in_range = export("--since", "1500", "--until", "5000")
    assert [e["kind"] for e in in_range] == ["auth.failure", "export"]
    iso = export("--since", "1970-01-01T00:16:40Z", "--until", "1970-01-01T00:50:00")
    assert [e["kind"] for e in iso] == ["auth.success", "auth.failure"]
    assert [e["seq"] for e in export("--since", "0", "--until", "5000", "--kind", "export")] == [3]
    bad = cli(home, tmp_path, "audit", "export", "--since", "yesterday-ish")
    assert bad.exit_code == 2 and "neither epoch seconds nor an ISO 8601 time" in bad.output
    missing = cli(home, tmp_path, "audit", "export", "--json")
    assert missing.exit_code == 2 and "--since" in missing.output


def test_cli_list_shows_recent_entries(tmp_path: Path, embedder) -> None:
    home, _ = seeded(tmp_path, embedder)
    table = cli(home, tmp_path, "audit", "list", "-n", "2")
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert len(lines) == 2 and "export" in lines[0] and "auth.failure" in lines[1]
    rows = json.loads(
        cli(home, tmp_path, "audit", "list", "--kind", "auth.success", "--json").output
    )
    assert [r["seq"] for r in rows] == [1] and rows[0]["data"] == {"at": 1000.0}


def test_cli_verify_checks_an_external_anchor(tmp_path: Path, embedder) -> None:
    home, services = seeded(tmp_path, embedder)
    first = json.loads(cli(home, tmp_path, "audit", "verify", "--json").output)
    anchor = f"{first['head_seq']}:{first['head']}"
    services.audit.append("deletion", {"what": "trace"})
    assert cli(home, tmp_path, "audit", "verify", "--anchor", anchor).exit_code == 0
    # Rewrite entry 2 and everything after it with fresh hashes, head included: consistent,
    # and unsigned, so only the anchor taken before can tell.
    with services.engine.begin() as conn:
        chain = [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq"))
        ]
        prev = chain[0]["hash"]
        for r in chain[1:]:
            r = {**r, "prev_hash": prev, "actor": "mallory"}
            r["hash"] = entry_hash(r)
            conn.execute(
                text("UPDATE audit_log SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
                {"a": r["actor"], "p": r["prev_hash"], "h": r["hash"], "s": r["seq"]},
            )
            prev = r["hash"]
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    assert cli(home, tmp_path, "audit", "verify").exit_code == 0
    caught = cli(home, tmp_path, "audit", "verify", "--anchor", anchor)
    assert caught.exit_code == 1 and "entry seq 3" in caught.output and "rewritten" in caught.output
    cut = cli(home, tmp_path, "audit", "verify", "--anchor", f"9:{'a' * 64}")
    assert cut.exit_code == 1 and "missing" in cut.output
    malformed = cli(home, tmp_path, "audit", "verify", "--anchor", "3:xyz")
    assert malformed.exit_code == 2 and "SEQ:HASH" in malformed.output
