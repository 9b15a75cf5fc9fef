"""`lockgate review` against a real store: list, show, claim (exit 3 when someone else holds
the item), approve, edit, reject and corrections, in text and `--json`, through the same
queue as the HTTP API; `lockgate escalations` still lists the guardrail items."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lockgate.cli import main
from lockgate.config import Settings
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord, new_review_id


def run(home: Path, *args: str) -> Result:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(home)
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _queue(home: Path, kind: str = "groundedness", tenant: str = "acme") -> ReviewRecord:
    services = Services(Settings(home=home))
    rec = ReviewRecord(
        id=new_review_id(),
        tenant=tenant,
        principal="carol",
        kind=kind,
        mode="hold",
        trace_id="tr-1",
        reasons=[{"kind": kind, "scanners": ["topic"]} if kind == "guardrail" else {"kind": kind}],
        question="How long is the refund window?",
        answer="Refunds take 45 days.",
    )
    out = services.reviews.submit(rec)
    services.engine.dispose()
    return out


def test_list_show_claim_and_approve(home: Path) -> None:
    rec = _queue(home)
    listed = run(home, "review", "list", "--tenant", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.stdout)
    assert row["id"] == rec.id and row["status"] == "pending"
    assert json.loads(run(home, "review", "list", "--json").stdout) == []  # tenant default
    plain = run(home, "review", "list", "--tenant", "acme")
    assert rec.id in plain.output and "1 review item(s)" in plain.output
    shown = json.loads(run(home, "review", "show", rec.id, "--tenant", "acme", "--json").stdout)
    assert shown["original_answer"] == "Refunds take 45 days."
    assert run(home, "review", "show", rec.id, "--tenant", "globex").exit_code == 1
    claimed = run(home, "review", "claim", rec.id, "--tenant", "acme", "--reviewer", "alice")
    assert claimed.exit_code == 0 and "claimed by alice" in claimed.output
    taken = run(home, "review", "approve", rec.id, "--tenant", "acme", "--reviewer", "bob")
    assert taken.exit_code == 3 and "claimed by alice" in taken.output
    done = run(
        home, "review", "approve", rec.id, "--tenant", "acme", "--reviewer", "alice", "--json"
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "approved"
    decided = json.loads(run(home, "review", "list", "--tenant", "acme", "--status", "decided",
                             "--json").stdout)
    assert [r["decided_by"] for r in decided] == ["alice"]


def test_edit_reject_and_corrections(home: Path) -> None:
    first, second = _queue(home), _queue(home)
    both = run(home, "review", "edit", first.id, "--tenant", "acme", "--text", "x",
               "--arguments", "{}")
    assert both.exit_code == 2
    edited = run(home, "review", "edit", first.id, "--tenant", "acme", "--reviewer", "bob",
                 "--text", "Refunds take 30 days.", "--json")
    assert edited.exit_code == 0, edited.output
    assert json.loads(edited.stdout)["answer"] == "Refunds take 30 days."
    rejected = run(home, "review", "reject", second.id, "--tenant", "acme", "--reason", "wrong")
    assert rejected.exit_code == 0 and "rejected" in rejected.output
    cases = json.loads(run(home, "review", "corrections", "--tenant", "acme", "--json").stdout)
    assert [(c["question"], c["expected"], c["rejected"]) for c in cases] == [
        ("How long is the refund window?", "Refunds take 30 days.", "Refunds take 45 days.")
    ]
    assert run(home, "review", "approve", "rev_" + "0" * 24, "--tenant", "acme").exit_code == 1


def test_escalations_is_the_guardrail_part_of_the_queue(home: Path) -> None:
    rec = _queue(home, kind="guardrail", tenant="default")
    _queue(home, kind="groundedness", tenant="default")
    out = run(home, "escalations", "--json")
    assert out.exit_code == 0
    assert [r["id"] for r in json.loads(out.stdout)] == [rec.id]
