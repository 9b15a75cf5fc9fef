"""End of an ingest run: near-duplicate regrouping, the run report, quarantine alerts.

The report is the run's summary JSON in `ingest_runs` (`lockgate runs show ID --json`).
An alert is raised when the quarantine grew by `ingest.alerts.quarantine_growth` files or
more since the previous run; it is logged, stored in the report and, when configured,
POSTed as JSON to `ingest.alerts.webhook_url` (the hook an alerting system listens on).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from lockgate.ingest import neardup
from lockgate.store.quality import QualityStore

if TYPE_CHECKING:
    from lockgate.ingest.pipeline import Ingestor, IngestSummary

log = logging.getLogger("lockgate.ingest")


def finalize(ingestor: Ingestor, summary: IngestSummary) -> None:
    cfg = ingestor.config
    if cfg.near_duplicates.enabled:
        t0 = time.perf_counter()
        summary.near_duplicates = regroup(
            QualityStore(ingestor.store.engine), cfg.near_duplicates.threshold
        )
        summary.stages_ms["near_duplicates"] = (time.perf_counter() - t0) * 1000
    summary.stages_ms = {k: round(v, 2) for k, v in summary.stages_ms.items()}
    total = ingestor.store.counts()["quarantined"]
    summary.normalize["quarantine_total"] = total  # read back by the next run
    alert = quarantine_alert(ingestor, summary, total)
    if alert is not None:
        summary.alerts.append(alert)


def regroup(quality: QualityStore, threshold: float) -> dict[str, int]:
    """Recompute near-duplicate groups over active documents; in each group every document
    but the newest is superseded by the newest."""
    docs = quality.signed_documents()
    signatures = {doc.id: neardup.from_bytes(doc.minhash) for doc in docs}
    dates = {doc.id: (doc.effective_date, doc.mtime) for doc in docs}
    found, assign = neardup.supersession(signatures, dates, threshold)
    quality.replace_groups(assign)
    return {"groups": len(found), "superseded": sum(1 for _, by in assign.values() if by)}


def _previous_total(ingestor: Ingestor, run_id: int | None) -> int:
    for run in ingestor.runs.latest(5):
        if run["id"] != run_id and run.get("finished_at"):
            return int(run["summary"].get("normalize", {}).get("quarantine_total", 0))
    return 0


def quarantine_alert(
    ingestor: Ingestor, summary: IngestSummary, total: int
) -> dict[str, Any] | None:
    cfg = ingestor.config.alerts
    growth = total - _previous_total(ingestor, summary.run_id)
    if cfg.quarantine_growth <= 0 or growth < cfg.quarantine_growth:
        return None
    alert: dict[str, Any] = {
        "kind": "quarantine_growth",
        "run_id": summary.run_id,
        "growth": growth,
        "total": total,
        "threshold": cfg.quarantine_growth,
        "reasons": dict(summary.reasons),
        "files": [q.source for q in summary.quarantined_files[:50]],
    }
    log.warning("quarantine grew by %d file(s) to %d in run %s", growth, total, summary.run_id)
    if cfg.webhook_url:
        try:
            resp = httpx.post(cfg.webhook_url, json=alert, timeout=5.0)
            alert["delivered"] = resp.status_code < 300
            alert["delivery"] = f"HTTP {resp.status_code}"
        except httpx.HTTPError as exc:  # an alert hook that is down must not fail the run
            alert["delivered"] = False
            alert["delivery"] = str(exc)[:200]
    return alert
