"""Documents: sources with their last sync and index times and staleness (the freshness
view), documents with their current version, the quarantine with reasons and a retry."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lockgate.ingest.pipeline import Ingestor
from lockgate.ingest.sync import SourceSync, retry_quarantine
from lockgate.retrieval.index import VectorIndexUnavailable
from lockgate.store.quality import QualityStore
from lockgate.store.sources import SourceStore
from lockgate.ui.render import page, services_of
from lockgate.ui.views.common import back_to, checked_form, field

DAY = 86400.0


def _stale(doc: dict[str, Any], today: dt.date) -> str | None:
    """Why a document is stale: past its review-by date (the freshness policy's test)."""
    review_by = doc.get("review_by")
    if not review_by:
        return None
    try:
        due = dt.date.fromisoformat(str(review_by)[:10])
    except ValueError:
        return None
    return f"review overdue since {due.isoformat()}" if due < today else None


def _source_age(src: dict[str, Any], now: float) -> float | None:
    last = src.get("last_indexed_at") or src.get("last_seen_at")
    return (now - float(last)) / DAY if last else None


def _gather(services: Any) -> dict[str, Any]:
    now = time.time()
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    sources = SourceStore(services.engine).list()
    for s in sources:
        s["age_days"] = _source_age(s, now)
    docs = services.documents.list_documents()
    for d in docs:
        d["stale"] = _stale(d, today)
    return {
        "sources": sources,
        "documents": docs,
        "quarantine": services.documents.list_quarantine(),
        "counts": services.documents.counts(),
        "stale_count": sum(1 for d in docs if d["stale"]),
    }


async def documents(request: Request) -> Response:
    data = await asyncio.to_thread(_gather, services_of(request))
    return page(
        request,
        "documents.html",
        title="Documents",
        done=request.query_params.get("done"),
        **data,
    )


async def document(request: Request) -> Response:
    services = services_of(request)
    raw = str(request.path_params["document_id"])
    versions = (
        await asyncio.to_thread(services.documents.versions, int(raw))
        if raw.isdigit() and len(raw) < 12
        else []
    )
    if not versions:
        raise HTTPException(404, f"no document with id '{raw[:20]}'")
    return page(request, "document.html", title=f"Document {raw}", versions=versions)


def _sync(services: Any) -> SourceSync:
    """What `lockgate docs retry` runs (cli/ingest.py), built from the gateway's services."""
    settings = services.settings
    ingestor = Ingestor(
        services.documents,
        services.runs,
        services.embedder,
        settings.ingest,
        exclude=[settings.home],
    )
    return SourceSync(
        ingestor,
        SourceStore(services.engine),
        QualityStore(services.engine),
        skip=(Path(settings.home),),
    )


async def retry(request: Request) -> Response:
    form = await checked_form(request)
    source = field(form, "source", 4096)
    services = services_of(request)
    summary = await asyncio.to_thread(
        retry_quarantine, _sync(services), [source] if source else None
    )
    with contextlib.suppress(VectorIndexUnavailable):
        # Ingest is done either way; the next search syncs an engine that is away now.
        services.vectors.refresh()
    indexed = summary.new + summary.updated
    done = f"retried: {indexed} indexed, {summary.quarantined} still quarantined"
    return back_to("/ui/documents", done=done)
