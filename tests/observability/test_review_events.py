"""Review events in the audit log: entering the queue, claims, decisions and callbacks are
recorded by the generic audit subscriber (they declare `audit = True`) with the reviewer as
actor and without any text of the item, and the chain verifies afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.config import Settings
from lockgate.engine.turn import Principal
from lockgate.services import Services
from lockgate.store.reviews import ReviewRecord, new_review_id

SECRET_WORDS = "cobalt giraffe"


def test_review_events_are_audited_without_texts(tmp_path: Path) -> None:
    services = Services(
        Settings(
            home=tmp_path / "home",
            review={"apps": {"bot": {"callback": {"url": "http://127.0.0.1:9/hook"}}}},
        )
    )
    queue = services.reviews
    rec = queue.submit(
        ReviewRecord(
            id=new_review_id(),
            tenant="acme",
            principal="carol",
            kind="guardrail",
            mode="hold",
            app="bot",
            trace_id="tr-7",
            reasons=[{"kind": "guardrail", "scanners": ["topic"]}],
            question=f"what about the {SECRET_WORDS}?",
            answer=f"the {SECRET_WORDS} is fine",
            excerpt=SECRET_WORDS,
        )
    )
    alice = Principal("alice", "acme", ("reviewer",))
    queue.claim(alice, rec.id)
    decided = queue.edit(alice, rec.id, f"corrected {SECRET_WORDS}", note=SECRET_WORDS)
    delivery = queue.notify(decided)
    assert delivery is not None and not delivery.delivered  # no signing secret is set
    entries = services.audit.entries()
    kinds = [e["kind"] for e in entries]
    assert kinds == ["review.queued", "review.claimed", "review.decided", "review.callback"]
    queued, claimed, done, callback = entries
    assert (queued["actor"], queued["tenant"], queued["ref"]) == ("carol", "acme", "tr-7")
    assert queued["data"]["reasons"] == ["guardrail"] and queued["data"]["mode"] == "hold"
    assert claimed["actor"] == "alice" and claimed["data"]["review_id"] == rec.id
    assert done["actor"] == "alice" and done["data"]["decision"] == "edited"
    assert callback["data"]["delivered"] is False and callback["data"]["host"] == "127.0.0.1"
    assert "no signing secret" in callback["data"]["error"]
    assert "giraffe" not in json.dumps(entries)
    assert services.audit.verify().ok
