"""`GET /v1/ingest/runs[/{id}]` over real HTTP with API keys: runs newest first, a queued
run's progress from its job rows (so any replica reports the same), bad ids and limits as
400/404 with an OpenAI-style error, and a key without `docs:read` refused."""

from __future__ import annotations

from pathlib import Path

import httpx

from lockgate.config import Settings
from lockgate.gateway.app import create_app
from lockgate.services import Services
from lockgate.store.db import transaction
from lockgate.store.ingest_jobs import IngestJobStore, NewJob
from tests.support.server import serve


def test_runs_and_a_queued_runs_progress(tmp_path: Path) -> None:
    services = Services(Settings(home=tmp_path, guardrails={"enabled": False}))  # type: ignore[arg-type]
    local = services.runs.start()
    services.runs.finish(local, {"seen": 3, "new": 3, "chunks": 9})
    jobs = IngestJobStore(services.engine)
    run_id, ids = jobs.create_run([NewJob(f"/docs/{n}.md", "h") for n in ("a", "b", "c")])
    jobs.start(ids[0], "w1")
    with transaction(services.engine) as conn:
        assert jobs.mark_in(conn, ids[0], "new", 4, "h")
    jobs.start(ids[1], "w2")
    jobs.complete(ids[1], "quarantined", error="no_text: no chunks after parsing")
    admin = services.api_keys.create("ops", "t", ["admin"])[1]
    app_key = services.api_keys.create("app", "t", ["app"])[1]
    with serve(create_app(services, preload_models=False), ready_path="/healthz") as base:

        def get(path: str, key: str = admin) -> httpx.Response:
            return httpx.get(
                f"{base}/v1/ingest{path}", timeout=10, headers={"authorization": f"Bearer {key}"}
            )

        listed = get("/runs").json()["data"]
        assert [(r["id"], r["kind"]) for r in listed] == [(run_id, "queued"), (local, "local")]
        assert listed[1]["summary"]["chunks"] == 9
        body = get(f"/runs/{run_id}").json()
        assert body["finished_at"] is None
        progress = body["progress"]
        assert (progress["jobs"], progress["done"], progress["quarantined"]) == (3, 1, 1)
        assert progress["queued"] == 1 and progress["chunks"] == 4
        assert body["problems"] == [
            {
                "source": "/docs/b.md",
                "state": "quarantined",
                "outcome": "quarantined",
                "attempts": 1,
                "error": "no_text: no chunks after parsing",
            }
        ]
        assert "progress" not in get(f"/runs/{local}").json()
        missing = get("/runs/999")
        assert missing.status_code == 404 and missing.json()["error"]["param"] == "run_id"
        assert get("/runs/x").status_code == 400
        assert get("/runs?limit=0").json()["error"]["param"] == "limit"
        assert get("/runs", app_key).status_code == 403
    services.close()
