"""GET /v1/ingest/runs and /v1/ingest/runs/{id}: ingest runs as `lockgate runs list / show`
print them, for a dashboard or a script on any replica. A queued run (docs/ingest-queue.md)
carries its live progress, read from its job rows: counts by state and outcome, chunks,
redeliveries, per source, and the files that failed or were quarantined."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lockgate.gateway.errors import GatewayError
from lockgate.gateway.openapi import documented
from lockgate.services import Services
from lockgate.store.ingest_jobs import IngestJobStore

MAX_LIMIT = 1000


@documented("Recent ingest runs, newest first (?limit=1-1000)")
async def list_runs(request: Request) -> Response:
    services: Services = request.app.state.services
    limit = _int(request.query_params.get("limit", "20"), "limit", 1, MAX_LIMIT)
    rows = await asyncio.to_thread(services.runs.latest, limit)
    return JSONResponse({"object": "list", "data": [_run(r) for r in rows]})


@documented("One ingest run: its report, and a queued run's progress per state and source")
async def get_run(request: Request) -> Response:
    services: Services = request.app.state.services
    run_id = _int(request.path_params["run_id"], "run_id", 1, 2**62)
    row = await asyncio.to_thread(services.runs.get, run_id)
    if row is None:
        raise GatewayError(404, f"no ingest run {run_id}", "not_found", "run_id")
    body = _run(row)
    if row.get("kind") == "queued":
        jobs = IngestJobStore(services.engine)
        body["progress"] = await asyncio.to_thread(jobs.progress, run_id)
        problems: list[dict[str, Any]] = []
        for state in ("failed", "quarantined"):
            problems += await asyncio.to_thread(jobs.jobs, run_id, state, 50)
        body["problems"] = [
            {k: j[k] for k in ("source", "state", "outcome", "attempts", "error")} for j in problems
        ]
    return JSONResponse(body)


def _run(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "ingest.run",
        "id": row["id"],
        "kind": row.get("kind", "local"),
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "summary": row["summary"],
    }


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise GatewayError(400, f"{name} must be an integer", "invalid_value", name) from None
    if not low <= value <= high:
        raise GatewayError(400, f"{name} must be between {low} and {high}", "invalid_value", name)
    return value
